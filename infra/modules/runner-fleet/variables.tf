# ---- identity and placement -----------------------------------------------------------

variable "name" {
  description = "Fleet name; prefixes resource names and is the runnerfleet:fleet tag."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter (for example \"runnerfleet\")."
  }
}

variable "tags" {
  description = "Extra tags for every resource (the module sets the runnerfleet:* keys)."
  type        = map(string)
  default     = {}
}

variable "vpc_id" {
  description = "ID of the VPC the runners live in (the network module's vpc_id)."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]+$", var.vpc_id))
    error_message = "vpc_id must be a VPC ID such as vpc-0123456789abcdef0."
  }
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC; the default source of HTTP/HTTPS ingress."
  type        = string

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR block such as 10.0.0.0/16."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets to place runners in; static instances are spread over them in order, Auto Scaling groups span all of them."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 1 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]+$", s))])
    error_message = "private_subnet_ids must list at least one subnet ID such as subnet-0123456789abcdef0."
  }
}

# ---- fleet shape ------------------------------------------------------------------------

variable "runner_mode" {
  description = "\"static\": runner_count fixed instances named <name>-runner-01..NN (the seed); \"autoscaled\": one Auto Scaling group per entry of pools."
  type        = string
  default     = "static"

  validation {
    condition     = contains(["static", "autoscaled"], var.runner_mode)
    error_message = "runner_mode must be \"static\" or \"autoscaled\"."
  }
}

variable "runner_count" {
  description = "Static mode: number of runner instances."
  type        = number
  default     = 1

  validation {
    condition     = var.runner_count >= 0 && var.runner_count <= 100 && floor(var.runner_count) == var.runner_count
    error_message = "runner_count must be a whole number from 0 to 100."
  }
}

variable "instance_type" {
  description = "EC2 instance type of static-mode runners (autoscaled pools list their own instance_types)."
  type        = string
  default     = "t3.medium"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type such as t3.medium."
  }
}

variable "ami_id" {
  description = "AMI of the runner hosts; null looks up the latest Ubuntu 22.04 amd64 image published by Canonical."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-[0-9a-f]+$", var.ami_id))
    error_message = "ami_id must be null or an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "root_device_name" {
  description = "Root device name used when ami_id is given (Ubuntu images use /dev/sda1); with ami_id null it comes from the looked-up image."
  type        = string
  default     = "/dev/sda1"

  validation {
    condition     = can(regex("^/dev/[a-z0-9]+$", var.root_device_name))
    error_message = "root_device_name must be a device path such as /dev/sda1 or /dev/xvda."
  }
}

variable "root_volume_size" {
  description = "Root volume size in GiB."
  type        = number
  default     = 50

  validation {
    condition     = var.root_volume_size >= 8 && var.root_volume_size <= 16384 && floor(var.root_volume_size) == var.root_volume_size
    error_message = "root_volume_size must be a whole number of GiB from 8 to 16384."
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
  description = "Provisioned IOPS of the root volume (gp3, io1, io2 only); null keeps the AWS default."
  type        = number
  default     = null

  validation {
    condition     = var.root_volume_iops == null || (try(var.root_volume_iops >= 100 && var.root_volume_iops <= 256000, false) && contains(["gp3", "io1", "io2"], var.root_volume_type))
    error_message = "root_volume_iops must be null, or 100-256000 with root_volume_type gp3, io1 or io2."
  }
}

variable "root_volume_throughput" {
  description = "Throughput of a gp3 root volume in MiB/s (125-2000); null keeps the AWS default of 125."
  type        = number
  default     = null

  validation {
    condition     = var.root_volume_throughput == null || (try(var.root_volume_throughput >= 125 && var.root_volume_throughput <= 2000, false) && var.root_volume_type == "gp3")
    error_message = "root_volume_throughput must be null, or 125-2000 MiB/s with root_volume_type gp3."
  }
}

variable "root_volume_kms_key_id" {
  description = "ARN of a KMS key for the root volume; null uses the account's default EBS key. The volume is encrypted either way."
  type        = string
  default     = null

  validation {
    condition     = var.root_volume_kms_key_id == null || can(regex("^arn:aws[a-z-]*:kms:", var.root_volume_kms_key_id))
    error_message = "root_volume_kms_key_id must be null or a KMS key ARN."
  }
}

variable "detailed_monitoring" {
  description = "One-minute EC2 metrics for the runners (faster CPU scaling). Off by default: AWS bills it as 7 custom metrics, $2.10 per instance-month in us-east-1."
  type        = bool
  default     = false
}

# ---- runner software (recorded as instance tags; the user data carries the settings) ---

variable "runner_labels" {
  description = "Extra runner labels of static-mode runners (added to self-hosted, linux, x64); recorded in the runnerfleet:labels tag."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for l in var.runner_labels : can(regex("^[A-Za-z0-9._-]{1,100}$", l))])
    error_message = "runner_labels entries must be 1-100 letters, digits, dots, underscores or hyphens."
  }
}

