# Static mode (the seed) and the posture shared by both modes, with a mocked AWS provider.
# Run: terraform test

mock_provider "aws" {
  mock_data "aws_ami" {
    defaults = {
      id               = "ami-0123456789abcdef0"
      root_device_name = "/dev/sda1"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_iam_instance_profile" {
    defaults = {
      arn = "arn:aws:iam::123456789012:instance-profile/test-runner"
    }
  }
}

variables {
  name               = "test"
  vpc_id             = "vpc-0123456789abcdef0"
  vpc_cidr           = "10.0.0.0/16"
  private_subnet_ids = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
}

run "static_three_runners" {
  command = apply

  variables {
    runner_count = 3
  }

  assert {
    condition     = [for i in aws_instance.runner : i.tags["Name"]] == ["test-runner-01", "test-runner-02", "test-runner-03"]
    error_message = "static runners must be named <name>-runner-01..03"
  }

  assert {
    condition     = output.instance_names == ["test-runner-01", "test-runner-02", "test-runner-03"]
    error_message = "instance_names output must list the runner names in order"
  }

  assert {
    condition     = [for i in aws_instance.runner : i.subnet_id] == ["subnet-0000000000000000a", "subnet-0000000000000000b", "subnet-0000000000000000a"]
    error_message = "static runners must be spread over the private subnets in order"
  }

  assert {
    condition = alltrue([for i in aws_instance.runner : (
      i.metadata_options[0].http_tokens == "required" &&
      i.metadata_options[0].http_put_response_hop_limit == 1 &&
      i.metadata_options[0].http_endpoint == "enabled"
    )])
    error_message = "IMDSv2 must be required with a hop limit of 1"
  }

  assert {
    condition = alltrue([for i in aws_instance.runner : (
      i.root_block_device[0].volume_type == "gp3" &&
      i.root_block_device[0].encrypted == true &&
      i.root_block_device[0].volume_size == 50 &&
      i.root_block_device[0].delete_on_termination == true
    )])
    error_message = "the root volume must be an encrypted 50 GiB gp3 volume"
  }

  assert {
    condition     = alltrue([for i in aws_instance.runner : i.associate_public_ip_address == false])
    error_message = "runners must not get a public IP"
  }

  assert {
    condition     = alltrue([for i in aws_instance.runner : i.ami == "ami-0123456789abcdef0" && i.instance_type == "t3.medium"])
    error_message = "runners use the looked-up Ubuntu AMI and the configured instance type"
  }

  assert {
    condition     = contains(data.aws_ami.ubuntu[0].owners, "099720109477") && length(data.aws_ami.ubuntu[0].owners) == 1 && anytrue([for f in data.aws_ami.ubuntu[0].filter : f.name == "name" && anytrue([for v in f.values : strcontains(v, "ubuntu-jammy-22.04-amd64")])])
    error_message = "without ami_id the AMI comes from Canonical's Ubuntu 22.04 amd64 images"
  }

  assert {
    condition     = alltrue([for i in aws_instance.runner : i.tags["runnerfleet:fleet"] == "test" && i.tags["runnerfleet:role"] == "runner" && i.tags["runnerfleet:pool"] == "static"])
    error_message = "runner instances carry the fleet, role and pool tags"
  }

  assert {
    condition     = aws_instance.runner[1].tags["runnerfleet:runner-name"] == "test-runner-02"
    error_message = "runner instances carry the runnerfleet:runner-name tag"
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.ssh) == 0
    error_message = "SSH must be off by default"
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.http : "${r.from_port}:${r.cidr_ipv4}"]) == toset(["80:10.0.0.0/16", "443:10.0.0.0/16"])
    error_message = "HTTP and HTTPS ingress default to the VPC CIDR only"
  }

  assert {
    condition     = alltrue([for r in concat(values(aws_vpc_security_group_ingress_rule.http), values(aws_vpc_security_group_ingress_rule.ssh)) : r.cidr_ipv4 != "0.0.0.0/0"])
    error_message = "no ingress from 0.0.0.0/0 unless configured"
  }

  assert {
    condition     = alltrue([for r in concat(values(aws_vpc_security_group_ingress_rule.http), [aws_vpc_security_group_egress_rule.all]) : length(r.description) > 0])
    error_message = "every security group rule has a description"
  }

  assert {
    condition     = aws_vpc_security_group_egress_rule.all.ip_protocol == "-1" && aws_vpc_security_group_egress_rule.all.cidr_ipv4 == "0.0.0.0/0"
    error_message = "egress is open (the seed's rule), leaving through NAT"
  }

  assert {
    condition     = length(aws_launch_template.pool) == 0 && length(aws_autoscaling_group.pool) == 0 && length(aws_cloudwatch_event_rule.lifecycle) == 0
    error_message = "static mode creates no launch template, Auto Scaling group or lifecycle rule"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.runner.statement : s if s.sid == "ConfiguredBucketObjects"]) == 0
    error_message = "no S3 permission when no bucket is configured"
  }

  assert {
    condition     = aws_iam_role_policy_attachment.ssm_core.policy_arn == "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
    error_message = "the Session Manager core policy is attached"
  }
}

