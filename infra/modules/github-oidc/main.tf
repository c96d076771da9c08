# GitHub Actions OIDC for the deploy workflows: the identity provider (created, or an
# existing one by ARN) and two roles that workflows assume with short-lived tokens, so no
# AWS key is ever stored in GitHub.
#
#   plan  — read-only, plus read of the state and write of its lock only. Trusted for pull
#           requests of one repository (sub `repo:OWNER/REPO:pull_request`) and for the
#           environments in var.plan_environments (the scheduled drift check).
#   apply — changes the fleet. Trusted only for jobs of the protected production
#           environment (sub `repo:OWNER/REPO:environment:production`).
#
# Both trust policies pin `aud` to sts.amazonaws.com and match `sub` with StringEquals
# (no wildcards). Policies are built with jsonencode so `terraform test` can assert them.

data "aws_partition" "current" {}

locals {
  partition = data.aws_partition.current.partition

  create_provider   = var.oidc_provider_arn == null
  oidc_provider_arn = local.create_provider ? aws_iam_openid_connect_provider.this[0].arn : var.oidc_provider_arn
  # IAM condition keys are named after the issuer without its scheme.
  oidc_host = trimprefix(var.oidc_url, "https://")

  plan_subjects = concat(
    ["repo:${var.github_repository}:pull_request"],
    [for env in var.plan_environments : "repo:${var.github_repository}:environment:${env}"],
  )
  apply_subjects = ["repo:${var.github_repository}:environment:${var.production_environment}"]

  plan_policy_arns  = coalesce(var.plan_policy_arns, ["arn:${local.partition}:iam::aws:policy/ReadOnlyAccess"])
  apply_policy_arns = coalesce(var.apply_policy_arns, ["arn:${local.partition}:iam::aws:policy/PowerUserAccess"])

  bucket_arn    = "arn:${local.partition}:s3:::${var.state_bucket}"
  state_arn     = "${local.bucket_arn}/${var.state_key}"
  lockfile_arn  = "${local.bucket_arn}/${var.state_key}.tflock"
  table_arn     = var.lock_table == null ? null : "arn:${local.partition}:dynamodb:*:*:table/${var.lock_table}"
  iam_name_glob = "${var.name}-*"

  tags = merge(var.tags, {
    "runnerfleet:fleet" = var.name
    "runnerfleet:role"  = "deploy"
  })

  trust = {
    for role, subjects in { plan = local.plan_subjects, apply = local.apply_subjects } : role => {
      Version                    = "2012-10-17"
      Statement = [{
        Sid       = "GitHubActionsOidc"
        Effect    = "Allow"
        Action    = "sts:AssumeRoleWithWebIdentity"
        Principal = { Federated = local.oidc_provider_arn }
        Condition = {
          StringEquals = {
            "${local.oidc_host}:aud" = "sts.amazonaws.com"
            "${local.oidc_host}:sub" = subjects
          }
        }
      }]
    }
  }

  # Terraform state: both roles list the bucket, read the state and take the lock; only the
  # apply role writes the state itself.
  state_statements = {
    plan = [
      { Sid = "StateList", Effect = "Allow", Action = ["s3:ListBucket"], Resource = [local.bucket_arn] },
      { Sid = "StateRead", Effect = "Allow", Action = ["s3:GetObject"], Resource = [local.state_arn] },
      { Sid = "StateLockFile", Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Resource = [local.lockfile_arn] },
    ]
    apply = [
      { Sid = "StateList", Effect = "Allow", Action = ["s3:ListBucket", "s3:ListBucketVersions"], Resource = [local.bucket_arn] },
      { Sid = "StateReadWrite", Effect = "Allow", Action = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], Resource = [local.state_arn] },
      { Sid = "StateLockFile", Effect = "Allow", Action = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], Resource = [local.lockfile_arn] },
    ]
  }
  lock_table_statements = var.lock_table == null ? [] : [
    { Sid = "StateLockTable", Effect = "Allow", Action = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"], Resource = [local.table_arn] },
  ]
  kms_statements = var.state_kms_key_arn == null ? [] : [
    { Sid = "StateKms", Effect = "Allow", Action = ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], Resource = [var.state_kms_key_arn] },
  ]

  # Pull-request code runs with the plan role, so it must never read the fleet's secrets,
  # whatever managed policy is attached.
  deny_secrets = {
    Sid    = "DenyFleetSecrets"
    Effect = "Deny"
    Action = [
      "ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory",
      "secretsmanager:GetSecretValue",
    ]
    Resource = [
      "arn:${local.partition}:ssm:*:*:parameter/${var.name}/github/*",
      "arn:${local.partition}:ssm:*:*:parameter/${var.name}/runners/*",
      "arn:${local.partition}:secretsmanager:*:*:secret:${var.name}/*",
    ]
  }

  # PowerUserAccess excludes IAM; the fleet needs its own roles, instance profiles and
  # policies, so IAM is granted on `<name>-*` names only, and attaching the broadest AWS
  # managed policies is denied (a cheap guard against privilege escalation).
  apply_iam_statements = [
    {
      Sid    = "FleetIam"
      Effect = "Allow"
      Action = ["iam:*"]
      Resource = [
        "arn:${local.partition}:iam::*:role/${local.iam_name_glob}",
        "arn:${local.partition}:iam::*:instance-profile/${local.iam_name_glob}",
        "arn:${local.partition}:iam::*:policy/${local.iam_name_glob}",
      ]
    },
    {
      Sid      = "ReadManagedPolicies"
      Effect   = "Allow"
      Action   = ["iam:GetPolicy", "iam:GetPolicyVersion", "iam:ListPolicyVersions"]
      Resource = ["arn:${local.partition}:iam::aws:policy/*"]
    },
    {
      Sid      = "ServiceLinkedRoles"
      Effect   = "Allow"
      Action   = ["iam:CreateServiceLinkedRole"]
      Resource = ["arn:${local.partition}:iam::*:role/aws-service-role/*"]
    },
    {
      Sid      = "NoAdminAttach"
      Effect   = "Deny"
      Action   = ["iam:AttachRolePolicy", "iam:AttachUserPolicy", "iam:AttachGroupPolicy"]
      Resource = ["*"]
      Condition = {
        ArnEquals = {
          "iam:PolicyARN" = [
            "arn:${local.partition}:iam::aws:policy/AdministratorAccess",
            "arn:${local.partition}:iam::aws:policy/IAMFullAccess",
            "arn:${local.partition}:iam::aws:policy/PowerUserAccess",
          ]
        }
      }
    },
  ]

  inline = {
    plan = {
      Version   = "2012-10-17"
      Statement = concat(local.state_statements.plan, local.lock_table_statements, local.kms_statements, [local.deny_secrets])
    }
    apply = {
      Version   = "2012-10-17"
      Statement = concat(local.state_statements.apply, local.lock_table_statements, local.kms_statements, local.apply_iam_statements)
    }
  }

  attachments = merge(
    { for arn in local.plan_policy_arns : "plan|${arn}" => { role = "plan", arn = arn } },
    { for arn in local.apply_policy_arns : "apply|${arn}" => { role = "apply", arn = arn } },
  )
}

resource "aws_iam_openid_connect_provider" "this" {
  count = local.create_provider ? 1 : 0

  url            = var.oidc_url
  client_id_list = ["sts.amazonaws.com"]
  # No thumbprint_list: AWS validates GitHub's issuer against its own trusted CAs, and the
  # provider (>= 5.81) fetches a thumbprint itself when none is given.

  tags = local.tags
}

resource "aws_iam_role" "this" {
  for_each = local.trust

  name                 = "${var.name}-github-${each.key}"
  description          = "Assumed by GitHub Actions (OIDC) to ${each.key} the ${var.name} runner fleet from ${var.github_repository}."
  assume_role_policy   = jsonencode(each.value)
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn

  tags = local.tags
}

resource "aws_iam_role_policy" "this" {
  for_each = local.inline

  name   = "${var.name}-github-${each.key}"
  role   = aws_iam_role.this[each.key].id
  policy = jsonencode(each.value)
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.attachments

  role       = aws_iam_role.this[each.value.role].name
  policy_arn = each.value.arn
}
