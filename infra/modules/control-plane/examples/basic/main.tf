# Standalone use of the control-plane module: an organization-level ephemeral fleet with a
# GitHub App. Build the package first: `runnerfleet registrar package --out registrar.zip`.

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
  description = "The registrar package built by `runnerfleet registrar package`."
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
  description = "Fill these with the GitHub App's id, key and installation id."
  value       = module.control_plane.github_parameter_names
}
