# Monitoring area (owner: monitoring): log groups, CloudWatch agent config in SSM, dashboard,
# alarms. The runner hosts' IAM role is granted writes to `log_group_arns` and reads of the
# agent config parameter by the runner-fleet module.

module "monitoring" {
  source = "../../modules/monitoring"

  name                = var.name
  log_retention_days  = var.log_retention_days
  kms_key_arn         = var.log_kms_key_arn
  alarm_sns_topic_arn = var.alarm_sns_topic_arn
  nat_gateway_ids     = module.network.nat_gateway_ids
  tags                = var.tags

  # Per-host alarms and dashboard lines: instances in static mode, groups in autoscaled mode
  # (the other list is empty).
  instance_ids            = module.runner_fleet.instance_ids
  autoscaling_group_names = module.runner_fleet.autoscaling_group_names
}

output "log_group_names" {
  description = "Runner log group per source (user-data, syslog, runner-diag, nginx-access, nginx-error)."
  value       = module.monitoring.log_group_names
}

output "cloudwatch_agent_config_parameter" {
  description = "SSM parameter holding the CloudWatch agent configuration for the runner hosts."
  value       = module.monitoring.cloudwatch_agent_config_parameter
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the fleet."
  value       = module.monitoring.dashboard_name
}

output "alarm_arns" {
  description = "ARNs of the fleet's CloudWatch alarms."
  value       = module.monitoring.alarm_arns
}