variable "ephemeral" {
  description = "Whether runners are ephemeral (one job per instance, JIT config); recorded in the runnerfleet:ephemeral tag."
  type        = bool
  default     = false
}

variable "runner_version" {
  description = "GitHub actions runner version on the hosts; recorded in the runnerfleet:runner-version tag."
  type        = string
  default     = "2.329.0"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+$", var.runner_version))
    error_message = "runner_version must be a release version such as 2.329.0."
  }
}

variable "app_image" {
  description = "Container image the hosts run behind nginx; when it is an ECR image the ECR pull permission is limited to its repository."
  type        = string
  default     = "nginxdemos/hello:plain-text"
}

variable "user_data" {
  description = "Rendered cloud-init document for static-mode hosts and for pools without an entry in pool_user_data (the stack renders infra/templates/cloud-init.yaml.tftpl). Must not contain secrets."
  type        = string
  default     = "#cloud-config\n{}\n"

  validation {
    condition     = (startswith(var.user_data, "#cloud-config") || startswith(var.user_data, "#!")) && length(var.user_data) <= 16384
    error_message = "user_data must be a cloud-init document starting with #cloud-config (or a #! script) of at most 16384 bytes."
  }
}

variable "pool_user_data" {
  description = "Autoscaled mode: rendered cloud-init document per pool name (the template's pool variable differs per pool); pools not listed use user_data."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for d in values(var.pool_user_data) : (startswith(d, "#cloud-config") || startswith(d, "#!")) && length(d) <= 16384])
    error_message = "pool_user_data values must be cloud-init documents starting with #cloud-config (or a #! script) of at most 16384 bytes."
  }
}

# ---- network access --------------------------------------------------------------------

variable "ssh_ingress_cidrs" {
  description = "CIDRs allowed to SSH (port 22), for example [\"203.0.113.7/32\"]; empty (the default) means no SSH rule at all: use Session Manager."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.ssh_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "ssh_ingress_cidrs entries must be IPv4 CIDR blocks such as 203.0.113.7/32."
  }
}

variable "http_ingress_cidrs" {
  description = "CIDRs allowed to reach nginx on ports 80 and 443; null (the default) means the VPC CIDR only, [] means no HTTP ingress."
  type        = list(string)
  default     = null

  validation {
    condition     = var.http_ingress_cidrs == null || alltrue([for c in coalesce(var.http_ingress_cidrs, []) : can(cidrhost(c, 0))])
    error_message = "http_ingress_cidrs must be null or a list of IPv4 CIDR blocks such as 10.0.0.0/16."
  }
}

# ---- permissions -----------------------------------------------------------------------

variable "s3_bucket_names" {
  description = "S3 buckets whose objects the runners may get and put; empty grants no S3 access."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for b in var.s3_bucket_names : can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", b))])
    error_message = "s3_bucket_names entries must be S3 bucket names (3-63 lowercase letters, digits, dots and hyphens)."
  }
}

variable "log_group_arns" {
  description = "ARNs of the log groups the hosts write to (the monitoring module's log_group_arns); null allows the fleet's prefix /<name>/* in this account."
  type        = list(string)
  default     = null

  validation {
    condition     = var.log_group_arns == null || alltrue([for a in coalesce(var.log_group_arns, []) : can(regex("^arn:aws[a-z-]*:logs:[a-z0-9-]+:[0-9]{12}:log-group:[^*]+$", a))])
    error_message = "log_group_arns must be null or log group ARNs (arn:aws:logs:<region>:<account>:log-group:<name>) without wildcards."
  }
}

