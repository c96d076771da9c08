# Unit tests with a mock AWS provider: the trust policies (aud pinned, sub per repository,
# pull request and environment, StringEquals only), the permissions, and input validation.

mock_provider "aws" {
  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }
  mock_resource "aws_iam_openid_connect_provider" {
    defaults = {
      arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
    }
  }
}

variables {
  name              = "fleet"
  github_repository = "acme/infra"
  state_bucket      = "fleet-tfstate-123456789012"
  lock_table        = "fleet-tflock"
}

run "defaults" {
  # apply with the mock provider: the trust policy embeds the provider ARN, known after apply
  command = apply

  assert {
    condition     = length(aws_iam_openid_connect_provider.this) == 1
    error_message = "with no oidc_provider_arn the module must create the provider"
  }

  assert {
    condition     = aws_iam_openid_connect_provider.this[0].url == "https://token.actions.githubusercontent.com" && aws_iam_openid_connect_provider.this[0].client_id_list == toset(["sts.amazonaws.com"])
    error_message = "the provider must be GitHub's issuer with audience sts.amazonaws.com"
  }

  # plan role: pull requests of acme/infra and the drift environment
  assert {
    condition     = jsondecode(aws_iam_role.this["plan"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    error_message = "plan role trust must pin aud to sts.amazonaws.com"
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["plan"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:acme/infra:pull_request", "repo:acme/infra:environment:drift"]
    error_message = "plan role trust must allow exactly the repository's pull requests and the drift environment"
  }

  # apply role: only the production environment
  assert {
    condition     = jsondecode(aws_iam_role.this["apply"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    error_message = "apply role trust must pin aud to sts.amazonaws.com"
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["apply"].assume_role_policy).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == ["repo:acme/infra:environment:production"]
    error_message = "apply role trust must allow only the production environment of the repository"
  }

  assert {
    condition = alltrue([
      for r in ["plan", "apply"] : (
        keys(jsondecode(aws_iam_role.this[r].assume_role_policy).Statement[0].Condition) == ["StringEquals"] &&
        length(jsondecode(aws_iam_role.this[r].assume_role_policy).Statement) == 1 &&
        jsondecode(aws_iam_role.this[r].assume_role_policy).Statement[0].Action == "sts:AssumeRoleWithWebIdentity" &&
        jsondecode(aws_iam_role.this[r].assume_role_policy).Statement[0].Principal.Federated == "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
      )
    ])
    error_message = "each trust policy must be one AssumeRoleWithWebIdentity statement for the provider with StringEquals conditions only (no StringLike wildcards)"
  }

  assert {
    condition     = !strcontains(aws_iam_role.this["plan"].assume_role_policy, "*") && !strcontains(aws_iam_role.this["apply"].assume_role_policy, "*")
    error_message = "no wildcard may appear in a trust policy"
  }

  assert {
    condition     = aws_iam_role.this["plan"].name == "fleet-github-plan" && aws_iam_role.this["apply"].name == "fleet-github-apply"
    error_message = "roles must be named <name>-github-plan and <name>-github-apply"
  }

  assert {
    condition     = aws_iam_role.this["plan"].tags["runnerfleet:fleet"] == "fleet" && aws_iam_role.this["plan"].tags["runnerfleet:role"] == "deploy" && aws_iam_openid_connect_provider.this[0].tags["runnerfleet:role"] == "deploy"
    error_message = "resources must carry runnerfleet:fleet and runnerfleet:role = deploy"
  }

  # plan role: read-only, state read + lock write, no secrets

  assert {
    condition     = aws_iam_role_policy_attachment.this["plan|arn:aws:iam::aws:policy/ReadOnlyAccess"].role == "fleet-github-plan"
    error_message = "the plan role must get ReadOnlyAccess by default"
  }

  assert {
    condition     = length([for k, a in aws_iam_role_policy_attachment.this : k if a.role == "fleet-github-plan"]) == 1
    error_message = "the plan role must get no managed policy besides ReadOnlyAccess"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this["plan"].policy).Statement :
      s.Effect == "Deny" || alltrue([for a in s.Action : contains([
        "s3:ListBucket", "s3:GetObject", "dynamodb:DescribeTable", "dynamodb:GetItem",
        "dynamodb:PutItem", "dynamodb:DeleteItem", "s3:PutObject", "s3:DeleteObject",
      ], a)])
    ])
    error_message = "the plan role's inline policy may only read state and manage the lock"
  }

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this["plan"].policy).Statement :
      !contains(s.Action, "s3:PutObject") || s.Resource == ["arn:aws:s3:::fleet-tfstate-123456789012/aws/ec2-runner/terraform.tfstate.tflock"]
    ])
    error_message = "the plan role may write only the state's lock file, never the state"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_role_policy.this["plan"].policy).Statement :
      s.Effect == "Deny" && contains(s.Action, "ssm:GetParameter") && contains(s.Resource, "arn:aws:ssm:*:*:parameter/fleet/github/*") && contains(s.Action, "secretsmanager:GetSecretValue")
    ])
    error_message = "the plan role must be denied reads of the fleet's GitHub credentials"
  }

  assert {
    condition = anytrue([
      for s in jsondecode(aws_iam_role_policy.this["plan"].policy).Statement :
      s.Sid == "StateLockTable" && s.Resource == ["arn:aws:dynamodb:*:*:table/fleet-tflock"]
    ])
    error_message = "the plan role must be able to take the DynamoDB lock"
  }

  # apply role: IAM only on the fleet's names

  assert {
    condition = alltrue([
      for s in jsondecode(aws_iam_role_policy.this["apply"].policy).Statement :
      s.Sid != "FleetIam" || alltrue([for r in s.Resource : endswith(r, "/fleet-*")])
    ])
    error_message = "the apply role's IAM rights must be limited to <name>-* resources"
  }

  assert {
    condition     = aws_iam_role_policy_attachment.this["apply|arn:aws:iam::aws:policy/PowerUserAccess"].role == "fleet-github-apply"
    error_message = "the apply role must get PowerUserAccess by default"
  }
}

