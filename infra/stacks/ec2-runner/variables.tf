# Root stack inputs. `runnerfleet` renders these from runnerfleet.toml into
# runnerfleet.auto.tfvars.json; people driving Terraform directly can copy
# terraform.tfvars.example instead.

variable "name" {
  description = "Fleet name; prefixes every resource name and is the runnerfleet:fleet tag."
  type        = string
  default     = "runnerfleet"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as us-east-1."
  }
}

variable "tags" {
  description = "Extra tags for every resource (runnerfleet:* keys are reserved)."
  type        = map(string)
  default     = {}
}

# ---- network -------------------------------------------------------------------------

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block such as 10.0.0.0/16."
  }
}

variable "availability_zones" {
  description = "Availability zones; one public and one private subnet is made in each."
  type        = list(string)
  default     = ["us-east-1a"]

  validation {
    condition     = length(var.availability_zones) >= 1
    error_message = "availability_zones must list at least one zone."
  }
}

variable "public_subnet_cidrs" {
  description = "Public subnet CIDRs, one per availability zone, in the same order."
  type        = list(string)
  default     = ["10.0.1.0/24"]
}

variable "private_subnet_cidrs" {
  description = "Private subnet CIDRs, one per availability zone, in the same order."
  type        = list(string)
  default     = ["10.0.2.0/24"]
}

variable "nat_mode" {
  description = "single: one NAT gateway for all zones; per_az: one per zone (zone-independent); instance: one t4g.nano NAT instance in an Auto Scaling group of one (cheapest)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "per_az", "instance"], var.nat_mode)
    error_message = "nat_mode must be \"single\", \"per_az\" or \"instance\"."
  }
}

variable "enable_interface_endpoints" {
  description = "Create interface endpoints (SSM, EC2 messages, ECR, Logs, STS) to cut NAT traffic."
  type        = bool
  default     = false
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to CloudWatch Logs (on by default: a record of the fleet's traffic for investigations)."
  type        = bool
  default     = true
}

# ---- runners -------------------------------------------------------------------------

variable "runner_mode" {
  description = "static: runner_count fixed instances (the seed); autoscaled: one Auto Scaling group per pool."
  type        = string
  default     = "static"

  validation {
    condition     = contains(["static", "autoscaled"], var.runner_mode)
    error_message = "runner_mode must be \"static\" or \"autoscaled\"."
  }
}

variable "runner_count" {
  description = "Static mode: number of runner instances (named <name>-runner-01..NN)."
  type        = number
  default     = 1

  validation {
    condition     = var.runner_count >= 0 && var.runner_count <= 100 && floor(var.runner_count) == var.runner_count
    error_message = "runner_count must be a whole number from 0 to 100."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the runner hosts."
  type        = string
  default     = "t3.medium"
}

variable "ami_id" {
  description = "AMI for runner hosts; null resolves the latest Ubuntu 22.04 amd64 image from Canonical."
  type        = string
  default     = null
}

variable "root_volume_size" {
  description = "Root volume size in GiB."
  type        = number
  default     = 50

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384
    error_message = "root_volume_size must be between 8 and 16384 GiB."
  }
}

variable "root_volume_type" {
  description = "Root volume type."
  type        = string
  default     = "gp3"

  validation {
    condition     = contains(["gp3", "gp2", "io1", "io2"], var.root_volume_type)
    error_message = "root_volume_type must be gp3, gp2, io1 or io2."
  }
}

variable "root_volume_iops" {
  description = "Provisioned IOPS of the root volume (gp3/io1/io2); null keeps the AWS default."
  type        = number
  default     = null
}

variable "root_volume_throughput" {
  description = "gp3 throughput in MiB/s; null keeps the AWS default (125)."
  type        = number
  default     = null
}

variable "runner_labels" {
  description = "Extra runner labels, added to self-hosted, linux, x64."
  type        = list(string)
  default     = []
}

variable "ephemeral" {
  description = "Ephemeral (JIT, one job per instance) runners instead of persistent ones."
  type        = bool
  default     = false
}

variable "runner_version" {
  description = "GitHub actions runner version installed on the hosts."
  type        = string
  default     = "2.329.0"
}

variable "ssh_ingress_cidrs" {
  description = "CIDRs allowed to SSH (22); empty (default) turns SSH off: use Session Manager."
  type        = list(string)
  default     = []
}

variable "http_ingress_cidrs" {
  description = "CIDRs allowed to reach nginx on 80/443; null means the VPC CIDR only."
  type        = list(string)
  default     = null
}

variable "s3_bucket_names" {
  description = "S3 buckets the runner role may get/put objects in."
  type        = list(string)
  default     = []
}

variable "app_image" {
  description = "Container image nginx proxies to on port 8080."
  type        = string
  default     = "nginxdemos/hello:plain-text"

  validation {
    # The image reference grammar (runnerfleet.config.IMAGE_RE): the value is written into
    # the hosts' host.env, which root scripts source.
    condition     = length(var.app_image) <= 255 && can(regex("^(?:(?:(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$", var.app_image))
    error_message = "app_image must be a container image reference such as nginxdemos/hello:plain-text or registry.example.com:5000/team/app@sha256:<digest>."
  }
}

variable "pools" {
  description = "Autoscaled mode: runner pools, one Auto Scaling group each."
  type = list(object({
    name                            = string
    labels                          = list(string)
    min_size                        = number
    max_size                        = number
    desired_capacity                = optional(number)
    instance_types                  = list(string)
    on_demand_base_capacity         = number
    on_demand_percentage_above_base = number
    spot_allocation_strategy        = string
    warm_pool_size                  = number
    idle                            = optional(number, 0)
    cpu_target                      = optional(number)
    schedules = list(object({
      name       = string
      recurrence = string
      min_size   = number
    }))
  }))
  default = [{
    name                            = "default"
    labels                          = []
    min_size                        = 0
    max_size                        = 5
    desired_capacity                = null
    instance_types                  = ["t3.medium"]
    on_demand_base_capacity         = 0
    on_demand_percentage_above_base = 100
    spot_allocation_strategy        = "price-capacity-optimized"
    warm_pool_size                  = 0
    cpu_target                      = 70
    schedules                       = []
  }]
}

# ---- GitHub, monitoring, control plane ---------------------------------------------

variable "github_url" {
  description = "GitHub (or GitHub Enterprise Server) URL runners register with."
  type        = string
  default     = "https://github.com"
}

variable "github_owner" {
  description = "Organization or user that owns the runners."
  type        = string
  default     = "example-org"
}

variable "github_repository" {
  description = "Repository name for repository-level runners; null for organization-level."
  type        = string
  default     = null
}

variable "github_runner_group" {
  description = "Runner group (by name) the control plane's just-in-time runners join; repository runners use \"Default\"."
  type        = string
  default     = "Default"
}

variable "log_retention_days" {
  description = "CloudWatch Logs retention for the fleet's log groups."
  type        = number
  default     = 30
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic for alarms; null sends them nowhere (they still show on the dashboard)."
  type        = string
  default     = null
}

variable "log_kms_key_arn" {
  description = "KMS key ARN for the runner log groups ([monitoring] kms_key_arn). Null: CloudWatch Logs' own encryption."
  type        = string
  default     = null
}

variable "detailed_monitoring" {
  description = "EC2 detailed (one-minute) monitoring of the runners ([monitoring] detailed_monitoring). Off by default: AWS bills it as 7 custom metrics, $2.10 per instance-month in us-east-1."
  type        = bool
  default     = false
}

variable "enable_control_plane" {
  description = "Deploy the control plane (registrar Lambda, event rules, table)."
  type        = bool
  default     = true
}