run "volume_and_ami_settings" {
  command = plan

  variables {
    ami_id                 = "ami-0fedcba9876543210"
    root_volume_size       = 100
    root_volume_iops       = 4000
    root_volume_throughput = 250
    instance_type          = "c6i.large"
  }

  assert {
    condition     = length(data.aws_ami.ubuntu) == 0 && aws_instance.runner[0].ami == "ami-0fedcba9876543210"
    error_message = "with ami_id the lookup is skipped and the given AMI is used"
  }

  assert {
    condition = (
      aws_instance.runner[0].root_block_device[0].volume_size == 100 &&
      aws_instance.runner[0].root_block_device[0].iops == 4000 &&
      aws_instance.runner[0].root_block_device[0].throughput == 250
    )
    error_message = "configured size, IOPS and throughput reach the root volume"
  }

  assert {
    condition     = aws_instance.runner[0].instance_type == "c6i.large"
    error_message = "instance_type is applied"
  }
}

run "ssh_and_http_configured" {
  command = apply

  variables {
    ssh_ingress_cidrs  = ["203.0.113.7/32"]
    http_ingress_cidrs = ["0.0.0.0/0"]
  }

  assert {
    condition     = toset([for r in aws_vpc_security_group_ingress_rule.http : "${r.from_port}:${r.cidr_ipv4}"]) == toset(["80:0.0.0.0/0", "443:0.0.0.0/0"])
    error_message = "an explicitly configured 0.0.0.0/0 is honoured (opt-in)"
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.ssh) == 1
    error_message = "one SSH rule per configured CIDR"
  }

  assert {
    condition = (
      aws_vpc_security_group_ingress_rule.ssh["203.0.113.7/32"].cidr_ipv4 == "203.0.113.7/32" &&
      aws_vpc_security_group_ingress_rule.ssh["203.0.113.7/32"].from_port == 22 &&
      aws_vpc_security_group_ingress_rule.ssh["203.0.113.7/32"].to_port == 22 &&
      aws_vpc_security_group_ingress_rule.ssh["203.0.113.7/32"].ip_protocol == "tcp"
    )
    error_message = "the SSH rule allows exactly 22/tcp from the configured /32"
  }
}

run "no_http_ingress" {
  command = plan

  variables {
    http_ingress_cidrs = []
  }

  assert {
    condition     = length(aws_vpc_security_group_ingress_rule.http) == 0
    error_message = "an empty http_ingress_cidrs list means no HTTP rule"
  }
}

run "iam_scoped" {
  command = plan

  variables {
    s3_bucket_names = ["artifacts-bucket"]
    log_group_arns  = ["arn:aws:logs:us-east-1:123456789012:log-group:/test/runners/syslog"]
    app_image       = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:1.2"
  }

  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.runner.statement : (
      !contains(s.resources, "*") || contains(["EcrLogin", "PublishMetrics", "Describe"], s.sid)
    )])
    error_message = "Resource \"*\" only for actions without resource-level permissions"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.runner.statement : s.resources if s.sid == "ConfiguredBucketObjects"]) == toset(["arn:aws:s3:::artifacts-bucket/*"])
    error_message = "S3 access is limited to the configured buckets"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.runner.statement : s.resources if s.sid == "OwnRegistrationParameter"]) == toset(["arn:aws:ssm:*:123456789012:parameter/test/runners/i-*"])
    error_message = "SSM get/delete is limited to /<name>/runners/i-*"
  }

  assert {
    condition = one([for s in data.aws_iam_policy_document.runner.statement : [for c in s.condition : "${c.test} ${c.variable} ${join(",", c.values)}"] if s.sid == "OwnRegistrationParameter"]) == [
      "ArnLike ec2:SourceInstanceARN arn:aws:ec2:*:123456789012:instance/$${aws:ResourceTag/runnerfleet:instance-id}",
    ]
    error_message = "a host reads and deletes only the parameter tagged with its own instance id"
  }

  assert {
    condition = alltrue([for sid in ["TagSelf", "TerminateSelf"] : contains(
      one([for s in data.aws_iam_policy_document.runner.statement : [for c in s.condition : "${c.test} ${c.variable} ${join(",", c.values)}"] if s.sid == sid]),
      "ArnLike ec2:SourceInstanceARN arn:aws:ec2:*:123456789012:instance/$${ec2:InstanceID}"
    )])
    error_message = "a host tags and terminates only itself"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.runner.statement : s if contains(s.actions, "ec2:TerminateInstances") || contains(s.actions, "ec2:CreateTags")]) == 2
    error_message = "no other statement may grant tagging or terminating instances"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.runner.statement : s.resources if s.sid == "EcrPull"]) == toset(["arn:aws:ecr:us-east-1:123456789012:repository/team/app"])
    error_message = "ECR pull is limited to the app image's repository"
  }

  assert {
    condition = one([for s in data.aws_iam_policy_document.runner.statement : s.resources if s.sid == "WriteOwnLogs"]) == toset([
      "arn:aws:logs:us-east-1:123456789012:log-group:/test/runners/syslog",
      "arn:aws:logs:us-east-1:123456789012:log-group:/test/runners/syslog:*",
    ])
    error_message = "log writes are limited to the fleet's log groups"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.runner.statement : s.actions if s.sid == "EcrPull"]) == toset(["ecr:BatchCheckLayerAvailability", "ecr:GetDownloadUrlForLayer", "ecr:BatchGetImage"])
    error_message = "the seed's ECR pull actions are granted"
  }
}

