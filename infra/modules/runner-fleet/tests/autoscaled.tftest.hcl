# Autoscaled mode: one Auto Scaling group per pool, with a mocked AWS provider.
# Run: terraform test

mock_provider "aws" {
  mock_data "aws_ami" {
    defaults = {
      id               = "ami-0123456789abcdef0"
      root_device_name = "/dev/sda1"
    }
  }

  mock_data "aws_partition" {
    defaults = {
      partition = "aws"
    }
  }

  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
    }
  }

  mock_data "aws_iam_policy_document" {
    defaults = {
      json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}"
    }
  }

  mock_resource "aws_iam_instance_profile" {
    defaults = {
      arn = "arn:aws:iam::123456789012:instance-profile/test-runner"
    }
  }

  mock_resource "aws_launch_template" {
    defaults = {
      id             = "lt-0123456789abcdef0"
      latest_version = 1
    }
  }
}

variables {
  name               = "test"
  vpc_id             = "vpc-0123456789abcdef0"
  vpc_cidr           = "10.0.0.0/16"
  private_subnet_ids = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  runner_mode        = "autoscaled"
  runner_count       = 3
  pool_user_data = {
    spot = "#cloud-config\n# pool spot\n"
  }
  pools = [
    {
      name                            = "spot"
      labels                          = ["docker"]
      min_size                        = 1
      max_size                        = 10
      desired_capacity                = 2
      instance_types                  = ["t3.medium", "t3a.medium", "m5.large"]
      on_demand_base_capacity         = 1
      on_demand_percentage_above_base = 25
      spot_allocation_strategy        = "price-capacity-optimized"
      warm_pool_size                  = 0
      cpu_target                      = 60
      schedules = [
        { name = "workday", recurrence = "0 8 * * 1-5", min_size = 3 },
        { name = "night", recurrence = "0 20 * * *", min_size = 0 },
      ]
    },
    {
      name           = "warm"
      min_size       = 0
      max_size       = 4
      instance_types = ["c6i.large"]
      warm_pool_size = 2
    },
  ]
}

