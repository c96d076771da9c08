# Plan-only tests with a mock AWS provider: three functions with the contract's handlers and
# names, a public function URL gated in code, the reconcile schedule, least-privilege IAM per
# function scoped to this fleet, no GitHub credential managed by Terraform, options
# (tracing, reserved concurrency) and input validation.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-2", name = "eu-west-2" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{}" }
  }
}

variables {
  name         = "rf-test"
  package_path = "tests/fixtures/registrar.zip"
  github_owner = "acme"
}

run "three_functions_with_their_handlers" {
  command = plan

  assert {
    condition = (
      aws_lambda_function.webhook.function_name == "rf-test-webhook" && aws_lambda_function.webhook.handler == "runnerfleet.controlplane.entrypoints.webhook" &&
      aws_lambda_function.reconcile.function_name == "rf-test-reconcile" && aws_lambda_function.reconcile.handler == "runnerfleet.controlplane.entrypoints.reconcile" &&
      aws_lambda_function.registrar.function_name == "rf-test-registrar" && aws_lambda_function.registrar.handler == "runnerfleet.controlplane.entrypoints.registrar"
    )
    error_message = "functions <name>-webhook/-reconcile/-registrar run runnerfleet.controlplane.entrypoints.<role>"
  }

  assert {
    condition     = aws_iam_role.webhook.name == "rf-test-webhook" && aws_iam_role.reconcile.name == "rf-test-reconcile" && aws_iam_role.registrar.name == "rf-test-registrar"
    error_message = "each function has its own role, named like it"
  }

  assert {
    condition     = aws_lambda_function_url.webhook.authorization_type == "NONE" && aws_lambda_permission.webhook_url.action == "lambda:InvokeFunctionUrl" && aws_lambda_permission.webhook_url.function_url_auth_type == "NONE" && aws_lambda_permission.webhook_invoke.action == "lambda:InvokeFunction"
    error_message = "the webhook URL is public (GitHub cannot sign SigV4) with both permissions AWS requires since October 2025"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.reconcile.schedule_expression == "rate(1 minute)" && aws_cloudwatch_event_target.reconcile.rule == "rf-test-reconcile" && aws_lambda_permission.reconcile.principal == "events.amazonaws.com"
    error_message = "the reconcile pass runs every minute by default"
  }

  assert {
    condition     = join(",", sort(keys(aws_cloudwatch_event_target.registrar))) == "instance_state,scan" && aws_cloudwatch_event_rule.scan.schedule_expression == "rate(5 minutes)"
    error_message = "static wiring: the registrar gets the instance-state rule and the periodic scan"
  }

  assert {
    condition     = alltrue([for f in [aws_lambda_function.webhook, aws_lambda_function.reconcile, aws_lambda_function.registrar] : f.reserved_concurrent_executions == null && f.tracing_config[0].mode == "Active"])
    error_message = "no reserved concurrency by default (accounts with a quota of 10 refuse it); tracing on"
  }

  assert {
    condition     = aws_lambda_function.webhook.environment[0].variables["RUNNERFLEET_WEBHOOK_SECRET_PARAMETER"] == "/rf-test/github/webhook-secret" && aws_lambda_function.registrar.environment[0].variables["RUNNERFLEET_GITHUB_API_URL"] == "https://api.github.com" && aws_lambda_function.reconcile.environment[0].variables["RUNNERFLEET_TABLE"] == "rf-test-control-plane"
    error_message = "the functions' environment names the webhook secret, the API URL and the table"
  }

  assert {
    condition     = aws_lambda_function.registrar.environment[0].variables["RUNNERFLEET_RUNNER_GROUP"] == "Default" && aws_lambda_function.registrar.environment[0].variables["RUNNERFLEET_POOL_IDLE"] == "{}"
    error_message = "by default runners join the Default group and no pool keeps idle runners"
  }

  assert {
    condition     = output.webhook_secret_parameter_name == "/rf-test/github/webhook-secret" && output.webhook_secret_parameter_arn == "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/github/webhook-secret"
    error_message = "the outputs say where the webhook secret lives"
  }

  assert {
    condition     = join(",", output.github_parameter_names) == "/rf-test/github/app-id,/rf-test/github/installation-id,/rf-test/github/private-key"
    error_message = "the App's credentials are named (never managed) under /<name>/github"
  }

  assert {
    condition     = aws_dynamodb_table.this.name == "rf-test-control-plane" && aws_dynamodb_table.this.point_in_time_recovery[0].enabled && aws_dynamodb_table.this.server_side_encryption[0].enabled
    error_message = "the table is <name>-control-plane with PITR and encryption"
  }

  assert {
    condition     = aws_lambda_function.webhook.tags["runnerfleet:role"] == "control-plane" && aws_lambda_function.reconcile.tags["runnerfleet:fleet"] == "rf-test"
    error_message = "resources carry runnerfleet:fleet and runnerfleet:role = control-plane"
  }
}