variable "cloudwatch_config_parameter" {
  description = "Name of the SSM parameter holding the CloudWatch agent configuration the hosts may read; null means /<name>/cloudwatch-agent/config."
  type        = string
  default     = null

  validation {
    condition     = var.cloudwatch_config_parameter == null || can(regex("^/[A-Za-z0-9_./-]+$", coalesce(var.cloudwatch_config_parameter, "/")))
    error_message = "cloudwatch_config_parameter must be null or an SSM parameter path starting with /."
  }
}

variable "ecr_repository_arns" {
  description = "ECR repositories the hosts may pull from; null means the repository of app_image when it is an ECR image, otherwise every repository of this account."
  type        = list(string)
  default     = null

  validation {
    condition     = var.ecr_repository_arns == null || alltrue([for a in coalesce(var.ecr_repository_arns, []) : can(regex("^arn:aws[a-z-]*:ecr:", a))])
    error_message = "ecr_repository_arns must be null or ECR repository ARNs."
  }
}

# ---- autoscaled mode ------------------------------------------------------------------

variable "pools" {
  description = "Autoscaled mode: runner pools, one Auto Scaling group each. A pool with warm_pool_size > 0 must be on-demand only with a single instance type (AWS does not combine warm pools with mixed instances)."
  type = list(object({
    name                            = string
    labels                          = optional(list(string), [])
    min_size                        = number
    max_size                        = number
    desired_capacity                = optional(number)
    instance_types                  = list(string)
    on_demand_base_capacity         = optional(number, 0)
    on_demand_percentage_above_base = optional(number, 100)
    spot_allocation_strategy        = optional(string, "price-capacity-optimized")
    warm_pool_size                  = optional(number, 0)
    cpu_target                      = optional(number)
    schedules = optional(list(object({
      name       = string
      recurrence = string
      min_size   = number
    })), [])
  }))
  default = [{
    name           = "default"
    min_size       = 0
    max_size       = 5
    instance_types = ["t3.medium"]
    cpu_target     = 70
  }]

  validation {
    condition     = length(var.pools) == length(distinct([for p in var.pools : p.name])) && alltrue([for p in var.pools : can(regex("^[a-z0-9][a-z0-9-]{0,30}$", p.name))])
    error_message = "pools need unique names of 1-31 lowercase letters, digits and hyphens, not starting with a hyphen."
  }

  validation {
    condition = alltrue([for p in var.pools : (
      p.min_size >= 0 && p.min_size <= p.max_size && p.max_size <= 1000 &&
      (p.desired_capacity == null || try(p.desired_capacity >= p.min_size && p.desired_capacity <= p.max_size, false))
    )])
    error_message = "each pool needs 0 <= min_size <= desired_capacity (if set) <= max_size <= 1000."
  }

  validation {
    condition = alltrue([for p in var.pools : (
      length(p.instance_types) >= 1 &&
      alltrue([for t in p.instance_types : can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", t))])
    )])
    error_message = "each pool needs at least one instance type, such as [\"t3.medium\", \"t3a.medium\"]."
  }

  validation {
    condition = alltrue([for p in var.pools : (
      p.on_demand_base_capacity >= 0 &&
      p.on_demand_percentage_above_base >= 0 && p.on_demand_percentage_above_base <= 100 &&
      contains(["price-capacity-optimized", "capacity-optimized", "capacity-optimized-prioritized", "lowest-price"], p.spot_allocation_strategy)
    )])
    error_message = "on_demand_base_capacity must be >= 0, on_demand_percentage_above_base 0-100, spot_allocation_strategy one of price-capacity-optimized, capacity-optimized, capacity-optimized-prioritized, lowest-price."
  }

  validation {
    condition = alltrue([for p in var.pools : (
      p.warm_pool_size >= 0 &&
      (p.warm_pool_size == 0 || (length(p.instance_types) == 1 && p.on_demand_percentage_above_base == 100))
    )])
    error_message = "a pool with warm_pool_size > 0 must use a single instance type and on_demand_percentage_above_base = 100 (AWS does not combine warm pools with mixed instances or spot)."
  }

  validation {
    condition     = alltrue([for p in var.pools : p.cpu_target == null || try(p.cpu_target > 0 && p.cpu_target <= 100, false)])
    error_message = "cpu_target must be null (no CPU scaling) or a percentage from 1 to 100."
  }

  validation {
    condition = alltrue(flatten([for p in var.pools : [for s in p.schedules : (
      length(s.name) >= 1 && length(s.name) <= 100 && !strcontains(s.name, "/") &&
      length(split(" ", trimspace(s.recurrence))) == 5 &&
      s.min_size >= 0 && s.min_size <= p.max_size
    )]]))
    error_message = "each schedule needs a name (1-100 characters, no \"/\"), a 5-field cron recurrence such as \"0 8 * * 1-5\" and a min_size between 0 and the pool's max_size."
  }
}

variable "launch_hook_timeout" {
  description = "Seconds a new autoscaled instance waits in Pending:Wait for the control plane to register it before launching continues."
  type        = number
  default     = 300

  validation {
    condition     = var.launch_hook_timeout >= 30 && var.launch_hook_timeout <= 7200
    error_message = "launch_hook_timeout must be 30-7200 seconds."
  }
}

variable "termination_hook_timeout" {
  description = "Seconds a terminating autoscaled instance waits in Terminating:Wait for its runner to drain before termination continues."
  type        = number
  default     = 900

  validation {
    condition     = var.termination_hook_timeout >= 30 && var.termination_hook_timeout <= 7200
    error_message = "termination_hook_timeout must be 30-7200 seconds."
  }
}

# ---- the agent artifact (artifacts.tf) -------------------------------------------------

variable "agent_artifact_path" {
  description = "Local path of the agent artifact that `runnerfleet up` builds (runnerfleet.hostartifact); uploaded to the artifacts bucket as agent_artifact_key. null uploads nothing (the hosts then have no agent to install)."
  type        = string
  default     = null

  validation {
    condition     = var.agent_artifact_path == null || endswith(coalesce(var.agent_artifact_path, "-"), ".tar.gz")
    error_message = "agent_artifact_path must be null or the path of the built runnerfleet-agent-*.tar.gz."
  }
}

variable "agent_artifact_key" {
  description = "Object key of the agent artifact in the artifacts bucket (agent/<file name>); required with agent_artifact_path."
  type        = string
  default     = null

  validation {
    condition     = var.agent_artifact_key == null || can(regex("^agent/[A-Za-z0-9._-]+\\.tar\\.gz$", coalesce(var.agent_artifact_key, "-")))
    error_message = "agent_artifact_key must be null or agent/<file name>.tar.gz (letters, digits, dots, underscores, hyphens)."
  }

  validation {
    condition     = (var.agent_artifact_key == null) == (var.agent_artifact_path == null)
    error_message = "agent_artifact_key and agent_artifact_path go together: set both (runnerfleet up does) or neither."
  }
}

variable "agent_artifact_sha256" {
  description = "SHA-256 (hex) of the agent artifact; the hosts refuse an artifact whose digest differs. Required with agent_artifact_path."
  type        = string
  default     = null

  validation {
    condition     = var.agent_artifact_sha256 == null || can(regex("^[0-9a-f]{64}$", coalesce(var.agent_artifact_sha256, "-")))
    error_message = "agent_artifact_sha256 must be null or 64 lowercase hex digits."
  }

  validation {
    condition     = (var.agent_artifact_sha256 == null) == (var.agent_artifact_path == null)
    error_message = "agent_artifact_sha256 and agent_artifact_path go together: set both (runnerfleet up does) or neither."
  }
}

variable "artifacts_kms_key_arn" {
  description = "ARN of a KMS key for the artifacts bucket (SSE-KMS); null uses SSE-S3. With a key, the runner role also needs kms:Decrypt on it (grant it in the key policy)."
  type        = string
  default     = null

  validation {
    condition     = var.artifacts_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:", coalesce(var.artifacts_kms_key_arn, "-")))
    error_message = "artifacts_kms_key_arn must be null or a KMS key ARN."
  }
}
