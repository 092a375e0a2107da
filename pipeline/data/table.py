"""The shape every data source hands to the rest of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class RawTable:
    """A parsed, validated table before encoding.

    Attributes
    ----------
    features:
        Every candidate input column (sensitive columns included; ``prepare`` decides whether
        they become model inputs). Categorical values are strings, numerics are floats.
    target:
        The label of each row as a string (one of ``classes``).
    classes:
        All class labels, in the order of the model's outputs.
    favourable:
        The class treated as the favourable outcome in binary fairness metrics.
    numeric, categorical:
        The column types of ``features``.
    official_split:
        ``"train"``/``"test"`` per row when the publisher fixed a split (Adult), else ``None``.
    provenance:
        File name -> sha256 of what was read, for the report's manifest.
    extra:
        Columns carried beside the data but never used as inputs (an existing system's score
        or decision), keyed by role.
    notes:
        Human-readable remarks on what the loader did (rows dropped, groups created).
    missing:
        Column -> number of missing (empty or unknown) cells as read, before any filling.
    derived_from:
        Sensitive column -> the columns the loader built it from (german: ``sex`` from
        ``status_sex``): they encode it, so they are not inputs unless asked for.
    """

    features: pd.DataFrame
    target: pd.Series
    classes: list[str]
    favourable: str
    numeric: list[str]
    categorical: list[str]
    official_split: pd.Series | None = None
    provenance: dict[str, str] = field(default_factory=dict)
    extra: dict[str, pd.Series] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    missing: dict[str, int] = field(default_factory=dict)
    derived_from: dict[str, list[str]] = field(default_factory=dict)