run "iam_is_scoped_to_this_fleet" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for doc in [data.aws_iam_policy_document.webhook, data.aws_iam_policy_document.reconcile, data.aws_iam_policy_document.registrar] : [
        for s in doc.statement : [
          for r in s.resources : r == "*" ? contains(["ListParameters", "DescribeInstances", "DescribeFleet", "DescribeGroups", "DescribeLifecycleStates", "QueuedJobsMetric", "Tracing"], s.sid) : (
            length(regexall(":parameter", r)) == 0 || startswith(r, "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/")
          )
        ]
        # OwnLogs, JobTable and Claims name this module's own resources (ARNs known after apply).
        if !contains(["OwnLogs", "JobTable", "Claims"], s.sid)
      ]
    ]))
    error_message = "SSM access is limited to /<name>/...; '*' only where AWS has no resource-level permissions"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.webhook.statement : tolist(s.resources) if s.sid == "WebhookSecret"])[0] == "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/github/webhook-secret"
    error_message = "the webhook reads only its secret"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.registrar.statement : tolist(s.resources) if s.sid == "GitHubCredentials"])[0] == "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/github" && one([for s in data.aws_iam_policy_document.reconcile.statement : tolist(s.resources) if s.sid == "GitHubCredentials"])[0] == "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/github"
    error_message = "the credentials are read by path /<name>/github"
  }

  assert {
    condition     = join(",", one([for s in data.aws_iam_policy_document.registrar.statement : tolist(s.resources) if s.sid == "RunnerRegistrations"])) == "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/runners/*"
    error_message = "registrations are written only under /<name>/runners/*"
  }

  assert {
    condition     = alltrue([for doc in [data.aws_iam_policy_document.webhook, data.aws_iam_policy_document.reconcile] : one([for s in doc.statement : tolist(s.resources) if startswith(s.sid, "Scale")])[0] == "arn:aws:autoscaling:eu-west-2:123456789012:autoScalingGroup:*:autoScalingGroupName/rf-test-*"])
    error_message = "scaling is limited to this fleet's groups"
  }

  assert {
    condition     = length([for s in data.aws_iam_policy_document.webhook.statement : s if contains(s.actions, "ssm:GetParametersByPath") || contains(s.actions, "autoscaling:TerminateInstanceInAutoScalingGroup")]) == 0
    error_message = "the webhook neither reads the GitHub credentials nor terminates hosts"
  }
}

