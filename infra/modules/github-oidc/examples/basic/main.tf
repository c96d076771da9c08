# Create the GitHub OIDC provider and the plan/apply roles for one repository, once per
# AWS account, with your own credentials (see docs/operations.md, "Creating the OIDC roles").

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
  region = "us-east-1"
}

variable "github_repository" {
  description = "OWNER/REPO of the repository that holds the deploy workflows."
  type        = string
  default     = "acme/infra"
}

variable "state_bucket" {
  description = "The state bucket made by `runnerfleet backend bootstrap`."
  type        = string
  default     = "runnerfleet-tfstate-123456789012"
}

module "github_oidc" {
  source = "../.."

  name              = "runnerfleet"
  github_repository = var.github_repository
  state_bucket      = var.state_bucket
  lock_table        = "runnerfleet-tflock"
  # oidc_provider_arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
}

output "plan_role_arn" {
  description = "Repository variable AWS_PLAN_ROLE_ARN."
  value       = module.github_oidc.plan_role_arn
}

output "apply_role_arn" {
  description = "Variable AWS_APPLY_ROLE_ARN of the production environment."
  value       = module.github_oidc.apply_role_arn
}
