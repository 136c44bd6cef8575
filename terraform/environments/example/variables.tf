variable "region" {
  description = "AWS region to deploy into (e.g. eu-west-1)."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name of the deployment, prefix of every resource (lower case letters, digits and single hyphens, 3-24 characters)."
  type        = string
  default     = "flashsale"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name)) && !strcontains(var.name, "--")
    error_message = "name must be 3-24 characters of lower case letters, digits and single hyphens, start with a letter and not end with a hyphen."
  }
}

variable "azs" {
  description = "Three availability zones to use; null takes the first three zones of the region that need no opt-in."
  type        = list(string)
  default     = null

  validation {
    condition     = var.azs == null || try(length(var.azs) == 3 && length(distinct(var.azs)) == 3, false)
    error_message = "azs must be null or 3 distinct availability zones."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC (/16 to /24)."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && try(cidrsubnet(var.vpc_cidr, 0, 0) == var.vpc_cidr, false) && try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    error_message = "vpc_cidr must be an IPv4 network address with a prefix from /16 to /24, e.g. 10.40.0.0/16."
  }
}

variable "nat_gateway_mode" {
  description = "\"single\" (one shared NAT gateway, cheaper) or \"one_per_az\" (survives the loss of a zone)."
  type        = string
  default     = "one_per_az"

  validation {
    condition     = contains(["single", "one_per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be \"single\" or \"one_per_az\"."
  }
}

variable "enable_flow_logs" {
  description = "Record VPC flow logs in CloudWatch Logs."
  type        = bool
  default     = true
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener (same region). Required unless allow_plain_http is true."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }

  validation {
    condition     = var.certificate_arn != null || var.allow_plain_http
    error_message = "Set certificate_arn for HTTPS, or allow_plain_http = true for a throw-away demo."
  }
}

variable "allow_plain_http" {
  description = "DEMO ONLY: serve plain HTTP on port 80 (no certificate needed). Never for real traffic."
  type        = bool
  default     = false
}

variable "public_url" {
  description = "Base URL buyers reach the API at, e.g. https://shop.example (the domain of certificate_arn). The buyer page's sign-in callback registered with Cognito is this URL + /wait/signed-in. null: https://<ALB DNS name> with a certificate; in the plain-HTTP demo Cognito accepts only http://localhost:8080/wait/signed-in (see README)."
  type        = string
  default     = null

  validation {
    condition     = var.public_url == null || can(regex("^https://[a-z0-9.-]+(:[0-9]+)?$", var.public_url))
    error_message = "public_url must be null or https://HOST[:PORT] without a path or trailing slash."
  }
}

variable "identity_issuer_url" {
  description = "The shop's own OpenID provider (its issuer URL, exactly as in its tokens' iss); null: the identity module creates a Cognito user pool. Set identity_audience with it."
  type        = string
  default     = null

  validation {
    condition     = var.identity_issuer_url == null || can(regex("^https://", var.identity_issuer_url))
    error_message = "identity_issuer_url must be null or an https URL (the identity module checks the rest)."
  }
}

variable "identity_audience" {
  description = "The aud the shop's own provider gives access tokens for the API; with identity_issuer_url only."
  type        = string
  default     = null

  validation {
    condition     = (var.identity_audience == null) == (var.identity_issuer_url == null)
    error_message = "Set identity_issuer_url and identity_audience together, or neither (Cognito)."
  }
}

variable "identity_deletion_protection" {
  description = "Protect the Cognito user pool (every buyer account) from deletion. Off here so that `terraform destroy` works; turn it on for production."
  type        = bool
  default     = false
}

variable "ingress_cidr_blocks" {
  description = "Client CIDR blocks allowed to reach the load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.ingress_cidr_blocks) > 0 && alltrue([for c in var.ingress_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "ingress_cidr_blocks must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "enable_deletion_protection" {
  description = "Protect the load balancer from deletion. Off here so that `terraform destroy` works; turn it on for production."
  type        = bool
  default     = false
}

variable "enable_waf" {
  description = "Put a WAFv2 web ACL (managed rules + per-IP rate limit) in front of the load balancer."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it; null disables the rate rule."
  type        = number
  default     = 3000

  validation {
    condition     = var.waf_rate_limit == null || try(var.waf_rate_limit == floor(var.waf_rate_limit) && var.waf_rate_limit >= 10, false)
    error_message = "waf_rate_limit must be null or a whole number of at least 10."
  }
}

variable "image" {
  description = "Container image of the API pinned to a tag or digest, e.g. ghcr.io/OWNER/flashsale:1.0.0."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]*(:[0-9]+)?/[a-z0-9._/-]+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$", var.image)) && !endswith(var.image, ":latest")
    error_message = "image must be REGISTRY/REPOSITORY:TAG or REGISTRY/REPOSITORY@sha256:DIGEST with a tag other than latest."
  }
}

variable "ami_id" {
  description = "AMI of the API instances, pinned (a change rolls the fleet through an instance refresh). Look up the current Amazon Linux 2023 once: aws ssm get-parameter --name /aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 --query Parameter.Value --output text (arm64 instead of x86_64 for Graviton types)."
  type        = string

  validation {
    condition     = can(regex("^ami-([0-9a-f]{8}|[0-9a-f]{17})$", var.ami_id))
    error_message = "ami_id must be an AMI ID such as ami-0123456789abcdef0."
  }
}

variable "instance_type" {
  description = "EC2 instance type of the API instances."
  type        = string
  default     = "t3.small"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.(nano|micro|small|medium|large|[0-9]*xlarge|metal(-[0-9]+xl)?)$", var.instance_type))
    error_message = "instance_type must be an EC2 instance type such as t3.small or c7g.large."
  }
}

