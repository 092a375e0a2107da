"""The one table of data sources: name -> loader, default sensitive columns, raw files, words.

Why one table: a data source is an extension point read by the config (which names ``data.source``
accepts, and whether ``data.sensitive`` must be given), by :func:`pipeline.data.sources.load_source`
(which loader to call) and by the README. The loaders live in :mod:`pipeline.data` (they import
pandas and parse files); this table sits below them so that the config can read it without
importing any of them, and names each loader by its import path. Every loader has one signature::

    source(settings: DataSettings, raw_dir: Path) -> RawTable

Adding a source is a row here and a module with that function; the config then accepts its name
and ``prepare`` loads it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DataSource:
    name: str
    #: ``"module:function"``, the loader (signature in the module docstring), imported when used
    loader: str
    #: the sensitive columns audited when ``data.sensitive`` is null; ``None``: the user must name them
    sensitive: tuple[str, ...] | None
    #: files it reads under ``data/raw/`` (empty: the user's own file, ``data.csv.path``)
    raw_files: tuple[str, ...]
    description: str
    #: a fixed bundled table: ``data.favourable_label`` and ``data.missing_sensitive`` apply after
    #: loading (a csv source handles both itself, from its own settings)
    bundled: bool = True


SOURCES: dict[str, DataSource] = {
    s.name: s
    for s in (
        DataSource(
            "adult",
            "pipeline.data.adult:source",
            ("sex", "race"),
            ("adult.data.gz", "adult.test.gz"),
            "UCI Adult census income (48,842 rows, official train/test split), bundled.",
        ),
        DataSource(
            "german",
            "pipeline.data.german:source",
            ("sex", "age_band"),
            ("german.data.gz", "german_values_maps.json"),
            "UCI Statlog German credit (1,000 rows, decoded with its code book), bundled.",
        ),
        DataSource(
            "csv",
            "pipeline.data.csv_source:source",
            None,
            (),
            "Your own table (data.csv: path, target, ...), validated and typed; sensitive columns named by you.",
            bundled=False,
        ),
    )
}
