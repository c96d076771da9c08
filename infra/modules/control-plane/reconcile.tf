# `<name>-reconcile`: one reconcile pass on an EventBridge schedule (`reconcile_schedule`,
# every minute by default): the scaler with GitHub's runner list (scale out for queued jobs,
# scale idle hosts in), drift healing (instances with no runner after the boot timeout,
# runners with no instance, stale registrations) and the QueuedJobs metric the alarm reads.

resource "aws_cloudwatch_log_group" "reconcile" {
  #checkov:skip=CKV_AWS_158:KMS encryption is opt-in through kms_key_arn; CloudWatch Logs encrypts with its own keys otherwise.
  #checkov:skip=CKV_AWS_338:Retention is the fleet owner's choice (log_retention_days).
  name              = "/aws/lambda/${local.function_names.reconcile}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = local.tags
}

resource "aws_iam_role" "reconcile" {
  name               = local.function_names.reconcile
  description        = "The ${var.name} reconcile pass: scales pools, heals drift between GitHub, EC2 and the job table."
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "reconcile" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.reconcile.arn}:*"]
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

  statement {
    sid       = "StaleRegistrations"
    actions   = ["ssm:DeleteParameter"]
    resources = ["${local.parameter_arn}${local.runners_path}/*"]
  }

  # ssm:DescribeParameters has no resource-level permissions; it returns names and dates only.
  statement {
    sid       = "ListParameters"
    actions   = ["ssm:DescribeParameters"]
    resources = ["*"]
  }

  # The pass reads the job table, keeps its pools' counters and cooldowns, and records the
  # status of stale jobs it asks GitHub about (one transaction: authorized per item kind).
  statement {
    sid       = "JobTable"
    actions   = ["dynamodb:Scan", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.this.arn]
  }

  # Neither action has resource-level permissions (Service Authorization Reference).
  statement {
    sid       = "DescribeFleet"
    actions   = ["autoscaling:DescribeAutoScalingGroups", "ec2:DescribeInstances"]
    resources = ["*"]
  }

  statement {
    sid = "ScaleFleetGroups"
    actions = [
      "autoscaling:SetDesiredCapacity",
      "autoscaling:SetInstanceProtection",
      "autoscaling:TerminateInstanceInAutoScalingGroup",
    ]
    resources = [local.group_arn_pattern]
  }

  # cloudwatch:PutMetricData has no resource-level permissions; the namespace key narrows it.
  statement {
    sid       = "QueuedJobsMetric"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.metric_namespace]
    }
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
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "reconcile" {
  name   = "reconcile"
  role   = aws_iam_role.reconcile.id
  policy = data.aws_iam_policy_document.reconcile.json
}

resource "aws_lambda_function" "reconcile" {
  #checkov:skip=CKV_AWS_117:The function must reach GitHub's API over the internet; running it in the fleet VPC would route that through NAT for no isolation gain (it has no inbound surface).
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile outside this module; the package is built reproducibly from this repository by the CLI.
  #checkov:skip=CKV_AWS_116:A failed scheduled pass needs no replay: the next pass, a minute later, re-derives every action from EC2, the job table and GitHub (idempotent).
  function_name                  = local.function_names.reconcile
  description                    = "One reconcile pass of the ${var.name} fleet: scale, heal drift, publish QueuedJobs."
  role                           = aws_iam_role.reconcile.arn
  runtime                        = var.lambda_runtime
  architectures                  = [var.lambda_architecture]
  handler                        = local.handlers.reconcile
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  timeout                        = 120
  memory_size                    = 256
  reserved_concurrent_executions = var.reserved_concurrency.reconcile
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = local.environment
  }

  tracing_config {
    mode = local.tracing_mode
  }

  tags = local.tags

  depends_on = [aws_cloudwatch_log_group.reconcile, aws_iam_role_policy.reconcile]
}

resource "aws_cloudwatch_event_rule" "reconcile" {
  name                = "${var.name}-reconcile"
  description         = "Runs the ${var.name} control plane's reconcile pass."
  schedule_expression = var.reconcile_schedule

  tags = local.tags
}

resource "aws_cloudwatch_event_target" "reconcile" {
  rule      = aws_cloudwatch_event_rule.reconcile.name
  target_id = "reconcile"
  arn       = aws_lambda_function.reconcile.arn

  # A late pass is worthless: the next one comes at the next tick.
  retry_policy {
    maximum_event_age_in_seconds = 60
    maximum_retry_attempts       = 0
  }
}

resource "aws_lambda_permission" "reconcile" {
  statement_id  = "events-reconcile"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.reconcile.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.reconcile.arn
}
