# The control plane's registrar: a Lambda function that mints one GitHub registration per runner
# instance into SSM /<name>/runners/<instance-id>, triggered by EC2 state changes, the runner
# groups' lifecycle actions and a periodic scan; its claims table (exactly-once per instance);
# a dead-letter queue for events it could not take; and the SSM parameters that hold the
# GitHub credentials, readable only by the function's role.

data "aws_partition" "current" {}
data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  partition = data.aws_partition.current.partition
  account   = data.aws_caller_identity.current.account_id
  # `id` is the region name on provider 5.x and 6.x (`name` is deprecated in 6.x).
  region = data.aws_region.current.id

  tags = merge(var.tags, {
    "runnerfleet:fleet" = var.name
    "runnerfleet:role"  = "control-plane"
  })

  function_name = "${var.name}-registrar"
  api_url       = contains(["https://github.com", "http://github.com"], trimsuffix(var.github_url, "/")) ? "https://api.github.com" : "${trimsuffix(var.github_url, "/")}/api/v3"

  parameter_arn     = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter"
  runners_path      = "/${var.name}/runners"
  github_path       = "/${var.name}/github"
  github_parameters = var.github_credentials_secret_arn != null ? {} : (var.github_auth == "app" ? { "app-id" = "String", "private-key" = "SecureString", "installation-id" = "String" } : { "token" = "SecureString" })

  event_rules = merge(
    { instance_state = aws_cloudwatch_event_rule.instance_state.name, scan = aws_cloudwatch_event_rule.scan.name },
    var.lifecycle_event_rule_name == null ? {} : { lifecycle = var.lifecycle_event_rule_name },
  )
}

# ---- state: claims table, dead-letter queue, GitHub credentials ----------------------------

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest either way; a customer-managed key is opt-in through kms_key_arn, otherwise DynamoDB's AWS-managed key (the table holds claims and event ids, no credentials).
  name         = "${var.name}-control-plane"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = local.tags
}

resource "aws_sqs_queue" "dlq" {
  name                      = "${var.name}-registrar-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn

  tags = local.tags
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:events:${local.region}:${local.account}:rule/${var.name}-*"]
    }
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

# Placeholders only: Terraform never holds the key. Set the real values once with
#   aws ssm put-parameter --name /<name>/github/private-key --type SecureString \
#     --value file://app.pem --overwrite
# (see README); later applies leave them alone.
resource "aws_ssm_parameter" "github" {
  #checkov:skip=CKV2_AWS_34:app-id and installation-id are identifiers, not secrets; the private key and token are SecureString.
  for_each = local.github_parameters

  name        = "${local.github_path}/${each.key}"
  description = "GitHub ${each.key} for the ${var.name} control plane (set out of band; REPLACE_ME until then)."
  type        = each.value
  key_id      = each.value == "SecureString" ? var.kms_key_arn : null
  value       = "REPLACE_ME"

  tags = local.tags

  lifecycle {
    ignore_changes = [value]
  }
}

