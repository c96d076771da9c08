variable "name" {
  description = "Fleet name; prefixes every resource name (log groups /<name>/runners/<stream>, SSM /<name>/cloudwatch-agent/config)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter and ending with a letter or digit."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the runner log groups. One of CloudWatch's allowed values."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

variable "kms_key_arn" {
  description = "ARN of a KMS key to encrypt the log groups with (its key policy must allow the CloudWatch Logs service). Null uses CloudWatch Logs' own encryption."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN like arn:aws:kms:us-east-1:123456789012:key/<key-id>, or null."
  }
}

variable "alarm_sns_topic_arn" {
  description = "ARN of an SNS topic that receives alarm and OK notifications. Null creates the alarms without actions."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]{1,256}$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN like arn:aws:sns:us-east-1:123456789012:alerts, or null."
  }
}

variable "nat_gateway_ids" {
  description = "IDs of the fleet's NAT gateways: dashboard traffic widgets and packet-drop/port-allocation alarms per gateway."
  type        = list(string)
  nullable    = false
}

variable "autoscaling_group_names" {
  description = "Names of the runner Auto Scaling groups (autoscaled mode): CPU and status-check alarms and dashboard metrics per group."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "instance_ids" {
  description = "IDs of the runner instances (static mode): CPU and status-check alarms and dashboard metrics per instance."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "cpu_alarm_threshold" {
  description = "Average CPU utilization (percent) over 3 periods of 5 minutes above which the high-CPU alarms fire."
  type        = number
  default     = 85

  validation {
    condition     = var.cpu_alarm_threshold > 0 && var.cpu_alarm_threshold <= 100
    error_message = "cpu_alarm_threshold must be a percentage above 0 and at most 100."
  }
}

variable "queue_alarm_threshold" {
  description = "Queued GitHub jobs (metric runnerfleet/QueuedJobs) above which, for 3 periods of 5 minutes, the queue alarm fires."
  type        = number
  default     = 10

  validation {
    condition     = var.queue_alarm_threshold >= 0
    error_message = "queue_alarm_threshold must be zero or more jobs."
  }
}

variable "tags" {
  description = "Extra tags for every resource. The module adds runnerfleet:fleet and runnerfleet:role = monitoring."
  type        = map(string)
  default     = {}
  nullable    = false
}
