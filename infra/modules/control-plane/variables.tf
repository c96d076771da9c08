variable "name" {
  description = "Fleet name; prefixes every resource (functions <name>-webhook, <name>-reconcile and <name>-registrar, table <name>-control-plane, SSM /<name>/runners/* and /<name>/github/*)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit."
  }
}

variable "package_path" {
  description = "Path of the control plane's Lambda zip (all three functions), built by `runnerfleet registrar package` (runnerfleet.controlplane.packaging)."
  type        = string

  validation {
    condition     = endswith(var.package_path, ".zip")
    error_message = "package_path must name a .zip file built by `runnerfleet registrar package --out <file>.zip`."
  }
}

variable "github_url" {
  description = "GitHub web URL: https://github.com or a GitHub Enterprise Server URL."
  type        = string
  default     = "https://github.com"

  validation {
    condition     = can(regex("^https?://[^/\\s]+(/.*)?$", var.github_url))
    error_message = "github_url must be a URL like https://github.com or https://ghe.example.com."
  }
}

variable "github_owner" {
  description = "Organization or user the runners register with."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9-]{0,38}$", var.github_owner))
    error_message = "github_owner must be a GitHub organization or user name."
  }
}

variable "github_repository" {
  description = "Repository name for repository-level runners; null registers organization-level runners."
  type        = string
  default     = null
}

variable "github_auth" {
  description = "How the control plane authenticates to GitHub: \"app\" (GitHub App; SSM /<name>/github/app-id, private-key, installation-id) or \"pat\" (SSM /<name>/github/token). The operator writes them; Terraform only grants read."
  type        = string
  default     = "app"

  validation {
    condition     = contains(["app", "pat"], var.github_auth)
    error_message = "github_auth must be \"app\" or \"pat\"."
  }
}

variable "github_credentials_secret_arn" {
  description = "ARN of an existing Secrets Manager secret holding the GitHub credentials as JSON ({\"app_id\", \"private_key\", \"installation_id\"} or {\"token\"}); null reads the SSM parameters under /<name>/github (written out of band)."
  type        = string
  default     = null

  validation {
    condition     = var.github_credentials_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", coalesce(var.github_credentials_secret_arn, "-")))
    error_message = "github_credentials_secret_arn must be a Secrets Manager secret ARN, or null."
  }
}

variable "mode" {
  description = "Fleet mode the control plane manages: \"static\" (fixed instances) or \"autoscaled\" (one Auto Scaling group per pool, named <name>-<pool>)."
  type        = string
  default     = "autoscaled"

  validation {
    condition     = contains(["static", "autoscaled"], var.mode)
    error_message = "mode must be \"static\" or \"autoscaled\"."
  }
}

variable "runner_count" {
  description = "Static mode: the number of runner instances (RUNNERFLEET_RUNNER_COUNT)."
  type        = number
  default     = 0

  validation {
    condition     = var.runner_count >= 0 && var.runner_count <= 100 && floor(var.runner_count) == var.runner_count
    error_message = "runner_count must be a whole number from 0 to 100."
  }
}

variable "ephemeral" {
  description = "Ephemeral runners (one job each, JIT config) instead of persistent ones (registration token)."
  type        = bool
  default     = false
}

variable "runner_labels" {
  description = "Labels every runner gets on top of self-hosted, linux, x64."
  type        = list(string)
  default     = []
}

variable "pool_labels" {
  description = "Extra labels per autoscaled pool name."
  type        = map(list(string))
  default     = {}
}

variable "pool_idle" {
  description = "Hot idle runners the reconcile pass keeps per autoscaled pool name (RUNNERFLEET_POOL_IDLE); a pool not named keeps none."
  type        = map(number)
  default     = {}

  validation {
    condition     = alltrue([for n in values(var.pool_idle) : n >= 0 && n <= 1000 && floor(n) == n])
    error_message = "pool_idle values must be whole numbers from 0 to 1000 (idle runners per pool)."
  }
}

variable "runner_group" {
  description = "Runner group (by name) the registrar's just-in-time runners join (RUNNERFLEET_RUNNER_GROUP); the group must exist in the organization. Repository runners use \"Default\"."
  type        = string
  default     = "Default"

  validation {
    condition     = can(regex("^[\\w .-]{1,100}$", var.runner_group))
    error_message = "runner_group must be a runner group name: 1-100 letters, digits, spaces, '.', '_' or '-'."
  }
}

variable "lifecycle_event_rule_name" {
  description = "Name of the EventBridge rule for the runner groups' lifecycle actions (runner-fleet module output); null in static mode."
  type        = string
  default     = null
}

variable "scan_schedule" {
  description = "EventBridge schedule of the registrar's full scan, which catches missed events."
  type        = string
  default     = "rate(5 minutes)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.scan_schedule))
    error_message = "scan_schedule must be an EventBridge schedule like rate(5 minutes) or cron(0/5 * * * ? *)."
  }
}

