variable "name" {
  description = "Prefix of every resource of the application tier (lower case letters, digits and hyphens, 3-24 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lower case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "vpc_id" {
  description = "ID of the VPC."
  type        = string

  validation {
    condition     = length(var.vpc_id) > 0
    error_message = "vpc_id must not be empty."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets the instances run in, one per availability zone (at least 2)."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && length(distinct(var.private_subnet_ids)) == length(var.private_subnet_ids)
    error_message = "private_subnet_ids must hold at least 2 distinct subnets in different zones."
  }
}

variable "alb_security_group_id" {
  description = "Security group of the load balancer: the only source allowed to reach the container port."
  type        = string

  validation {
    condition     = length(var.alb_security_group_id) > 0
    error_message = "alb_security_group_id must not be empty."
  }
}

variable "target_group_arn" {
  description = "ARN of the ALB target group the instances register with."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:targetgroup/.+$", var.target_group_arn))
    error_message = "target_group_arn must be an ELB target group ARN."
  }
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (app/NAME/ID), for the requests-per-target scaling metric."
  type        = string

  validation {
    condition     = can(regex("^app/[^/]+/[^/]+$", var.alb_arn_suffix))
    error_message = "alb_arn_suffix must look like app/NAME/ID."
  }
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the target group (targetgroup/NAME/ID), for the requests-per-target scaling metric."
  type        = string

  validation {
    condition     = can(regex("^targetgroup/[^/]+/[^/]+$", var.target_group_arn_suffix))
    error_message = "target_group_arn_suffix must look like targetgroup/NAME/ID."
  }
}

variable "image" {
  description = "Container image of the API, pinned to a tag or digest (e.g. ghcr.io/OWNER/flashsale:1.4.2 or 123456789012.dkr.ecr.eu-west-1.amazonaws.com/flashsale@sha256:...)."
  type        = string

  validation {
    condition = (
      can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.image)) &&
      !endswith(var.image, ":latest")
    )
    error_message = "image must be REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST, with an explicit registry and a tag other than latest."
  }
}

variable "container_port" {
  description = "Port the API listens on inside the container (and on the instance)."
  type        = number
  default     = 8000

  validation {
    condition     = var.container_port == floor(var.container_port) && var.container_port >= 1024 && var.container_port <= 65535
    error_message = "container_port must be a whole number from 1024 to 65535 (the container runs as non-root)."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the API instances (Graviton types such as c7g.large get an arm64 AMI)."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.(nano|micro|small|medium|large|[0-9]*xlarge|metal(-[0-9]+xl)?)$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type such as t3.small, c7g.large or m7i.2xlarge."
  }
}

variable "ami_id" {
  description = "AMI of the instances; null uses the latest Amazon Linux 2023 for the instance architecture. A custom AMI needs bash, dnf or docker, the AWS CLI v2 and systemd, and /dev/xvda as root device."
  type        = string
  default     = null

  validation {
    condition     = var.ami_id == null || can(regex("^ami-([0-9a-f]{8}|[0-9a-f]{17})$", var.ami_id))
    error_message = "ami_id must be null or an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "root_volume_size" {
  description = "Size in GiB of the encrypted gp3 root volume (8-1024)."
  type        = number
  default     = 20

  validation {
    condition     = var.root_volume_size == floor(var.root_volume_size) && var.root_volume_size >= 8 && var.root_volume_size <= 1024
    error_message = "root_volume_size must be a whole number from 8 to 1024."
  }
}

variable "min_size" {
  description = "Minimum number of instances (at least 1; use one per zone for zone failure tolerance)."
  type        = number
  default     = 3

  validation {
    condition     = var.min_size == floor(var.min_size) && var.min_size >= 1 && var.min_size <= 1000
    error_message = "min_size must be a whole number from 1 to 1000."
  }
}

variable "max_size" {
  description = "Maximum number of instances; must be at least min_size and desired_capacity."
  type        = number
  default     = 12

  validation {
    condition     = var.max_size == floor(var.max_size) && var.max_size >= var.min_size && var.max_size <= 1000
    error_message = "max_size must be a whole number from min_size to 1000."
  }
}

variable "desired_capacity" {
  description = "Instances to start with, between min_size and max_size. Scaling owns it afterwards (Terraform ignores later drift)."
  type        = number
  default     = 3

  validation {
    condition     = var.desired_capacity == floor(var.desired_capacity) && var.desired_capacity >= var.min_size && var.desired_capacity <= var.max_size
    error_message = "desired_capacity must be a whole number between min_size and max_size."
  }
}

variable "health_check_grace_period" {
  description = "Seconds after launch before failing ELB health checks make the group replace an instance (boot + image pull)."
  type        = number
  default     = 300

  validation {
    condition     = var.health_check_grace_period == floor(var.health_check_grace_period) && var.health_check_grace_period >= 0 && var.health_check_grace_period <= 7200
    error_message = "health_check_grace_period must be a whole number of seconds from 0 to 7200."
  }
}

variable "instance_warmup" {
  description = "Seconds a new instance needs before its metrics count for scaling and instance refresh."
  type        = number
  default     = 180

  validation {
    condition     = var.instance_warmup == floor(var.instance_warmup) && var.instance_warmup >= 0 && var.instance_warmup <= 3600
    error_message = "instance_warmup must be a whole number of seconds from 0 to 3600."
  }
}

variable "refresh_min_healthy_percentage" {
  description = "Share of capacity that must stay healthy while an instance refresh replaces instances (50-100)."
  type        = number
  default     = 90

  validation {
    condition     = var.refresh_min_healthy_percentage == floor(var.refresh_min_healthy_percentage) && var.refresh_min_healthy_percentage >= 50 && var.refresh_min_healthy_percentage <= 100
    error_message = "refresh_min_healthy_percentage must be a whole number from 50 to 100."
  }
}

variable "target_requests_per_instance" {
  description = "Target of the scaling policy: ALB requests per target per minute (ALBRequestCountPerTarget)."
  type        = number
  default     = 6000

  validation {
    condition     = var.target_requests_per_instance > 0 && var.target_requests_per_instance <= 1000000
    error_message = "target_requests_per_instance must be greater than 0 and at most 1000000."
  }
}

variable "redis_host" {
  description = "Redis endpoint address (primary endpoint, or configuration endpoint in cluster mode)."
  type        = string

  validation {
    condition     = length(var.redis_host) > 0
    error_message = "redis_host must not be empty."
  }
}

variable "redis_port" {
  description = "Redis port."
  type        = number
  default     = 6379

  validation {
    condition     = var.redis_port == floor(var.redis_port) && var.redis_port >= 1024 && var.redis_port <= 65535
    error_message = "redis_port must be a whole number from 1024 to 65535."
  }
}

variable "redis_cluster_mode" {
  description = "Whether Redis runs in cluster mode (sets FLASHSALE_REDIS_CLUSTER)."
  type        = bool
  default     = false
}

variable "redis_security_group_id" {
  description = "Security group of the cache: the instances may open connections to it on redis_port."
  type        = string

  validation {
    condition     = length(var.redis_security_group_id) > 0
    error_message = "redis_security_group_id must not be empty."
  }
}

variable "redis_auth_token_secret_arn" {
  description = "ARN of the Secrets Manager secret holding the Redis AUTH token (read by the instances at boot)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.redis_auth_token_secret_arn))
    error_message = "redis_auth_token_secret_arn must be a Secrets Manager secret ARN."
  }
}

