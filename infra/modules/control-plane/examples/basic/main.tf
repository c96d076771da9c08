# Standalone use of the control-plane module: an organization-level ephemeral fleet with a
# GitHub App. Build the package first: `runnerfleet registrar package --out registrar.zip`;
# write the App's credentials and webhook secret to SSM (names in the outputs) before or
# after the apply, never through Terraform.

terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }
}

provider "aws" {
  region = var.region
}

variable "region" {
  description = "AWS region to deploy to."
  type        = string
  default     = "us-east-1"
}

variable "package_path" {
  description = "The control plane's package built by `runnerfleet registrar package`."
  type        = string
  default     = "registrar.zip"
}

module "control_plane" {
  source = "../.."

  name          = "example-fleet"
  package_path  = var.package_path
  github_owner  = "example-org"
  ephemeral     = true
  runner_labels = ["docker"]
}

output "github_parameter_names" {
  description = "Write these with the GitHub App's id, installation id and key."
  value       = module.control_plane.github_parameter_names
}

output "webhook_url" {
  description = "The GitHub App's webhook URL."
  value       = module.control_plane.webhook_url
}

output "webhook_secret_parameter_name" {
  description = "Write the App's webhook secret here (SecureString)."
  value       = module.control_plane.webhook_secret_parameter_name
}
