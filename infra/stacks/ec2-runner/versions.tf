terraform {
  required_version = ">= 1.10"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 7"
    }
  }

  # Partial configuration: bucket, key, region, dynamodb_table / use_lockfile and
  # encryption settings are passed by `runnerfleet` with -backend-config.
  backend "s3" {}
}
