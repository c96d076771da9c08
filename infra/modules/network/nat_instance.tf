# nat_mode = "instance": one small ARM NAT instance instead of NAT gateways (the cheaper floor).
#
# An Auto Scaling group of exactly one keeps it alive, so a failed instance is replaced. An
# ASG cannot launch an instance onto an existing network interface (AWS refuses a launch
# template with a network interface ID in an ASG), and the private route tables need a
# target that outlives any one instance. So the module makes a dedicated ENI in the first
# zone's public subnet, with source/destination check off and the Elastic IP on it; the
# private routes point at that ENI. Each instance the group launches attaches the ENI as
# its second interface at boot (user data, `ec2:AttachNetworkInterface` on that ENI only),
# turns on forwarding and iptables masquerading out of it, and makes it the default route.
# Egress keeps the same public address across replacements and Terraform's routes never
# change (no drift). The instance's own first interface has an automatic public IPv4
# address, needed only to make that one API call at boot (and for package installs).

locals {
  nat_instance     = var.nat_mode == "instance"
  nat_instance_az  = var.availability_zones[0]
  nat_instance_ami = local.nat_instance ? coalesce(var.nat_instance_ami_id, try(data.aws_ssm_parameter.nat_instance_ami[0].value, null)) : null
  account_id       = split(":", aws_vpc.this.arn)[4]
  partition        = split(":", aws_vpc.this.arn)[1]

  nat_instance_user_data = local.nat_instance ? templatefile("${path.module}/nat-instance.sh.tftpl", {
    eni_id       = aws_network_interface.nat[0].id
    eni_mac      = aws_network_interface.nat[0].mac_address
    gateway_ip   = cidrhost(aws_subnet.public[local.nat_instance_az].cidr_block, 1)
    private_cidr = var.vpc_cidr
  }) : null
}

# Amazon Linux 2023 for arm64, AWS's public parameter (unless nat_instance_ami_id is set).
data "aws_ssm_parameter" "nat_instance_ami" {
  count = local.nat_instance && var.nat_instance_ami_id == null ? 1 : 0

  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64"
}

resource "aws_security_group" "nat_instance" {
  count = local.nat_instance ? 1 : 0

  name        = "${var.name}-nat-instance"
  description = "NAT instance: any traffic from the private subnets, egress to the internet"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-nat-instance" })
}

resource "aws_vpc_security_group_ingress_rule" "nat_instance_private" {
  for_each = local.nat_instance ? local.az_keys : {}

  security_group_id = aws_security_group.nat_instance[0].id
  description       = "Traffic to NAT from the private subnet in ${each.key}"
  cidr_ipv4         = var.private_subnet_cidrs[each.value]
  ip_protocol       = "-1"

  tags = local.tags
}

resource "aws_vpc_security_group_egress_rule" "nat_instance_internet" {
  #checkov:skip=CKV_AWS_382:A NAT forwards the private subnets' traffic to any internet address; that is its job.
  count = local.nat_instance ? 1 : 0

  security_group_id = aws_security_group.nat_instance[0].id
  description       = "Forwarded traffic to the internet"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "-1"

  tags = local.tags
}

# The stable NAT interface: route target of the private route tables, holder of the EIP.
resource "aws_network_interface" "nat" {
  count = local.nat_instance ? 1 : 0

  subnet_id         = aws_subnet.public[local.nat_instance_az].id
  security_groups   = [aws_security_group.nat_instance[0].id]
  source_dest_check = false
  description       = "${var.name} NAT instance egress interface (attached at boot by the instance in the ${var.name}-nat ASG)"

  tags = merge(local.tags, { Name = "${var.name}-nat" })
}

resource "aws_eip_association" "nat_instance" {
  count = local.nat_instance ? 1 : 0

  allocation_id        = aws_eip.nat[local.nat_instance_az].id
  network_interface_id = aws_network_interface.nat[0].id
}

