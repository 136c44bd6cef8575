variable "name" {
  description = "Identifier of the DB instance and prefix of its companions (lower case letters, digits and single hyphens, 3-24 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-24 characters of lower case letters, digits and single hyphens, start with a letter and not end with a hyphen."
  }
}

variable "vpc_id" {
  description = "ID of the VPC the database lives in."
  type        = string

  validation {
    condition     = length(var.vpc_id) > 0
    error_message = "vpc_id must not be empty."
  }
}

variable "subnet_ids" {
  description = "Private subnets of the DB subnet group, in at least 2 availability zones (Multi-AZ standby)."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2 && length(distinct(var.subnet_ids)) == length(var.subnet_ids)
    error_message = "subnet_ids must hold at least 2 distinct subnets in different zones."
  }
}

variable "app_security_group_id" {
  description = "Security group of the application instances: the only source allowed to reach the database port."
  type        = string

  validation {
    condition     = length(var.app_security_group_id) > 0
    error_message = "app_security_group_id must not be empty."
  }
}

variable "port" {
  description = "TCP port of the database."
  type        = number
  default     = 5432

  validation {
    condition     = var.port == floor(var.port) && var.port >= 1150 && var.port <= 65535
    error_message = "port must be a whole number from 1150 to 65535 (RDS range)."
  }
}

variable "engine_version" {
  description = "PostgreSQL version, MAJOR or MAJOR.MINOR, 14 or newer (e.g. 16 or 16.4); minor upgrades are applied automatically in the maintenance window."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^[0-9]+(\\.[0-9]+)?$", var.engine_version)) && try(tonumber(split(".", var.engine_version)[0]) >= 14, false)
    error_message = "engine_version must be MAJOR or MAJOR.MINOR with a major version of 14 or higher."
  }
}

variable "instance_class" {
  description = "DB instance class (e.g. db.t4g.medium, db.m7g.large)."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[0-9]*(micro|small|medium|large|xlarge)$", var.instance_class))
    error_message = "instance_class must be an RDS instance class such as db.t4g.medium or db.m7g.2xlarge."
  }
}

variable "database_name" {
  description = "Name of the database created with the instance (holds the orders table)."
  type        = string
  default     = "flashsale"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", var.database_name))
    error_message = "database_name must start with a letter and hold up to 63 letters, digits and underscores."
  }
}

variable "master_username" {
  description = "Master user name; its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "flashsale"

  validation {
    condition     = can(regex("^[A-Za-z][A-Za-z0-9_]{0,15}$", var.master_username)) && !contains(["postgres", "rdsadmin", "admin", "root"], lower(var.master_username))
    error_message = "master_username must be 1-16 letters, digits and underscores starting with a letter, and not a reserved name."
  }
}

variable "allocated_storage" {
  description = "Initial storage in GiB (gp3, 20-65536)."
  type        = number
  default     = 20

  validation {
    condition     = var.allocated_storage == floor(var.allocated_storage) && var.allocated_storage >= 20 && var.allocated_storage <= 65536
    error_message = "allocated_storage must be a whole number of GiB from 20 to 65536."
  }
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling in GiB (at least allocated_storage)."
  type        = number
  default     = 200

  validation {
    condition     = var.max_allocated_storage == floor(var.max_allocated_storage) && var.max_allocated_storage >= var.allocated_storage && var.max_allocated_storage <= 65536
    error_message = "max_allocated_storage must be a whole number from allocated_storage to 65536."
  }
}

variable "backup_retention_days" {
  description = "Days of automated backups and point-in-time recovery (7-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.backup_retention_days == floor(var.backup_retention_days) && var.backup_retention_days >= 7 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be a whole number from 7 to 35."
  }
}

variable "backup_window" {
  description = "Daily UTC backup window, hh24:mi-hh24:mi, at least 30 minutes, not overlapping maintenance_window."
  type        = string
  default     = "02:00-03:00"

  validation {
    condition     = can(regex("^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$", var.backup_window))
    error_message = "backup_window must look like 02:00-03:00 (UTC)."
  }
}

variable "maintenance_window" {
  description = "Weekly UTC maintenance window, ddd:hh24:mi-ddd:hh24:mi."
  type        = string
  default     = "sun:04:00-sun:05:00"

  validation {
    condition     = can(regex("^(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]-(mon|tue|wed|thu|fri|sat|sun):([01][0-9]|2[0-3]):[0-5][0-9]$", var.maintenance_window))
    error_message = "maintenance_window must look like sun:04:00-sun:05:00 (UTC)."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the database until this is turned off. On by default; turn it off only for throw-away environments."
  type        = bool
  default     = true
}

variable "final_snapshot_identifier" {
  description = "Name of the snapshot taken when the instance is destroyed; null uses NAME-final. A final snapshot is always taken."
  type        = string
  default     = null

  validation {
    condition     = var.final_snapshot_identifier == null || can(regex("^[a-zA-Z][a-zA-Z0-9-]{0,254}$", var.final_snapshot_identifier))
    error_message = "final_snapshot_identifier must start with a letter and hold only letters, digits and hyphens."
  }
}

variable "iam_database_authentication_enabled" {
  description = "Allow IAM database authentication (tokens instead of the password) besides the managed password."
  type        = bool
  default     = true
}

variable "performance_insights_retention_days" {
  description = "Days Performance Insights keeps its data: 7 (free tier), or a multiple of 31 up to 731."
  type        = number
  default     = 7

  validation {
    condition     = var.performance_insights_retention_days == 7 || var.performance_insights_retention_days == 731 || (var.performance_insights_retention_days % 31 == 0 && var.performance_insights_retention_days >= 31 && var.performance_insights_retention_days <= 713)
    error_message = "performance_insights_retention_days must be 7, 731 or a multiple of 31 from 31 to 713."
  }
}

variable "monitoring_interval" {
  description = "Seconds between enhanced monitoring samples: 1, 5, 10, 15, 30 or 60."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be 1, 5, 10, 15, 30 or 60."
  }
}

variable "log_min_duration_statement_ms" {
  description = "Statements slower than this many milliseconds are logged (log_min_duration_statement); -1 turns it off."
  type        = number
  default     = 500

  validation {
    condition     = var.log_min_duration_statement_ms == floor(var.log_min_duration_statement_ms) && var.log_min_duration_statement_ms >= -1 && var.log_min_duration_statement_ms <= 3600000
    error_message = "log_min_duration_statement_ms must be a whole number from -1 to 3600000."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the exported database logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least one year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "apply_immediately" {
  description = "Apply modifications now instead of in the next maintenance window."
  type        = bool
  default     = false
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
