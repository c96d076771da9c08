# Plan-only tests with a mock AWS provider: names, retention, KMS, agent config, alarms with
# and without an SNS topic, dashboard content, and input validation.

mock_provider "aws" {
  mock_resource "aws_cloudwatch_log_group" {
    defaults = {
      arn = "arn:aws:logs:eu-west-2:123456789012:log-group:/rf-test/runners/mock"
    }
  }
}

variables {
  name            = "rf-test"
  nat_gateway_ids = ["nat-0123456789abcdef0", "nat-0fedcba9876543210"]
}

run "log_groups_named_and_retained" {
  command = plan

  variables {
    log_retention_days = 90
  }

  assert {
    condition = output.log_group_names == {
      "user-data"    = "/rf-test/runners/user-data"
      "syslog"       = "/rf-test/runners/syslog"
      "runner-diag"  = "/rf-test/runners/runner-diag"
      "nginx-access" = "/rf-test/runners/nginx-access"
      "nginx-error"  = "/rf-test/runners/nginx-error"
    }
    error_message = "log groups must be /<name>/runners/<stream> for the five sources"
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.retention_in_days == 90])
    error_message = "every log group must use log_retention_days"
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.kms_key_id == null])
    error_message = "without kms_key_arn the log groups must not name a KMS key"
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.tags["runnerfleet:fleet"] == "rf-test" && g.tags["runnerfleet:role"] == "monitoring"])
    error_message = "log groups must carry runnerfleet:fleet and runnerfleet:role tags"
  }
}

run "kms_key_applied" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
  }

  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.this : g.kms_key_id == "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"])
    error_message = "kms_key_arn must encrypt every log group"
  }
}

run "agent_config_collects_files_and_metrics" {
  command = plan

  assert {
    condition     = aws_ssm_parameter.agent_config.name == "/rf-test/cloudwatch-agent/config" && aws_ssm_parameter.agent_config.type == "String"
    error_message = "agent config must be the String parameter /<name>/cloudwatch-agent/config"
  }

  assert {
    condition = toset([for f in jsondecode(aws_ssm_parameter.agent_config.value).logs.logs_collected.files.collect_list : f.file_path]) == toset([
      "/var/log/user-data.log",
      "/var/log/syslog",
      "/home/runner/actions-runner/_diag/*.log",
      "/var/log/nginx/access.log",
      "/var/log/nginx/error.log",
    ])
    error_message = "agent config must collect the five log files"
  }

  assert {
    condition     = { for f in jsondecode(aws_ssm_parameter.agent_config.value).logs.logs_collected.files.collect_list : f.file_path => f.log_group_name }["/var/log/syslog"] == "/rf-test/runners/syslog"
    error_message = "syslog must ship to the syslog log group"
  }

  assert {
    condition     = alltrue([for m in ["cpu", "mem", "disk"] : contains(keys(jsondecode(aws_ssm_parameter.agent_config.value).metrics.metrics_collected), m)])
    error_message = "agent config must collect cpu, mem and disk metrics"
  }

  assert {
    condition     = jsondecode(aws_ssm_parameter.agent_config.value).metrics.append_dimensions.InstanceId == "$${aws:InstanceId}"
    error_message = "the agent's placeholder $${aws:InstanceId} must reach the JSON unescaped"
  }
}

