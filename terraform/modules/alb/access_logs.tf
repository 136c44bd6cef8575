data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

# Regional Elastic Load Balancing account (only regions opened before August 2022 have one).
data "aws_elb_service_account" "this" {
  count = var.legacy_elb_log_delivery ? 1 : 0
}

locals {
  access_logs_prefix = "alb"
  access_logs_path   = "${aws_s3_bucket.access_logs.arn}/${local.access_logs_prefix}/AWSLogs/${data.aws_caller_identity.current.account_id}/*"
}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This bucket is the log destination; logging its own accesses would need yet another bucket (or loop).
  #checkov:skip=CKV_AWS_145:ALB access logs can only be written with SSE-S3 (AES256); SSE-KMS is not supported by ELB log delivery.
  #checkov:skip=CKV_AWS_144:Access logs are expendable operational data kept 90 days; cross-region replication would double cost for no recovery need.
  #checkov:skip=CKV2_AWS_62:Nothing consumes new-object events of the log bucket; notifications would need a target (SNS/SQS/Lambda) without a use.
  bucket_prefix = "${var.name}-alb-logs-"
  force_destroy = var.access_logs_force_destroy

  tags = merge(var.tags, { Name = "${var.name}-alb-logs" })
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# ALB access logs support SSE-S3 only (not SSE-KMS).
resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_versioning" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  rule {
    id     = "expire-access-logs"
    status = "Enabled"

    filter {}

    expiration {
      days = var.access_logs_expiration_days
    }

    noncurrent_version_expiration {
      noncurrent_days = 7
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  depends_on = [aws_s3_bucket_versioning.access_logs]
}

resource "aws_s3_bucket_policy" "access_logs" {
  bucket = aws_s3_bucket.access_logs.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid       = "ElbLogDelivery"
          Effect    = "Allow"
          Principal = { Service = "logdelivery.elasticloadbalancing.amazonaws.com" }
          Action    = "s3:PutObject"
          Resource  = local.access_logs_path
        },
      ],
      [for statement in [
        {
          Sid       = "ElbLogDeliveryRegionalAccount"
          Effect    = "Allow"
          Principal = { AWS = one(data.aws_elb_service_account.this[*].arn) }
          Action    = "s3:PutObject"
          Resource  = local.access_logs_path
        },
      ] : statement if var.legacy_elb_log_delivery],
      [
        {
          Sid       = "DenyInsecureTransport"
          Effect    = "Deny"
          Principal = "*"
          Action    = "s3:*"
          Resource  = [aws_s3_bucket.access_logs.arn, "${aws_s3_bucket.access_logs.arn}/*"]
          Condition = { Bool = { "aws:SecureTransport" = "false" } }
        },
      ],
    )
  })

  # A public access block must exist before a policy is attached.
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}
