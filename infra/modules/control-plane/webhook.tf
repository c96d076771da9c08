# `<name>-webhook`: receives GitHub's `workflow_job` deliveries through a function URL,
# records the job in the table and scales the matching pool out.
#
# The URL's auth type is NONE because GitHub cannot sign requests with SigV4; the gate is the
# HMAC check of `X-Hub-Signature-256` in code (runnerfleet.github.webhooks), done over the raw
# body before anything else is read, with the secret from SSM /<name>/github/webhook-secret.
# Since October 2025 AWS requires both lambda:InvokeFunctionUrl and lambda:InvokeFunction in
# the function's resource policy for a URL to be invoked.

resource "aws_cloudwatch_log_group" "webhook" {
  #checkov:skip=CKV_AWS_158:KMS encryption is opt-in through kms_key_arn; CloudWatch Logs encrypts with its own keys otherwise.
  #checkov:skip=CKV_AWS_338:Retention is the fleet owner's choice (log_retention_days).
  name              = "/aws/lambda/${local.function_names.webhook}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = local.tags
}

resource "aws_iam_role" "webhook" {
  name               = local.function_names.webhook
  description        = "The ${var.name} webhook: records workflow_job deliveries and scales pools out."
  assume_role_policy = data.aws_iam_policy_document.assume.json

  tags = local.tags
}

data "aws_iam_policy_document" "webhook" {
  statement {
    sid       = "OwnLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.webhook.arn}:*"]
  }

  statement {
    sid       = "WebhookSecret"
    actions   = ["ssm:GetParameter"]
    resources = [local.webhook_secret_parameter_arn]
  }

  # One transaction per delivery (runnerfleet.controlplane.job_table): the job's status,
  # its pool's counters and the delivery id; IAM authorizes a transaction per item kind.
  statement {
    sid       = "JobTable"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    resources = [aws_dynamodb_table.this.arn]
  }

  # autoscaling:DescribeAutoScalingGroups has no resource-level permissions.
  statement {
    sid       = "DescribeGroups"
    actions   = ["autoscaling:DescribeAutoScalingGroups"]
    resources = ["*"]
  }

  # Scale out for queued jobs; protect the host of an in-progress job from scale-in.
  statement {
    sid       = "ScaleOutFleetGroups"
    actions   = ["autoscaling:SetDesiredCapacity", "autoscaling:SetInstanceProtection"]
    resources = [local.group_arn_pattern]
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

resource "aws_iam_role_policy" "webhook" {
  name   = "webhook"
  role   = aws_iam_role.webhook.id
  policy = data.aws_iam_policy_document.webhook.json
}

resource "aws_lambda_function" "webhook" {
  #checkov:skip=CKV_AWS_117:The function must answer GitHub over the internet and reach the AWS APIs; running it in the fleet VPC adds NAT cost and no isolation (its only inbound surface is the signed URL).
  #checkov:skip=CKV_AWS_272:Code signing needs a signing profile outside this module; the package is built reproducibly from this repository by the CLI.
  #checkov:skip=CKV_AWS_116:A function URL invocation is synchronous: GitHub sees the error and redelivers; the reconcile pass re-derives capacity from the job table and GitHub anyway.
  function_name                  = local.function_names.webhook
  description                    = "Receives GitHub workflow_job webhooks for ${var.name} and scales its pools out."
  role                           = aws_iam_role.webhook.arn
  runtime                        = var.lambda_runtime
  architectures                  = [var.lambda_architecture]
  handler                        = local.handlers.webhook
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  timeout                        = 10
  memory_size                    = 256
  reserved_concurrent_executions = var.reserved_concurrency.webhook
  kms_key_arn                    = var.kms_key_arn

  environment {
    variables = merge(local.environment, {
      RUNNERFLEET_WEBHOOK_SECRET_PARAMETER = local.webhook_secret_parameter_name
    })
  }

  tracing_config {
    mode = local.tracing_mode
  }

  tags = local.tags

  depends_on = [aws_cloudwatch_log_group.webhook, aws_iam_role_policy.webhook]
}

resource "aws_lambda_function_url" "webhook" {
  #checkov:skip=CKV_AWS_258:GitHub cannot sign SigV4 requests; every delivery is authenticated by its HMAC signature (X-Hub-Signature-256) in code before anything is read.
  function_name      = aws_lambda_function.webhook.function_name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "webhook_url" {
  #checkov:skip=CKV_AWS_301:Public by design (GitHub delivers from its own addresses and cannot sign SigV4); the HMAC check in code is the gate.
  statement_id           = "github-webhook-url"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.webhook.function_name
  principal              = "*"
  function_url_auth_type = "NONE"
}

# Required since October 2025 for function URLs next to lambda:InvokeFunctionUrl. Provider
# 6.29+ can limit it to URL invocations (`invoked_via_function_url`); this module supports
# 5.100, which lacks that argument, so a direct Invoke with any AWS credentials is allowed too
# and meets the same HMAC check (an unsigned event changes nothing).
resource "aws_lambda_permission" "webhook_invoke" {
  #checkov:skip=CKV_AWS_301:Required by AWS since October 2025 for a public function URL (see above); the HMAC check in code is the gate.
  statement_id  = "github-webhook-invoke"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.webhook.function_name
  principal     = "*"
}