run "pools" {
  command = apply

  assert {
    condition     = length(aws_instance.runner) == 0
    error_message = "autoscaled mode creates no static instances, whatever runner_count says"
  }

  assert {
    condition     = toset(keys(aws_autoscaling_group.pool)) == toset(["spot", "warm"]) && aws_autoscaling_group.pool["spot"].name == "test-spot"
    error_message = "one Auto Scaling group per pool, named <name>-<pool>"
  }

  assert {
    condition     = output.autoscaling_group_names == ["test-spot", "test-warm"]
    error_message = "autoscaling_group_names lists the groups in pool order"
  }

  assert {
    condition = (
      aws_autoscaling_group.pool["spot"].min_size == 1 &&
      aws_autoscaling_group.pool["spot"].max_size == 10 &&
      aws_autoscaling_group.pool["spot"].desired_capacity == 2
    )
    error_message = "min/max/desired come from the pool"
  }

  assert {
    condition     = alltrue([for g in aws_autoscaling_group.pool : g.protect_from_scale_in && toset(g.vpc_zone_identifier) == toset(["subnet-0000000000000000a", "subnet-0000000000000000b"])])
    error_message = "groups span the private subnets with scale-in protection on"
  }

  assert {
    condition = (
      aws_autoscaling_group.pool["spot"].mixed_instances_policy[0].instances_distribution[0].on_demand_base_capacity == 1 &&
      aws_autoscaling_group.pool["spot"].mixed_instances_policy[0].instances_distribution[0].on_demand_percentage_above_base_capacity == 25 &&
      aws_autoscaling_group.pool["spot"].mixed_instances_policy[0].instances_distribution[0].spot_allocation_strategy == "price-capacity-optimized" &&
      [for o in aws_autoscaling_group.pool["spot"].mixed_instances_policy[0].launch_template[0].override : o.instance_type] == ["t3.medium", "t3a.medium", "m5.large"]
    )
    error_message = "the spot pool uses a mixed instances policy with the configured types and distribution"
  }

  assert {
    condition = (
      length(aws_autoscaling_group.pool["warm"].mixed_instances_policy) == 0 &&
      aws_autoscaling_group.pool["warm"].launch_template[0].id == aws_launch_template.pool["warm"].id &&
      aws_autoscaling_group.pool["warm"].warm_pool[0].min_size == 2 &&
      aws_autoscaling_group.pool["warm"].warm_pool[0].max_group_prepared_capacity == 2 &&
      aws_autoscaling_group.pool["warm"].warm_pool[0].pool_state == "Stopped"
    )
    error_message = "the warm pool uses the launch template directly with a 2-instance stopped warm pool"
  }

  assert {
    condition     = length(aws_autoscaling_group.pool["spot"].warm_pool) == 0
    error_message = "no warm pool when warm_pool_size is 0"
  }

  assert {
    condition = alltrue([for lt in aws_launch_template.pool : (
      lt.metadata_options[0].http_tokens == "required" &&
      lt.metadata_options[0].http_put_response_hop_limit == 1
    )])
    error_message = "launch templates require IMDSv2 with a hop limit of 1"
  }

  assert {
    condition = alltrue([for lt in aws_launch_template.pool : (
      lt.block_device_mappings[0].device_name == "/dev/sda1" &&
      lt.block_device_mappings[0].ebs[0].volume_type == "gp3" &&
      lt.block_device_mappings[0].ebs[0].encrypted == "true" &&
      lt.block_device_mappings[0].ebs[0].volume_size == 50
    )])
    error_message = "launch templates give an encrypted 50 GiB gp3 root volume"
  }

  assert {
    condition     = alltrue([for lt in aws_launch_template.pool : lt.network_interfaces[0].associate_public_ip_address == "false" && lt.network_interfaces[0].security_groups == toset([aws_security_group.runner.id])])
    error_message = "launch templates give no public IP and the runner security group"
  }

  assert {
    condition     = aws_launch_template.pool["spot"].user_data == base64encode("#cloud-config\n# pool spot\n") && aws_launch_template.pool["warm"].user_data == base64encode("#cloud-config\n{}\n")
    error_message = "each pool gets its own user data, falling back to user_data"
  }

  assert {
    condition = alltrue([for ts in aws_launch_template.pool["spot"].tag_specifications : (
      ts.tags["runnerfleet:fleet"] == "test" && ts.tags["runnerfleet:role"] == "runner" &&
      ts.tags["runnerfleet:pool"] == "spot" && ts.tags["runnerfleet:labels"] == "self-hosted,linux,x64,docker"
    )])
    error_message = "instances, volumes and interfaces are tagged with fleet, role, pool and labels"
  }

  assert {
    condition     = toset([for ts in aws_launch_template.pool["spot"].tag_specifications : ts.resource_type]) == toset(["instance", "volume", "network-interface"])
    error_message = "tag specifications cover instances, volumes and network interfaces"
  }

  assert {
    condition = (
      aws_autoscaling_lifecycle_hook.launch["spot"].lifecycle_transition == "autoscaling:EC2_INSTANCE_LAUNCHING" &&
      aws_autoscaling_lifecycle_hook.termination["spot"].lifecycle_transition == "autoscaling:EC2_INSTANCE_TERMINATING" &&
      length(aws_autoscaling_lifecycle_hook.launch) == 2 && length(aws_autoscaling_lifecycle_hook.termination) == 2
    )
    error_message = "every group has a launch and a termination lifecycle hook"
  }

  assert {
    condition = (
      jsondecode(aws_cloudwatch_event_rule.lifecycle[0].event_pattern).source == ["aws.autoscaling"] &&
      toset(jsondecode(aws_cloudwatch_event_rule.lifecycle[0].event_pattern)["detail-type"]) == toset(["EC2 Instance-launch Lifecycle Action", "EC2 Instance-terminate Lifecycle Action"]) &&
      toset(jsondecode(aws_cloudwatch_event_rule.lifecycle[0].event_pattern).detail.AutoScalingGroupName) == toset(["test-spot", "test-warm"])
    )
    error_message = "an EventBridge rule selects the groups' launch and termination lifecycle actions"
  }

  assert {
    condition = (
      length(aws_autoscaling_schedule.minimum) == 2 &&
      aws_autoscaling_schedule.minimum["spot/workday"].recurrence == "0 8 * * 1-5" &&
      aws_autoscaling_schedule.minimum["spot/workday"].min_size == 3 &&
      aws_autoscaling_schedule.minimum["spot/workday"].max_size == -1 &&
      aws_autoscaling_schedule.minimum["spot/workday"].desired_capacity == -1
    )
    error_message = "scheduled actions set time-of-day minimums and leave max/desired alone"
  }

  assert {
    condition = (
      keys(aws_autoscaling_policy.cpu) == ["spot"] &&
      aws_autoscaling_policy.cpu["spot"].policy_type == "TargetTrackingScaling" &&
      aws_autoscaling_policy.cpu["spot"].target_tracking_configuration[0].target_value == 60 &&
      aws_autoscaling_policy.cpu["spot"].target_tracking_configuration[0].predefined_metric_specification[0].predefined_metric_type == "ASGAverageCPUUtilization"
    )
    error_message = "pools with cpu_target get a CPU target-tracking policy; others none"
  }
}

run "rejects_warm_pool_with_mixed_instances" {
  command = plan

  variables {
    pools = [{
      name           = "bad"
      min_size       = 0
      max_size       = 2
      instance_types = ["t3.medium", "t3a.medium"]
      warm_pool_size = 1
    }]
  }

  expect_failures = [var.pools]
}

run "rejects_min_above_max" {
  command = plan

  variables {
    pools = [{
      name           = "bad"
      min_size       = 5
      max_size       = 2
      instance_types = ["t3.medium"]
    }]
  }

  expect_failures = [var.pools]
}

run "rejects_bad_spot_strategy" {
  command = plan

  variables {
    pools = [{
      name                     = "bad"
      min_size                 = 0
      max_size                 = 2
      instance_types           = ["t3.medium"]
      spot_allocation_strategy = "cheapest"
    }]
  }

  expect_failures = [var.pools]
}

run "rejects_bad_schedule" {
  command = plan

  variables {
    pools = [{
      name           = "bad"
      min_size       = 0
      max_size       = 2
      instance_types = ["t3.medium"]
      schedules      = [{ name = "morning", recurrence = "every morning", min_size = 1 }]
    }]
  }

  expect_failures = [var.pools]
}

run "rejects_duplicate_pool_names" {
  command = plan

  variables {
    pools = [
      { name = "a", min_size = 0, max_size = 1, instance_types = ["t3.medium"] },
      { name = "a", min_size = 0, max_size = 1, instance_types = ["t3.medium"] },
    ]
  }

  expect_failures = [var.pools]
}
