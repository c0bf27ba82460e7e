output "portal_role_arn" {
  description = "The IRSA role (Helm: serviceAccount.roleArn)."
  value       = aws_iam_role.portal.arn
}
