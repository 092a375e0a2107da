"""Pick the data source named by ``data.source`` and settle its sensitive columns and labels."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pipeline.config import DataSettings
from pipeline.data.table import RawTable
from pipeline.errors import BadInputError
from pipeline.paths import RAW_DIR

#: The sensitive columns a bundled source audits when ``data.sensitive`` is null.
DEFAULT_SENSITIVE = {"adult": ["sex", "race"], "german": ["sex", "age_band"]}


def resolve(settings: DataSettings) -> DataSettings:
    """``settings`` with ``sensitive`` filled in from the source's defaults when null."""
    if settings.sensitive is not None:
        return settings
    return settings.model_copy(update={"sensitive": list(DEFAULT_SENSITIVE[settings.source])})


def with_favourable(table: RawTable, label: str | None) -> RawTable:
    """Override the favourable class (``data.favourable_label``), refusing a label not in the data."""
    if label is None or label == table.favourable:
        return table
    if label not in table.classes:
        raise BadInputError(f"data.favourable_label {label!r} is not one of the classes {table.classes}")
    return dataclasses.replace(table, favourable=label, notes=[*table.notes, f"favourable class set to '{label}'"])


def load_source(settings: DataSettings, raw_dir: Path = RAW_DIR) -> RawTable:
    """Load and validate the configured table; raise :class:`BadInputError` on bad input."""
    settings = resolve(settings)
    if settings.source == "adult":
        from pipeline.data import adult

        return with_favourable(adult.load(raw_dir), settings.favourable_label)
    if settings.source == "german":
        from pipeline.data import german

        return with_favourable(german.load(raw_dir), settings.favourable_label)
    from pipeline.data import csv_source

    return csv_source.load(settings, settings.val_size, settings.test_size)
