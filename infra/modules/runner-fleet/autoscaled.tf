# Autoscaled mode: one Auto Scaling group per pool across the private subnets, with a mixed
# instances policy (spot with on-demand base) or a warm pool, scale-in protection (busy
# runners are never picked; the control plane terminates idle ones), time-of-day minimums,
# CPU target tracking, and launch/termination lifecycle hooks whose events go to EventBridge
# (registration and drain by the control plane). Queue-depth scaling is the control plane's.

locals {
  schedules = merge([
    for p in values(local.pools) : {
      for s in p.schedules : "${p.name}/${s.name}" => merge(s, { pool = p.name })
    }
  ]...)

  cpu_pools = { for k, p in local.pools : k => p if p.cpu_target != null }
}

resource "aws_autoscaling_group" "pool" {
  for_each = local.pools

  name                  = "${var.name}-${each.key}"
  min_size              = each.value.min_size
  max_size              = each.value.max_size
  desired_capacity      = each.value.desired_capacity
  vpc_zone_identifier   = var.private_subnet_ids
  protect_from_scale_in = true
  # Scale-in protection would otherwise make `terraform destroy` wait forever for protected
  # instances; deleting the group terminates them together with it.
  force_delete      = true
  health_check_type = "EC2"
  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  # Spot/on-demand mix (pools without a warm pool).
  dynamic "mixed_instances_policy" {
    for_each = each.value.warm_pool_size == 0 ? [1] : []

    content {
      instances_distribution {
        on_demand_base_capacity                  = each.value.on_demand_base_capacity
        on_demand_percentage_above_base_capacity = each.value.on_demand_percentage_above_base
        spot_allocation_strategy                 = each.value.spot_allocation_strategy
      }

      launch_template {
        launch_template_specification {
          launch_template_id = aws_launch_template.pool[each.key].id
          version            = aws_launch_template.pool[each.key].latest_version
        }

        dynamic "override" {
          for_each = each.value.instance_types

          content {
            instance_type = override.value
          }
        }
      }
    }
  }

  # Warm pools cannot be combined with mixed instances: such pools use the template directly.
  # min_size = max_group_prepared_capacity gives the warm pool an absolute size.
  dynamic "launch_template" {
    for_each = each.value.warm_pool_size > 0 ? [1] : []

    content {
      id      = aws_launch_template.pool[each.key].id
      version = aws_launch_template.pool[each.key].latest_version
    }
  }

  dynamic "warm_pool" {
    for_each = each.value.warm_pool_size > 0 ? [1] : []

    content {
      pool_state                  = "Stopped"
      min_size                    = each.value.warm_pool_size
      max_group_prepared_capacity = each.value.warm_pool_size

      instance_reuse_policy {
        reuse_on_scale_in = false
      }
    }
  }

  dynamic "tag" {
    for_each = merge(local.common_tags, {
      "runnerfleet:pool" = each.key
      Name               = "${var.name}-${each.key}"
    })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  lifecycle {
    # Desired capacity belongs to the control plane (queue depth) and to the scaling policies.
    ignore_changes = [desired_capacity]
  }

  # The hosts install the agent from the artifacts bucket as they boot.
  depends_on = [aws_s3_object.agent, aws_iam_role_policy.runner]
}

resource "aws_autoscaling_lifecycle_hook" "launch" {
  for_each = local.pools

  name                   = "${var.name}-${each.key}-launch"
  autoscaling_group_name = aws_autoscaling_group.pool[each.key].name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_LAUNCHING"
  heartbeat_timeout      = var.launch_hook_timeout
  default_result         = "CONTINUE"
  notification_metadata  = jsonencode({ fleet = var.name, pool = each.key, action = "register" })
}

resource "aws_autoscaling_lifecycle_hook" "termination" {
  for_each = local.pools

  name                   = "${var.name}-${each.key}-termination"
  autoscaling_group_name = aws_autoscaling_group.pool[each.key].name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.termination_hook_timeout
  default_result         = "CONTINUE"
  notification_metadata  = jsonencode({ fleet = var.name, pool = each.key, action = "drain" })
}

# Auto Scaling sends every lifecycle action to EventBridge; this rule selects the fleet's.
# The control plane module attaches its target (registrar / drain handler) to it.
resource "aws_cloudwatch_event_rule" "lifecycle" {
  count = local.static ? 0 : 1

  name        = "${var.name}-runner-lifecycle"
  description = "Launch and termination lifecycle actions of the ${var.name} runner Auto Scaling groups"
  event_pattern = jsonencode({
    source      = ["aws.autoscaling"]
    detail-type = ["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]
    detail = {
      AutoScalingGroupName = [for k in keys(local.pools) : "${var.name}-${k}"]
    }
  })

  tags = local.common_tags
}

resource "aws_autoscaling_schedule" "minimum" {
  for_each = local.schedules

  scheduled_action_name  = "${var.name}-${replace(each.key, "/", "-")}"
  autoscaling_group_name = aws_autoscaling_group.pool[each.value.pool].name
  recurrence             = each.value.recurrence
  min_size               = each.value.min_size
  max_size               = -1
  desired_capacity       = -1
}

resource "aws_autoscaling_policy" "cpu" {
  for_each = local.cpu_pools

  name                   = "${var.name}-${each.key}-cpu"
  autoscaling_group_name = aws_autoscaling_group.pool[each.key].name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = each.value.cpu_target

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }
  }
}