variable "min_size" {
  description = "Minimum number of API instances."
  type        = number
  default     = 3

  validation {
    condition     = var.min_size == floor(var.min_size) && var.min_size >= 1
    error_message = "min_size must be a whole number of at least 1."
  }
}

variable "max_size" {
  description = "Maximum number of API instances (at least min_size)."
  type        = number
  default     = 9

  validation {
    condition     = var.max_size == floor(var.max_size) && var.max_size >= var.min_size
    error_message = "max_size must be a whole number of at least min_size."
  }
}

variable "desired_capacity" {
  description = "Initial number of API instances, between min_size and max_size."
  type        = number
  default     = 3

  validation {
    condition     = var.desired_capacity == floor(var.desired_capacity) && var.desired_capacity >= var.min_size && var.desired_capacity <= var.max_size
    error_message = "desired_capacity must be a whole number between min_size and max_size."
  }
}

variable "target_requests_per_instance" {
  description = "Scaling target: ALB requests per instance per minute."
  type        = number
  default     = 6000

  validation {
    condition     = var.target_requests_per_instance > 0
    error_message = "target_requests_per_instance must be greater than 0."
  }
}

variable "target_cpu_utilization" {
  description = "Second scaling target: average CPU utilization of the API instances in percent."
  type        = number
  default     = 50

  validation {
    condition     = var.target_cpu_utilization >= 10 && var.target_cpu_utilization <= 90
    error_message = "target_cpu_utilization must be from 10 to 90."
  }
}

variable "sale_windows" {
  description = "Known sales: scheduled scale-out lead_minutes (default 15) before start and back cooldown_minutes (default 30) after end; UTC times like 2026-12-24T18:00:00Z, in the future when applied. See the app module."
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
    condition     = alltrue([for w in var.sale_windows : w.desired_capacity >= 1 && w.desired_capacity <= coalesce(w.max_size, var.max_size)])
    error_message = "Each sale window's desired_capacity must be from 1 to its max_size (default: max_size). The app module checks the rest."
  }
}

variable "warm_pool" {
  description = "Optional warm pool of pre-booted, stopped API instances (see the app module); null: none."
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
}

variable "alb_idle_timeout_s" {
  description = "Idle timeout of the load balancer in seconds; api_keepalive_s must exceed it."
  type        = number
  default     = 60

  validation {
    condition     = var.alb_idle_timeout_s == floor(var.alb_idle_timeout_s) && var.alb_idle_timeout_s >= 1 && var.alb_idle_timeout_s <= 4000
    error_message = "alb_idle_timeout_s must be a whole number from 1 to 4000."
  }
}

variable "api_keepalive_s" {
  description = "FLASHSALE_KEEPALIVE_S: seconds the API keeps idle connections; must exceed alb_idle_timeout_s so the ALB, not the target, closes idle connections (no sporadic 502s)."
  type        = number
  default     = 75

  validation {
    condition     = var.api_keepalive_s == floor(var.api_keepalive_s) && var.api_keepalive_s > var.alb_idle_timeout_s && var.api_keepalive_s <= 3600
    error_message = "api_keepalive_s must be a whole number greater than alb_idle_timeout_s (and at most 3600, the range FLASHSALE_KEEPALIVE_S accepts)."
  }
}

variable "otlp_traces_endpoint" {
  description = "OTLP/HTTP traces URL (https://.../v1/traces) the collector on each instance forwards spans to; null: tracing off."
  type        = string
  default     = null

  validation {
    condition     = var.otlp_traces_endpoint == null || can(regex("^https://", var.otlp_traces_endpoint))
    error_message = "otlp_traces_endpoint must be null or an https:// URL."
  }
}

