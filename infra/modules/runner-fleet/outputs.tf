output "security_group_id" {
  description = "ID of the runner hosts' security group."
  value       = aws_security_group.runner.id
}

output "iam_role_name" {
  description = "Name of the runner hosts' IAM role."
  value       = aws_iam_role.runner.name
}

output "iam_role_arn" {
  description = "ARN of the runner hosts' IAM role."
  value       = aws_iam_role.runner.arn
}

output "instance_profile_name" {
  description = "Name of the runner hosts' instance profile."
  value       = aws_iam_instance_profile.runner.name
}

output "instance_profile_arn" {
  description = "ARN of the runner hosts' instance profile."
  value       = aws_iam_instance_profile.runner.arn
}

output "ami_id" {
  description = "AMI the runner hosts boot from (ami_id, or the looked-up Ubuntu 22.04 image)."
  value       = local.ami_id
}

output "launch_template_ids" {
  description = "Autoscaled mode: launch template ID per pool name (empty in static mode)."
  value       = { for k, lt in aws_launch_template.pool : k => lt.id }
}

output "instance_ids" {
  description = "Static mode: IDs of the runner instances, in name order (empty in autoscaled mode)."
  value       = aws_instance.runner[*].id
}

output "instance_names" {
  description = "Static mode: runner names <name>-runner-01..NN, in the order of instance_ids."
  value       = [for i in aws_instance.runner : i.tags["runnerfleet:runner-name"]]
}

output "private_ips" {
  description = "Static mode: private IP addresses of the runner instances, in the order of instance_ids."
  value       = aws_instance.runner[*].private_ip
}

output "autoscaling_group_names" {
  description = "Autoscaled mode: Auto Scaling group name per pool, in the order of pools (empty in static mode)."
  value       = [for p in var.pools : aws_autoscaling_group.pool[p.name].name if contains(keys(local.pools), p.name)]
}

output "autoscaling_group_arns" {
  description = "Autoscaled mode: Auto Scaling group ARN per pool name."
  value       = { for k, g in aws_autoscaling_group.pool : k => g.arn }
}

output "lifecycle_event_rule_name" {
  description = "Autoscaled mode: name of the EventBridge rule matching the groups' launch and termination lifecycle actions (null in static mode); attach the control plane's target to it."
  value       = one(aws_cloudwatch_event_rule.lifecycle[*].name)
}

output "lifecycle_event_rule_arn" {
  description = "Autoscaled mode: ARN of the lifecycle EventBridge rule (null in static mode)."
  value       = one(aws_cloudwatch_event_rule.lifecycle[*].arn)
}

output "artifacts_bucket_name" {
  description = "The fleet's artifacts bucket (<name>-artifacts-<account>), holding the agent artifact under agent/."
  value       = aws_s3_bucket.artifacts.bucket
}

output "artifacts_bucket_arn" {
  description = "ARN of the fleet's artifacts bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "agent_artifact_key" {
  description = "Object key of the uploaded agent artifact (null when none was given)."
  value       = one(aws_s3_object.agent[*].key)
}
