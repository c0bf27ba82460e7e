"""Schedules, rotations, overrides, escalation policies and engine, notification channels."""
