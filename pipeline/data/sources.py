"""Pick the data source named by ``data.source``."""

from __future__ import annotations

from pipeline.config import DataSettings
from pipeline.data.table import RawTable
from pipeline.paths import RAW_DIR


def load_source(settings: DataSettings) -> RawTable:
    """Load and validate the configured table; raise :class:`BadInputError` on bad input."""
    if settings.source == "adult":
        from pipeline.data import adult

        return adult.load(RAW_DIR)
    raise NotImplementedError(f"data.source={settings.source!r} is not available yet")