data "aws_iam_policy_document" "nat_instance_assume" {
  count = local.nat_instance ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "nat_instance" {
  count = local.nat_instance ? 1 : 0

  name               = "${var.name}-nat-instance"
  description        = "NAT instance of ${var.name}: attach the fleet's NAT interface to itself at boot."
  assume_role_policy = data.aws_iam_policy_document.nat_instance_assume[0].json

  tags = local.tags
}

resource "aws_iam_role_policy" "nat_instance" {
  count = local.nat_instance ? 1 : 0

  name = "attach-nat-interface"
  role = aws_iam_role.nat_instance[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "AttachTheNatInterface"
        Effect   = "Allow"
        Action   = ["ec2:AttachNetworkInterface"]
        Resource = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:network-interface/${aws_network_interface.nat[0].id}"]
      },
      {
        Sid      = "ToANatInstanceOfThisFleet"
        Effect   = "Allow"
        Action   = ["ec2:AttachNetworkInterface"]
        Resource = ["arn:${local.partition}:ec2:${local.region}:${local.account_id}:instance/*"]
        Condition = {
          StringEquals = {
            "aws:ResourceTag/runnerfleet:fleet" = var.name
            "aws:ResourceTag/runnerfleet:role"  = "nat"
          }
        }
      },
    ]
  })
}

# Session Manager instead of SSH (no key pair, no port 22).
resource "aws_iam_role_policy_attachment" "nat_instance_ssm" {
  count = local.nat_instance ? 1 : 0

  role       = aws_iam_role.nat_instance[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "nat_instance" {
  count = local.nat_instance ? 1 : 0

  name = "${var.name}-nat-instance"
  role = aws_iam_role.nat_instance[0].name

  tags = local.tags
}

resource "aws_launch_template" "nat_instance" {
  #checkov:skip=CKV_AWS_88:A NAT instance sits in the public subnet; its first interface needs a public address to reach the EC2 API at boot (to attach the NAT interface). Its security group admits only the private subnets.
  count = local.nat_instance ? 1 : 0

  name_prefix   = "${var.name}-nat-"
  description   = "NAT instance of ${var.name} (${var.nat_instance_type}, Amazon Linux 2023 arm64)"
  image_id      = local.nat_instance_ami
  instance_type = var.nat_instance_type
  user_data     = base64encode(local.nat_instance_user_data)

  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.nat_instance[0].arn
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  network_interfaces {
    device_index                = 0
    associate_public_ip_address = true
    security_groups             = [aws_security_group.nat_instance[0].id]
    delete_on_termination       = true
  }

  block_device_mappings {
    device_name = "/dev/xvda"

    ebs {
      volume_size           = 8
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  monitoring {
    enabled = false
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(local.tags, { Name = "${var.name}-nat", "runnerfleet:role" = "nat" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(local.tags, { Name = "${var.name}-nat", "runnerfleet:role" = "nat" })
  }

  tags = local.tags
}

resource "aws_autoscaling_group" "nat_instance" {
  count = local.nat_instance ? 1 : 0

  name                      = "${var.name}-nat"
  min_size                  = 1
  max_size                  = 1
  desired_capacity          = 1
  vpc_zone_identifier       = [aws_subnet.public[local.nat_instance_az].id]
  health_check_type         = "EC2"
  health_check_grace_period = 120

  launch_template {
    id      = aws_launch_template.nat_instance[0].id
    version = aws_launch_template.nat_instance[0].latest_version
  }

  # A new launch template version (new AMI, new user data) replaces the instance.
  instance_refresh {
    strategy = "Rolling"
    preferences {
      min_healthy_percentage = 0
    }
  }

  dynamic "tag" {
    for_each = merge(local.tags, { Name = "${var.name}-nat", "runnerfleet:role" = "nat" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  depends_on = [aws_eip_association.nat_instance, aws_iam_role_policy.nat_instance]
}
