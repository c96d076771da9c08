# The fleet's artifacts bucket and the agent artifact in it. `runnerfleet up` builds the
# agent (a tarball of wheels, runnerfleet.hostartifact) and passes its path, key and SHA-256;
# this file uploads it, and the hosts download it with their instance role (s3:GetObject on
# agent/* only) through the VPC's S3 gateway endpoint, then check the digest before installing.
# Versioned, encrypted, TLS-only, no public access, bucket-owner-enforced ownership.

locals {
  artifacts_bucket = "${var.name}-artifacts-${local.account}"
  agent_artifact   = var.agent_artifact_path != null
}

resource "aws_s3_bucket" "artifacts" {
  #checkov:skip=CKV_AWS_18:Access logging would need a second bucket per fleet; the objects are rebuildable build outputs with no data, and CloudTrail records the API calls.
  #checkov:skip=CKV_AWS_144:Cross-region replication is pointless for build outputs that runnerfleet up rebuilds from source.
  #checkov:skip=CKV2_AWS_62:No consumer for event notifications: hosts fetch the object named in their user data.
  #checkov:skip=CKV2_AWS_61:No lifecycle rule: one ~15 MB object per agent build (content-addressed keys), kept as noncurrent versions for rollback; cents per year.
  #checkov:skip=CKV_AWS_145:SSE-S3 by default (no key policy for every host role to maintain); artifacts_kms_key_arn switches to SSE-KMS.
  bucket        = local.artifacts_bucket
  force_destroy = true # build outputs only: `runnerfleet down` may remove every version

  tags = merge(local.common_tags, { "runnerfleet:role" = "artifacts", Name = local.artifacts_bucket })
}

resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = var.artifacts_kms_key_arn == null ? "AES256" : "aws:kms"
      kms_master_key_id = var.artifacts_kms_key_arn
    }
    bucket_key_enabled = var.artifacts_kms_key_arn != null
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

data "aws_iam_policy_document" "artifacts" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    resources = [
      aws_s3_bucket.artifacts.arn,
      "${aws_s3_bucket.artifacts.arn}/*",
    ]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts.json

  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}

resource "aws_s3_object" "agent" {
  count = local.agent_artifact ? 1 : 0

  bucket       = aws_s3_bucket.artifacts.id
  key          = var.agent_artifact_key
  source       = var.agent_artifact_path
  source_hash  = var.agent_artifact_sha256
  content_type = "application/gzip"

  tags = merge(local.common_tags, { "runnerfleet:sha256" = var.agent_artifact_sha256 })

  depends_on = [
    aws_s3_bucket_policy.artifacts,
    aws_s3_bucket_server_side_encryption_configuration.artifacts,
    aws_s3_bucket_versioning.artifacts,
  ]
}
