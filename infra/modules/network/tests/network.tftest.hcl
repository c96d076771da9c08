# Unit tests with a mocked AWS provider: no account, no emulator. Run: terraform test

mock_provider "aws" {
  mock_resource "aws_vpc" {
    defaults = {
      arn = "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0123456789abcdef0"
    }
  }

  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:us-east-1:123456789012:log-group:/test/vpc-flow-logs"
    }
  }

  mock_resource "aws_iam_role" {
    defaults = {
      arn = "arn:aws:iam::123456789012:role/test-vpc-flow-logs"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_data "aws_ssm_parameter" {
    defaults = {
      value = "ami-0a1b2c3d4e5f67890"
    }
  }

  mock_resource "aws_network_interface" {
    defaults = {
      id          = "eni-0123456789abcdef0"
      mac_address = "0a:1b:2c:3d:4e:5f"
    }
  }

  mock_resource "aws_launch_template" {
    defaults = {
      id             = "lt-0123456789abcdef0"
      latest_version = 1
    }
  }

  mock_resource "aws_iam_instance_profile" {
    defaults = {
      arn = "arn:aws:iam::123456789012:instance-profile/test-nat-instance"
    }
  }
}

variables {
  name = "test"
}

run "seed_defaults" {
  command = apply

  assert {
    condition     = aws_vpc.this.cidr_block == "10.0.0.0/16"
    error_message = "default VPC CIDR must be the seed's 10.0.0.0/16"
  }

  assert {
    condition     = aws_vpc.this.enable_dns_hostnames && aws_vpc.this.enable_dns_support
    error_message = "DNS hostnames and DNS resolution must both be on"
  }

  assert {
    condition     = aws_subnet.public["us-east-1a"].cidr_block == "10.0.1.0/24" && aws_subnet.private["us-east-1a"].cidr_block == "10.0.2.0/24"
    error_message = "default subnets must be the seed's 10.0.1.0/24 (public) and 10.0.2.0/24 (private)"
  }

  assert {
    condition     = !aws_subnet.public["us-east-1a"].map_public_ip_on_launch && !aws_subnet.private["us-east-1a"].map_public_ip_on_launch
    error_message = "no subnet may hand out public IPs on launch"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && aws_nat_gateway.this["us-east-1a"].subnet_id == aws_subnet.public["us-east-1a"].id
    error_message = "one NAT gateway must sit in the public subnet"
  }

  assert {
    condition     = aws_nat_gateway.this["us-east-1a"].allocation_id == aws_eip.nat["us-east-1a"].id && aws_eip.nat["us-east-1a"].domain == "vpc"
    error_message = "the NAT gateway must use its own VPC Elastic IP"
  }

  assert {
    condition     = aws_route.public_internet.destination_cidr_block == "0.0.0.0/0" && aws_route.public_internet.gateway_id == aws_internet_gateway.this.id
    error_message = "the public route table must send 0.0.0.0/0 to the internet gateway"
  }

  assert {
    condition     = aws_route.private_nat["us-east-1a"].destination_cidr_block == "0.0.0.0/0" && aws_route.private_nat["us-east-1a"].nat_gateway_id == aws_nat_gateway.this["us-east-1a"].id
    error_message = "the private route table must send 0.0.0.0/0 to the NAT gateway"
  }

  assert {
    condition     = aws_vpc_endpoint.s3.service_name == "com.amazonaws.us-east-1.s3" && aws_vpc_endpoint.s3.vpc_endpoint_type == "Gateway"
    error_message = "an S3 gateway endpoint for the VPC's region is required"
  }

  assert {
    condition     = aws_vpc_endpoint_route_table_association.s3_private["us-east-1a"].route_table_id == aws_route_table.private["us-east-1a"].id
    error_message = "the S3 endpoint must be on the private route table"
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "the default security group must have no rules"
  }

  assert {
    condition     = length(aws_vpc_endpoint.interface) == 0 && length(aws_flow_log.this) == 0
    error_message = "interface endpoints and flow logs are off by default"
  }

  assert {
    condition     = aws_vpc.this.tags["runnerfleet:fleet"] == "test" && aws_vpc.this.tags["runnerfleet:role"] == "network"
    error_message = "resources carry the runnerfleet:fleet and runnerfleet:role tags"
  }

  assert {
    condition     = output.nat_gateway_ids == [aws_nat_gateway.this["us-east-1a"].id] && output.private_subnet_ids == [aws_subnet.private["us-east-1a"].id]
    error_message = "outputs must list the NAT gateway and the private subnet"
  }
}

run "one_az_per_az_nat" {
  command = plan

  variables {
    nat_mode = "per_az"
  }

  assert {
    condition     = length(aws_subnet.public) == 1 && length(aws_subnet.private) == 1 && length(aws_nat_gateway.this) == 1 && length(aws_eip.nat) == 1
    error_message = "1 AZ, per_az: 1 public, 1 private subnet, 1 NAT gateway"
  }
}

run "two_az_single_nat" {
  command = apply

  variables {
    availability_zones   = ["us-east-1a", "us-east-1b"]
    public_subnet_cidrs  = ["10.0.1.0/24", "10.0.3.0/24"]
    private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24"]
    nat_mode             = "single"
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2 && length(aws_route_table.private) == 2
    error_message = "2 AZs: 2 public subnets, 2 private subnets, 2 private route tables"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_eip.nat) == 1 && length(output.nat_gateway_ids) == 1
    error_message = "single NAT mode: exactly one NAT gateway"
  }

  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.nat_gateway_id == aws_nat_gateway.this["us-east-1a"].id])
    error_message = "single NAT mode: every private route table uses the NAT gateway in the first zone"
  }

  assert {
    condition     = aws_subnet.private["us-east-1b"].availability_zone == "us-east-1b" && aws_subnet.private["us-east-1b"].cidr_block == "10.0.4.0/24"
    error_message = "subnet CIDRs follow the order of availability_zones"
  }

  assert {
    condition     = length(aws_vpc_endpoint_route_table_association.s3_private) == 2
    error_message = "the S3 endpoint must be associated with every private route table"
  }
}

