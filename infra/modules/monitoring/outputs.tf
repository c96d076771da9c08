output "log_group_names" {
  description = "Log group name per log source (user-data, syslog, runner-diag, nginx-access, nginx-error)."
  value       = { for k, g in aws_cloudwatch_log_group.this : k => g.name }
}

output "log_group_arns" {
  description = "ARNs of the runner log groups (for IAM policies that let the hosts write to them)."
  value       = [for g in aws_cloudwatch_log_group.this : g.arn]
}

output "cloudwatch_agent_config_parameter" {
  description = "Name of the SSM parameter holding the CloudWatch agent configuration (amazon-cloudwatch-agent-ctl -c ssm:<name>)."
  value       = aws_ssm_parameter.agent_config.name
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "alarm_arns" {
  description = "ARNs of every alarm the module creates."
  value = concat(
    aws_cloudwatch_metric_alarm.cpu_high_asg[*].arn,
    aws_cloudwatch_metric_alarm.cpu_high_instance[*].arn,
    aws_cloudwatch_metric_alarm.status_check_asg[*].arn,
    aws_cloudwatch_metric_alarm.status_check_instance[*].arn,
    aws_cloudwatch_metric_alarm.nat_packets_dropped[*].arn,
    aws_cloudwatch_metric_alarm.nat_port_allocation[*].arn,
    [aws_cloudwatch_metric_alarm.queue_length.arn],
  )
}
