variable "name" {
  description = "Name of the load balancer and prefix of its companions (lower case letters, digits and hyphens, 3-24 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name)) && !startswith(var.name, "internal-")
    error_message = "name must be 3-24 characters of lower case letters, digits and hyphens, start with a letter, not end with a hyphen and not start with \"internal-\"."
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

variable "public_subnet_ids" {
  description = "Public subnets of the load balancer, one per availability zone (at least 2)."
  type        = list(string)

  validation {
    condition     = length(var.public_subnet_ids) >= 2 && length(distinct(var.public_subnet_ids)) == length(var.public_subnet_ids)
    error_message = "public_subnet_ids must hold at least 2 distinct subnets in different zones."
  }
}

variable "target_cidr_blocks" {
  description = "CIDR blocks of the subnets the targets live in (the private subnets): the only destination the load balancer may send to."
  type        = list(string)

  validation {
    condition     = length(var.target_cidr_blocks) > 0 && alltrue([for c in var.target_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "target_cidr_blocks must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "certificate_arn" {
  description = "ARN of the ACM certificate of the HTTPS listener. Required unless allow_plain_http is true."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]{36}$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/UUID)."
  }

  validation {
    condition     = var.certificate_arn != null || var.allow_plain_http
    error_message = "Set certificate_arn (HTTPS) or, for a throw-away demo only, allow_plain_http = true."
  }
}

variable "allow_plain_http" {
  description = "DEMO ONLY: serve the API over plain HTTP on port 80 instead of redirecting to HTTPS (tokens then cross the internet in clear)."
  type        = bool
  default     = false
}

variable "ssl_policy" {
  description = "TLS security policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-(TLS13-|FS-)", var.ssl_policy))
    error_message = "ssl_policy must be a TLS 1.3 or forward-secrecy ELB policy (ELBSecurityPolicy-TLS13-... or ELBSecurityPolicy-FS-...)."
  }
}

variable "ingress_cidr_blocks" {
  description = "Client CIDR blocks allowed to reach ports 80 and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.ingress_cidr_blocks) > 0 && alltrue([for c in var.ingress_cidr_blocks : can(cidrhost(c, 0)) && can(regex("^[0-9.]+/[0-9]+$", c))])
    error_message = "ingress_cidr_blocks must be a non-empty list of IPv4 CIDR blocks."
  }
}

variable "target_port" {
  description = "Port the application listens on in the instances."
  type        = number
  default     = 8000

  validation {
    condition     = var.target_port == floor(var.target_port) && var.target_port >= 1 && var.target_port <= 65535
    error_message = "target_port must be a whole number from 1 to 65535."
  }
}

variable "health_check_path" {
  description = "HTTP path of the target health check (the readiness endpoint)."
  type        = string
  default     = "/health/ready"

  validation {
    condition     = can(regex("^/[A-Za-z0-9/_.-]*$", var.health_check_path)) && length(var.health_check_path) <= 1024
    error_message = "health_check_path must be an absolute path such as /health/ready."
  }
}

variable "health_check_interval" {
  description = "Seconds between health checks of one target (5-300)."
  type        = number
  default     = 10

  validation {
    condition     = var.health_check_interval == floor(var.health_check_interval) && var.health_check_interval >= 5 && var.health_check_interval <= 300
    error_message = "health_check_interval must be a whole number from 5 to 300."
  }
}

variable "healthy_threshold" {
  description = "Consecutive successes before a target is healthy (2-10)."
  type        = number
  default     = 2

  validation {
    condition     = var.healthy_threshold == floor(var.healthy_threshold) && var.healthy_threshold >= 2 && var.healthy_threshold <= 10
    error_message = "healthy_threshold must be a whole number from 2 to 10."
  }
}

variable "unhealthy_threshold" {
  description = "Consecutive failures before a target is unhealthy (2-10)."
  type        = number
  default     = 3

  validation {
    condition     = var.unhealthy_threshold == floor(var.unhealthy_threshold) && var.unhealthy_threshold >= 2 && var.unhealthy_threshold <= 10
    error_message = "unhealthy_threshold must be a whole number from 2 to 10."
  }
}

variable "deregistration_delay" {
  description = "Seconds the load balancer lets in-flight requests finish on a target being removed (0-3600)."
  type        = number
  default     = 30

  validation {
    condition     = var.deregistration_delay == floor(var.deregistration_delay) && var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be a whole number from 0 to 3600."
  }
}

variable "idle_timeout" {
  description = "Seconds a client connection may stay idle (1-4000)."
  type        = number
  default     = 60

  validation {
    condition     = var.idle_timeout == floor(var.idle_timeout) && var.idle_timeout >= 1 && var.idle_timeout <= 4000
    error_message = "idle_timeout must be a whole number from 1 to 4000."
  }
}

variable "blocked_paths" {
  description = "Path patterns the load balancer answers itself with a 404 instead of forwarding: the API's /metrics is scraped on each instance by the local collector, never through the public load balancer (1-5 patterns)."
  type        = list(string)
  default     = ["/metrics", "/metrics/*"]

  validation {
    condition     = length(var.blocked_paths) >= 1 && length(var.blocked_paths) <= 5 && alltrue([for p in var.blocked_paths : can(regex("^/[A-Za-z0-9/_.*?-]*$", p)) && length(p) <= 128])
    error_message = "blocked_paths must hold 1 to 5 absolute path patterns (letters, digits, / _ . - * ?), each at most 128 characters."
  }
}

variable "enable_deletion_protection" {
  description = "Refuse to delete the load balancer until this is turned off (set false before `terraform destroy`)."
  type        = bool
  default     = true
}

variable "access_logs_expiration_days" {
  description = "Days access-log objects are kept before S3 deletes them (1-3650)."
  type        = number
  default     = 90

  validation {
    condition     = var.access_logs_expiration_days == floor(var.access_logs_expiration_days) && var.access_logs_expiration_days >= 1 && var.access_logs_expiration_days <= 3650
    error_message = "access_logs_expiration_days must be a whole number from 1 to 3650."
  }
}

variable "access_logs_force_destroy" {
  description = "Let `terraform destroy` delete the access-log bucket even though it holds logs."
  type        = bool
  default     = false
}

variable "legacy_elb_log_delivery" {
  description = "Also grant the regional Elastic Load Balancing account write access to the log bucket. Needed in regions opened before August 2022; set false in newer regions (where that account does not exist)."
  type        = bool
  default     = true
}

variable "enable_waf" {
  description = "Attach a WAFv2 web ACL (AWS managed common, known-bad-inputs and IP-reputation rules, plus the rate limit)."
  type        = bool
  default     = true
}

variable "waf_block_hosting_providers" {
  description = "Block requests from hosting-provider and cloud addresses (typical for bots). Set false to load-test from cloud machines."
  type        = bool
  default     = true
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it (10-2000000000); null disables the rate rule. Keep it above what one real buyer does during a sale."
  type        = number
  default     = 3000

  validation {
    condition     = var.waf_rate_limit == null || try(var.waf_rate_limit == floor(var.waf_rate_limit) && var.waf_rate_limit >= 10 && var.waf_rate_limit <= 2000000000, false)
    error_message = "waf_rate_limit must be null or a whole number from 10 to 2000000000."
  }
}

variable "waf_log_retention_days" {
  description = "Days CloudWatch Logs keeps the WAF log (blocked and counted requests only)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.waf_log_retention_days)
    error_message = "waf_log_retention_days must be a CloudWatch retention value of at least one year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
