# Runner hosts (owner: runner-fleet): security group, IAM, launch template(s), and either
# runner_count static instances or one Auto Scaling group per pool. The hosts' cloud-init
# user data is rendered here from infra/templates/ (one document per pool: the template
# names the pool) and handed to the module, with the agent artifact that `runnerfleet up`
# built (uploaded by the module to the fleet's artifacts bucket, named by key and SHA-256).

variable "runner_sha256" {
  description = "SHA-256 of the actions runner linux-x64 tarball of runner_version; null uses the checksum recorded for the known versions (runnerfleet.agent.runner_release.CHECKSUMS)."
  type        = string
  default     = null

  validation {
    condition     = var.runner_sha256 == null || can(regex("^[0-9a-f]{64}$", coalesce(var.runner_sha256, "-")))
    error_message = "runner_sha256 must be null or 64 lowercase hex digits (the checksum from the runner release notes)."
  }
}

variable "agent_artifact_path" {
  description = "Path of the agent artifact built by `runnerfleet up` (runnerfleet.hostartifact); uploaded to the fleet's artifacts bucket. null uploads none (hosts then refuse to boot their agent)."
  type        = string
  default     = null
}

variable "agent_artifact_key" {
  description = "Object key of the agent artifact (agent/<file name>); set by `runnerfleet up` with agent_artifact_path."
  type        = string
  default     = null

  validation {
    condition     = var.agent_artifact_key == null || can(regex("^agent/[A-Za-z0-9._-]+\\.tar\\.gz$", coalesce(var.agent_artifact_key, "-")))
    error_message = "agent_artifact_key must be null or agent/<file name>.tar.gz."
  }
}

variable "agent_artifact_sha256" {
  description = "SHA-256 of the agent artifact; the user data names it and the hosts refuse any other digest."
  type        = string
  default     = null

  validation {
    condition     = var.agent_artifact_sha256 == null || can(regex("^[0-9a-f]{64}$", coalesce(var.agent_artifact_sha256, "-")))
    error_message = "agent_artifact_sha256 must be null or 64 lowercase hex digits."
  }
}

locals {
  # Mirror of runnerfleet.agent.runner_release.CHECKSUMS (published SHA-256 per version).
  runner_checksums = {
    "2.329.0" = "194f1e1e4bd02f80b7e9633fc546084d8d4e19f3928a324d512ea53430102e1d"
  }

  runner_template = "${path.module}/../../templates/cloud-init.yaml.tftpl"

  runner_template_vars = {
    name                          = var.name
    region                        = var.region
    runner_version                = var.runner_version
    runner_sha256                 = var.runner_sha256 != null ? var.runner_sha256 : lookup(local.runner_checksums, var.runner_version, "")
    ephemeral                     = var.ephemeral
    app_image                     = var.app_image
    cloudwatch_config_parameter   = module.monitoring.cloudwatch_agent_config_parameter
    registration_parameter_prefix = "/${var.name}/runners"
    runner_name_prefix            = "${var.name}-runner"
    agent_bucket                  = module.runner_fleet.artifacts_bucket_name
    # Without a built artifact: placeholders no host accepts (runnerfleet.agent.userdata).
    agent_key    = coalesce(var.agent_artifact_key, "agent/runnerfleet-agent-UNBUILT.tar.gz")
    agent_sha256 = coalesce(var.agent_artifact_sha256, "0000000000000000000000000000000000000000000000000000000000000000")
  }

  default_labels = ["self-hosted", "linux", "x64"]

  static_user_data = templatefile(local.runner_template, merge(local.runner_template_vars, {
    pool          = "static"
    runner_labels = join(",", distinct(concat(local.default_labels, var.runner_labels)))
  }))

  pool_user_data = {
    for p in var.pools : p.name => templatefile(local.runner_template, merge(local.runner_template_vars, {
      pool          = p.name
      runner_labels = join(",", distinct(concat(local.default_labels, var.runner_labels, p.labels)))
    }))
  }
}

module "runner_fleet" {
  source = "../../modules/runner-fleet"

  name               = var.name
  vpc_id             = module.network.vpc_id
  vpc_cidr           = module.network.vpc_cidr
  private_subnet_ids = module.network.private_subnet_ids

  runner_mode            = var.runner_mode
  runner_count           = var.runner_count
  instance_type          = var.instance_type
  ami_id                 = var.ami_id
  root_volume_size       = var.root_volume_size
  root_volume_type       = var.root_volume_type
  root_volume_iops       = var.root_volume_iops
  root_volume_throughput = var.root_volume_throughput
  runner_labels          = var.runner_labels
  ephemeral              = var.ephemeral
  runner_version         = var.runner_version
  app_image              = var.app_image
  pools                  = var.pools

  user_data      = local.static_user_data
  pool_user_data = local.pool_user_data

  agent_artifact_path   = var.agent_artifact_path
  agent_artifact_key    = var.agent_artifact_key
  agent_artifact_sha256 = var.agent_artifact_sha256

  ssh_ingress_cidrs  = var.ssh_ingress_cidrs
  http_ingress_cidrs = var.http_ingress_cidrs
  s3_bucket_names    = var.s3_bucket_names

  log_group_arns              = module.monitoring.log_group_arns
  cloudwatch_config_parameter = module.monitoring.cloudwatch_agent_config_parameter
  detailed_monitoring         = var.detailed_monitoring

  tags = var.tags
}

output "runner_security_group_id" {
  description = "Security group of the runner hosts."
  value       = module.runner_fleet.security_group_id
}

output "runner_role_name" {
  description = "IAM role of the runner hosts."
  value       = module.runner_fleet.iam_role_name
}

output "runner_instance_profile_name" {
  description = "Instance profile of the runner hosts."
  value       = module.runner_fleet.instance_profile_name
}

output "runner_ami_id" {
  description = "AMI the runner hosts boot from."
  value       = module.runner_fleet.ami_id
}

output "runner_launch_template_ids" {
  description = "Launch template per profile (static, or one per pool)."
  value       = module.runner_fleet.launch_template_ids
}

output "runner_instance_ids" {
  description = "Static mode: runner instance IDs in name order."
  value       = module.runner_fleet.instance_ids
}

output "runner_names" {
  description = "Static mode: runner names <name>-runner-01..NN."
  value       = module.runner_fleet.instance_names
}

output "runner_private_ips" {
  description = "Static mode: private IPs of the runner instances."
  value       = module.runner_fleet.private_ips
}

output "runner_autoscaling_group_names" {
  description = "Autoscaled mode: Auto Scaling group per pool."
  value       = module.runner_fleet.autoscaling_group_names
}

output "runner_lifecycle_event_rule_name" {
  description = "Autoscaled mode: EventBridge rule of the groups' lifecycle actions."
  value       = module.runner_fleet.lifecycle_event_rule_name
}

output "runner_artifacts_bucket" {
  description = "The fleet's artifacts bucket (the agent artifact lives under agent/)."
  value       = module.runner_fleet.artifacts_bucket_name
}
