# `<name>-registrar`: gives every runner instance one one-shot GitHub registration in SSM
# /<name>/runners/<instance-id> (a JIT config for ephemeral runners, a registration token
# otherwise), triggered by EC2 state changes, the runner groups' lifecycle actions and a
# periodic scan that catches missed events; claims in the table make it exactly-once per
# instance. Events the rules could not deliver land in the dead-letter queue.

resource "aws_sqs_queue" "dlq" {
  name                      = local.dlq_name
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  kms_master_key_id         = var.kms_key_arn
  # The policy is an attribute of the queue, not an aws_sqs_queue_policy: the provider waits
  # for every SQS attribute change to be seen three times 7 s apart, so a separate policy
  # resource adds a second, sequential wait of about 25 s to every apply and every destroy.
  policy = data.aws_iam_policy_document.dlq.json

  tags = local.tags
}

# Fleets applied before the policy moved onto the queue have an aws_sqs_queue_policy in
# state. Forget it rather than destroy it: its destroy clears the queue's Policy attribute,
# and Terraform runs it after the queue's update, which would leave the queue without one.
removed {
  from = aws_sqs_queue_policy.dlq

  lifecycle {
    destroy = false
  }
}

locals {
  dlq_name = "${var.name}-registrar-dlq"
  # Built from the name (not aws_sqs_queue.dlq.arn) so that the policy can be part of the
  # queue's own creation.
  dlq_arn = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.dlq_name}"
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [local.dlq_arn]

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
    resources = [local.dlq_arn]

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

resource "aws_cloudwatch_log_group" "registrar" {
  #checkov:skip=CKV_AWS_158:KMS encryption is opt-in through kms_key_arn; CloudWatch Logs encrypts with its own keys otherwise.
  #checkov:skip=CKV_AWS_338:Retention is the fleet owner's choice (log_retention_days).
  name              = "/aws/lambda/${local.function_names.registrar}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = local.tags
}

resource "aws_iam_role" "registrar" {
  name               = local.function_names.registrar
  description        = "The ${var.name} registrar: writes one-shot runner registrations to SSM."
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "registrar" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.registrar.arn}:*"]
  }

  # PutParameter tags each registration with its instance id (the hosts' policy reads it);
  # AWS authorizes tags given on creation with ssm:AddTagsToResource.
  statement {
    sid       = "RunnerRegistrations"
    actions   = ["ssm:PutParameter", "ssm:AddTagsToResource", "ssm:DeleteParameter"]
    resources = ["${local.parameter_arn}${local.runners_path}/*"]
  }

  # ssm:DescribeParameters has no resource-level permissions; it returns names and dates only.
  statement {
    sid       = "ListParameters"
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }

  # The credentials are read with one GetParametersByPath on /<name>/github (IAM checks the
  # path's ARN); the values are never in Terraform.
  dynamic "statement" {
    for_each = var.github_credentials_secret_arn == null ? [1] : []
    content {
      sid       = "GitHubCredentials"
      actions   = ["ssm:GetParametersByPath"]
      resources = [local.github_path_arn]
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

  # ec2:DescribeInstances has no resource-level permissions.
  statement {
    sid       = "DescribeInstances"
    actions   = ["ec2:DescribeInstances"]
    resources = ["*"]
  }

  # Warm pools: an instance is registered once it leaves the pool (its lifecycle state is
  # no longer Warmed:*). autoscaling:DescribeAutoScalingInstances has no resource-level
  # permissions.
  statement {
    sid       = "DescribeLifecycleStates"
    actions   = ["autoscaling:DescribeAutoScalingInstances"]
    resources = ["*"]
  }

  statement {
    sid       = "TagFleetInstances"
    actions   = ["ec2:CreateTags"]
    resources = [local.instance_arn_pattern]

    condition {
      test     = "StringEquals"
      variable = "aws:ResourceTag/runnerfleet:fleet"
      values   = [var.name]
    }
  }

  statement {
    sid       = "CompleteLifecycleActions"
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = [local.group_arn_pattern]
  }

  statement {
    sid       = "Claims"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.this.arn]
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? [1] : []
    content {
      sid       = "Tracing"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]
    content {
      sid       = "Encryption"
      actions   = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "registrar" {
  name   = "registrar"
  role   = aws_iam_role.registrar.id
  policy = data.aws_iam_policy_document.registrar.json
}

resource "aws_lambda_function" "registrar" {
  #checkov:skip=CKV_AWS_117:The function must reach GitHub's API over the internet; running it in the fleet VPC would route that through NAT for no isolation gain (it has no inbound surface).
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile outside this module; the package is built reproducibly from this repository by the CLI.
  #checkov:skip=CKV_AWS_116:Undeliverable events go to the rule targets' dead-letter queue; a failed run needs no replay because the periodic scan re-derives every action from EC2, SSM and GitHub (idempotent).
  function_name                  = local.function_names.registrar
  description                    = "Mints one GitHub registration per ${var.name} runner instance into SSM ${local.runners_path}/<instance-id>."
  role                           = aws_iam_role.registrar.arn
  runtime                        = var.lambda_runtime
  architectures                  = [var.lambda_architecture]
  handler                        = local.handlers.registrar
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  timeout                        = 60
  memory_size                    = 256
  reserved_concurrent_executions = var.reserved_concurrency.registrar
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = local.tracing_mode
  }

  tags = local.tags

  depends_on = [aws_cloudwatch_log_group.registrar, aws_iam_role_policy.registrar]
}

locals {
  registrar_rules = merge(
    { instance_state = aws_cloudwatch_event_rule.instance_state.name, scan = aws_cloudwatch_event_rule.scan.name },
    var.lifecycle_event_rule_name == null ? {} : { lifecycle = var.lifecycle_event_rule_name },
  )
}

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
  for_each = local.registrar_rules

  rule      = each.value
  target_id = "registrar"
  arn       = aws_lambda_function.registrar.arn

  retry_policy {
    maximum_event_age_in_seconds = 3600
    maximum_retry_attempts       = 8
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_lambda_permission" "registrar" {
  for_each = local.registrar_rules

  statement_id  = "events-${replace(each.key, "_", "-")}"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.registrar.function_name
  principal     = "events.amazonaws.com"
  source_arn    = "arn:${local.partition}:events:${local.region}:${local.account}:rule/${each.value}"
}
