variable "name" {
  description = "Fleet name. Prefixes the role names and scopes the apply role's IAM permissions to `<name>-*` resources."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter (the same rule as runnerfleet.toml's `name`)."
  }
}

variable "github_repository" {
  description = "The repository whose workflows may assume the roles, as OWNER/REPO (for example acme/infra). No wildcards."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$", var.github_repository))
    error_message = "github_repository must be OWNER/REPO, for example acme/infra, with no wildcard (`*`) and no leading or trailing slash."
  }
}

variable "oidc_provider_arn" {
  description = "ARN of an existing GitHub Actions OIDC provider in this account. Null (default) creates one. An account can hold only one provider per URL, so pass the existing ARN when another stack already made it."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-zA-Z-]*:iam::\\d{12}:oidc-provider/.+$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must look like arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com, or be null to create the provider."
  }
}

variable "oidc_url" {
  description = "Issuer URL of GitHub's OIDC tokens. https://token.actions.githubusercontent.com for github.com; https://HOSTNAME/_services/token for GitHub Enterprise Server."
  type        = string
  default     = "https://token.actions.githubusercontent.com"

  validation {
    condition     = can(regex("^https://[^\\s/]+(/[^\\s]*)?[^/\\s]$", var.oidc_url))
    error_message = "oidc_url must be an https:// URL without a trailing slash, for example https://token.actions.githubusercontent.com."
  }
}

variable "production_environment" {
  description = "Name of the GitHub deployment environment whose jobs may assume the apply role. Protect it in the repository settings (required reviewers, deployment branch `main`)."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9._-]{1,255}$", var.production_environment))
    error_message = "production_environment must be 1-255 letters, digits, '.', '_' or '-' (no wildcard), for example production."
  }
}

variable "plan_environments" {
  description = "GitHub environments (besides pull requests) whose jobs may assume the read-only plan role. The default `drift` is the environment of the scheduled drift check; restrict it to the `main` branch in the repository settings."
  type        = list(string)
  default     = ["drift"]

  validation {
    condition     = alltrue([for e in var.plan_environments : can(regex("^[A-Za-z0-9._-]{1,255}$", e))])
    error_message = "plan_environments entries must be environment names of letters, digits, '.', '_' or '-' (no wildcard)."
  }

  validation {
    condition     = !contains(var.plan_environments, var.production_environment)
    error_message = "plan_environments must not contain the production environment: it belongs to the apply role alone."
  }
}

variable "state_bucket" {
  description = "Name of the Terraform state bucket (made by `runnerfleet backend bootstrap`)."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket))
    error_message = "state_bucket must be an S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "state_key" {
  description = "Object key of the state file in the bucket. The plan role may read it and write only its lock file (`<key>.tflock`)."
  type        = string
  default     = "aws/ec2-runner/terraform.tfstate"

  validation {
    condition     = length(var.state_key) > 0 && !startswith(var.state_key, "/") && !endswith(var.state_key, "/") && !strcontains(var.state_key, "*")
    error_message = "state_key must be an object key like aws/ec2-runner/terraform.tfstate: no leading or trailing slash, no wildcard."
  }
}

variable "lock_table" {
  description = "Name of the DynamoDB lock table, or null when the backend locks with the S3 lock file only."
  type        = string
  default     = null

  validation {
    condition     = var.lock_table == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.lock_table))
    error_message = "lock_table must be a DynamoDB table name (3-255 letters, digits, '_', '-', '.'), or null."
  }
}

variable "state_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the state bucket (SSE-KMS), or null for SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.state_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:\\d{12}:key/.+$", var.state_kms_key_arn))
    error_message = "state_kms_key_arn must be a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/UUID, or null."
  }
}

variable "plan_policy_arns" {
  description = "Managed policies attached to the plan role. Null means AWS's ReadOnlyAccess. Reads of the fleet's secrets are denied on top, whatever is attached."
  type        = list(string)
  default     = null

  validation {
    condition     = var.plan_policy_arns == null || alltrue([for a in coalesce(var.plan_policy_arns, []) : can(regex("^arn:aws[a-zA-Z-]*:iam::(aws|\\d{12}):policy/.+$", a))])
    error_message = "plan_policy_arns entries must be IAM policy ARNs like arn:aws:iam::aws:policy/ReadOnlyAccess."
  }
}

variable "apply_policy_arns" {
  description = "Managed policies attached to the apply role. Null means AWS's PowerUserAccess (everything but IAM and Organizations); IAM is granted separately and only on `<name>-*` roles, instance profiles and policies."
  type        = list(string)
  default     = null

  validation {
    condition     = var.apply_policy_arns == null || alltrue([for a in coalesce(var.apply_policy_arns, []) : can(regex("^arn:aws[a-zA-Z-]*:iam::(aws|\\d{12}):policy/.+$", a))])
    error_message = "apply_policy_arns entries must be IAM policy ARNs like arn:aws:iam::aws:policy/PowerUserAccess."
  }
}

variable "permissions_boundary_arn" {
  description = "Optional permissions boundary for both roles."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-zA-Z-]*:iam::(aws|\\d{12}):policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN, or null."
  }
}

variable "max_session_duration" {
  description = "Maximum session length of both roles, in seconds (3600-43200). One hour covers a plan or an apply of the fleet."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}

variable "tags" {
  description = "Extra tags for every resource. `runnerfleet:fleet` and `runnerfleet:role` are set by the module."
  type        = map(string)
  default     = {}
}
