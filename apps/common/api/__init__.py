"""API building blocks shared by every app: error format, pagination, throttling, schema extensions."""
