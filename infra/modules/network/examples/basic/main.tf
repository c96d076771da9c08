# Two-zone network with one NAT gateway per zone, interface endpoints and flow logs.
# Run from this folder: terraform init && terraform apply

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
  source = "../.."

  name                       = "example-fleet"
  vpc_cidr                   = "10.0.0.0/16"
  availability_zones         = ["us-east-1a", "us-east-1b"]
  public_subnet_cidrs        = ["10.0.1.0/24", "10.0.3.0/24"]
  private_subnet_cidrs       = ["10.0.2.0/24", "10.0.4.0/24"]
  nat_mode                   = "per_az"
  enable_interface_endpoints = true
  enable_flow_logs           = true
  flow_log_retention_days    = 30

  tags = {
    owner = "platform-team"
  }
}

output "private_subnet_ids" {
  description = "Private subnets for the runner hosts."
  value       = module.network.private_subnet_ids
}

output "nat_public_ips" {
  description = "Egress addresses to allow-list on the GitHub side, if needed."
  value       = module.network.nat_public_ips
}
