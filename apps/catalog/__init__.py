"""Datasets and fields, classification, privacy taxonomy, owners, glossary, schema versions, PII review."""
