# Control plane area (owner: host-bootstrap): the registrar Lambda that writes one one-shot
# GitHub registration per runner instance to SSM /<name>/runners/<instance-id>, its claims
# table, dead-letter queue, event rules, and the SSM parameters for the GitHub credentials.
# The Lambda package is built by the CLI (`runnerfleet registrar package --out <path>`,
# runnerfleet.controlplane.packaging) before plan; without it the control plane is left out
# and a check warns.

variable "control_plane_package" {
  description = "Path of the registrar's Lambda zip; null means build/control-plane.zip next to this stack."
  type        = string
  default     = null

  validation {
    condition     = var.control_plane_package == null || endswith(coalesce(var.control_plane_package, "-"), ".zip")
    error_message = "control_plane_package must be the .zip built by `runnerfleet registrar package`."
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
  ephemeral         = var.ephemeral
  runner_labels     = var.runner_labels
  pool_labels       = { for p in var.pools : p.name => p.labels }

  lifecycle_event_rule_name = module.runner_fleet.lifecycle_event_rule_name
  log_retention_days        = var.log_retention_days
  tags                      = var.tags
}

output "control_plane_function_name" {
  description = "Registrar Lambda function (null when the control plane is off)."
  value       = one(module.control_plane[*].function_name)
}

output "control_plane_table_name" {
  description = "Control plane DynamoDB table (null when the control plane is off)."
  value       = one(module.control_plane[*].table_name)
}

output "github_parameter_names" {
  description = "SSM parameters to fill with the GitHub credentials (empty when the control plane is off)."
  value       = flatten(module.control_plane[*].github_parameter_names)
}

output "registration_parameter_prefix" {
  description = "SSM path of the runners' one-shot registrations."
  value       = "/${var.name}/runners"
}
