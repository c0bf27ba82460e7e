"""Admin of data quality: the stewards' rule editor (with a test run of the unsaved rule on a sample), scan
schedules kept in step with django-celery-beat, and a read-only history of scans with their results.

A steward (anyone with the change permission who is not an administrator) sees and changes only the rules and
schedules of the datasets they steward or own; read-only roles read every rule. Scans are history: everyone with the
view permission reads them, a steward of the dataset may cancel a queued one, and samples never show in the admin
but through the test run's answer, masked by ``samples.samples_view``.
"""

from __future__ import annotations

from apps.quality.admin import rules, scans, schedules

__all__ = ["rules", "scans", "schedules"]