variable "reconcile_schedule" {
  description = "EventBridge schedule of the reconcile pass (scale in/out from GitHub's queue, drift healing, the QueuedJobs metric)."
  type        = string
  default     = "rate(1 minute)"

  validation {
    condition     = can(regex("^(rate|cron)\\(.+\\)$", var.reconcile_schedule))
    error_message = "reconcile_schedule must be an EventBridge schedule like rate(1 minute) or cron(0/2 * * * ? *)."
  }
}

variable "idle_grace_seconds" {
  description = "Seconds an idle runner instance is kept before the reconcile pass scales it in (RUNNERFLEET_IDLE_GRACE)."
  type        = number
  default     = 600

  validation {
    condition     = var.idle_grace_seconds >= 0 && var.idle_grace_seconds <= 3600
    error_message = "idle_grace_seconds must be from 0 to 3600."
  }
}

variable "github_sync_seconds" {
  description = "Seconds between the reconcile pass's GitHub syncs: runner list and discovery of jobs whose webhooks were lost (RUNNERFLEET_GITHUB_SYNC_SECONDS); 0 syncs on every pass (poll mode, for a fleet that receives no webhooks)."
  type        = number
  default     = 300

  validation {
    condition     = var.github_sync_seconds >= 0 && var.github_sync_seconds <= 3600
    error_message = "github_sync_seconds must be from 0 to 3600."
  }
}

variable "job_recheck_seconds" {
  description = "Seconds after which a job still queued, or in progress on a runner that is idle or gone, is asked of GitHub again by the reconcile pass: its webhook was lost (RUNNERFLEET_JOB_RECHECK_SECONDS)."
  type        = number
  default     = 300

  validation {
    condition     = var.job_recheck_seconds >= 10 && var.job_recheck_seconds <= 3600
    error_message = "job_recheck_seconds must be from 10 to 3600."
  }
}

variable "boot_timeout_seconds" {
  description = "Seconds a runner instance may take to register before the reconcile pass treats it as failed (RUNNERFLEET_BOOT_TIMEOUT)."
  type        = number
  default     = 600

  validation {
    condition     = var.boot_timeout_seconds >= 60 && var.boot_timeout_seconds <= 3600
    error_message = "boot_timeout_seconds must be from 60 to 3600."
  }
}

variable "metric_namespace" {
  description = "CloudWatch namespace of the control plane's metrics (QueuedJobs); the roles may publish only there. Must match runnerfleet.controlplane.metrics.NAMESPACE."
  type        = string
  default     = "runnerfleet"

  validation {
    condition     = can(regex("^[A-Za-z0-9._/#:-]{1,255}$", var.metric_namespace)) && !startswith(var.metric_namespace, "AWS/")
    error_message = "metric_namespace must be a CloudWatch namespace (not AWS/...)."
  }
}

variable "reserved_concurrency" {
  description = "Reserved concurrent executions per function (webhook, reconcile, registrar); null (the default) reserves none, which accounts with a small concurrency quota require."
  type = object({
    webhook   = optional(number)
    reconcile = optional(number)
    registrar = optional(number)
  })
  default = {}

  validation {
    condition     = alltrue([for v in values(var.reserved_concurrency) : v == null ? true : (v >= 0 && floor(v) == v)])
    error_message = "reserved_concurrency values must be whole numbers >= 0, or null."
  }
}

variable "tracing_enabled" {
  description = "X-Ray active tracing for the functions; their roles then get xray:PutTraceSegments and xray:PutTelemetryRecords."
  type        = bool
  default     = true
}

variable "log_level" {
  description = "Log level of the functions (RUNNERFLEET_LOG_LEVEL)."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the registration SecureStrings, the table, the queue and the function's environment; null uses AWS managed keys."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", coalesce(var.kms_key_arn, "-")))
    error_message = "kms_key_arn must be a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/<key-id>, or null."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the functions' logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's retention values (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "lambda_architecture" {
  description = "Instruction set of the functions; the package's compiled dependencies are built for it (x86_64 or arm64)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.lambda_architecture)
    error_message = "lambda_architecture must be x86_64 or arm64."
  }
}

variable "lambda_runtime" {
  description = "Python runtime of the functions (the package is built for Python 3.12)."
  type        = string
  default     = "python3.12"

  validation {
    condition     = var.lambda_runtime == "python3.12"
    error_message = "lambda_runtime must be python3.12: the package's compiled dependencies (cryptography, cffi) are locked for CPython 3.12."
  }
}

variable "tags" {
  description = "Extra tags for every resource (runnerfleet:fleet and runnerfleet:role are added)."
  type        = map(string)
  default     = {}
}
