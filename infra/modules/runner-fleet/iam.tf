# The runner hosts' IAM role: ECR pull, writes to the fleet's own log groups, S3 objects of
# the configured buckets, the agent artifact, the host's OWN one-shot registration parameter,
# the CloudWatch agent configuration, tagging and terminating ITSELF, leaving and reporting to
# the fleet's Auto Scaling groups, and Session Manager. Resource "*" only where the action has
# no resource-level permissions (listed below).
#
# "Itself" uses ec2:SourceInstanceARN, which AWS sets on every request signed with an instance
# profile's credentials (the ARN of the calling instance): EC2 actions compare it with the
# target instance (${ec2:InstanceID}); SSM actions with the parameter's
# runnerfleet:instance-id tag (${aws:ResourceTag/runnerfleet:instance-id}), which the registrar
# writes. A parameter without that tag is readable by no host.

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id

  # <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>[:tag|@digest]
  ecr_image = try(regex("^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(?:\\.cn)?/([^:@]+)", var.app_image), null)
  ecr_repository_arns = var.ecr_repository_arns != null ? var.ecr_repository_arns : (
    local.ecr_image != null
    ? ["arn:${local.partition}:ecr:${local.ecr_image[1]}:${local.ecr_image[0]}:repository/${local.ecr_image[2]}"]
    : ["arn:${local.partition}:ecr:*:${local.account}:repository/*"]
  )

  log_group_arns = var.log_group_arns != null ? var.log_group_arns : [
    "arn:${local.partition}:logs:*:${local.account}:log-group:/${var.name}/*",
  ]

  cloudwatch_config_parameter = coalesce(var.cloudwatch_config_parameter, "/${var.name}/cloudwatch-agent/config")
  parameter_arn_prefix        = "arn:${local.partition}:ssm:*:${local.account}:parameter"
}

data "aws_iam_policy_document" "assume" {
  statement {
    sid     = "Ec2AssumeRole"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "runner" {
  # ecr:GetAuthorizationToken has no resource-level permissions.
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "EcrPull"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:GetDownloadUrlForLayer",
      "ecr:BatchGetImage",
    ]
    resources = local.ecr_repository_arns
  }

  statement {
    sid = "WriteOwnLogs"
    actions = [
      "logs:CreateLogStream",
      "logs:PutLogEvents",
      "logs:DescribeLogStreams",
    ]
    resources = concat(local.log_group_arns, [for a in local.log_group_arns : "${a}:*"])
  }

  dynamic "statement" {
    for_each = length(var.s3_bucket_names) > 0 ? [1] : []

    content {
      sid       = "ConfiguredBucketObjects"
      actions   = ["s3:GetObject", "s3:PutObject"]
      resources = [for b in var.s3_bucket_names : "arn:${local.partition}:s3:::${b}/*"]
    }
  }

  # The host reads its one-shot registration (JIT config or token) and deletes it: only the
  # parameter tagged with its own instance id.
  statement {
    sid       = "OwnRegistrationParameter"
    actions   = ["ssm:GetParameter", "ssm:DeleteParameter"]
    resources = ["${local.parameter_arn_prefix}/${var.name}/runners/i-*"]

    condition {
      test     = "ArnLike"
      variable = "ec2:SourceInstanceARN"
      values   = ["arn:${local.partition}:ec2:*:${local.account}:instance/$${aws:ResourceTag/runnerfleet:instance-id}"]
    }
  }

  # The agent artifact that runnerfleet up uploaded (artifacts.tf), nothing else of the bucket.
  statement {
    sid       = "AgentArtifact"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/agent/*"]
  }

  statement {
    sid       = "CloudWatchAgentConfig"
    actions   = ["ssm:GetParameter"]
    resources = ["${local.parameter_arn_prefix}${local.cloudwatch_config_parameter}"]
  }

  # cloudwatch:PutMetricData has no resource-level permissions; limited by namespace.
  statement {
    sid       = "PublishMetrics"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = ["CWAgent", "runnerfleet"]
    }
  }

  # ec2:DescribeInstances / ec2:DescribeTags and the Auto Scaling describe calls have no
  # resource-level permissions.
  statement {
    sid = "Describe"
    actions = [
      "ec2:DescribeInstances",
      "ec2:DescribeTags",
      "autoscaling:DescribeAutoScalingGroups",
      "autoscaling:DescribeAutoScalingInstances",
    ]
    resources = ["*"]
  }

  # The agent tags its own instance with its state, the failing bootstrap step and its GitHub
  # runner id: only itself, only those keys.
  statement {
    sid       = "TagSelf"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:${local.partition}:ec2:*:${local.account}:instance/*"]

    condition {
      test     = "ArnLike"
      variable = "ec2:SourceInstanceARN"
      values   = ["arn:${local.partition}:ec2:*:${local.account}:instance/$${ec2:InstanceID}"]
    }

    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/runnerfleet:fleet"
      values   = [var.name]
    }

    condition {
      test     = "ForAllValues:StringEquals"
      variable = "aws:TagKeys"
      values   = ["runnerfleet:agent-state", "runnerfleet:agent-detail", "runnerfleet:github-runner-id"]
    }
  }

  # The agent's fallback when it has no Auto Scaling client: terminate itself, only itself.
  statement {
    sid       = "TerminateSelf"
    actions   = ["ec2:TerminateInstances"]
    resources = ["arn:${local.partition}:ec2:*:${local.account}:instance/*"]

    condition {
      test     = "ArnLike"
      variable = "ec2:SourceInstanceARN"
      values   = ["arn:${local.partition}:ec2:*:${local.account}:instance/$${ec2:InstanceID}"]
    }

    condition {
      test     = "StringEquals"
      variable = "ec2:ResourceTag/runnerfleet:fleet"
      values   = [var.name]
    }
  }

  # Leaving the group after a job (TerminateInstanceInAutoScalingGroup, decrementing only
  # above the minimum), reporting a failed bootstrap (ABANDON the launch lifecycle action,
  # or mark the instance Unhealthy) and, launching into the warm pool, heartbeating the launch
  # action while it boots and completing it with CONTINUE when the bootstrap is done. These act on the group: AWS has no condition key naming
  # the instance of such a request, so they are limited to the fleet's own groups.
  statement {
    sid = "FleetAutoScalingGroups"
    actions = [
      "autoscaling:TerminateInstanceInAutoScalingGroup",
      "autoscaling:CompleteLifecycleAction",
      "autoscaling:RecordLifecycleActionHeartbeat",
      "autoscaling:SetInstanceHealth",
    ]
    resources = ["arn:${local.partition}:autoscaling:*:${local.account}:autoScalingGroup:*:autoScalingGroupName/${var.name}-*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/runnerfleet:fleet"
      values   = [var.name]
    }
  }
}

resource "aws_iam_role" "runner" {
  name               = "${var.name}-runner"
  description        = "runnerfleet ${var.name} runner hosts"
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = local.common_tags
}

resource "aws_iam_role_policy" "runner" {
  name   = "runner"
  role   = aws_iam_role.runner.id
  policy = data.aws_iam_policy_document.runner.json
}

# Session Manager (the way in instead of SSH).
resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.runner.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "runner" {
  name = "${var.name}-runner"
  role = aws_iam_role.runner.name

  tags = local.common_tags
}
