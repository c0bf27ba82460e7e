variable "name" {
  description = "Cluster name, e.g. ecap-prod."
  type        = string
}

variable "kubernetes_version" {
  description = "EKS Kubernetes version (the chart is validated against this minor's schemas)."
  type        = string
  default     = "1.33"
}

variable "vpc_id" {
  description = "VPC of the cluster."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC (control plane egress)."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets of the nodes and the control plane's interfaces."
  type        = list(string)
}

variable "public_access_cidrs" {
  description = "CIDRs allowed to reach the public API endpoint; empty keeps the endpoint private only."
  type        = list(string)
  default     = []
}

variable "kms_key_arn" {
  description = "KMS key for Kubernetes secrets, node volumes and the control-plane log group."
  type        = string
}

variable "log_retention_days" {
  description = "Days control-plane logs are kept."
  type        = number
  default     = 365
}

variable "node_disk_gb" {
  description = "Root volume of every node, in GiB."
  type        = number
  default     = 50
}

variable "node_groups" {
  description = "Managed node groups by name."
  type = map(object({
    instance_types = list(string)
    capacity_type  = string
    min_size       = number
    max_size       = number
    desired_size   = number
  }))
}

variable "tags" {
  description = "Tags of every resource (on top of the provider's default_tags)."
  type        = map(string)
  default     = {}
}
