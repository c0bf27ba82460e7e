variable "name" {
  description = "Name prefix of every network resource, e.g. ecap-prod."
  type        = string
}

variable "cidr" {
  description = "The VPC's CIDR block (a /16: subnets are /20s)."
  type        = string
}

variable "az_count" {
  description = "Availability zones to spread subnets over."
  type        = number
  default     = 3
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, one zone's outage cuts egress): dev only."
  type        = bool
  default     = false
}

variable "cluster_name" {
  description = "The EKS cluster the subnets are tagged for (load balancer discovery)."
  type        = string
}

variable "region" {
  description = "AWS region, for the S3 gateway endpoint's service name."
  type        = string
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow log group."
  type        = string
}

variable "flow_log_retention_days" {
  description = "Days VPC flow logs are kept (the platform keeps logs 365 days)."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
