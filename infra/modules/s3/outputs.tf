output "lake_bucket" {
  description = "The lake bucket (lake.root s3://<this>, spark.emr_bucket)."
  value       = aws_s3_bucket.lake.id
}

output "lake_bucket_arn" {
  description = "ARN of the lake bucket."
  value       = aws_s3_bucket.lake.arn
}

output "anchor_bucket" {
  description = "The Object Lock bucket of audit anchors (audit.anchor_s3_bucket)."
  value       = aws_s3_bucket.anchors.id
}

output "anchor_bucket_arn" {
  description = "ARN of the audit anchor bucket."
  value       = aws_s3_bucket.anchors.arn
}
