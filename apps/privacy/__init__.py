"""Consent ledger, GDPR/CCPA data-subject requests and deadlines, erasure proof, retention."""
