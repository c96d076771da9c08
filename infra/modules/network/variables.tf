variable "name" {
  description = "Fleet name; prefixes resource names and is the runnerfleet:fleet tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter (for example \"runnerfleet\")."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC (a /16 to /28 network address)."
  type        = string
  default     = "10.0.0.0/16"

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0)) &&
      can(regex("^[0-9.]+/(1[6-9]|2[0-8])$", var.vpc_cidr)) &&
      try(cidrhost(var.vpc_cidr, 0) == split("/", var.vpc_cidr)[0], false)
    )
    error_message = "vpc_cidr must be an IPv4 network address with a prefix between /16 and /28, such as 10.0.0.0/16."
  }
}

variable "availability_zones" {
  description = "Availability zones to use; one public and one private subnet is made in each."
  type        = list(string)
  default     = ["us-east-1a"]

  validation {
    condition     = length(var.availability_zones) >= 1 && length(var.availability_zones) == length(distinct(var.availability_zones))
    error_message = "availability_zones must list at least one zone, each zone once (for example [\"us-east-1a\", \"us-east-1b\"])."
  }

  validation {
    condition     = alltrue([for az in var.availability_zones : can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", az))])
    error_message = "availability_zones entries must be zone names such as us-east-1a."
  }
}

variable "public_subnet_cidrs" {
  description = "CIDR blocks of the public subnets, one per availability zone, in the same order; each must lie inside vpc_cidr."
  type        = list(string)
  default     = ["10.0.1.0/24"]

  validation {
    condition     = alltrue([for c in var.public_subnet_cidrs : can(cidrhost(c, 0)) && try(cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "public_subnet_cidrs entries must be IPv4 network addresses such as 10.0.1.0/24."
  }

  validation {
    condition     = length(var.public_subnet_cidrs) == length(var.availability_zones)
    error_message = "public_subnet_cidrs must have exactly one CIDR per entry of availability_zones."
  }
}

variable "private_subnet_cidrs" {
  description = "CIDR blocks of the private subnets (runner hosts), one per availability zone, in the same order; each must lie inside vpc_cidr."
  type        = list(string)
  default     = ["10.0.2.0/24"]

  validation {
    condition     = alltrue([for c in var.private_subnet_cidrs : can(cidrhost(c, 0)) && try(cidrhost(c, 0) == split("/", c)[0], false)])
    error_message = "private_subnet_cidrs entries must be IPv4 network addresses such as 10.0.2.0/24."
  }

  validation {
    condition     = length(var.private_subnet_cidrs) == length(var.availability_zones)
    error_message = "private_subnet_cidrs must have exactly one CIDR per entry of availability_zones."
  }

  validation {
    condition     = length(distinct(concat(var.public_subnet_cidrs, var.private_subnet_cidrs))) == length(concat(var.public_subnet_cidrs, var.private_subnet_cidrs))
    error_message = "public_subnet_cidrs and private_subnet_cidrs must not repeat a CIDR; give every subnet its own block."
  }
}

variable "nat_mode" {
  description = "Egress of the private subnets: \"single\" (one NAT gateway in the first zone), \"per_az\" (one NAT gateway per zone, survives a zone outage) or \"instance\" (one small ARM NAT instance in the first zone, kept alive by an Auto Scaling group of one: the cheapest floor, with a minute or two without egress while a failed instance is replaced)."
  type        = string
  default     = "single"

  validation {
    condition     = contains(["single", "per_az", "instance"], var.nat_mode)
    error_message = "nat_mode must be \"single\", \"per_az\" or \"instance\"."
  }
}

variable "nat_instance_type" {
  description = "Instance type of the NAT instance (nat_mode = \"instance\"): an arm64 (Graviton) type, since the AMI is Amazon Linux 2023 for arm64."
  type        = string
  default     = "t4g.nano"

  validation {
    condition     = can(regex("^[a-z]+[0-9]+[a-z]*g[a-z]*\\.[a-z0-9]+$", var.nat_instance_type))
    error_message = "nat_instance_type must be an arm64 (Graviton) instance type such as t4g.nano or t4g.micro: the family's attributes after the generation contain a g (t4g, c7g, m7gd)."
  }
}

variable "nat_instance_ami_id" {
  description = "AMI of the NAT instance; null (default) takes the latest Amazon Linux 2023 arm64 AMI from AWS's public SSM parameter. Any AMI with bash, curl, the AWS CLI, dnf and systemd works."
  type        = string
  default     = null

  validation {
    condition     = var.nat_instance_ami_id == null || can(regex("^ami-[0-9a-f]{8,17}$", coalesce(var.nat_instance_ami_id, "-")))
    error_message = "nat_instance_ami_id must be null or an AMI id like ami-0abcdef1234567890."
  }
}

variable "enable_interface_endpoints" {
  description = "Create interface VPC endpoints (SSM, SSM messages, EC2 messages, ECR api and dkr, CloudWatch Logs, STS) with private DNS, to keep that traffic off the NAT."
  type        = bool
  default     = false
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs (all traffic) to a CloudWatch log group with its own IAM role."
  type        = bool
  default     = false
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group, in days (a value CloudWatch Logs accepts)."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_log_retention_days)
    error_message = "flow_log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "tags" {
  description = "Extra tags for every resource (the runnerfleet:fleet and runnerfleet:role keys are set by the module)."
  type        = map(string)
  default     = {}
}
