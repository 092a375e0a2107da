"""Data sources, validation, audit, PII scan and encoding."""
