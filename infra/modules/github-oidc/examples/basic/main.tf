# Create the GitHub OIDC provider and the plan/apply roles for one repository, once per
# AWS account, with your own credentials (see docs/operations.md, "Creating the OIDC roles").
# Pass the fleet's name and lock table as runnerfleet.toml has them: the apply role may
# manage IAM only on `<name>-*`, and both roles may take only that lock.

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
  description = "Region of the fleet (`[aws] region` in runnerfleet.toml). IAM is global; the region is where the provider signs in."
  type        = string
  default     = "us-east-1"
}

variable "name" {
  description = "Fleet name: `name` in runnerfleet.toml."
  type        = string
}

variable "github_repository" {
  description = "OWNER/REPO of the repository that holds the deploy workflows."
  type        = string
}

variable "state_bucket" {
  description = "The state bucket made by `runnerfleet backend bootstrap` (`<name>-tfstate-<account id>` unless `[backend] bucket` is set)."
  type        = string
}

variable "state_key" {
  description = "`[backend] key` in runnerfleet.toml."
  type        = string
  default     = "aws/ec2-runner/terraform.tfstate"
}

variable "lock_table" {
  description = "The DynamoDB lock table (`<name>-tflock` unless `[backend] lock_table` is set), or null when `[backend] locking = \"s3\"`."
  type        = string
  default     = null
}

variable "oidc_provider_arn" {
  description = "ARN of the account's existing GitHub OIDC provider, or null to create it (an account holds one per issuer URL)."
  type        = string
  default     = null
}

module "github_oidc" {
  source = "../.."

  name              = var.name
  github_repository = var.github_repository
  state_bucket      = var.state_bucket
  state_key         = var.state_key
  lock_table        = var.lock_table
  oidc_provider_arn = var.oidc_provider_arn
}

output "plan_role_arn" {
  description = "Repository variable AWS_PLAN_ROLE_ARN."
  value       = module.github_oidc.plan_role_arn
}

output "apply_role_arn" {
  description = "Variable AWS_APPLY_ROLE_ARN of the production environment."
  value       = module.github_oidc.apply_role_arn
}