run "alarms_without_sns_have_no_actions" {
  command = plan

  variables {
    instance_ids = ["i-0123456789abcdef0"]
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.nat_packets_dropped) == 2 && length(aws_cloudwatch_metric_alarm.nat_port_allocation) == 2
    error_message = "one packet-drop and one port-allocation alarm per NAT gateway"
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.cpu_high_instance) == 1 && length(aws_cloudwatch_metric_alarm.status_check_instance) == 1 && length(aws_cloudwatch_metric_alarm.cpu_high_asg) == 0
    error_message = "CPU and status-check alarms per instance, none per ASG without ASGs"
  }

  assert {
    condition = alltrue(concat(
      [for a in aws_cloudwatch_metric_alarm.nat_packets_dropped : length(a.alarm_actions) == 0 && length(a.ok_actions) == 0],
      [for a in aws_cloudwatch_metric_alarm.cpu_high_instance : length(a.alarm_actions) == 0],
      [length(aws_cloudwatch_metric_alarm.queue_length.alarm_actions) == 0],
    ))
    error_message = "without alarm_sns_topic_arn the alarms must have no actions"
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.queue_length.namespace == "runnerfleet" && aws_cloudwatch_metric_alarm.queue_length.metric_name == "QueuedJobs" && aws_cloudwatch_metric_alarm.queue_length.dimensions["Fleet"] == "rf-test"
    error_message = "queue alarm must watch runnerfleet/QueuedJobs for Fleet=<name>"
  }
}

run "alarms_with_sns_notify_topic" {
  command = plan

  variables {
    alarm_sns_topic_arn     = "arn:aws:sns:us-east-1:123456789012:rf-alerts"
    autoscaling_group_names = ["rf-test-default", "rf-test-gpu"]
  }

  assert {
    condition = alltrue(concat(
      [for a in aws_cloudwatch_metric_alarm.cpu_high_asg : a.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:rf-alerts"])],
      [for a in aws_cloudwatch_metric_alarm.status_check_asg : a.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:rf-alerts"])],
      [for a in aws_cloudwatch_metric_alarm.nat_port_allocation : a.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:rf-alerts"])],
      [aws_cloudwatch_metric_alarm.queue_length.alarm_actions == toset(["arn:aws:sns:us-east-1:123456789012:rf-alerts"])],
    ))
    error_message = "with alarm_sns_topic_arn every alarm must notify the topic"
  }

  assert {
    condition     = [for a in aws_cloudwatch_metric_alarm.cpu_high_asg : a.dimensions["AutoScalingGroupName"]] == ["rf-test-default", "rf-test-gpu"]
    error_message = "one CPU alarm per Auto Scaling group"
  }
}

run "dashboard_shows_seed_metrics" {
  command = apply

  variables {
    autoscaling_group_names = ["rf-test-default"]
  }

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == "rf-test-runners"
    error_message = "dashboard must be named <name>-runners"
  }

  assert {
    condition = alltrue([
      for m in ["CPUUtilization", "BytesInFromDestination", "BytesOutToDestination", "EBSReadOps", "EBSWriteOps", "NetworkIn", "NetworkOut", "QueuedJobs"] :
      contains(flatten([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [for metric in w.properties.metrics : metric[1]]]), m)
    ])
    error_message = "dashboard must chart EC2 CPU, NAT bytes, EBS ops, network and QueuedJobs"
  }

  assert {
    condition     = contains([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.metrics], [["runnerfleet", "QueuedJobs", "Fleet", "rf-test"]])
    error_message = "queue widget must chart runnerfleet/QueuedJobs with Fleet=<name>"
  }

  assert {
    condition     = alltrue([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.region == "eu-west-2"])
    error_message = "widgets must show the region the log groups live in"
  }
}

run "rejects_bad_retention" {
  command = plan

  variables {
    log_retention_days = 42
  }

  expect_failures = [var.log_retention_days]
}

run "rejects_bad_name" {
  command = plan

  variables {
    name = "Bad_Name"
  }

  expect_failures = [var.name]
}

run "rejects_bad_arns" {
  command = plan

  variables {
    kms_key_arn         = "alias/my-key"
    alarm_sns_topic_arn = "my-topic"
  }

  expect_failures = [var.kms_key_arn, var.alarm_sns_topic_arn]
}

run "rejects_bad_cpu_threshold" {
  command = plan

  variables {
    cpu_alarm_threshold = 150
  }

  expect_failures = [var.cpu_alarm_threshold]
}