variable "prometheus_remote_write_url" {
  description = "Prometheus remote-write URL for the collector on each instance, e.g. an Amazon Managed Prometheus workspace's .../api/v1/remote_write (signed with the instance role); null: metrics stay on the instances."
  type        = string
  default     = null

  validation {
    condition     = var.prometheus_remote_write_url == null || can(regex("^https://", var.prometheus_remote_write_url))
    error_message = "prometheus_remote_write_url must be null or an https:// URL."
  }

  # The rule groups and the alert manager are created with the provider, so in var.region.
  validation {
    condition     = !startswith(coalesce(var.prometheus_remote_write_url, "-"), "https://aps-workspaces.") || startswith(coalesce(var.prometheus_remote_write_url, "-"), "https://aps-workspaces.${var.region}.")
    error_message = "An Amazon Managed Prometheus workspace must be in var.region: its alert rules are deployed there."
  }
}

variable "alert_email" {
  description = "E-mail address subscribed to the Prometheus alert topic (FlashSaleOversold, SLO burn rates, ...), created when prometheus_remote_write_url is an Amazon Managed Prometheus workspace; null: no subscription."
  type        = string
  default     = null

  validation {
    condition     = var.alert_email == null || can(regex("^[^@ ]+@[^@ ]+\\.[^@ ]+$", var.alert_email))
    error_message = "alert_email must be null or an e-mail address."
  }
}

variable "alarm_emails" {
  description = "E-mail addresses subscribed to the ElastiCache alarm topic."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.alarm_emails : can(regex("^[^@ ]+@[^@ ]+\\.[^@ ]+$", e))])
    error_message = "alarm_emails must hold e-mail addresses."
  }
}

variable "db_instance_class" {
  description = "RDS instance class of the orders database."
  type        = string
  default     = "db.t4g.medium"

  validation {
    condition     = can(regex("^db\\.[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[0-9]*(micro|small|medium|large|xlarge)$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS instance class such as db.t4g.medium."
  }
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery) of the orders database (7-35)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days == floor(var.db_backup_retention_days) && var.db_backup_retention_days >= 7 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be a whole number from 7 to 35."
  }
}

variable "db_deletion_protection" {
  description = "Protect the orders database from deletion. Off here so that `terraform destroy` works (a final snapshot is still taken); turn it on for production."
  type        = bool
  default     = false
}

variable "durability" {
  description = "FLASHSALE_DURABILITY: async or replicated."
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

variable "redis_timeout_ms" {
  description = "FLASHSALE_REDIS_TIMEOUT_MS: per-command Redis timeout in milliseconds."
  type        = number
  default     = 250

  validation {
    condition     = var.redis_timeout_ms == floor(var.redis_timeout_ms) && var.redis_timeout_ms >= 1 && var.redis_timeout_ms <= 60000
    error_message = "redis_timeout_ms must be a whole number from 1 to 60000."
  }
}

variable "redis_engine" {
  description = "\"redis\" or \"valkey\"."
  type        = string
  default     = "redis"

  validation {
    condition     = contains(["redis", "valkey"], var.redis_engine)
    error_message = "redis_engine must be \"redis\" or \"valkey\"."
  }
}

variable "redis_engine_version" {
  description = "Engine version MAJOR.MINOR, 7.0 or newer (7.1 for Redis OSS, 8.0 for Valkey)."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^[0-9]+\\.[0-9]+$", var.redis_engine_version)) && try(tonumber(split(".", var.redis_engine_version)[0]) >= 7, false)
    error_message = "redis_engine_version must be MAJOR.MINOR with a major version of 7 or higher."
  }
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"

  validation {
    condition     = can(regex("^cache\\.[a-z][a-z0-9-]*[0-9][a-z0-9-]*\\.[0-9]*(nano|micro|small|medium|large|xlarge)$", var.redis_node_type))
    error_message = "redis_node_type must be an ElastiCache node type such as cache.t4g.small."
  }
}

variable "redis_cluster_mode_enabled" {
  description = "Run Redis Cluster (sharded; on by default: the production shape). The API is told through FLASHSALE_REDIS_CLUSTER."
  type        = bool
  default     = true
}

variable "redis_num_node_groups" {
  description = "Shards in cluster mode (ignored otherwise)."
  type        = number
  default     = 3

  validation {
    condition     = var.redis_num_node_groups == floor(var.redis_num_node_groups) && var.redis_num_node_groups >= 1 && var.redis_num_node_groups <= 500
    error_message = "redis_num_node_groups must be a whole number from 1 to 500."
  }
}

variable "redis_replicas_per_node_group" {
  description = "Replicas per shard (1-5)."
  type        = number
  default     = 2

  validation {
    condition     = var.redis_replicas_per_node_group == floor(var.redis_replicas_per_node_group) && var.redis_replicas_per_node_group >= 1 && var.redis_replicas_per_node_group <= 5
    error_message = "redis_replicas_per_node_group must be a whole number from 1 to 5."
  }
}

variable "tags" {
  description = "Extra tags for every resource (on top of Application, Environment and ManagedBy)."
  type        = map(string)
  default     = {}
}