run "pat_ghes_lifecycle_options" {
  command = plan

  variables {
    github_auth               = "pat"
    github_url                = "https://ghe.example.com/"
    lifecycle_event_rule_name = "rf-test-lifecycle"
    reconcile_schedule        = "rate(2 minutes)"
    reserved_concurrency      = { webhook = 2 }
    tracing_enabled           = false
    pool_labels               = { default = [], gpu = ["gpu"] }
    pool_idle                 = { default = 0, gpu = 2 }
    runner_group              = "ci builders"
  }

  assert {
    condition     = alltrue([for f in [aws_lambda_function.webhook, aws_lambda_function.reconcile, aws_lambda_function.registrar] : f.environment[0].variables["RUNNERFLEET_RUNNER_GROUP"] == "ci builders"])
    error_message = "every function gets the runner group's name (RUNNERFLEET_RUNNER_GROUP)"
  }

  assert {
    condition     = alltrue([for f in [aws_lambda_function.webhook, aws_lambda_function.reconcile, aws_lambda_function.registrar] : jsondecode(f.environment[0].variables["RUNNERFLEET_POOL_IDLE"]) == { default = 0, gpu = 2 }])
    error_message = "every function gets the pools' idle counts as JSON {pool: n} (RUNNERFLEET_POOL_IDLE)"
  }

  assert {
    condition     = join(",", output.github_parameter_names) == "/rf-test/github/token"
    error_message = "PAT auth names one SecureString /<name>/github/token"
  }

  assert {
    condition     = aws_lambda_function.reconcile.environment[0].variables["RUNNERFLEET_GITHUB_API_URL"] == "https://ghe.example.com/api/v3"
    error_message = "GHES maps to <url>/api/v3"
  }

  assert {
    condition     = aws_cloudwatch_event_target.registrar["lifecycle"].rule == "rf-test-lifecycle" && aws_lambda_permission.registrar["lifecycle"].source_arn == "arn:aws:events:eu-west-2:123456789012:rule/rf-test-lifecycle"
    error_message = "the runner groups' lifecycle rule must invoke the registrar"
  }

  assert {
    condition     = aws_cloudwatch_event_rule.reconcile.schedule_expression == "rate(2 minutes)" && aws_lambda_function.webhook.reserved_concurrent_executions == 2 && aws_lambda_function.reconcile.reserved_concurrent_executions == null
    error_message = "the schedule and the reserved concurrency are configurable"
  }

  assert {
    condition     = aws_lambda_function.webhook.tracing_config[0].mode == "PassThrough" && length([for s in data.aws_iam_policy_document.webhook.statement : s if s.sid == "Tracing"]) == 0
    error_message = "with tracing off, no X-Ray permissions"
  }
}

run "tracing_grants_xray" {
  command = plan

  assert {
    condition = alltrue([for doc in [data.aws_iam_policy_document.webhook, data.aws_iam_policy_document.reconcile, data.aws_iam_policy_document.registrar] :
    length([for s in doc.statement : s if s.sid == "Tracing" && contains(s.actions, "xray:PutTraceSegments") && contains(s.actions, "xray:PutTelemetryRecords")]) == 1])
    error_message = "active tracing needs xray:PutTraceSegments and xray:PutTelemetryRecords on every role"
  }
}

run "secrets_manager_replaces_ssm_credentials" {
  command = plan

  variables {
    github_credentials_secret_arn = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:rf-test/github-AbCdEf"
  }

  assert {
    condition     = length(output.github_parameter_names) == 0 && aws_lambda_function.registrar.environment[0].variables["RUNNERFLEET_GITHUB_SECRET_ID"] == "arn:aws:secretsmanager:eu-west-2:123456789012:secret:rf-test/github-AbCdEf"
    error_message = "with a secret ARN the functions read the secret instead of /<name>/github"
  }

  assert {
    condition     = one([for s in data.aws_iam_policy_document.reconcile.statement : tolist(s.resources) if s.sid == "GitHubCredentialsSecret"])[0] == "arn:aws:secretsmanager:eu-west-2:123456789012:secret:rf-test/github-AbCdEf" && length([for s in data.aws_iam_policy_document.registrar.statement : s if s.sid == "GitHubCredentials"]) == 0
    error_message = "the secret replaces the SSM read grant"
  }
}

run "bad_inputs_are_rejected" {
  command = plan

  variables {
    name                 = "RF"
    package_path         = "registrar.tar.gz"
    scan_schedule        = "every 5 minutes"
    reconcile_schedule   = "each minute"
    reserved_concurrency = { webhook = -1 }
    lambda_runtime       = "python3.11"
    pool_idle            = { default = -1 }
    runner_group         = "ci/builders"
  }

  expect_failures = [var.name, var.package_path, var.scan_schedule, var.reconcile_schedule, var.reserved_concurrency, var.lambda_runtime, var.pool_idle, var.runner_group]
}
