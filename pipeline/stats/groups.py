"""Sensitive views: each sensitive column, and their intersection, built in one place.

The data audit, the evaluate stage's accuracy by group, the fairness audit and the explain
stage all name groups the same way: a group of the intersection is the members' values joined by
:data:`INTERSECTION_SEP` ("Female & Black"), and the intersection view is named by the columns
joined by :data:`VIEW_SEP` ("sex x race"). Kept in ``pipeline.stats`` because ``pipeline.data``
may not import ``pipeline.audit`` (``.importlinter``) and both need it.

A value that itself contains the separator could make two different combinations print the same
label ("a & b" + "c" and "a" + "b & c"); such a table is refused with the columns named, never
merged silently.
"""

from __future__ import annotations

import pandas as pd

from pipeline.errors import BadInputError

#: Joins the members' values into one intersection group label.
INTERSECTION_SEP = " & "
#: Joins the column names into the intersection view's name.
VIEW_SEP = " x "


def label_text(values):
    """Group labels as Python strings, a missing value as 'nan' (what ``astype(str)`` printed for a
    missing value before pandas' string dtype, and what every engine's group labels say)."""
    import numpy as np

    out = pd.Series(values).to_numpy(dtype=object)
    out[pd.isna(out)] = "nan"
    return np.asarray(out, dtype=str)


def intersection_name(sensitive: list[str]) -> str:
    """The name of the intersection view of ``sensitive`` ("sex x race")."""
    return VIEW_SEP.join(sensitive)


def _check_unambiguous(columns: list[pd.Series], joined: pd.Series, sensitive: list[str]) -> None:
    if not any(c.str.contains(INTERSECTION_SEP, regex=False).any() for c in columns):
        return
    combos = pd.DataFrame({i: c.to_numpy() for i, c in enumerate(columns)}).drop_duplicates()
    if joined.nunique() < len(combos):
        holding = [name for name, c in zip(sensitive, columns) if c.str.contains(INTERSECTION_SEP, regex=False).any()]
        raise BadInputError(
            f"sensitive column(s) {holding} hold values containing {INTERSECTION_SEP!r}, which makes "
            f"intersection groups of {sensitive} ambiguous; rename those values"
        )


def sensitive_views(groups: pd.DataFrame, sensitive: list[str]) -> dict[str, pd.Series]:
    """``{view name: group label per row}``: each sensitive column as text, plus their
    intersection when there are several (labels as strings, index as in ``groups``)."""
    sensitive = list(sensitive)
    missing = [name for name in sensitive if name not in groups.columns]
    if missing:
        raise BadInputError(f"the group table lacks sensitive column(s) {missing}; it has {list(groups.columns)}")
    views = {name: groups[name].astype(str) for name in sensitive}
    if len(sensitive) > 1:
        columns = [views[s] for s in sensitive]
        joined = columns[0].str.cat(columns[1:], sep=INTERSECTION_SEP)
        _check_unambiguous(columns, joined, sensitive)
        views[intersection_name(sensitive)] = joined
    return views


#: fairlearn joins several sensitive columns with "," when it fits a rule (ThresholdOptimizer's
#: thresholds are keyed by that label), so a served or audited candidate must build the same one.
FAIRLEARN_SEP = ","


def joint_groups(frame, columns: list[str]):
    """One label per row for the intersection of ``columns`` (the column's own value for one column),
    joined as fairlearn joins several sensitive columns, so a fitted rule's groups match."""
    labels = frame[columns[0]].astype(str).to_numpy().astype(object)
    for column in columns[1:]:
        labels = labels + FAIRLEARN_SEP + frame[column].astype(str).to_numpy().astype(object)
    return labels.astype(str)
