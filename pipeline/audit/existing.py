"""An existing system's outputs (``data.csv.score`` / ``data.csv.decision``) read as the user meant.

Three ways such an audit misleads, each refused here: decision values that are not the target's
labels (a ``Low/Medium/High`` column against a 0/1 target made every row "unfavourable" and the
system passed), a score read the wrong way round (a risk score, where high is bad), and an audit
on the test split only of a system that was not trained here. The system is audited on every
labelled row by default (``data.csv.existing_rows``), and the report names the column, the
threshold, the direction and the row count, and defines each error rate in words.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline.errors import BadInputError


def decisions_from_score(score: pd.Series, threshold: float, direction: str) -> tuple[np.ndarray, np.ndarray]:
    """(favourable 0/1, usable-row mask): at or above the threshold is favourable only when higher is."""
    values = pd.to_numeric(score, errors="coerce").to_numpy(dtype=np.float64)
    usable = np.isfinite(values)
    above = values >= threshold
    favourable = above if direction == "higher_is_favourable" else ~above
    return favourable.astype(np.int64), usable


def decisions_from_labels(
    values: pd.Series, classes: list[str], favourable: str, favourable_decision: str | None, column: str
) -> tuple[np.ndarray, np.ndarray]:
    """(favourable 0/1, usable-row mask); exit 2 when the values cannot be read as the user meant."""
    text = values.astype(str).str.strip()
    usable = ~text.isin(["", "nan", "NaN", "None"]).to_numpy()
    found = sorted(set(text[usable]))
    if favourable_decision is not None:
        if favourable_decision not in found:
            raise BadInputError(
                f"data.csv.favourable_decision {favourable_decision!r} is not a value of the decision column "
                f"{column!r} (values found: {found})"
            )
        wanted = favourable_decision
    else:
        unknown = [v for v in found if v not in classes]
        if unknown:
            raise BadInputError(
                f"decision column {column!r} holds values that are not the target's classes: found {found}, classes "
                f"{classes}; name the value that means the favourable decision with data.csv.favourable_decision"
            )
        wanted = favourable
    return (text == wanted).to_numpy().astype(np.int64), usable


def error_rate_words(target: str, favourable: str, classes: list[str]) -> dict[str, str]:
    """Each rate defined in words for this data ('favourable' = the configured favourable class)."""
    others = [c for c in classes if c != favourable]
    other = f"'{others[0]}'" if len(others) == 1 else f"not '{favourable}'"
    return {
        "selection_rate": f"share of people given the favourable decision (predicted {target} = '{favourable}')",
        "tpr": f"people with {target} = '{favourable}' who were given the favourable decision",
        "fnr": f"people with {target} = '{favourable}' who were refused the favourable decision",
        "fpr": f"people with {target} = {other} who were nevertheless given the favourable decision",
        "precision": f"among people given the favourable decision, the share whose {target} was '{favourable}'",
    }


def describe(csv, role: str, rows: int, dropped: int, splits: list[str], favourable: str, classes: list[str]) -> dict:
    """What was audited, in the terms the report prints."""
    out = {
        "role": role,
        "rows": rows,
        "rows_without_value": dropped,
        "splits": splits,
        "favourable_class": favourable,
        "target": csv.target,
        "classes": list(classes),
        "definitions": error_rate_words(csv.target or "the target", favourable, classes),
    }
    if role == "score":
        out.update(
            column=csv.score,
            threshold=csv.score_threshold,
            direction=csv.score_direction,
            rule=(
                f"favourable when {csv.score} {'>=' if csv.score_direction == 'higher_is_favourable' else '<'} "
                f"{csv.score_threshold:g}"  # as the user wrote it: 5, not 5.0
            ),
        )
    else:
        value = csv.favourable_decision if csv.favourable_decision is not None else favourable
        out.update(column=csv.decision, favourable_decision=value, rule=f"favourable when {csv.decision} = '{value}'")
    return out
