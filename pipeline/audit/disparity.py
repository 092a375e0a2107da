"""Max-min disparities between groups, kept as information beside the policy's comparisons.

Definitions follow fairlearn: demographic parity compares selection rates, equalized odds the
worse of the TPR and FPR gaps, equal opportunity the TPR gap; ratios are smaller over larger.
Only eligible groups (large enough, with both outcomes in the truth) enter max-min figures.
"""

from __future__ import annotations

import numpy as np

DIFFERENCES = ("demographic_parity_difference", "equalized_odds_difference", "equal_opportunity_difference")
RATIOS = ("demographic_parity_ratio", "equalized_odds_ratio", "fpr_ratio", "fnr_ratio")


def _spread(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max - min, min / max) across the last axis, ignoring undefined groups."""
    with np.errstate(all="ignore"), _quiet():
        high, low = np.nanmax(values, axis=-1), np.nanmin(values, axis=-1)
        ratio = np.where(high > 0, low / np.where(high > 0, high, 1), np.nan)
        return high - low, ratio


class _quiet:
    """Silence numpy's 'All-NaN slice' warnings: an all-undefined view is reported as undefined."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)


def between_groups(table: dict[str, np.ndarray], eligible: np.ndarray) -> dict[str, np.ndarray]:
    """Max-min disparities over eligible groups; arrays of shape (resamples,)."""
    if eligible.sum() < 2:
        nan = np.full(table["selection_rate"].shape[0], np.nan)
        return {name: nan for name in DIFFERENCES + RATIOS}
    pick = {k: v[:, eligible] for k, v in table.items()}
    dp_diff, dp_ratio = _spread(pick["selection_rate"])
    tpr_diff, tpr_ratio = _spread(pick["tpr"])
    fpr_diff, fpr_ratio = _spread(pick["fpr"])
    _, fnr_ratio = _spread(pick["fnr"])
    return {
        "demographic_parity_difference": dp_diff,
        "demographic_parity_ratio": dp_ratio,
        "equalized_odds_difference": np.fmax(tpr_diff, fpr_diff),
        "equalized_odds_ratio": np.fmin(tpr_ratio, fpr_ratio),
        "equal_opportunity_difference": tpr_diff,
        "fpr_ratio": fpr_ratio,
        "fnr_ratio": fnr_ratio,
    }
