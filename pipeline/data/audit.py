"""The data audit: who is in the table, how labels fall across groups, and which features stand in
for a sensitive attribute.

Run before any model: a group too small to measure, a skewed base rate or a strong proxy (on
Adult, ``relationship`` almost determines ``sex``) explains later fairness results better than
the model does. Association is the project's one bias-corrected Cramér's V and adjusted mutual
information (:mod:`pipeline.stats.association`), both corrected for the number of levels so an
identifier never tops the list; numeric features with many values are cut into quantile bins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.data.group_names import confusable
from pipeline.data.table import RawTable
from pipeline.stats.association import adjusted_mutual_info, as_categories, cramers_v
from pipeline.stats.groups import sensitive_views

MISSING_LEVEL = "<missing>"


def group_table(labels: pd.Series, favourable: pd.Series, min_size: int) -> dict:
    """Count, share, favourable base rate and small-group flag of each group."""
    total = len(labels)
    stats = favourable.groupby(labels.to_numpy(), sort=True).agg(["size", "mean"])
    return {
        str(group): {
            "count": int(row["size"]),
            "share": row["size"] / total,
            "base_rate": float(row["mean"]),
            "small": bool(row["size"] < min_size),
        }
        for group, row in stats.iterrows()
    }


def groups(table: RawTable, sensitive: list[str], min_size: int) -> dict:
    """Per sensitive column and their intersection, as in the fairness stage."""
    favourable = (table.target == table.favourable).astype(float)
    views = sensitive_views(table.features, sensitive)
    return {name: group_table(view, favourable, min_size) for name, view in views.items()}


def missingness(table: RawTable) -> dict:
    """Missing cells per column as read (or the explicit '<missing>' level the loader made)."""
    frame = table.features
    counts = (
        dict(table.missing)
        if table.missing
        else {c: int((frame[c].astype(str) == MISSING_LEVEL).sum()) for c in frame.columns}
    )
    n = len(frame)
    return {c: {"count": int(v), "share": v / n if n else None} for c, v in sorted(counts.items())}


def codes(values: pd.Series) -> np.ndarray:
    """Integer codes in order of first appearance (a missing value is a level): the measures
    factorise their inputs the same way, so they give identical values from codes, without an
    array of Python strings per column."""
    return pd.factorize(values, use_na_sentinel=False)[0]


def proxies(table: RawTable, sensitive: list[str], columns: list[str], top: int = 5) -> dict:
    """Association of every feature with every sensitive attribute, strongest first."""
    numeric = set(table.numeric)
    targets = {a: codes(table.features[a].astype(str)) for a in sensitive}
    found: dict[str, list[dict]] = {a: [] for a in sensitive}
    for column in columns:  # one column's categories at a time: all at once held a second table
        cats = codes(as_categories(table.features[column], column in numeric))
        for attribute, target in targets.items():
            if column != attribute:
                found[attribute].append(
                    {
                        "feature": column,
                        "cramers_v": cramers_v(cats, target),
                        "adjusted_mutual_info": adjusted_mutual_info(cats, target),
                    }
                )
    result = {}
    for attribute in sensitive:
        rows = found[attribute]
        rows.sort(key=lambda r: (-r["cramers_v"], r["feature"]))
        result[attribute] = {"associations": rows, "strongest": [r["feature"] for r in rows[:top]]}
    return result


def audit(table: RawTable, sensitive: list[str], min_group_size: int, excluded: list[str] = ()) -> dict:
    """Everything the data section of the report shows, as plain data."""
    group_blocks = groups(table, sensitive, min_group_size)
    small = [
        {"feature": feature, "group": group, "count": row["count"]}
        for feature, block in group_blocks.items()
        for group, row in block.items()
        if row["small"]
    ]
    candidates = [c for c in table.features.columns if c not in excluded]
    favourable = table.target == table.favourable
    return {
        "n_rows": int(len(table.target)),
        "favourable": table.favourable,
        "base_rate": float(favourable.mean()),
        "class_counts": {c: int((table.target == c).sum()) for c in table.classes},
        "min_group_size": min_group_size,
        "groups": group_blocks,
        "small_groups": small,
        "missing": missingness(table),
        "proxies": proxies(table, sensitive, candidates),
        "notes": list(table.notes),
        "confusable_groups": [
            found
            for column in sensitive
            if column in table.features
            for found in confusable(column, table.features[column].dropna().astype(str).unique())
        ],
    }
