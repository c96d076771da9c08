# Sandbox only (moto 5.x gaps, DESIGN.md section 5); merged over the runner-fleet module.

resource "aws_instance" "runner" {
  # moto does not store detailed monitoring (and lacks MonitorInstances).
  monitoring = false

  lifecycle {
    # moto answers an empty network-interface Association (read as a public IP) and keeps
    # the security groups on the interface only; the instance really has neither problem.
    ignore_changes = [
      associate_public_ip_address,
      vpc_security_group_ids,
      tags["runnerfleet:agent-state"],
      tags["runnerfleet:github-runner-id"],
    ]
  }
}

resource "aws_launch_template" "pool" {
  lifecycle {
    # moto reports the template's own tags as an extra "launch-template" tag specification.
    ignore_changes = [tag_specifications]
  }
}

resource "aws_autoscaling_group" "pool" {
  # moto leaves scale-in-protected instances running when it deletes the group, and its
  # mixed-instances rounding can launch fewer instances than asked (the capacity wait
  # would never end).
  protect_from_scale_in     = false
  wait_for_capacity_timeout = "0"

  lifecycle {
    # moto drops the mixed instances policy on update.
    ignore_changes = [desired_capacity, mixed_instances_policy]
  }
}

resource "aws_autoscaling_lifecycle_hook" "launch" {
  lifecycle {
    # moto returns fixed notification target / role ARNs and no metadata.
    ignore_changes = [notification_target_arn, role_arn, notification_metadata]
  }
}

resource "aws_autoscaling_lifecycle_hook" "termination" {
  lifecycle {
    ignore_changes = [notification_target_arn, role_arn, notification_metadata]
  }
}

resource "aws_autoscaling_policy" "cpu" {
  lifecycle {
    # moto reports the policy disabled with an empty predictive configuration.
    ignore_changes = [enabled, predictive_scaling_configuration]
  }
}
