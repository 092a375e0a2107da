"""An audited ML pipeline: train an MLP on tabular data and audit it for bias, opacity,
privacy leaks, data quality and compute cost, leaving a reproducible record."""

__version__ = "0.1.0"
