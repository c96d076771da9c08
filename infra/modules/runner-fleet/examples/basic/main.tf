# A network plus a two-pool autoscaled runner fleet (spot with on-demand base, and a small
# on-demand pool with a warm pool). Run from this folder: terraform init && terraform apply

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

module "network" {
  source = "../../../network"

  name                 = "example-fleet"
  availability_zones   = ["us-east-1a", "us-east-1b"]
  public_subnet_cidrs  = ["10.0.1.0/24", "10.0.3.0/24"]
  private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24"]
}

module "runner_fleet" {
  source = "../.."

  name               = "example-fleet"
  vpc_id             = module.network.vpc_id
  vpc_cidr           = module.network.vpc_cidr
  private_subnet_ids = module.network.private_subnet_ids

  runner_mode = "autoscaled"
  pools = [
    {
      name                            = "spot"
      labels                          = ["docker"]
      min_size                        = 0
      max_size                        = 10
      instance_types                  = ["t3.medium", "t3a.medium"]
      on_demand_base_capacity         = 1
      on_demand_percentage_above_base = 0
      cpu_target                      = 70
      schedules = [
        { name = "workday", recurrence = "0 8 * * 1-5", min_size = 2 },
        { name = "evening", recurrence = "0 19 * * 1-5", min_size = 0 },
      ]
    },
    {
      name           = "fast-start"
      min_size       = 0
      max_size       = 2
      instance_types = ["c6i.large"]
      warm_pool_size = 1
    },
  ]

  # A rendered cloud-init document; runnerfleet's own stack renders
  # infra/templates/cloud-init.yaml.tftpl per pool.
  user_data = file("${path.module}/user-data.yaml")

  root_volume_size = 50
  s3_bucket_names  = ["example-fleet-artifacts"]

  tags = {
    owner = "platform-team"
  }
}

output "autoscaling_group_names" {
  description = "One Auto Scaling group per pool."
  value       = module.runner_fleet.autoscaling_group_names
}

output "lifecycle_event_rule_name" {
  description = "Attach your registration / drain handler to this EventBridge rule."
  value       = module.runner_fleet.lifecycle_event_rule_name
}
