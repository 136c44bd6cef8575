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
  description = "AMI of the instances, pinned: resolved once (not on every apply) so that a new image rolls the fleet only when you change this value. Amazon Linux 2023: `aws ssm get-parameter --name $(terraform output ami_ssm_parameter_name) --query Parameter.Value --output text` (output ami_ssm_parameter_name gives the parameter for the instance architecture). A custom AMI needs bash, dnf or docker, curl, python3, the AWS CLI v2 and systemd, and /dev/xvda as root device."
  type        = string

  validation {
    condition     = can(regex("^ami-([0-9a-f]{8}|[0-9a-f]{17})$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
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
  description = "Seconds after launch before the group acts on health checks, and before the liveness watchdog on the instance starts probing /health/live (boot + image pull)."
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
  description = "Share of the desired capacity that must stay in service while an instance refresh replaces instances (100: never below the desired capacity)."
  type        = number
  default     = 100

  validation {
    condition     = var.refresh_min_healthy_percentage == floor(var.refresh_min_healthy_percentage) && var.refresh_min_healthy_percentage >= 50 && var.refresh_min_healthy_percentage <= 100
    error_message = "refresh_min_healthy_percentage must be a whole number from 50 to 100."
  }
}

variable "refresh_max_healthy_percentage" {
  description = "Upper bound of the capacity during an instance refresh, in percent of the desired capacity (200: launch all replacements before terminating; at most 100 points above refresh_min_healthy_percentage)."
  type        = number
  default     = 200

  validation {
    condition     = var.refresh_max_healthy_percentage == floor(var.refresh_max_healthy_percentage) && var.refresh_max_healthy_percentage >= 100 && var.refresh_max_healthy_percentage <= 200 && var.refresh_max_healthy_percentage - var.refresh_min_healthy_percentage <= 100 && var.refresh_max_healthy_percentage > var.refresh_min_healthy_percentage
    error_message = "refresh_max_healthy_percentage must be a whole number from 100 to 200, above refresh_min_healthy_percentage and at most 100 points above it."
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

variable "target_cpu_utilization" {
  description = "Target of the second scaling policy: average CPU utilization of the group, in percent (ASGAverageCPUUtilization). The group follows whichever policy asks for more instances."
  type        = number
  default     = 50

  validation {
    condition     = var.target_cpu_utilization >= 10 && var.target_cpu_utilization <= 90
    error_message = "target_cpu_utilization must be from 10 to 90 percent."
  }
}

variable "sale_windows" {
  description = "Known sales: each becomes a scheduled scale-out lead_minutes before start (min_size, desired_capacity, max_size of the window) and a scheduled return to the group's min_size/desired_capacity/max_size cooldown_minutes after end. Times are UTC RFC 3339 (2026-12-24T18:00:00Z); actions whose time has passed are left out at plan time, so past windows may stay in the list. min_size defaults to desired_capacity (target tracking may add, never go below it during the sale), max_size to the group's max_size. Windows, lead and cooldown included, must not overlap."
  type = list(object({
    name             = string
    start            = string
    end              = string
    desired_capacity = number
    min_size         = optional(number)
    max_size         = optional(number)
    lead_minutes     = optional(number, 15)
    cooldown_minutes = optional(number, 30)
  }))
  default = []

  validation {
    condition     = alltrue([for w in var.sale_windows : can(regex("^[a-z0-9][a-z0-9-]{0,39}$", w.name))]) && length(distinct([for w in var.sale_windows : w.name])) == length(var.sale_windows)
    error_message = "Each sale window needs a unique name of 1-40 lower case letters, digits and hyphens."
  }

  validation {
    condition = alltrue([
      for w in var.sale_windows :
      can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", w.start)) && can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", w.end)) &&
      can(timecmp(w.start, w.end)) && try(timecmp(w.start, w.end) < 0, false)
    ])
    error_message = "Sale window start and end must be UTC timestamps like 2026-12-24T18:00:00Z, with end after start."
  }

  validation {
    condition = alltrue([
      for w in var.sale_windows :
      w.desired_capacity == floor(w.desired_capacity) && w.desired_capacity >= 1 &&
      coalesce(w.min_size, w.desired_capacity) == floor(coalesce(w.min_size, w.desired_capacity)) && coalesce(w.min_size, w.desired_capacity) >= 1 &&
      coalesce(w.min_size, w.desired_capacity) <= w.desired_capacity &&
      coalesce(w.max_size, var.max_size) == floor(coalesce(w.max_size, var.max_size)) &&
      w.desired_capacity <= coalesce(w.max_size, var.max_size) && coalesce(w.max_size, var.max_size) <= 1000
    ])
    error_message = "Each sale window needs whole numbers with 1 <= min_size <= desired_capacity <= max_size <= 1000 (max_size defaults to the group's max_size)."
  }

  validation {
    condition = alltrue([
      for w in var.sale_windows :
      w.lead_minutes == floor(w.lead_minutes) && w.lead_minutes >= 5 && w.lead_minutes <= 720 &&
      w.cooldown_minutes == floor(w.cooldown_minutes) && w.cooldown_minutes >= 0 && w.cooldown_minutes <= 1440
    ])
    error_message = "lead_minutes must be a whole number from 5 to 720 (boot, image pull, warm-up) and cooldown_minutes from 0 to 1440."
  }

  validation {
    condition = alltrue(flatten([
      for i, a in var.sale_windows : [
        for j, b in var.sale_windows : j <= i || try(
          timecmp(timeadd(a.end, "${a.cooldown_minutes}m"), timeadd(b.start, "-${b.lead_minutes}m")) < 0 ||
          timecmp(timeadd(b.end, "${b.cooldown_minutes}m"), timeadd(a.start, "-${a.lead_minutes}m")) < 0,
        true)
      ]
    ]))
    error_message = "Sale windows (from start - lead_minutes to end + cooldown_minutes) must not overlap: the scale-in of one would cut the capacity of the next."
  }
}

variable "warm_pool" {
  description = "Optional warm pool: instances booted once (image pulled) and kept Stopped (or Running/Hibernated), so a scale-out resumes them in seconds. null: no warm pool. max_group_prepared_capacity null lets AWS use the group's max_size."
  type = object({
    pool_state                  = optional(string, "Stopped")
    min_size                    = optional(number, 0)
    max_group_prepared_capacity = optional(number)
    reuse_on_scale_in           = optional(bool, true)
  })
  default = null

  validation {
    condition     = var.warm_pool == null || try(contains(["Stopped", "Running", "Hibernated"], var.warm_pool.pool_state), false)
    error_message = "warm_pool.pool_state must be Stopped, Running or Hibernated."
  }

  validation {
    condition = var.warm_pool == null || try(
      var.warm_pool.min_size == floor(var.warm_pool.min_size) && var.warm_pool.min_size >= 0 && var.warm_pool.min_size <= var.max_size &&
      (var.warm_pool.max_group_prepared_capacity == null || try(var.warm_pool.max_group_prepared_capacity == floor(var.warm_pool.max_group_prepared_capacity) && var.warm_pool.max_group_prepared_capacity >= var.warm_pool.min_size && var.warm_pool.max_group_prepared_capacity <= 1000, false)),
    false)
    error_message = "warm_pool.min_size must be a whole number from 0 to max_size, and max_group_prepared_capacity null or a whole number from min_size to 1000."
  }
}

variable "keepalive_timeout_s" {
  description = "FLASHSALE_KEEPALIVE_S: seconds the API keeps an idle client connection open. Must exceed the load balancer's idle timeout (alb_idle_timeout_s), otherwise the targets close connections the ALB is about to reuse and clients see sporadic 502s."
  type        = number
  default     = 75

  validation {
    condition     = var.keepalive_timeout_s == floor(var.keepalive_timeout_s) && var.keepalive_timeout_s >= 1 && var.keepalive_timeout_s <= 3600
    error_message = "keepalive_timeout_s must be a whole number of seconds from 1 to 3600 (the range FLASHSALE_KEEPALIVE_S accepts)."
  }

  validation {
    condition     = var.keepalive_timeout_s > var.alb_idle_timeout_s
    error_message = "keepalive_timeout_s must be greater than alb_idle_timeout_s: the load balancer must always be the side that closes an idle connection."
  }
}

variable "alb_idle_timeout_s" {
  description = "Idle timeout of the load balancer in seconds (the alb module's idle_timeout output); keepalive_timeout_s must exceed it."
  type        = number
  default     = 60

  validation {
    condition     = var.alb_idle_timeout_s == floor(var.alb_idle_timeout_s) && var.alb_idle_timeout_s >= 1 && var.alb_idle_timeout_s <= 4000
    error_message = "alb_idle_timeout_s must be a whole number of seconds from 1 to 4000."
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

variable "oidc_issuer" {
  description = "FLASHSALE_OIDC_ISSUER: the OpenID provider whose tokens name the buyers (the identity module's issuer_url). https on port 443, the instances' only egress to the internet; the API fetches ISSUER/.well-known/openid-configuration and the keys it names."
  type        = string

  validation {
    condition     = can(regex("^https://[a-z0-9.-]+(:443)?(/[^\\s?#'\"$`\\\\]*)?$", var.oidc_issuer))
    error_message = "oidc_issuer must be an https URL on port 443 without query, fragment, whitespace, quotes, $, backquotes or backslashes."
  }
}

variable "oidc_audience" {
  description = "FLASHSALE_OIDC_AUDIENCE: the audience the API requires of access tokens (the identity module's audience; with Cognito the app client id, matched against client_id since its access tokens have no aud)."
  type        = string

  validation {
    condition     = can(regex("^[^\\s'\"$`\\\\]{1,512}$", var.oidc_audience))
    error_message = "oidc_audience must be 1-512 characters without whitespace, quotes, $, backquotes or backslashes."
  }
}

variable "extra_environment" {
  description = "Further non-secret FLASHSALE_* settings for the container. Never put secrets here: user data is readable by anyone who may describe the instance."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for k, v in var.extra_environment :
      can(regex("^FLASHSALE_[A-Z0-9_]+$", k)) && !contains(["FLASHSALE_REDIS_URL", "FLASHSALE_REDIS_CLUSTER", "FLASHSALE_ADMIN_TOKEN", "FLASHSALE_ADMISSION_KEY", "FLASHSALE_ADMISSION_KEYS_PREVIOUS", "FLASHSALE_REDIS_TIMEOUT_MS", "FLASHSALE_DURABILITY", "FLASHSALE_LOG_LEVEL", "FLASHSALE_KEEPALIVE_S", "FLASHSALE_FORWARDED_ALLOW_IPS", "FLASHSALE_DATABASE_URL", "FLASHSALE_EXPORT_METRICS_PORT", "FLASHSALE_OIDC_ISSUER", "FLASHSALE_OIDC_AUDIENCE", "FLASHSALE_OIDC_PAGE_CLIENT_ID"], k) && can(regex("^[^\\r\\n'\"$`\\\\]*$", v))
    ])
    error_message = "extra_environment keys must be FLASHSALE_* names not managed by the module, and values single-line without quotes, $, backquotes or backslashes."
  }

  validation {
    condition     = length(setintersection(keys(var.extra_environment), ["FLASHSALE_DEMO", "FLASHSALE_EMBEDDED"])) == 0
    error_message = "FLASHSALE_DEMO and FLASHSALE_EMBEDDED are for a laptop or a demo (an unsafe route, weak tokens, a private Redis per container): never in a deployment."
  }

  validation {
    condition = alltrue([
      for k in keys(var.extra_environment) : !can(regex("(TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", k))
    ])
    error_message = "extra_environment must not carry secrets (names with TOKEN, SECRET, PASSWORD, PASSWD or CREDENTIAL); read secrets from Secrets Manager instead."
  }
}

variable "database" {
  description = "The orders database (the postgres module's outputs), or null for none. The instances then get FLASHSALE_DATABASE_URL, assembled at every start from these values and the password in the RDS-managed secret (never in user data), and may connect to security_group_id on port."
  type = object({
    host                   = string
    port                   = optional(number, 5432)
    name                   = string
    master_user_secret_arn = string
    secret_kms_key_arn     = string
    security_group_id      = string
  })
  default = null

  validation {
    condition = var.database == null || try(
      length(var.database.host) > 0 && can(regex("^[A-Za-z][A-Za-z0-9_]{0,62}$", var.database.name)) &&
      var.database.port == floor(var.database.port) && var.database.port >= 1024 && var.database.port <= 65535 &&
      length(var.database.security_group_id) > 0,
    false)
    error_message = "database needs a host, a database name (letters, digits, underscores), a port from 1024 to 65535 and a security group."
  }

  validation {
    condition = var.database == null || try(
      can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$", var.database.master_user_secret_arn)) &&
      can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.database.secret_kms_key_arn)),
    false)
    error_message = "database.master_user_secret_arn must be a Secrets Manager secret ARN and database.secret_kms_key_arn a KMS key ARN."
  }
}

