output "webhook_url" {
  description = "The webhook function's URL: the GitHub App's webhook URL (events: workflow_job)."
  value       = aws_lambda_function_url.webhook.function_url
}

output "webhook_secret_parameter_name" {
  description = "SSM SecureString holding the webhook secret (set it to the App's webhook secret; Terraform never writes it)."
  value       = local.webhook_secret_parameter_name
}

output "webhook_secret_parameter_arn" {
  description = "ARN of the webhook secret's SSM parameter."
  value       = local.webhook_secret_parameter_arn
}

output "function_names" {
  description = "The control plane's Lambda functions by role (webhook, reconcile, registrar)."
  value = {
    webhook   = aws_lambda_function.webhook.function_name
    reconcile = aws_lambda_function.reconcile.function_name
    registrar = aws_lambda_function.registrar.function_name
  }
}

output "function_arns" {
  description = "ARNs of the control plane's Lambda functions by role."
  value = {
    webhook   = aws_lambda_function.webhook.arn
    reconcile = aws_lambda_function.reconcile.arn
    registrar = aws_lambda_function.registrar.arn
  }
}

output "role_arns" {
  description = "ARNs of the functions' IAM roles by role (each named like its function)."
  value = {
    webhook   = aws_iam_role.webhook.arn
    reconcile = aws_iam_role.reconcile.arn
    registrar = aws_iam_role.registrar.arn
  }
}

output "function_name" {
  description = "Name of the registrar Lambda function (kept for existing callers; see function_names)."
  value       = aws_lambda_function.registrar.function_name
}

output "table_name" {
  description = "Name of the control plane's DynamoDB table (jobs, delivery ids, registration claims; hash key pk)."
  value       = aws_dynamodb_table.this.name
}

output "dead_letter_queue_url" {
  description = "URL of the SQS queue that receives events the registrar's rules could not deliver."
  value       = aws_sqs_queue.dlq.id
}

output "registration_parameter_prefix" {
  description = "SSM path of the one-shot runner registrations (/<name>/runners)."
  value       = local.runners_path
}

output "github_parameter_names" {
  description = "SSM parameters to write with the GitHub credentials before the functions run (empty when a Secrets Manager secret is used); Terraform never manages them."
  value       = local.github_parameter_names
}

output "reconcile_schedule_rule_name" {
  description = "EventBridge rule that runs the reconcile pass."
  value       = aws_cloudwatch_event_rule.reconcile.name
}

output "event_rule_names" {
  description = "EventBridge rules that invoke the registrar, by role (instance_state, scan, lifecycle)."
  value       = local.registrar_rules
}
