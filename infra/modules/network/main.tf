# Network for a runnerfleet fleet: a VPC with one public and one private subnet per
# availability zone, an internet gateway, NAT gateway(s) or a NAT instance (nat_instance.tf)
# with Elastic IPs, one private
# route table per zone, an S3 gateway endpoint and, optionally, interface endpoints and
# VPC flow logs. Runner hosts live in the private subnets and reach out only via NAT.

locals {
  az_count = length(var.availability_zones)
  az_keys  = { for i, az in var.availability_zones : az => i }

  # single: one NAT gateway in the first zone; per_az: one in every zone; instance: one NAT
  # instance in the first zone (nat_instance.tf). Each has an Elastic IP.
  nat_azs         = var.nat_mode == "per_az" ? var.availability_zones : [var.availability_zones[0]]
  nat_gateway_azs = var.nat_mode == "instance" ? [] : local.nat_azs

  tags = merge(var.tags, {
    "runnerfleet:fleet" = var.name
    "runnerfleet:role"  = "network"
  })

  # The region is read from the VPC's ARN (arn:<partition>:ec2:<region>:<account>:vpc/<id>)
  # rather than data.aws_region, whose name/id attributes are deprecated in provider 6.x.
  region = split(":", aws_vpc.this.arn)[3]

  interface_services = var.enable_interface_endpoints ? toset([
    "ssm", "ssmmessages", "ec2messages", "ecr.api", "ecr.dkr", "logs", "sts",
  ]) : toset([])
}

resource "aws_vpc" "this" {
  cidr_block           = var.vpc_cidr
  enable_dns_hostnames = true
  enable_dns_support   = true

  tags = merge(local.tags, { Name = "${var.name}-vpc" })
}

# Lock the default security group down: no ingress, no egress. Nothing in the fleet uses it.
resource "aws_default_security_group" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-default-deny" })
}

resource "aws_internet_gateway" "this" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-igw" })
}

resource "aws_subnet" "public" {
  for_each = local.az_keys

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = var.public_subnet_cidrs[each.value]
  map_public_ip_on_launch = false

  tags = merge(local.tags, {
    Name               = "${var.name}-public-${each.key}"
    "runnerfleet:tier" = "public"
  })
}

resource "aws_subnet" "private" {
  for_each = local.az_keys

  vpc_id                  = aws_vpc.this.id
  availability_zone       = each.key
  cidr_block              = var.private_subnet_cidrs[each.value]
  map_public_ip_on_launch = false

  tags = merge(local.tags, {
    Name               = "${var.name}-private-${each.key}"
    "runnerfleet:tier" = "private"
  })
}

resource "aws_eip" "nat" {
  for_each = toset(local.nat_azs)

  domain = "vpc"

  tags = merge(local.tags, { Name = "${var.name}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_nat_gateway" "this" {
  for_each = toset(local.nat_gateway_azs)

  allocation_id = aws_eip.nat[each.key].id
  subnet_id     = aws_subnet.public[each.key].id

  tags = merge(local.tags, { Name = "${var.name}-nat-${each.key}" })

  depends_on = [aws_internet_gateway.this]
}

resource "aws_route_table" "public" {
  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "public_internet" {
  route_table_id         = aws_route_table.public.id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this.id
}

resource "aws_route_table_association" "public" {
  for_each = aws_subnet.public

  subnet_id      = each.value.id
  route_table_id = aws_route_table.public.id
}

resource "aws_route_table" "private" {
  for_each = local.az_keys

  vpc_id = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-private-${each.key}" })
}

resource "aws_route" "private_nat" {
  for_each = local.az_keys

  route_table_id         = aws_route_table.private[each.key].id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = var.nat_mode == "instance" ? null : aws_nat_gateway.this[var.nat_mode == "per_az" ? each.key : local.nat_azs[0]].id
  network_interface_id   = var.nat_mode == "instance" ? aws_network_interface.nat[0].id : null
}

resource "aws_route_table_association" "private" {
  for_each = aws_subnet.private

  subnet_id      = each.value.id
  route_table_id = aws_route_table.private[each.key].id
}

resource "aws_vpc_endpoint" "s3" {
  vpc_id            = aws_vpc.this.id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"

  tags = merge(local.tags, { Name = "${var.name}-s3" })
}

# Separate associations (not route_table_ids on the endpoint) so that adding or removing a
# zone only touches that zone's association.
resource "aws_vpc_endpoint_route_table_association" "s3_private" {
  for_each = local.az_keys

  vpc_endpoint_id = aws_vpc_endpoint.s3.id
  route_table_id  = aws_route_table.private[each.key].id
}

# ---- optional interface endpoints ------------------------------------------------------

resource "aws_security_group" "endpoints" {
  count = var.enable_interface_endpoints ? 1 : 0

  name        = "${var.name}-vpc-endpoints"
  description = "HTTPS from inside the VPC to the interface VPC endpoints"
  vpc_id      = aws_vpc.this.id

  tags = merge(local.tags, { Name = "${var.name}-vpc-endpoints" })
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_https" {
  count = var.enable_interface_endpoints ? 1 : 0

  security_group_id = aws_security_group.endpoints[0].id
  description       = "HTTPS from the VPC to AWS service endpoints"
  cidr_ipv4         = var.vpc_cidr
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443

  tags = local.tags
}

resource "aws_vpc_endpoint" "interface" {
  for_each = local.interface_services

  vpc_id              = aws_vpc.this.id
  service_name        = "com.amazonaws.${local.region}.${each.key}"
  vpc_endpoint_type   = "Interface"
  private_dns_enabled = true
  subnet_ids          = [for az in var.availability_zones : aws_subnet.private[az].id]
  security_group_ids  = [aws_security_group.endpoints[0].id]

  tags = merge(local.tags, { Name = "${var.name}-${replace(each.key, ".", "-")}" })
}

# ---- optional flow logs ----------------------------------------------------------------

resource "aws_cloudwatch_log_group" "flow_logs" {
  #checkov:skip=CKV_AWS_158:Flow log records are connection metadata; CloudWatch Logs encrypts them at rest with its own keys (this module offers no customer KMS key).
  #checkov:skip=CKV_AWS_338:Retention is the fleet owner's choice (flow_log_retention_days); flow logs here are for troubleshooting, not an audit archive.
  count = var.enable_flow_logs ? 1 : 0

  name              = "/${var.name}/vpc-flow-logs"
  retention_in_days = var.flow_log_retention_days

  tags = local.tags
}

data "aws_iam_policy_document" "flow_logs_assume" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "flow_logs_write" {
  count = var.enable_flow_logs ? 1 : 0

  statement {
    sid = "WriteFlowLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = [
      aws_cloudwatch_log_group.flow_logs[0].arn,
      "${aws_cloudwatch_log_group.flow_logs[0].arn}:*",
    ]
  }
}

resource "aws_iam_role" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name               = "${var.name}-vpc-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume[0].json

  tags = local.tags
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.enable_flow_logs ? 1 : 0

  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs_write[0].json
}

resource "aws_flow_log" "this" {
  count = var.enable_flow_logs ? 1 : 0

  vpc_id               = aws_vpc.this.id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn

  tags = merge(local.tags, { Name = "${var.name}-vpc-flow-logs" })
}
