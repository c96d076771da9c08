# Plan-only tests with a mock AWS provider: names, least-privilege IAM scoped to this fleet's
# SSM paths, credentials parameters per auth mode, event wiring, and input validation.

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

run "names_and_app_credentials" {
  command = plan

  assert {
    condition     = aws_lambda_function.this.function_name == "rf-test-registrar" && aws_dynamodb_table.this.name == "rf-test-control-plane"
    error_message = "function and table must be named <name>-registrar and <name>-control-plane"
  }

  assert {
    condition     = join(",", sort(keys(aws_ssm_parameter.github))) == "app-id,installation-id,private-key" && aws_ssm_parameter.github["private-key"].type == "SecureString"
    error_message = "GitHub App credentials live in /<name>/github/{app-id,private-key,installation-id}, the key as SecureString"
  }

  assert {
    condition     = aws_ssm_parameter.github["private-key"].name == "/rf-test/github/private-key" && aws_ssm_parameter.github["private-key"].value == "REPLACE_ME"
    error_message = "Terraform must only hold a placeholder for the private key"
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["RUNNERFLEET_GITHUB_API_URL"] == "https://api.github.com" && aws_lambda_function.this.environment[0].variables["RUNNERFLEET_EPHEMERAL"] == "false"
    error_message = "github.com maps to api.github.com; ephemeral defaults to false"
  }

  assert {
    condition     = join(",", sort(keys(aws_cloudwatch_event_target.registrar))) == "instance_state,scan" && aws_cloudwatch_event_rule.scan.schedule_expression == "rate(5 minutes)"
    error_message = "static mode wires the instance-state rule and the periodic scan"
  }

  assert {
    condition     = aws_dynamodb_table.this.point_in_time_recovery[0].enabled && aws_dynamodb_table.this.server_side_encryption[0].enabled
    error_message = "the claims table must have PITR and encryption"
  }

  assert {
    condition     = alltrue([for k, v in aws_lambda_function.this.tags : true]) && aws_lambda_function.this.tags["runnerfleet:role"] == "control-plane" && aws_lambda_function.this.tags["runnerfleet:fleet"] == "rf-test"
    error_message = "resources carry runnerfleet:fleet and runnerfleet:role = control-plane"
  }
}

run "iam_is_scoped_to_this_fleet" {
  command = plan

  assert {
    condition = alltrue(flatten([
      # OwnLogs, Claims and DeadLetters name this module's own resources (ARNs known after apply).
      for s in data.aws_iam_policy_document.this.statement : [
        for r in s.resources : r == "*" ? contains(["ListParameters", "DescribeInstances"], s.sid) : (
          length(regexall(":parameter", r)) == 0 || startswith(r, "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/runners/") || startswith(r, "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/github")
        )
      ]
      if !contains(["OwnLogs", "Claims", "DeadLetters"], s.sid)
    ]))
    error_message = "SSM access must be limited to /<name>/runners/* and /<name>/github/*; '*' only where AWS has no resource-level permissions"
  }

  assert {
    condition     = join(",", one([for s in data.aws_iam_policy_document.this.statement : tolist(s.resources) if s.sid == "RunnerRegistrations"])) == "arn:aws:ssm:eu-west-2:123456789012:parameter/rf-test/runners/*"
    error_message = "registrations are written only under /<name>/runners/*"
  }

  assert {
    condition     = join(",", one([for s in data.aws_iam_policy_document.this.statement : tolist(s.resources) if s.sid == "CompleteLifecycleActions"])) == "arn:aws:autoscaling:eu-west-2:123456789012:autoScalingGroup:*:autoScalingGroupName/rf-test-*"
    error_message = "lifecycle completion is limited to this fleet's groups"
  }
}

run "pat_ghes_lifecycle_and_secret" {
  command = plan

  variables {
    github_auth                   = "pat"
    github_url                    = "https://ghe.example.com/"
    lifecycle_event_rule_name     = "rf-test-lifecycle"
    github_credentials_secret_arn = null
  }

  assert {
    condition     = join(",", keys(aws_ssm_parameter.github)) == "token"
    error_message = "PAT auth keeps one SecureString /<name>/github/token"
  }

  assert {
    condition     = aws_lambda_function.this.environment[0].variables["RUNNERFLEET_GITHUB_API_URL"] == "https://ghe.example.com/api/v3"
    error_message = "GHES maps to <url>/api/v3"
  }

  assert {
    condition     = aws_cloudwatch_event_target.registrar["lifecycle"].rule == "rf-test-lifecycle" && aws_lambda_permission.events["lifecycle"].source_arn == "arn:aws:events:eu-west-2:123456789012:rule/rf-test-lifecycle"
    error_message = "the runner groups' lifecycle rule must invoke the registrar"
  }
}

run "secrets_manager_replaces_ssm_credentials" {
  command = plan

  variables {
    github_credentials_secret_arn = "arn:aws:secretsmanager:eu-west-2:123456789012:secret:rf-test/github-AbCdEf"
  }

  assert {
    condition     = length(aws_ssm_parameter.github) == 0 && aws_lambda_function.this.environment[0].variables["RUNNERFLEET_GITHUB_SECRET_ID"] == "arn:aws:secretsmanager:eu-west-2:123456789012:secret:rf-test/github-AbCdEf"
    error_message = "with a secret ARN no SSM credential parameters are created and the function reads the secret"
  }
}

run "bad_inputs_are_rejected" {
  command = plan

  variables {
    name          = "RF"
    package_path  = "registrar.tar.gz"
    scan_schedule = "every 5 minutes"
  }

  expect_failures = [var.name, var.package_path, var.scan_schedule]
}
