output "function_name" {
  description = "Name of the registrar Lambda function."
  value       = aws_lambda_function.this.function_name
}

output "function_arn" {
  description = "ARN of the registrar Lambda function."
  value       = aws_lambda_function.this.arn
}

output "role_arn" {
  description = "ARN of the registrar's IAM role (the only principal that reads the GitHub credentials)."
  value       = aws_iam_role.this.arn
}

output "table_name" {
  description = "Name of the control plane's DynamoDB table (registration claims; hash key pk)."
  value       = aws_dynamodb_table.this.name
}

output "dead_letter_queue_url" {
  description = "URL of the SQS queue that receives events the registrar could not take."
  value       = aws_sqs_queue.dlq.id
}

output "registration_parameter_prefix" {
  description = "SSM path of the one-shot runner registrations (/<name>/runners)."
  value       = local.runners_path
}

output "github_parameter_names" {
  description = "SSM parameters to fill with the GitHub credentials (empty when a Secrets Manager secret is used)."
  value       = [for p in aws_ssm_parameter.github : p.name]
}

output "event_rule_names" {
  description = "EventBridge rules that invoke the registrar, by role (instance_state, scan, lifecycle)."
  value       = local.event_rules
}
