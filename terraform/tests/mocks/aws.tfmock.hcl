# Shared defaults for `mock_provider "aws"` in every *.tftest.hcl.
#
# A mocked provider invents random strings for computed attributes. Where the
# provider (or one of our variable validations) checks the shape of a value,
# these defaults give it a realistic one. Nothing here talks to AWS.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition  = "aws"
    dns_suffix = "amazonaws.com"
  }
}

mock_data "aws_region" {
  defaults = {
    name = "eu-west-1"
  }
}

mock_data "aws_availability_zones" {
  defaults = {
    names    = ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    zone_ids = ["euw1-az1", "euw1-az2", "euw1-az3"]
  }
}

mock_data "aws_ssm_parameter" {
  defaults = {
    value          = "ami-0123456789abcdef0"
    insecure_value = "ami-0123456789abcdef0"
  }
}

# ElastiCache checks the AUTH token length (16-128); the mock must look real.
mock_data "aws_secretsmanager_random_password" {
  defaults = {
    random_password = "offline-test-token-not-a-secret-000000000000000000000000"
  }
}

mock_data "aws_elb_service_account" {
  defaults = {
    arn = "arn:aws:iam::156460612806:root"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/flashsale/50dc6c495c0c9188"
    arn_suffix = "app/flashsale/50dc6c495c0c9188"
    dns_name   = "flashsale-1234567890.eu-west-1.elb.amazonaws.com"
    zone_id    = "Z32O12XQLNTSW2"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn        = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/flashsale-8000/943f017f100becff"
    arn_suffix = "targetgroup/flashsale-8000/943f017f100becff"
  }
}

mock_resource "aws_lb_listener" {
  defaults = {
    arn = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/flashsale/50dc6c495c0c9188/f2f7dc8efc522ab2"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/flashsale-test"
  }
}

mock_resource "aws_iam_instance_profile" {
  defaults = {
    arn = "arn:aws:iam::123456789012:instance-profile/flashsale-test"
  }
}

mock_resource "aws_kms_key" {
  defaults = {
    arn    = "arn:aws:kms:eu-west-1:123456789012:key/0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"
    key_id = "0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:eu-west-1:123456789012:log-group:flashsale-test"
  }
}

mock_resource "aws_secretsmanager_secret" {
  defaults = {
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:flashsale-test-AbCdEf"
  }
}

mock_resource "aws_s3_bucket" {
  defaults = {
    arn = "arn:aws:s3:::flashsale-alb-logs-test"
  }
}

mock_resource "aws_wafv2_web_acl" {
  defaults = {
    arn = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/flashsale-alb/a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"
  }
}

mock_resource "aws_autoscaling_group" {
  defaults = {
    arn = "arn:aws:autoscaling:eu-west-1:123456789012:autoScalingGroup:6d5af669-eb3b-4530-894b-e314a667f2e7:autoScalingGroupName/flashsale-api"
  }
}

mock_resource "aws_elasticache_replication_group" {
  defaults = {
    arn                            = "arn:aws:elasticache:eu-west-1:123456789012:replicationgroup:flashsale"
    primary_endpoint_address       = "master.flashsale.abcdef.euw1.cache.amazonaws.com"
    reader_endpoint_address        = "replica.flashsale.abcdef.euw1.cache.amazonaws.com"
    configuration_endpoint_address = "clustercfg.flashsale.abcdef.euw1.cache.amazonaws.com"
  }
}

mock_resource "aws_launch_template" {
  defaults = {
    id             = "lt-0123456789abcdef0"
    arn            = "arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0123456789abcdef0"
    latest_version = 1
  }
}

mock_resource "aws_sns_topic" {
  defaults = {
    arn = "arn:aws:sns:eu-west-1:123456789012:flashsale-redis-alarms"
  }
}

mock_resource "aws_db_instance" {
  defaults = {
    arn     = "arn:aws:rds:eu-west-1:123456789012:db:flashsale"
    address = "flashsale.abcdefghijkl.eu-west-1.rds.amazonaws.com"
    master_user_secret = [{
      kms_key_id    = "arn:aws:kms:eu-west-1:123456789012:key/0e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7"
      secret_arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-0123abcd-AbCdEf"
      secret_status = "active"
    }]
  }
}

# Cognito pool ids are REGION_XXXXXXXXX; the issuer URL is built from them.
mock_resource "aws_cognito_user_pool" {
  defaults = {
    id       = "eu-west-1_AbCdEf123"
    arn      = "arn:aws:cognito-idp:eu-west-1:123456789012:userpool/eu-west-1_AbCdEf123"
    endpoint = "cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEf123"
  }
}

mock_resource "aws_cognito_user_pool_client" {
  defaults = {
    id = "1example23456789abcdefghij"
  }
}

mock_resource "aws_cognito_user_pool_domain" {
  defaults = {
    cloudfront_distribution = "d111111abcdef8.cloudfront.net"
  }
}
