variable "name" {
  description = "Name of the replication group and prefix of its companions (lower case letters, digits and hyphens, 3-24 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-24 characters of lower case letters, digits and single hyphens, start with a letter and not end with a hyphen."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the cache lives in."
  type        = string

  validation {
    condition     = length(var.vpc_id) > 0
    error_message = "vpc_id must not be empty."
  }
}

variable "subnet_ids" {
  description = "Private subnets for the cache subnet group, one per availability zone (at least 2 for Multi-AZ)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && length(distinct(var.subnet_ids)) == length(var.subnet_ids)
    error_message = "subnet_ids must hold at least 2 distinct subnets so replicas can sit in other zones."
  }
}

variable "app_security_group_id" {
  description = "Security group of the application instances: the only source allowed to reach the cache port."
  type        = string

  validation {
    condition     = length(var.app_security_group_id) > 0
    error_message = "app_security_group_id must not be empty."
  }
}

variable "port" {
  description = "TCP port the cache listens on."
  type        = number
  default     = 6379

  validation {
    condition     = var.port == floor(var.port) && var.port >= 1024 && var.port <= 65535
    error_message = "port must be a whole number from 1024 to 65535."
  }
}

variable "engine" {
  description = "Cache engine: \"redis\" (Redis OSS) or \"valkey\"."
  type        = string
  default     = "redis"

  validation {
    condition     = contains(["redis", "valkey"], var.engine)
    error_message = "engine must be \"redis\" or \"valkey\"."
  }
}

variable "engine_version" {
  description = "Engine version as MAJOR.MINOR, 7.0 or newer (e.g. 7.1 for Redis OSS, 8.0 for Valkey). The parameter group family is derived from the major version."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.engine_version)) && try(tonumber(split(".", var.engine_version)[0]) >= 7, false)
    error_message = "engine_version must look like MAJOR.MINOR with a major version of 7 or higher (the engine needs Redis 7 semantics for the Lua scripts)."
  }
}

variable "node_type" {
  description = "ElastiCache node type (e.g. cache.t4g.small, cache.r7g.large)."
  type        = string
  default     = "cache.t4g.small"

  validation {
    condition     = can(regex("^cache\\.[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[0-9]*(nano|micro|small|medium|large|xlarge)$", var.node_type))
    error_message = "node_type must be an ElastiCache node type such as cache.t4g.small or cache.r7g.2xlarge."
  }
}

variable "cluster_mode_enabled" {
  description = "Run Redis Cluster (sharded, configuration endpoint) instead of one primary with replicas. The application must then set FLASHSALE_REDIS_CLUSTER=true."
  type        = bool
  default     = false
}

variable "num_node_groups" {
  description = "Number of shards when cluster mode is enabled (ignored, always 1, when it is disabled)."
  type        = number
  default     = 3

  validation {
    condition     = var.num_node_groups == floor(var.num_node_groups) && var.num_node_groups >= 1 && var.num_node_groups <= 500
    error_message = "num_node_groups must be a whole number from 1 to 500."
  }
}

variable "replicas_per_node_group" {
  description = "Replicas per shard (1-5). At least one is needed for Multi-AZ automatic failover."
  type        = number
  default     = 2

  validation {
    condition     = var.replicas_per_node_group == floor(var.replicas_per_node_group) && var.replicas_per_node_group >= 1 && var.replicas_per_node_group <= 5
    error_message = "replicas_per_node_group must be a whole number from 1 to 5 (failover needs a replica)."
  }
}

variable "snapshot_retention_limit" {
  description = "Days of automatic snapshots to keep (1-35)."
  type        = number
  default     = 7

  validation {
    condition     = var.snapshot_retention_limit == floor(var.snapshot_retention_limit) && var.snapshot_retention_limit >= 1 && var.snapshot_retention_limit <= 35
    error_message = "snapshot_retention_limit must be a whole number of days from 1 to 35."
  }
}

variable "snapshot_window" {
  description = "Daily UTC window for snapshots, hh24:mi-hh24:mi, at least 60 minutes, not overlapping maintenance_window."
  type        = string
  default     = "03:00-04:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.snapshot_window))
    error_message = "snapshot_window must look like 03:00-04:00 (UTC)."
  }
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window, ddd:hh24:mi-ddd:hh24:mi."
  type        = string
  default     = "sun:05:00-sun:06:00"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:05:00-sun:06:00 (UTC)."
  }
}

variable "final_snapshot_identifier" {
  description = "Name of a snapshot taken when the group is destroyed; null destroys without one."
  type        = string
  default     = null

  validation {
    condition     = var.final_snapshot_identifier == null || can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,254}$", var.final_snapshot_identifier))
    error_message = "final_snapshot_identifier must start with a letter and hold only letters, digits and hyphens."
  }
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the next maintenance window."
  type        = bool
  default     = false
}

variable "secret_recovery_window_days" {
  description = "Days Secrets Manager keeps the deleted auth-token secret recoverable: 0 (delete at once) or 7-30."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days == floor(var.secret_recovery_window_days) && var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or a whole number from 7 to 30."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the slow log and the engine log."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least one year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the alarm topic (each must confirm the subscription). Other subscribers (chat, paging) can subscribe to the alarm_topic_arn output."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "alarm_emails must hold e-mail addresses."
  }
}

variable "alarm_memory_percent" {
  description = "Alarm when a node's DatabaseMemoryUsagePercentage (of maxmemory) stays above this for 2 minutes."
  type        = number
  default     = 80

  validation {
    condition     = var.alarm_memory_percent > 0 && var.alarm_memory_percent < 100
    error_message = "alarm_memory_percent must be between 0 and 100."
  }
}

variable "alarm_engine_cpu_percent" {
  description = "Alarm when a node's EngineCPUUtilization (the Redis thread) stays above this for 3 minutes."
  type        = number
  default     = 80

  validation {
    condition     = var.alarm_engine_cpu_percent > 0 && var.alarm_engine_cpu_percent < 100
    error_message = "alarm_engine_cpu_percent must be between 0 and 100."
  }
}

variable "alarm_replication_lag_seconds" {
  description = "Alarm when a replica's ReplicationLag stays above this many seconds for 2 minutes."
  type        = number
  default     = 1

  validation {
    condition     = var.alarm_replication_lag_seconds > 0 && var.alarm_replication_lag_seconds <= 3600
    error_message = "alarm_replication_lag_seconds must be greater than 0 and at most 3600."
  }
}

variable "alarm_connections" {
  description = "Alarm when a node's CurrConnections stays above this for 2 minutes (ElastiCache allows 65,000)."
  type        = number
  default     = 50000

  validation {
    condition     = var.alarm_connections == floor(var.alarm_connections) && var.alarm_connections >= 1 && var.alarm_connections < 65000
    error_message = "alarm_connections must be a whole number from 1 to 64999."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
