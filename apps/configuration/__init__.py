"""Layered runtime configuration with provenance, secrets from Vault, and the Fernet keyring."""
