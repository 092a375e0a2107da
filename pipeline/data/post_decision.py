"""Dates recorded after the decision: information the decision could not have had.

A model audited as a decision aid may only read what was known when the decision was made. When
the file says when that was (``data.csv.decision_date``, e.g. a screening date), any other date
column whose dates fall after it in most rows where both are known (a later offense, a case
closing, a release) was recorded after the decision, while the outcome was being observed: it is
named as suspected leakage with the share of rows it postdates.

False alarms: a date that routinely follows the decision for harmless reasons (a data-entry or
review date) is flagged too; it is post-decision information all the same, so the finding stands
and the column can be dropped or kept by name (``data.keep_columns``).
"""

from __future__ import annotations

import pandas as pd

#: Share of rows (with both dates known) in which a column's date must follow the decision date.
MIN_SHARE_AFTER = 0.5
#: Share of a column's filled values that must read as dates for it to be a date column.
MIN_DATE_SHARE = 0.9
MISSING_LEVEL = "<missing>"


def as_dates(values: pd.Series) -> pd.Series | None:
    """The column as dates (NaT where empty), or None when it is not a date column."""
    if pd.api.types.is_numeric_dtype(values):
        return None
    text = values.astype(str)
    filled = text[(text != MISSING_LEVEL) & (text != "nan") & (text != "")]
    if filled.empty or not filled.str.contains(r"\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}", regex=True).all():
        return None
    dates = pd.to_datetime(text.where(text.isin(filled)), errors="coerce", format="mixed")
    return dates if dates.notna().sum() >= MIN_DATE_SHARE * len(filled) else None


def suspects(features: pd.DataFrame, decision_date: str, columns: list[str]) -> list[dict]:
    """``[{"column", "reason", "score"}]`` for each date column that mostly follows ``decision_date``."""
    decided = as_dates(features[decision_date])
    if decided is None:
        return []
    out = []
    for column in columns:
        if column == decision_date:
            continue
        dates = as_dates(features[column])
        if dates is None:
            continue
        both = dates.notna() & decided.notna()
        if not both.any():
            continue
        share = float((dates[both] > decided[both]).mean())
        if share >= MIN_SHARE_AFTER:
            out.append(
                {
                    "column": column,
                    "reason": (
                        f"dated after the decision date '{decision_date}' in {share:.0%} of the {int(both.sum())} rows "
                        "where both are known (recorded after the decision)"
                    ),
                    "score": share,
                }
            )
    return out
