# Minimal standalone use of the monitoring module: one NAT gateway, two static runner
# instances, one Auto Scaling group, alarms to an SNS topic.

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

variable "nat_gateway_ids" {
  description = "NAT gateways of the fleet's VPC."
  type        = list(string)
  default     = []
}

variable "instance_ids" {
  description = "Runner instance IDs (static mode)."
  type        = list(string)
  default     = []
}

resource "aws_sns_topic" "alarms" {
  name              = "example-fleet-alarms"
  kms_master_key_id = "alias/aws/sns"
}

module "monitoring" {
  source = "../.."

  name                    = "example-fleet"
  log_retention_days      = 14
  alarm_sns_topic_arn     = aws_sns_topic.alarms.arn
  nat_gateway_ids         = var.nat_gateway_ids
  instance_ids            = var.instance_ids
  autoscaling_group_names = ["example-fleet-default"]

  tags = {
    team = "platform"
  }
}

output "log_group_names" {
  description = "Log groups the runner hosts ship to."
  value       = module.monitoring.log_group_names
}

output "cloudwatch_agent_config_parameter" {
  description = "SSM parameter the hosts load the CloudWatch agent configuration from."
  value       = module.monitoring.cloudwatch_agent_config_parameter
}

output "dashboard_name" {
  description = "CloudWatch dashboard of the fleet."
  value       = module.monitoring.dashboard_name
}