run "two_az_per_az_nat" {
  command = apply

  variables {
    availability_zones   = ["us-east-1a", "us-east-1b"]
    public_subnet_cidrs  = ["10.0.1.0/24", "10.0.3.0/24"]
    private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24"]
    nat_mode             = "per_az"
  }

  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_subnet.private) == 2 && length(aws_nat_gateway.this) == 2 && length(aws_eip.nat) == 2
    error_message = "2 AZs, per_az: 2 public, 2 private subnets, 2 NAT gateways"
  }

  assert {
    condition     = alltrue([for az, r in aws_route.private_nat : r.nat_gateway_id == aws_nat_gateway.this[az].id])
    error_message = "per_az NAT mode: each private route table uses its own zone's NAT gateway"
  }

  assert {
    condition     = alltrue([for az, n in aws_nat_gateway.this : n.subnet_id == aws_subnet.public[az].id])
    error_message = "per_az NAT mode: each NAT gateway sits in its own zone's public subnet"
  }
}

run "three_az_single_nat" {
  command = plan

  variables {
    availability_zones   = ["us-east-1a", "us-east-1b", "us-east-1c"]
    public_subnet_cidrs  = ["10.0.1.0/24", "10.0.3.0/24", "10.0.5.0/24"]
    private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24", "10.0.6.0/24"]
  }

  assert {
    condition     = length(aws_subnet.public) == 3 && length(aws_subnet.private) == 3 && length(aws_route_table.private) == 3 && length(aws_route.private_nat) == 3
    error_message = "3 AZs: 3 public, 3 private subnets, 3 private route tables with a default route each"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(aws_eip.nat) == 1
    error_message = "3 AZs, single: exactly one NAT gateway"
  }
}

run "three_az_per_az_nat" {
  command = plan

  variables {
    availability_zones   = ["us-east-1a", "us-east-1b", "us-east-1c"]
    public_subnet_cidrs  = ["10.0.1.0/24", "10.0.3.0/24", "10.0.5.0/24"]
    private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24", "10.0.6.0/24"]
    nat_mode             = "per_az"
  }

  assert {
    condition     = length(aws_subnet.public) == 3 && length(aws_subnet.private) == 3
    error_message = "3 AZs: 3 public and 3 private subnets"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && length(aws_eip.nat) == 3 && length(output.nat_public_ips) == 3
    error_message = "3 AZs, per_az: 3 NAT gateways, 3 Elastic IPs"
  }
}

