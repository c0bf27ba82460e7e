"""Automated remediation of incidents: an action registry, proposals from rules, approvals, and guarded execution.

Public surface: ``apps.incidents.remediation.services``. Importing the package declares its configuration keys.
"""

from apps.incidents.remediation import config_keys as _config_keys  # noqa: F401 - declares the keys on import
