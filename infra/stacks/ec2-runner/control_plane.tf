# Control plane: three Lambda functions from one package (infra/modules/control-plane):
# `<name>-webhook` behind a function URL (GitHub's workflow_job deliveries -> scale out),
# `<name>-reconcile` on a schedule (scale in/out from GitHub's queue, drift healing, the
# QueuedJobs metric) and `<name>-registrar` (one one-shot registration per runner instance in
# SSM /<name>/runners/<instance-id>), their table, dead-letter queue and event rules.
# The GitHub credentials and the webhook secret live in SSM /<name>/github/*, written by the
# operator (`runnerfleet github configure`); Terraform only names them and grants read.
# The Lambda package is built by the CLI (`runnerfleet registrar package --out <path>`,
# runnerfleet.controlplane.packaging) before plan; without it the control plane is left out
# and a check warns.

variable "control_plane_package" {
  description = "Path of the control plane's Lambda zip; null means build/control-plane.zip next to this stack."
  type        = string
  default     = null

  validation {
    condition     = var.control_plane_package == null || endswith(coalesce(var.control_plane_package, "-"), ".zip")
    error_message = "control_plane_package must be the .zip built by `runnerfleet registrar package`."
  }
}

variable "control_plane_reconcile_schedule" {
  description = "EventBridge schedule of the control plane's reconcile pass."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.control_plane_reconcile_schedule))
    error_message = "control_plane_reconcile_schedule must be an EventBridge schedule like rate(1 minute)."
  }
}

variable "control_plane_idle_grace" {
  description = "Seconds an idle runner instance is kept before the reconcile pass scales it in."
  type        = number
  default     = 600

  validation {
    condition     = var.control_plane_idle_grace >= 0 && var.control_plane_idle_grace <= 3600
    error_message = "control_plane_idle_grace must be from 0 to 3600 seconds."
  }
}

variable "control_plane_github_sync" {
  description = "Seconds between the reconcile pass's GitHub syncs (runner list, discovery of jobs whose webhooks were lost); 0 syncs on every pass (poll mode)."
  type        = number
  default     = 300

  validation {
    condition     = var.control_plane_github_sync >= 0 && var.control_plane_github_sync <= 3600
    error_message = "control_plane_github_sync must be from 0 to 3600 seconds."
  }
}

variable "control_plane_job_recheck" {
  description = "Seconds after which the reconcile pass asks GitHub again about a job still queued, or in progress on an idle or gone runner (its webhook was lost)."
  type        = number
  default     = 300

  validation {
    condition     = var.control_plane_job_recheck >= 10 && var.control_plane_job_recheck <= 3600
    error_message = "control_plane_job_recheck must be from 10 to 3600 seconds."
  }
}

variable "control_plane_boot_timeout" {
  description = "Seconds a runner may take to register before the reconcile pass treats its instance as failed."
  type        = number
  default     = 600

  validation {
    condition     = var.control_plane_boot_timeout >= 60 && var.control_plane_boot_timeout <= 3600
    error_message = "control_plane_boot_timeout must be from 60 to 3600 seconds."
  }
}

variable "github_auth" {
  description = "How the control plane authenticates to GitHub: \"app\" (GitHub App) or \"pat\" (personal access token)."
  type        = string
  default     = "app"

  validation {
    condition     = contains(["app", "pat"], var.github_auth)
    error_message = "github_auth must be \"app\" or \"pat\"."
  }
}

locals {
  control_plane_package = var.control_plane_package != null ? var.control_plane_package : "${path.root}/build/control-plane.zip"
  control_plane_enabled = var.enable_control_plane && fileexists(local.control_plane_package)
}

check "control_plane_package" {
  assert {
    condition     = !var.enable_control_plane || fileexists(local.control_plane_package)
    error_message = "The control plane is enabled but its package ${local.control_plane_package} does not exist, so it is left out; build it with `runnerfleet registrar package --out ${local.control_plane_package}`."
  }
}

module "control_plane" {
  source = "../../modules/control-plane"
  count  = local.control_plane_enabled ? 1 : 0

  name              = var.name
  package_path      = local.control_plane_package
  github_url        = var.github_url
  github_owner      = var.github_owner
  github_repository = var.github_repository
  github_auth       = var.github_auth
  mode              = var.runner_mode
  runner_count      = var.runner_count
  ephemeral         = var.ephemeral
  runner_labels     = var.runner_labels
  pool_labels       = { for p in var.pools : p.name => p.labels }
  pool_idle         = { for p in var.pools : p.name => p.idle }
  runner_group      = var.github_runner_group

  lifecycle_event_rule_name = module.runner_fleet.lifecycle_event_rule_name
  reconcile_schedule        = var.control_plane_reconcile_schedule
  boot_timeout_seconds      = var.control_plane_boot_timeout
  idle_grace_seconds        = var.control_plane_idle_grace
  github_sync_seconds       = var.control_plane_github_sync
  job_recheck_seconds       = var.control_plane_job_recheck
  log_retention_days        = var.log_retention_days
  tags                      = var.tags
}

output "control_plane_function_names" {
  description = "The control plane's Lambda functions by role: webhook, reconcile, registrar (null when the control plane is off)."
  value       = one(module.control_plane[*].function_names)
}

output "webhook_url" {
  description = "The GitHub App's webhook URL (the webhook function's URL; null when the control plane is off)."
  value       = one(module.control_plane[*].webhook_url)
}

output "webhook_secret_parameter_name" {
  description = "SSM SecureString to hold the App's webhook secret (null when the control plane is off)."
  value       = one(module.control_plane[*].webhook_secret_parameter_name)
}

output "webhook_secret_parameter_arn" {
  description = "ARN of the webhook secret's SSM parameter (null when the control plane is off)."
  value       = one(module.control_plane[*].webhook_secret_parameter_arn)
}

output "control_plane_table_name" {
  description = "Control plane DynamoDB table (null when the control plane is off)."
  value       = one(module.control_plane[*].table_name)
}

output "github_parameter_names" {
  description = "SSM parameters to write with the GitHub credentials before the functions run; Terraform never manages them (empty when the control plane is off)."
  value       = flatten(module.control_plane[*].github_parameter_names)
}

output "registration_parameter_prefix" {
  description = "SSM path of the runners' one-shot registrations."
  value       = "/${var.name}/runners"
}
