variable "name" {
  description = "Name prefix for every resource of the network (lower case letters, digits and hyphens, 3-24 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lower case letters, digits and hyphens, start with a letter and not end with a hyphen."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR block of the VPC, a network address with a prefix between /16 and /24 (for example 10.40.0.0/16)."
  type        = string

  validation {
    condition = (
      can(cidrhost(var.vpc_cidr, 0)) &&
      can(regex("^[0-9.]+/[0-9]+$", var.vpc_cidr)) &&
      try(cidrsubnet(var.vpc_cidr, 0, 0) == var.vpc_cidr, false) &&
      try(tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24, false)
    )
    error_message = "vpc_cidr must be an IPv4 network address in CIDR notation with a prefix length from /16 to /24 (host bits zero), e.g. 10.40.0.0/16."
  }
}

variable "azs" {
  description = "Availability zones to spread the subnets over: 3 to 6 distinct zone names of one region (e.g. [\"eu-west-1a\", \"eu-west-1b\", \"eu-west-1c\"])."
  type        = list(string)

  validation {
    condition     = length(var.azs) >= 3 && length(var.azs) <= 6 && length(distinct(var.azs)) == length(var.azs)
    error_message = "azs must hold 3 to 6 distinct availability zones."
  }

  validation {
    condition     = alltrue([for az in var.azs : can(regex("^[a-z]{2}(-[a-z]+)+-[0-9][a-z]$", az))])
    error_message = "Every entry of azs must be an availability zone name such as eu-west-1a."
  }
}

variable "subnet_newbits" {
  description = "Bits added to the VPC prefix for each subnet (4 turns a /16 into /20 subnets). One public and one private subnet per zone must fit."
  type        = number
  default     = 4

  validation {
    condition = (
      var.subnet_newbits == floor(var.subnet_newbits) &&
      var.subnet_newbits >= 1 && var.subnet_newbits <= 12 &&
      pow(2, var.subnet_newbits) >= 2 * length(var.azs) &&
      try(tonumber(split("/", var.vpc_cidr)[1]) + var.subnet_newbits <= 28, false)
    )
    error_message = "subnet_newbits must be a whole number from 1 to 12 that leaves room for 2 subnets per zone and subnets no smaller than /28."
  }
}

variable "nat_gateway_mode" {
  description = "\"single\": one NAT gateway shared by all private subnets (cheaper, one zone is a single point of failure for egress); \"one_per_az\": one NAT gateway per zone (resilient)."
  type        = string
  default     = "one_per_az"

  validation {
    condition     = contains(["single", "one_per_az"], var.nat_gateway_mode)
    error_message = "nat_gateway_mode must be \"single\" or \"one_per_az\"."
  }
}

variable "enable_flow_logs" {
  description = "Send VPC flow logs to an encrypted CloudWatch Logs group."
  type        = bool
  default     = true
}

variable "flow_logs_traffic_type" {
  description = "Traffic the flow logs record: ACCEPT, REJECT or ALL."
  type        = string
  default     = "ALL"

  validation {
    condition     = contains(["ACCEPT", "REJECT", "ALL"], var.flow_logs_traffic_type)
    error_message = "flow_logs_traffic_type must be ACCEPT, REJECT or ALL."
  }
}

variable "flow_logs_retention_days" {
  description = "Days CloudWatch Logs keeps the flow logs (a value CloudWatch accepts, at least 365 for audit trails)."
  type        = number
  default     = 365

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.flow_logs_retention_days)
    error_message = "flow_logs_retention_days must be a CloudWatch retention value of at least one year: 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653."
  }
}

variable "tags" {
  description = "Tags added to every resource of the module."
  type        = map(string)
  default     = {}
}
