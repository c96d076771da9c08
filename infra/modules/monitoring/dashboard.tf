# One dashboard per fleet: the seed's metrics (EC2 CPU, NAT bytes, EBS ops, network, job queue).

locals {
  # Dimension pairs for the runner hosts: one per Auto Scaling group and one per instance.
  # With neither, widgets fall back to the account-wide EC2 aggregate.
  ec2_targets = concat(
    [for asg in var.autoscaling_group_names : ["AutoScalingGroupName", asg]],
    [for id in var.instance_ids : ["InstanceId", id]],
  )

  ec2_metric_names = ["CPUUtilization", "EBSReadOps", "EBSWriteOps", "NetworkIn", "NetworkOut"]

  ec2_metrics = {
    for metric in local.ec2_metric_names : metric => (
      length(local.ec2_targets) > 0
      ? [for t in local.ec2_targets : ["AWS/EC2", metric, t[0], t[1]]]
      : [["AWS/EC2", metric]]
    )
  }

  # setproduct keeps list order: every metric of gateway 1, then of gateway 2, ...
  nat_bytes_metrics = [
    for pair in setproduct(var.nat_gateway_ids, ["BytesInFromDestination", "BytesOutToDestination"]) :
    ["AWS/NATGateway", pair[1], "NatGatewayId", pair[0]]
  ]

  nat_error_metrics = [
    for pair in setproduct(var.nat_gateway_ids, ["PacketsDropCount", "ErrorPortAllocation"]) :
    ["AWS/NATGateway", pair[1], "NatGatewayId", pair[0]]
  ]

  metric_widgets = concat(
    [
      { title = "EC2 CPU utilization (%)", stat = "Average", metrics = local.ec2_metrics["CPUUtilization"] },
      { title = "Runner job queue length (QueuedJobs)", stat = "Maximum", metrics = [["runnerfleet", "QueuedJobs", "Fleet", var.name]] },
    ],
    [
      for w in [
        { title = "NAT gateway bytes in/out", stat = "Sum", metrics = local.nat_bytes_metrics },
        { title = "NAT gateway packet drops and port allocation errors", stat = "Sum", metrics = local.nat_error_metrics },
      ] : w if length(var.nat_gateway_ids) > 0
    ],
    [
      { title = "EBS read operations", stat = "Sum", metrics = local.ec2_metrics["EBSReadOps"] },
      { title = "EBS write operations", stat = "Sum", metrics = local.ec2_metrics["EBSWriteOps"] },
      { title = "Network in (bytes)", stat = "Sum", metrics = local.ec2_metrics["NetworkIn"] },
      { title = "Network out (bytes)", stat = "Sum", metrics = local.ec2_metrics["NetworkOut"] },
    ],
  )

  dashboard_body = {
    widgets = [
      for i, w in local.metric_widgets : {
        type   = "metric"
        x      = (i % 2) * 12
        y      = floor(i / 2) * 6
        width  = 12
        height = 6
        properties = {
          title   = w.title
          region  = local.region
          stat    = w.stat
          period  = 300
          view    = "timeSeries"
          stacked = false
          metrics = w.metrics
        }
      }
    ]
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = "${var.name}-runners"
  dashboard_body = jsonencode(local.dashboard_body)
}
