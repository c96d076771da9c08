# The control plane of a runnerfleet fleet, one file per function (the layout of
# terraform-aws-github-runner's scale-up.tf / scale-down.tf):
#
# - webhook.tf   `<name>-webhook`: GitHub `workflow_job` deliveries through a function URL
#                (auth NONE: GitHub cannot sign SigV4; the HMAC check in code is the gate)
#                -> record the job, scale out.
# - reconcile.tf `<name>-reconcile`: an EventBridge schedule -> one reconcile pass (the scaler
#                with GitHub's runner list, scale-in, drift healing, the QueuedJobs metric).
# - registrar.tf `<name>-registrar`: EC2 state changes, the groups' lifecycle actions and a
#                periodic scan -> one one-shot registration per runner instance in SSM.
#
# This file holds what they share: the control plane's table, the trust policy, the names of
# the GitHub credentials (Terraform never holds their values: the operator or `runnerfleet
# github configure` writes them; each role is granted read on exactly what it uses), and the
# common environment.

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

  handlers = {
    webhook   = "runnerfleet.controlplane.entrypoints.webhook"
    reconcile = "runnerfleet.controlplane.entrypoints.reconcile"
    registrar = "runnerfleet.controlplane.entrypoints.registrar"
  }
  function_names = { for k in keys(local.handlers) : k => "${var.name}-${k}" }

  api_url = contains(["https://github.com", "http://github.com"], trimsuffix(var.github_url, "/")) ? "https://api.github.com" : "${trimsuffix(var.github_url, "/")}/api/v3"

  parameter_arn = "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter"
  runners_path  = "/${var.name}/runners"
  github_path   = "/${var.name}/github"

  # The GitHub credentials, by name. Written out of band (never by Terraform).
  github_credential_names = var.github_credentials_secret_arn != null ? [] : (
    var.github_auth == "app" ? ["app-id", "installation-id", "private-key"] : ["token"]
  )
  github_parameter_names = [for n in local.github_credential_names : "${local.github_path}/${n}"]
  github_path_arn        = "${local.parameter_arn}${local.github_path}"

  webhook_secret_parameter_name = "${local.github_path}/webhook-secret"
  webhook_secret_parameter_arn  = "${local.parameter_arn}${local.webhook_secret_parameter_name}"

  group_arn_pattern    = "arn:${local.partition}:autoscaling:${local.region}:${local.account}:autoScalingGroup:*:autoScalingGroupName/${var.name}-*"
  instance_arn_pattern = "arn:${local.partition}:ec2:${local.region}:${local.account}:instance/*"

  # Environment every function reads (runnerfleet.controlplane.settings.ControlPlaneSettings).
  environment = {
    RUNNERFLEET_NAME                = var.name
    RUNNERFLEET_TABLE               = aws_dynamodb_table.this.name
    RUNNERFLEET_MODE                = var.mode
    RUNNERFLEET_RUNNER_COUNT        = tostring(var.runner_count)
    RUNNERFLEET_RUNNER_LABELS       = join(",", var.runner_labels)
    RUNNERFLEET_POOL_LABELS         = jsonencode(var.pool_labels)
    RUNNERFLEET_POOL_IDLE           = jsonencode(var.pool_idle)
    RUNNERFLEET_RUNNER_GROUP        = var.runner_group
    RUNNERFLEET_EPHEMERAL           = tostring(var.ephemeral)
    RUNNERFLEET_GITHUB_URL          = trimsuffix(var.github_url, "/")
    RUNNERFLEET_GITHUB_API_URL      = local.api_url
    RUNNERFLEET_GITHUB_OWNER        = var.github_owner
    RUNNERFLEET_GITHUB_REPOSITORY   = var.github_repository == null ? "" : var.github_repository
    RUNNERFLEET_GITHUB_SECRET_ID    = var.github_credentials_secret_arn == null ? "" : var.github_credentials_secret_arn
    RUNNERFLEET_KMS_KEY_ID          = var.kms_key_arn == null ? "" : var.kms_key_arn
    RUNNERFLEET_BOOT_TIMEOUT        = tostring(var.boot_timeout_seconds)
    RUNNERFLEET_IDLE_GRACE          = tostring(var.idle_grace_seconds)
    RUNNERFLEET_GITHUB_SYNC_SECONDS = tostring(var.github_sync_seconds)
    RUNNERFLEET_JOB_RECHECK_SECONDS = tostring(var.job_recheck_seconds)
    RUNNERFLEET_LOG_LEVEL           = var.log_level
  }

  tracing_mode = var.tracing_enabled ? "Active" : "PassThrough"
}

# ---- the control plane's table: jobs, webhook delivery ids, registration claims ------------

resource "aws_dynamodb_table" "this" {
  #checkov:skip=CKV_AWS_119:Encrypted at rest either way; a customer-managed key is opt-in through kms_key_arn, otherwise DynamoDB's AWS-managed key (the table holds jobs, claims and delivery ids, no credentials).
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

# ---- shared IAM pieces -----------------------------------------------------------------------

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

# ---- upgrades from the registrar-only module -------------------------------------------------

moved {
  from = aws_lambda_function.this
  to   = aws_lambda_function.registrar
}

moved {
  from = aws_iam_role.this
  to   = aws_iam_role.registrar
}

moved {
  from = aws_iam_role_policy.this
  to   = aws_iam_role_policy.registrar
}

moved {
  from = aws_cloudwatch_log_group.this
  to   = aws_cloudwatch_log_group.registrar
}

moved {
  from = aws_lambda_permission.events
  to   = aws_lambda_permission.registrar
}

# The GitHub credentials were once placeholders managed here: forget them without deleting
# the values the operator wrote.
removed {
  from = aws_ssm_parameter.github

  lifecycle {
    destroy = false
  }
}
