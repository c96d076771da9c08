provider "aws" {
  region = var.region

  default_tags {
    tags = merge(var.tags, {
      "runnerfleet:fleet" = var.name
    })
  }

  # Written at run time by the runnerfleet agent and the control plane, not by Terraform.
  ignore_tags {
    keys         = ["runnerfleet:github-runner-id"]
    key_prefixes = ["runnerfleet:agent-"]
  }
}
