# Offline: every resource and data source comes from the mocked provider.
mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name     = "fs-test"
  vpc_cidr = "10.40.0.0/16"
  azs      = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
}

run "three_zones_public_and_private" {
  command = apply

  assert {
    condition     = length(aws_subnet.private) == 3 && length(aws_subnet.public) == 3
    error_message = "Expected one public and one private subnet per zone."
  }

  assert {
    condition     = toset(aws_subnet.private[*].availability_zone) == toset(var.azs) && toset(aws_subnet.public[*].availability_zone) == toset(var.azs)
    error_message = "Subnets must cover the 3 availability zones."
  }

  assert {
    condition     = alltrue([for s in concat(aws_subnet.public, aws_subnet.private) : s.map_public_ip_on_launch == false])
    error_message = "No subnet may hand out public addresses on launch."
  }

  assert {
    condition = (
      length(distinct(concat(aws_subnet.public[*].cidr_block, aws_subnet.private[*].cidr_block))) == 6 &&
      alltrue([for c in concat(aws_subnet.public[*].cidr_block, aws_subnet.private[*].cidr_block) : cidrsubnet(c, 0, 0) == c && startswith(c, "10.40.")])
    )
    error_message = "Subnet CIDRs must be distinct blocks inside the VPC."
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 3 && toset(aws_route.private_egress[*].nat_gateway_id) == toset(aws_nat_gateway.this[*].id)
    error_message = "one_per_az must give every zone its own NAT gateway."
  }

  assert {
    condition     = alltrue([for r in aws_route.private_egress : r.gateway_id == null || r.gateway_id == ""])
    error_message = "Private subnets must not route to the internet gateway."
  }

  assert {
    condition     = length(aws_default_security_group.this.ingress) == 0 && length(aws_default_security_group.this.egress) == 0
    error_message = "The default security group must have no rules."
  }

  assert {
    condition     = aws_flow_log.this[0].traffic_type == "ALL" && aws_cloudwatch_log_group.flow_logs[0].kms_key_id == aws_kms_key.flow_logs[0].arn
    error_message = "Flow logs must record all traffic into a KMS-encrypted log group."
  }
}

run "single_shared_nat" {
  command = apply

  variables {
    nat_gateway_mode = "single"
    enable_flow_logs = false
  }

  assert {
    condition     = length(aws_nat_gateway.this) == 1 && length(distinct(aws_route.private_egress[*].nat_gateway_id)) == 1
    error_message = "single mode must route every private subnet through one NAT gateway."
  }

  assert {
    condition     = length(aws_flow_log.this) == 0 && output.flow_log_group_name == null
    error_message = "enable_flow_logs = false must not create flow logs."
  }
}

run "rejects_host_address_as_vpc_cidr" {
  command = plan
  variables {
    vpc_cidr = "10.40.0.1/16"
  }
  expect_failures = [var.vpc_cidr]
}

run "rejects_too_large_vpc_cidr" {
  command = plan
  variables {
    vpc_cidr = "10.0.0.0/8"
  }
  expect_failures = [var.vpc_cidr]
}

run "rejects_garbage_vpc_cidr" {
  command = plan
  variables {
    vpc_cidr = "300.1.0.0/16"
  }
  expect_failures = [var.vpc_cidr]
}

run "rejects_two_zones" {
  command = plan
  variables {
    azs = ["eu-west-1a", "eu-west-1b"]
  }
  expect_failures = [var.azs]
}

run "rejects_duplicate_zones" {
  command = plan
  variables {
    azs = ["eu-west-1a", "eu-west-1a", "eu-west-1b"]
  }
  expect_failures = [var.azs]
}

run "rejects_region_instead_of_zone" {
  command = plan
  variables {
    azs = ["eu-west-1", "eu-west-1b", "eu-west-1c"]
  }
  expect_failures = [var.azs]
}

run "rejects_subnets_that_do_not_fit" {
  command = plan
  variables {
    subnet_newbits = 2
  }
  expect_failures = [var.subnet_newbits]
}

run "rejects_unknown_nat_mode" {
  command = plan
  variables {
    nat_gateway_mode = "none"
  }
  expect_failures = [var.nat_gateway_mode]
}

run "rejects_short_flow_log_retention" {
  command = plan
  variables {
    flow_logs_retention_days = 7
  }
  expect_failures = [var.flow_logs_retention_days]
}

run "rejects_bad_name" {
  command = plan
  variables {
    name = "Flash_Sale"
  }
  expect_failures = [var.name]
}