variable "database_ca_bundle_url" {
  description = "HTTPS URL of the RDS certificate bundle the instances fetch once, so the drivers verify the database's certificate and host name (PGSSLMODE=verify-full). The default is AWS's global bundle; GovCloud and China regions publish their own."
  type        = string
  default     = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"

  validation {
    condition     = can(regex("^https://[^\\s'\"$`]+$", var.database_ca_bundle_url))
    error_message = "database_ca_bundle_url must be an https:// URL."
  }
}

variable "run_exporter" {
  description = "With a database: run `flashsale export` (ledger -> PostgreSQL) as a second container on every instance (unit flashsale-export.service). Several exporters in parallel are safe: one consumer group, idempotent inserts."
  type        = bool
  default     = true
}

variable "otlp_traces_endpoint" {
  description = "OTLP/HTTP URL the on-instance collector sends the API's spans to (full path, e.g. https://otlp.example.com/v1/traces); null: tracing off."
  type        = string
  default     = null

  validation {
    condition     = var.otlp_traces_endpoint == null || can(regex("^https://[^\\s'\"$`]+$", var.otlp_traces_endpoint))
    error_message = "otlp_traces_endpoint must be null or an https:// URL."
  }
}

variable "prometheus_remote_write_url" {
  description = "Prometheus remote-write URL the on-instance collector writes the API's metrics to; an Amazon Managed Prometheus URL (https://aps-workspaces.REGION.amazonaws.com/workspaces/ws-ID/api/v1/remote_write) is signed with the instance role, which then gets aps:RemoteWrite on that workspace. null: metrics stay on the instance."
  type        = string
  default     = null

  validation {
    condition     = var.prometheus_remote_write_url == null || can(regex("^https://[^\\s'\"$`]+$", var.prometheus_remote_write_url))
    error_message = "prometheus_remote_write_url must be null or an https:// URL."
  }
}

variable "collector_image" {
  description = "Image of the on-instance OpenTelemetry collector (AWS Distro for OpenTelemetry), pinned to a version; used only when otlp_traces_endpoint or prometheus_remote_write_url is set."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.47.0"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.collector_image)) && !endswith(var.collector_image, ":latest")
    error_message = "collector_image must be REGISTRY/REPOSITORY:TAG or @sha256:DIGEST, not latest."
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

variable "oidc_page_client_id" {
  description = "FLASHSALE_OIDC_PAGE_CLIENT_ID: the buyer page's public client at the issuer (authorization code + PKCE; the identity module's client_id). Null: the page cannot sign buyers in by itself (a shop hands tokens over in the URL fragment)."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_page_client_id == null || can(regex("^[A-Za-z0-9._:-]{1,128}$", var.oidc_page_client_id))
    error_message = "oidc_page_client_id must be 1-128 of A-Z a-z 0-9 . _ : -."
  }
}
