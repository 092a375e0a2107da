"""Pure functions from predictions (or a model) to plain dicts: no file I/O, no MLflow."""