# ---- the function ----------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:KMS encryption is opt-in through kms_key_arn; CloudWatch Logs encrypts with its own keys otherwise.
  #checkov:skip=CKV_AWS_338:Retention is the fleet owner's choice (log_retention_days).
  name              = "/aws/lambda/${local.function_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = local.tags
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "this" {
  name               = local.function_name
  description        = "The ${var.name} registrar: writes one-shot runner registrations to SSM."
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "this" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.this.arn}:*"]
  }

  statement {
    sid       = "RunnerRegistrations"
    actions   = ["ssm:PutParameter", "ssm:GetParameter", "ssm:DeleteParameter", "ssm:AddTagsToResource"]
    resources = ["${local.parameter_arn}${local.runners_path}/*"]
  }

  # ssm:DescribeParameters has no resource-level permissions; it returns names and dates only.
  statement {
    sid       = "ListParameters"
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }

  statement {
    sid       = "GitHubCredentials"
    actions   = ["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"]
    resources = ["${local.parameter_arn}${local.github_path}", "${local.parameter_arn}${local.github_path}/*"]
  }

  # ec2:DescribeInstances has no resource-level permissions.
  statement {
    sid       = "DescribeInstances"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid       = "TagFleetInstances"
    actions   = ["ec2:CreateTags"]
    resources = ["arn:${local.partition}:ec2:${local.region}:${local.account}:instance/*"]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/runnerfleet:fleet"
      values   = [var.name]
    }
  }

  statement {
    sid       = "CompleteLifecycleActions"
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = ["arn:${local.partition}:autoscaling:${local.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/${var.name}-*"]
  }

  statement {
    sid       = "Claims"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this.arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "Encryption"
      actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.github_credentials_secret_arn == null ? [] : [var.github_credentials_secret_arn]
    content {
      sid       = "GitHubCredentialsSecret"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  name   = "registrar"
  role   = aws_iam_role.this.id
  policy = data.aws_iam_policy_document.this.json
}

resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_117:The function must reach GitHub's API over the internet; running it in the fleet VPC would route that through NAT for no isolation gain (it holds no inbound surface).
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile outside this module; the package is built from this repository by the CLI.
  #checkov:skip=CKV_AWS_116:Undeliverable events go to the rule targets' dead-letter queue; a failed run needs no replay because the periodic scan re-derives every action from EC2, SSM and GitHub (idempotent).
  function_name                  = local.function_name
  description                    = "Mints one GitHub registration per ${var.name} runner instance into SSM ${local.runners_path}/<instance-id>."
  role                           = aws_iam_role.this.arn
  runtime                        = var.lambda_runtime
  handler                        = "runnerfleet.controlplane.handlers.registrar_handler"
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  timeout                        = 60
  memory_size                    = 256
  reserved_concurrent_executions = 5
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = {
      RUNNERFLEET_NAME              = var.name
      RUNNERFLEET_GITHUB_URL        = trimsuffix(var.github_url, "/")
      RUNNERFLEET_GITHUB_API_URL    = local.api_url
      RUNNERFLEET_GITHUB_OWNER      = var.github_owner
      RUNNERFLEET_GITHUB_REPOSITORY = var.github_repository == null ? "" : var.github_repository
      RUNNERFLEET_EPHEMERAL         = tostring(var.ephemeral)
      RUNNERFLEET_RUNNER_LABELS     = join(",", var.runner_labels)
      RUNNERFLEET_POOL_LABELS       = jsonencode(var.pool_labels)
      RUNNERFLEET_TABLE             = aws_dynamodb_table.this.name
      RUNNERFLEET_KMS_KEY_ID        = var.kms_key_arn == null ? "" : var.kms_key_arn
      RUNNERFLEET_GITHUB_SECRET_ID  = var.github_credentials_secret_arn == null ? "" : var.github_credentials_secret_arn
    }
  }

  tracing_config {
    mode = "Active"
  }

  tags = local.tags

  depends_on = [aws_cloudwatch_log_group.this, aws_iam_role_policy.this]
}

# ---- events ----------------------------------------------------------------------------------

resource "aws_cloudwatch_event_rule" "instance_state" {
  name        = "${var.name}-instance-state"
  description = "EC2 instance state changes; the registrar keeps only the ${var.name} fleet's runners."
  event_pattern = jsonencode({
    source        = ["aws.ec2"]
    "detail-type" = ["EC2 Instance State-change Notification"]
    detail        = { state = ["pending", "running", "shutting-down", "terminated"] }
  })

  tags = local.tags
}

resource "aws_cloudwatch_event_rule" "scan" {
  name                = "${var.name}-registrar-scan"
  description         = "Periodic full scan of the ${var.name} fleet by the registrar (catches missed events)."
  schedule_expression = var.scan_schedule

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "registrar" {
  for_each = local.event_rules

  rule      = each.value
  target_id = "registrar"
  arn       = aws_lambda_function.this.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 8
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "events" {
  for_each = local.event_rules

  statement_id  = "events-${replace(each.key, "_", "-")}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.this.function_name
  principal     = "events.amazonaws.com"
  source_arn    = "arn:${local.partition}:events:${local.region}:${local.account}:rule/${each.value}"
}