run "interface_endpoints_and_flow_logs" {
  command = apply

  variables {
    enable_interface_endpoints = true
    enable_flow_logs           = true
    flow_log_retention_days    = 90
  }

  assert {
    condition = toset([for e in aws_vpc_endpoint.interface : e.service_name]) == toset([
      "com.amazonaws.us-east-1.ssm", "com.amazonaws.us-east-1.ssmmessages", "com.amazonaws.us-east-1.ec2messages",
      "com.amazonaws.us-east-1.ecr.api", "com.amazonaws.us-east-1.ecr.dkr", "com.amazonaws.us-east-1.logs",
      "com.amazonaws.us-east-1.sts",
    ])
    error_message = "the seven interface endpoints must exist"
  }

  assert {
    condition     = alltrue([for e in aws_vpc_endpoint.interface : e.private_dns_enabled && e.vpc_endpoint_type == "Interface"])
    error_message = "interface endpoints must have private DNS"
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.endpoints_https[0].cidr_ipv4 == "10.0.0.0/16" &&
      aws_vpc_security_group_ingress_rule.endpoints_https[0].from_port == 443 &&
      aws_vpc_security_group_ingress_rule.endpoints_https[0].to_port == 443
    )
    error_message = "the endpoint security group allows 443 from the VPC CIDR only"
  }

  assert {
    condition     = aws_flow_log.this[0].log_destination == aws_cloudwatch_log_group.flow_logs[0].arn && aws_flow_log.this[0].traffic_type == "ALL"
    error_message = "flow logs go to the module's log group"
  }

  assert {
    condition     = aws_cloudwatch_log_group.flow_logs[0].retention_in_days == 90
    error_message = "flow log retention follows flow_log_retention_days"
  }
}