# Independent bad inputs in one run: each listed variable must report its own error.
run "rejects_bad_input" {
  command = plan

  variables {
    runner_mode       = "serverless"
    runner_count      = 101
    root_volume_type  = "standard"
    root_volume_size  = 4
    ssh_ingress_cidrs = ["my-laptop"]
    user_data         = "echo hello"
    ami_id            = "ubuntu-22.04"
  }

  expect_failures = [
    var.runner_mode, var.runner_count, var.root_volume_type, var.root_volume_size,
    var.ssh_ingress_cidrs, var.user_data, var.ami_id,
  ]
}

run "rejects_throughput_on_gp2" {
  command = plan

  variables {
    root_volume_type       = "gp2"
    root_volume_throughput = 250
  }

  expect_failures = [var.root_volume_throughput]
}

run "agent_artifact_bucket" {
  command = apply

  variables {
    agent_artifact_path   = "/tmp/runnerfleet-agent-0.1.0-0123456789abcdef.tar.gz"
    agent_artifact_key    = "agent/runnerfleet-agent-0.1.0-0123456789abcdef.tar.gz"
    agent_artifact_sha256 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
  }

  assert {
    condition     = aws_s3_bucket.artifacts.bucket == "test-artifacts-123456789012" && output.artifacts_bucket_name == "test-artifacts-123456789012"
    error_message = "the artifacts bucket is <name>-artifacts-<account>"
  }

  assert {
    condition     = aws_s3_bucket_versioning.artifacts.versioning_configuration[0].status == "Enabled"
    error_message = "the artifacts bucket is versioned"
  }

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.artifacts.rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "the artifacts bucket is encrypted (SSE-S3 by default)"
  }

  assert {
    condition = (aws_s3_bucket_public_access_block.artifacts.block_public_acls && aws_s3_bucket_public_access_block.artifacts.block_public_policy &&
    aws_s3_bucket_public_access_block.artifacts.ignore_public_acls && aws_s3_bucket_public_access_block.artifacts.restrict_public_buckets)
    error_message = "the artifacts bucket blocks all public access"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.artifacts.statement : s.effect if s.sid == "DenyInsecureTransport"]) == "Deny" && one(flatten([for s in data.aws_iam_policy_document.artifacts.statement : [for c in s.condition : "${c.variable}=${join(",", c.values)}"] if s.sid == "DenyInsecureTransport"])) == "aws:SecureTransport=false"
    error_message = "the artifacts bucket refuses requests without TLS"
  }

  assert {
    condition     = aws_s3_object.agent[0].key == "agent/runnerfleet-agent-0.1.0-0123456789abcdef.tar.gz" && aws_s3_object.agent[0].source_hash == "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
    error_message = "the agent artifact is uploaded under its key, versioned by its digest"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.runner.statement : s.actions if s.sid == "AgentArtifact"]) == toset(["s3:GetObject"]) && endswith(one(one([for s in data.aws_iam_policy_document.runner.statement : s.resources if s.sid == "AgentArtifact"])), "/agent/*")
    error_message = "hosts may only get objects under agent/ of the artifacts bucket"
  }
}

run "rejects_half_an_artifact" {
  command = plan

  variables {
    agent_artifact_path   = "/tmp/runnerfleet-agent.tar.gz"
    agent_artifact_sha256 = "not-a-digest"
  }

  expect_failures = [var.agent_artifact_key, var.agent_artifact_sha256]
}