run "existing_provider_custom_environment_and_ghes" {
  # apply with the mock provider: the trust policy embeds the provider ARN, known after apply
  command = apply

  variables {
    oidc_provider_arn      = "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com"
    production_environment = "prod-us"
    plan_environments      = []
    lock_table             = null
    oidc_url               = "https://ghe.example.com/_services/token"
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["apply"].assume_role_policy).Statement[0].Condition.StringEquals["ghe.example.com/_services/token:aud"] == "sts.amazonaws.com"
    error_message = "condition keys must be named after the issuer host and path (GHES)"
  }

  assert {
    condition     = length(aws_iam_openid_connect_provider.this) == 0
    error_message = "an existing provider ARN must not create another provider"
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["apply"].assume_role_policy).Statement[0].Principal.Federated == "arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com"
    error_message = "the roles must trust the existing provider"
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["apply"].assume_role_policy).Statement[0].Condition.StringEquals["ghe.example.com/_services/token:sub"] == ["repo:acme/infra:environment:prod-us"]
    error_message = "the apply role must follow production_environment"
  }

  assert {
    condition     = jsondecode(aws_iam_role.this["plan"].assume_role_policy).Statement[0].Condition.StringEquals["ghe.example.com/_services/token:sub"] == ["repo:acme/infra:pull_request"]
    error_message = "with no plan environments the plan role must trust pull requests only"
  }

  assert {
    condition     = alltrue([for s in jsondecode(aws_iam_role_policy.this["plan"].policy).Statement : s.Sid != "StateLockTable"])
    error_message = "without a lock table no DynamoDB permission may be granted"
  }
}

# Every input below is invalid; one run checks that each is rejected by its own validation.
run "rejects_invalid_inputs" {
  command = plan

  variables {
    github_repository    = "acme/*"
    plan_environments    = ["drift", "production"]
    oidc_provider_arn    = "token.actions.githubusercontent.com"
    state_bucket         = "Fleet_State"
    state_key            = "/leading/slash"
    oidc_url             = "http://token.actions.githubusercontent.com"
    max_session_duration = 60
  }

  expect_failures = [
    var.github_repository,
    var.plan_environments,
    var.oidc_provider_arn,
    var.state_bucket,
    var.state_key,
    var.oidc_url,
    var.max_session_duration,
  ]
}

# Separate run: plan_environments' check refers to production_environment, so it cannot be
# evaluated while production_environment itself is invalid.
run "rejects_repository_without_owner_and_wildcard_environment" {
  command = plan

  variables {
    github_repository      = "infra"
    production_environment = "*"
  }

  expect_failures = [var.github_repository, var.production_environment]
}
