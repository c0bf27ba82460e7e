"""The on-call REST API, mounted at ``/api/v1/oncall/``."""
