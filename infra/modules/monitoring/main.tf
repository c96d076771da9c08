# Monitoring for a runner fleet: log groups the CloudWatch agent ships to, the agent's
# configuration in SSM (the hosts fetch it at boot), a dashboard, and alarms.

locals {
  tags = merge(var.tags, {
    "runnerfleet:fleet" = var.name
    "runnerfleet:role"  = "monitoring"
  })

  # stream key => file on the runner host.
  log_files = {
    "user-data"    = "/var/log/user-data.log"
    "syslog"       = "/var/log/syslog"
    "runner-diag"  = "/home/runner/actions-runner/_diag/*.log"
    "nginx-access" = "/var/log/nginx/access.log"
    "nginx-error"  = "/var/log/nginx/error.log"
  }

  alarm_actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]

  # The dashboard's region, read from a log group ARN (arn:<partition>:logs:<region>:...)
  # rather than data.aws_region, whose `name` is deprecated in provider 6.x.
  region = split(":", aws_cloudwatch_log_group.this["syslog"].arn)[3]

  agent_config = {
    agent = {
      metrics_collection_interval = 60
      logfile                     = "/opt/aws/amazon-cloudwatch-agent/logs/amazon-cloudwatch-agent.log"
    }
    logs = {
      logs_collected = {
        files = {
          collect_list = [
            for stream, path in local.log_files : {
              file_path       = path
              log_group_name  = aws_cloudwatch_log_group.this[stream].name
              log_stream_name = "{instance_id}"
              timezone        = "UTC"
            }
          ]
        }
      }
    }
    metrics = {
      namespace = "CWAgent"
      append_dimensions = {
        AutoScalingGroupName = "$${aws:AutoScalingGroupName}"
        InstanceId           = "$${aws:InstanceId}"
        InstanceType         = "$${aws:InstanceType}"
      }
      aggregation_dimensions = [["AutoScalingGroupName"], ["InstanceId"], []]
      metrics_collected = {
        cpu = {
          measurement                 = ["cpu_usage_idle", "cpu_usage_iowait", "cpu_usage_user", "cpu_usage_system"]
          totalcpu                    = true
          metrics_collection_interval = 60
        }
        mem = {
          measurement                 = ["mem_used_percent"]
          metrics_collection_interval = 60
        }
        disk = {
          measurement                 = ["used_percent", "inodes_free"]
          resources                   = ["/"]
          ignore_file_system_types    = ["sysfs", "devtmpfs", "tmpfs", "overlay", "squashfs"]
          metrics_collection_interval = 60
        }
        diskio = {
          measurement                 = ["io_time", "reads", "writes"]
          resources                   = ["*"]
          metrics_collection_interval = 60
        }
      }
    }
  }
}

resource "aws_cloudwatch_log_group" "this" {
  #checkov:skip=CKV_AWS_158:KMS encryption is opt-in through kms_key_arn; without it CloudWatch Logs encrypts with its own keys.
  #checkov:skip=CKV_AWS_338:Retention is the fleet owner's choice (log_retention_days, default 30 days); runner logs are operational, not audit records.
  for_each = local.log_files

  name              = "/${var.name}/runners/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = merge(local.tags, { "runnerfleet:log-source" = each.value })
}

resource "aws_ssm_parameter" "agent_config" {
  #checkov:skip=CKV2_AWS_34:The CloudWatch agent configuration holds no secret (file paths and log group names); a String parameter lets the agent's fetch-config read it without kms:Decrypt.
  name        = "/${var.name}/cloudwatch-agent/config"
  description = "CloudWatch agent configuration for the ${var.name} runner hosts (logs and CPU/memory/disk metrics)."
  type        = "String"
  tier        = "Standard"
  value       = jsonencode(local.agent_config)

  tags = local.tags
}
