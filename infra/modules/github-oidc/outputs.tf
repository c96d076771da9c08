output "oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider the roles trust (created here or passed in)."
  value       = local.oidc_provider_arn
}

output "plan_role_arn" {
  description = "ARN of the read-only plan role. Set it as the repository variable AWS_PLAN_ROLE_ARN."
  value       = aws_iam_role.this["plan"].arn
}

output "apply_role_arn" {
  description = "ARN of the apply role. Set it as the variable AWS_APPLY_ROLE_ARN of the production environment."
  value       = aws_iam_role.this["apply"].arn
}

output "plan_role_name" {
  description = "Name of the plan role."
  value       = aws_iam_role.this["plan"].name
}

output "apply_role_name" {
  description = "Name of the apply role."
  value       = aws_iam_role.this["apply"].name
}

output "plan_subjects" {
  description = "OIDC `sub` claims the plan role accepts."
  value       = local.plan_subjects
}

output "apply_subjects" {
  description = "OIDC `sub` claims the apply role accepts."
  value       = local.apply_subjects
}
