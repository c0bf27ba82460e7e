variable "region" {
  description = "AWS region of the environment."
  type        = string
  default     = "eu-west-1"
}

variable "namespace" {
  description = "Kubernetes namespace the Helm release is installed into."
  type        = string
  default     = "ecap"
}

variable "eks_public_access_cidrs" {
  description = "CIDRs allowed to reach the EKS API endpoint from outside the VPC (operators, CI)."
  type        = list(string)
  default     = []
}

variable "emr_tls_certificates_s3_object" {
  description = "s3:// URL of the zip of PEM certificates for EMR in-transit encryption (docs/deployment.md)."
  type        = string
}