variable "redis_auth_token_kms_key_arn" {
  description = "ARN of the KMS key encrypting the Redis auth-token secret (the instances may decrypt through Secrets Manager only)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.redis_auth_token_kms_key_arn))
    error_message = "redis_auth_token_kms_key_arn must be a KMS key ARN."
  }
}

variable "redis_timeout_ms" {
  description = "FLASHSALE_REDIS_TIMEOUT_MS: per-command Redis timeout in milliseconds (1-60000)."
  type        = number
  default     = 250

  validation {
    condition     = var.redis_timeout_ms == floor(var.redis_timeout_ms) && var.redis_timeout_ms >= 1 && var.redis_timeout_ms <= 60000
    error_message = "redis_timeout_ms must be a whole number from 1 to 60000."
  }
}

variable "durability" {
  description = "FLASHSALE_DURABILITY: \"async\" (acknowledge after the primary) or \"replicated\" (wait for a replica)."
  type        = string
  default     = "replicated"

  validation {
    condition     = contains(["async", "replicated"], var.durability)
    error_message = "durability must be \"async\" or \"replicated\"."
  }
}

variable "log_level" {
  description = "FLASHSALE_LOG_LEVEL: DEBUG, INFO, WARNING or ERROR."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING or ERROR."
  }
}

variable "extra_environment" {
  description = "Further non-secret FLASHSALE_* settings for the container. Never put secrets here: user data is readable by anyone who may describe the instance."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.extra_environment :
      can(regex("^FLASHSALE_[A-Z0-9_]+$", k)) && !contains(["FLASHSALE_REDIS_URL", "FLASHSALE_REDIS_CLUSTER", "FLASHSALE_ADMIN_TOKEN", "FLASHSALE_REDIS_TIMEOUT_MS", "FLASHSALE_DURABILITY", "FLASHSALE_LOG_LEVEL"], k) && can(regex("^[^\\r\\n'\"$`\\\\]*$", v))
    ])
    error_message = "extra_environment keys must be FLASHSALE_* names not managed by the module, and values single-line without quotes, $, backquotes or backslashes."
  }

  validation {
    condition = alltrue([
      for k in keys(var.extra_environment) : !can(regex("(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", k))
    ])
    error_message = "extra_environment must not carry secrets (names with TOKEN, SECRET, PASSWORD, PASSWD or CREDENTIAL); read secrets from Secrets Manager instead."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch Logs keeps the container logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch retention value of at least one year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "enable_ssm_session_manager" {
  description = "Attach AmazonSSMManagedInstanceCore so operators reach instances through Session Manager (no SSH, no key pairs)."
  type        = bool
  default     = true
}

variable "secret_recovery_window_days" {
  description = "Days Secrets Manager keeps the deleted admin-token secret recoverable: 0 (delete at once) or 7-30."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days == floor(var.secret_recovery_window_days) && var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or a whole number from 7 to 30."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module (and propagated to the instances)."
  type        = map(string)
  default     = {}
}
