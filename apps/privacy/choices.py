"""Persisted enums of privacy."""

from __future__ import annotations

from django.db import models


class IdentityKind(models.TextChoices):
    """What a data subject is known by (the catalog's identity fields use the same values)."""

    EMAIL = "email", "E-mail address"
    CUSTOMER_ID = "customer_id", "Customer id"
    PHONE = "phone", "Phone number"


class ConsentDecision(models.TextChoices):
    OPT_IN = "opt_in", "Opt-in"
    OPT_OUT = "opt_out", "Opt-out"
    ACKNOWLEDGE = "acknowledge", "Acknowledged (notice only)"


class ConsentSource(models.TextChoices):
    WEB = "web", "Web form"
    API = "api", "API"
    IMPORT = "import", "Import"
    GPC = "gpc", "Global Privacy Control signal"


class ConsentAnswer(models.TextChoices):
    """The answer to "may we process this subject's data for this purpose?"."""

    GRANTED = "granted", "Granted"
    DENIED = "denied", "Denied"
    UNKNOWN = "unknown", "No decision recorded"
    RESTRICTED = "restricted", "Processing restricted (GDPR Art. 18)"
