# Runner hosts of a runnerfleet fleet: security group, IAM role and instance profile
# (iam.tf), and either runner_count fixed instances named <name>-runner-01..NN (static
# mode, the seed) or one launch template + Auto Scaling group per pool (autoscaled mode,
# autoscaled.tf). Both carry the same posture: IMDSv2 with hop limit 1, encrypted root
# volume, no public IP, private subnets only.

locals {
  static = var.runner_mode == "static"

  common_tags = merge(var.tags, {
    "runnerfleet:fleet" = var.name
    "runnerfleet:role"  = "runner"
  })

  # Autoscaled mode: one launch template (and Auto Scaling group) per pool.
  pools = local.static ? {} : { for p in var.pools : p.name => p }

  pool_labels = { for k, p in local.pools : k => distinct(concat(var.runner_labels, p.labels)) }

  # Tags on the instances and volumes (settings only, never secrets), per pool name.
  runner_tags = {
    for pool, labels in merge({ static = var.runner_labels }, local.pool_labels) : pool => merge(local.common_tags, {
      "runnerfleet:pool"               = pool
      "runnerfleet:labels"             = join(",", distinct(concat(["self-hosted", "linux", "x64"], labels)))
      "runnerfleet:ephemeral"          = tostring(var.ephemeral)
      "runnerfleet:runner-version"     = var.runner_version
    })
  }

  ami_id           = var.ami_id != null ? var.ami_id : data.aws_ami.ubuntu[0].id
  root_device_name = var.ami_id != null ? var.root_device_name : data.aws_ami.ubuntu[0].root_device_name

  http_cidrs = var.http_ingress_cidrs == null ? [var.vpc_cidr] : var.http_ingress_cidrs
  http_rules = {
    for pair in setproduct([80, 443], local.http_cidrs) : "${pair[0]}-${pair[1]}" => {
      port = pair[0]
      cidr = pair[1]
    }
  }
}

# Ubuntu 22.04 LTS (jammy) amd64 from Canonical's own account, only when ami_id is not given.
data "aws_ami" "ubuntu" {
  count = var.ami_id == null ? 1 : 0

  most_recent = true
  owners      = ["099720109477"]

  filter {
    name   = "name"
    values = ["ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }

  filter {
    name   = "virtualization-type"
    values = ["hvm"]
  }

  filter {
    name   = "root-device-type"
    values = ["ebs"]
  }
}

# ---- security group ----------------------------------------------------------------------

resource "aws_security_group" "runner" {
  name        = "${var.name}-runner"
  description = "runnerfleet ${var.name} runner hosts"
  vpc_id      = var.vpc_id

  tags = merge(local.common_tags, { Name = "${var.name}-runner" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_egress_rule" "all" {
  # checkov:skip=CKV_AWS_382:Runners need outbound internet (GitHub, package mirrors, registries) through the NAT gateway, as in the seed.
  security_group_id = aws_security_group.runner.id
  description       = "All outbound traffic (leaves the VPC through the NAT gateway)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"

  tags = local.common_tags
}

resource "aws_vpc_security_group_ingress_rule" "http" {
  for_each = local.http_rules

  security_group_id = aws_security_group.runner.id
  description       = "${each.value.port == 80 ? "HTTP" : "HTTPS"} to nginx from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  tags = local.common_tags
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  for_each = toset(var.ssh_ingress_cidrs)

  security_group_id = aws_security_group.runner.id
  description       = "SSH from ${each.value} (opt-in; Session Manager is the default way in)"
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
  cidr_ipv4         = each.value

  tags = local.common_tags
}

# ---- autoscaled mode: one launch template per pool ----------------------------------------------------------------------

resource "aws_launch_template" "pool" {
  for_each = local.pools

  name                   = "${var.name}-${each.key}"
  description            = "runnerfleet ${var.name} runner host, pool ${each.key}"
  image_id               = local.ami_id
  instance_type          = each.value.instance_types[0]
  user_data              = base64encode(lookup(var.pool_user_data, each.key, var.user_data))
  ebs_optimized          = true
  update_default_version = true

  network_interfaces {
    device_index                = 0
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.runner.id]
  }

  iam_instance_profile {
    arn = aws_iam_instance_profile.runner.arn
  }

  # IMDSv2 only, one hop: containers started by jobs cannot reach the instance credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = var.detailed_monitoring
  }

  block_device_mappings {
    device_name = local.root_device_name

    ebs {
      volume_size           = var.root_volume_size
      volume_type           = var.root_volume_type
      iops                  = var.root_volume_iops
      throughput            = var.root_volume_throughput
      encrypted             = true
      kms_key_id            = var.root_volume_kms_key_id
      delete_on_termination = true
    }
  }

  dynamic "tag_specifications" {
    for_each = toset(["instance", "volume", "network-interface"])

    content {
      resource_type = tag_specifications.value
      tags          = merge(local.runner_tags[each.key], { Name = "${var.name}-${each.key}-runner" })
    }
  }

  tags = merge(local.common_tags, { "runnerfleet:pool" = each.key })
}

# ---- static mode: <name>-runner-01 .. NN ----------------------------------------------------

resource "aws_instance" "runner" {
  #checkov:skip=CKV_AWS_126:Detailed monitoring is opt-in (var.detailed_monitoring, $2.10 per instance-month): the CPU alarms use five-minute periods and status checks are one-minute at no charge.
  count = local.static ? var.runner_count : 0

  ami                         = local.ami_id
  instance_type               = var.instance_type
  subnet_id                   = var.private_subnet_ids[count.index % length(var.private_subnet_ids)]
  vpc_security_group_ids      = [aws_security_group.runner.id]
  associate_public_ip_address = false
  iam_instance_profile        = aws_iam_instance_profile.runner.name
  ebs_optimized               = true
  monitoring                  = var.detailed_monitoring
  user_data_base64            = base64encode(var.user_data)
  user_data_replace_on_change = true

  # IMDSv2 only, one hop: containers started by jobs cannot reach the instance credentials.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_size           = var.root_volume_size
    volume_type           = var.root_volume_type
    iops                  = var.root_volume_iops
    throughput            = var.root_volume_throughput
    encrypted             = true
    kms_key_id            = var.root_volume_kms_key_id
    delete_on_termination = true
  }

  volume_tags = merge(local.runner_tags["static"], {
    Name = format("%s-runner-%02d", var.name, count.index + 1)
  })

  tags = merge(local.runner_tags["static"], {
    Name                      = format("%s-runner-%02d", var.name, count.index + 1)
    "runnerfleet:runner-name" = format("%s-runner-%02d", var.name, count.index + 1)
  })

  lifecycle {
    # Written at run time by the runnerfleet agent on the host and by the control plane.
    ignore_changes = [
      tags["runnerfleet:agent-state"],
      tags["runnerfleet:agent-detail"],
      tags["runnerfleet:github-runner-id"],
    ]
  }

  # The hosts install the agent from the artifacts bucket as they boot.
  depends_on = [aws_s3_object.agent, aws_iam_role_policy.runner]
}