# nat_mode = "instance": no NAT gateway; an ASG of one t4g.nano whose instances attach the
# stable ENI (source/dest check off, EIP on it) that the private routes point at.
run "nat_instance" {
  command = apply

  variables {
    availability_zones   = ["us-east-1a", "us-east-1b"]
    public_subnet_cidrs  = ["10.0.1.0/24", "10.0.3.0/24"]
    private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24"]
    nat_mode             = "instance"
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 0 && output.nat_gateway_ids == []
    error_message = "instance mode makes no NAT gateway"
  }

  assert {
    condition = (
      aws_network_interface.nat[0].subnet_id == aws_subnet.public["us-east-1a"].id &&
      aws_network_interface.nat[0].source_dest_check == false
    )
    error_message = "the NAT interface sits in the first zone's public subnet with source/dest check off"
  }

  assert {
    condition     = alltrue([for r in aws_route.private_nat : r.network_interface_id == aws_network_interface.nat[0].id && r.nat_gateway_id == null])
    error_message = "every private route table sends 0.0.0.0/0 to the NAT interface"
  }

  assert {
    condition     = aws_eip_association.nat_instance[0].network_interface_id == aws_network_interface.nat[0].id && aws_eip_association.nat_instance[0].allocation_id == aws_eip.nat["us-east-1a"].id && length(aws_eip.nat) == 1
    error_message = "the one Elastic IP is on the NAT interface (a stable egress address)"
  }

  assert {
    condition = (
      aws_autoscaling_group.nat_instance[0].min_size == 1 &&
      aws_autoscaling_group.nat_instance[0].max_size == 1 &&
      aws_autoscaling_group.nat_instance[0].vpc_zone_identifier == toset([aws_subnet.public["us-east-1a"].id])
    )
    error_message = "the NAT instance is an Auto Scaling group of exactly one, in the NAT interface's subnet"
  }

  assert {
    condition = (
      aws_launch_template.nat_instance[0].instance_type == "t4g.nano" &&
      aws_launch_template.nat_instance[0].image_id == "ami-0a1b2c3d4e5f67890" &&
      aws_launch_template.nat_instance[0].key_name == null
    )
    error_message = "t4g.nano, the Amazon Linux 2023 arm64 AMI from SSM, no key pair (no SSH)"
  }

  assert {
    condition = (
      aws_launch_template.nat_instance[0].metadata_options[0].http_tokens == "required" &&
      aws_launch_template.nat_instance[0].metadata_options[0].http_put_response_hop_limit == 1
    )
    error_message = "IMDSv2 required with hop limit 1"
  }

  assert {
    condition     = aws_launch_template.nat_instance[0].block_device_mappings[0].ebs[0].encrypted == "true" && aws_launch_template.nat_instance[0].block_device_mappings[0].ebs[0].volume_type == "gp3"
    error_message = "the NAT instance's volume is encrypted gp3"
  }

  assert {
    condition = (
      strcontains(base64decode(aws_launch_template.nat_instance[0].user_data), "attach-network-interface") &&
      strcontains(base64decode(aws_launch_template.nat_instance[0].user_data), "--network-interface-id \"eni-0123456789abcdef0\" --device-index 1") &&
      strcontains(base64decode(aws_launch_template.nat_instance[0].user_data), "-j MASQUERADE") &&
      strcontains(base64decode(aws_launch_template.nat_instance[0].user_data), "0a:1b:2c:3d:4e:5f") &&
      strcontains(base64decode(aws_launch_template.nat_instance[0].user_data), "ip route replace default via \"10.0.1.1\"")
    )
    error_message = "user data attaches the NAT interface, masquerades out of it and makes it the default route"
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.nat_instance_private : r.cidr_ipv4]) == toset(["10.0.2.0/24", "10.0.4.0/24"])
    error_message = "the NAT instance accepts traffic from the private subnets only (no SSH, nothing from the internet)"
  }

  assert {
    condition     = jsondecode(aws_iam_role_policy.nat_instance[0].policy).Statement[0].Resource == ["arn:aws:ec2:us-east-1:123456789012:network-interface/eni-0123456789abcdef0"] && jsondecode(aws_iam_role_policy.nat_instance[0].policy).Statement[1].Condition.StringEquals["aws:ResourceTag/runnerfleet:role"] == "nat"
    error_message = "the instance may attach only the NAT interface, only to a NAT instance of this fleet"
  }

  assert {
    condition     = output.nat_instance_network_interface_id == aws_network_interface.nat[0].id && output.nat_instance_autoscaling_group_name == "test-nat"
    error_message = "outputs name the NAT interface and its Auto Scaling group"
  }
}

run "nat_instance_rejects_an_x86_type" {
  command = plan

  variables {
    nat_mode          = "instance"
    nat_instance_type = "t3.nano"
  }

  expect_failures = [var.nat_instance_type]
}

run "gateway_modes_make_no_nat_instance" {
  command = plan

  assert {
    condition     = length(aws_autoscaling_group.nat_instance) == 0 && length(aws_network_interface.nat) == 0 && length(data.aws_ssm_parameter.nat_instance_ami) == 0
    error_message = "single mode makes no NAT instance and looks up no AMI"
  }
}

# Independent bad inputs in one run: each listed variable must report its own error.
run "rejects_bad_input" {
  command = plan

  variables {
    name                    = "Bad_Name"
    vpc_cidr                = "10.0.0.0/33"
    nat_mode                = "none"
    flow_log_retention_days = 42
    availability_zones      = ["us-east-1"]
  }

  expect_failures = [var.name, var.vpc_cidr, var.nat_mode, var.flow_log_retention_days, var.availability_zones]
}

run "rejects_public_subnet_count_mismatch" {
  command = plan

  variables {
    availability_zones   = ["us-east-1a", "us-east-1b"]
    private_subnet_cidrs = ["10.0.2.0/24", "10.0.4.0/24"]
  }

  expect_failures = [var.public_subnet_cidrs]
}

run "rejects_private_subnet_count_mismatch" {
  command = plan

  variables {
    availability_zones  = ["us-east-1a", "us-east-1b"]
    public_subnet_cidrs = ["10.0.1.0/24", "10.0.3.0/24"]
  }

  expect_failures = [var.private_subnet_cidrs]
}

run "rejects_duplicate_subnet_cidrs" {
  command = plan

  variables {
    private_subnet_cidrs = ["10.0.1.0/24"]
  }

  expect_failures = [var.private_subnet_cidrs]
}
