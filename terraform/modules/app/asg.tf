resource "aws_autoscaling_group" "this" {
  name                = "${var.name}-api"
  vpc_zone_identifier = var.private_subnet_ids
  min_size            = var.min_size
  max_size            = var.max_size
  desired_capacity    = var.desired_capacity

  # Route on readiness, replace on liveness. The target group checks
  # /health/ready, which fails while Redis fails over; with "ELB" here a 30 s
  # ElastiCache failover would mark every instance unhealthy and the group
  # would replace the whole fleet mid-sale. "EC2" replaces an instance only
  # when EC2 says it is broken; a hung API process is restarted on the
  # instance by the liveness watchdog (/health/live, no Redis involved), and
  # the watchdog marks the instance Unhealthy if restarts do not help.
  target_group_arns         = [var.target_group_arn]
  health_check_type         = "EC2"
  health_check_grace_period = var.health_check_grace_period
  default_instance_warmup   = var.instance_warmup
  termination_policies      = ["OldestLaunchTemplate", "AllocationStrategy", "Default"]

  launch_template {
    id      = aws_launch_template.this.id
    version = aws_launch_template.this.latest_version
  }

  # A new launch template version (image, settings, AMI) rolls the instances:
  # launch before terminate (up to max_healthy_percentage of capacity), never
  # below min_healthy_percentage, and roll back if the refresh fails.
  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = var.refresh_min_healthy_percentage
      max_healthy_percentage = var.refresh_max_healthy_percentage
      instance_warmup        = var.instance_warmup
      skip_matching          = true
      auto_rollback          = true
    }
  }

  # Instances booted (image pulled, container created) and then stopped: a
  # scale-out resumes them in seconds instead of a full boot.
  dynamic "warm_pool" {
    for_each = var.warm_pool == null ? [] : [var.warm_pool]
    content {
      pool_state                  = warm_pool.value.pool_state
      min_size                    = warm_pool.value.min_size
      max_group_prepared_capacity = warm_pool.value.max_group_prepared_capacity

      instance_reuse_policy {
        reuse_on_scale_in = warm_pool.value.reuse_on_scale_in
      }
    }
  }

  enabled_metrics = [
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
  ]

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-api" })
    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = true
    }
  }

  lifecycle {
    # Scaling policies and sale schedules own the capacity once the group exists.
    ignore_changes = [desired_capacity]
  }
}

resource "aws_autoscaling_policy" "requests_per_target" {
  name                   = "${var.name}-alb-requests-per-target"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${var.alb_arn_suffix}/${var.target_group_arn_suffix}"
    }

    target_value = var.target_requests_per_instance
  }
}

# Beside the request count: a drop's purchases are cheap for Redis but not for
# the API's CPU (TLS, JSON, logs), and the group scales out on whichever of the
# two policies asks for more instances.
resource "aws_autoscaling_policy" "cpu" {
  name                   = "${var.name}-cpu"
  autoscaling_group_name = aws_autoscaling_group.this.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    predefined_metric_specification {
      predefined_metric_type = "ASGAverageCPUUtilization"
    }

    target_value = var.target_cpu_utilization
  }
}

# A sale opens at a known time: be at full size before it starts instead of
# waiting for minutes of CloudWatch data plus boot time, and give the
# capacity back some time after it ends (target tracking then takes over).
# AWS deletes a one-time action once it has run; actions in the past are left
# out (plantimestamp), so an apply after a sale neither fails on a start time
# in the past nor needs the window removed first.
resource "aws_autoscaling_schedule" "sale_scale_out" {
  for_each = { for k, w in local.sale_windows : k => w if timecmp(w.scale_out_at, plantimestamp()) > 0 }

  scheduled_action_name  = "${var.name}-${each.key}-scale-out"
  autoscaling_group_name = aws_autoscaling_group.this.name
  start_time             = each.value.scale_out_at
  min_size               = each.value.min_size
  max_size               = each.value.max_size
  desired_capacity       = each.value.desired_capacity
}

resource "aws_autoscaling_schedule" "sale_scale_in" {
  for_each = { for k, w in local.sale_windows : k => w if timecmp(w.scale_in_at, plantimestamp()) > 0 }

  scheduled_action_name  = "${var.name}-${each.key}-scale-in"
  autoscaling_group_name = aws_autoscaling_group.this.name
  start_time             = each.value.scale_in_at
  min_size               = var.min_size
  max_size               = var.max_size
  desired_capacity       = var.desired_capacity
}
