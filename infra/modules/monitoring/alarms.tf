# Alarms: high CPU and failed status checks per runner group/instance, NAT packet drops and
# port-allocation errors per gateway, and a growing GitHub job queue. All notify the optional
# SNS topic; without one they still change state on the dashboard and in the console.

resource "aws_cloudwatch_metric_alarm" "cpu_high_asg" {
  count = length(var.autoscaling_group_names)

  alarm_name          = "${var.name}-cpu-high-${var.autoscaling_group_names[count.index]}"
  alarm_description   = "Average CPU of runner group ${var.autoscaling_group_names[count.index]} above ${var.cpu_alarm_threshold}% for 15 minutes."
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  dimensions          = { AutoScalingGroupName = var.autoscaling_group_names[count.index] }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cpu_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "cpu_high_instance" {
  count = length(var.instance_ids)

  alarm_name          = "${var.name}-cpu-high-${var.instance_ids[count.index]}"
  alarm_description   = "Average CPU of runner instance ${var.instance_ids[count.index]} above ${var.cpu_alarm_threshold}% for 15 minutes."
  namespace           = "AWS/EC2"
  metric_name         = "CPUUtilization"
  dimensions          = { InstanceId = var.instance_ids[count.index] }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.cpu_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "status_check_asg" {
  count = length(var.autoscaling_group_names)

  alarm_name          = "${var.name}-status-check-failed-${var.autoscaling_group_names[count.index]}"
  alarm_description   = "An instance of runner group ${var.autoscaling_group_names[count.index]} failed its EC2 status checks for 2 minutes."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  dimensions          = { AutoScalingGroupName = var.autoscaling_group_names[count.index] }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "status_check_instance" {
  count = length(var.instance_ids)

  alarm_name          = "${var.name}-status-check-failed-${var.instance_ids[count.index]}"
  alarm_description   = "Runner instance ${var.instance_ids[count.index]} failed its EC2 status checks for 2 minutes."
  namespace           = "AWS/EC2"
  metric_name         = "StatusCheckFailed"
  dimensions          = { InstanceId = var.instance_ids[count.index] }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 2
  comparison_operator = "GreaterThanOrEqualToThreshold"
  threshold           = 1
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "nat_packets_dropped" {
  count = length(var.nat_gateway_ids)

  alarm_name          = "${var.name}-nat-packets-dropped-${var.nat_gateway_ids[count.index]}"
  alarm_description   = "NAT gateway ${var.nat_gateway_ids[count.index]} dropped packets in each of the last 3 five-minute periods."
  namespace           = "AWS/NATGateway"
  metric_name         = "PacketsDropCount"
  dimensions          = { NatGatewayId = var.nat_gateway_ids[count.index] }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "nat_port_allocation" {
  count = length(var.nat_gateway_ids)

  alarm_name          = "${var.name}-nat-port-allocation-${var.nat_gateway_ids[count.index]}"
  alarm_description   = "NAT gateway ${var.nat_gateway_ids[count.index]} could not allocate a source port (ErrorPortAllocation > 0): runners are exhausting connections."
  namespace           = "AWS/NATGateway"
  metric_name         = "ErrorPortAllocation"
  dimensions          = { NatGatewayId = var.nat_gateway_ids[count.index] }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = local.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_length" {
  alarm_name          = "${var.name}-job-queue-length"
  alarm_description   = "More than ${var.queue_alarm_threshold} GitHub jobs queued for fleet ${var.name} for 15 minutes: the fleet is not keeping up."
  namespace           = "runnerfleet"
  metric_name         = "QueuedJobs"
  dimensions          = { Fleet = var.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 3
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.queue_alarm_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions

  tags = local.tags
}
