"""The shared kernel: users and roles, API tokens, base models, the API error format, health and logging.

Public surface for other apps: ``apps.common.models`` (``User``, ``PublicIdModel``, ``TimeStampedModel``),
``apps.common.errors`` (``DomainError`` and friends), ``apps.common.periodic`` (``PeriodicTaskSpec``),
``apps.common.roles`` and ``apps.common.testing`` (test helpers).
"""
