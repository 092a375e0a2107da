"""Pass / fail / inconclusive verdicts from disparities, their intervals and the thresholds.

A check passes when its whole interval lies inside the allowed range, fails when the whole
interval lies outside, and is inconclusive when the interval straddles a bound (or the value is
undefined): a regulator can then see which verdicts the data can and cannot support.
"""

from __future__ import annotations

import math

#: Disparity -> kind of bound ("difference": at most max_difference; "ratio": inside ratio_bounds).
CHECKS = {
    "demographic_parity_difference": "difference",
    "demographic_parity_ratio": "ratio",
    "equalized_odds_difference": "difference",
    "equalized_odds_ratio": "ratio",
    "equal_opportunity_difference": "difference",
    "false_positive_rate_ratio": "ratio",
    "false_negative_rate_ratio": "ratio",
}


def _finite(x) -> bool:
    return x is not None and not (isinstance(x, float) and math.isnan(x))


def status(value: float | None, ci: list, low: float | None, high: float | None) -> str:
    """Verdict for one value with interval ``ci`` against the closed range [low, high].

    Without an interval (``n_boot`` = 0) the point value is used as a zero-width interval.
    """
    if not _finite(value):
        return "inconclusive"
    lo, hi = (ci[0], ci[1]) if ci and _finite(ci[0]) and _finite(ci[1]) else (value, value)
    inside_low = low is None or lo >= low
    inside_high = high is None or hi <= high
    if inside_low and inside_high:
        return "pass"
    if (low is not None and hi < low) or (high is not None and lo > high):
        return "fail"
    return "inconclusive"


def bounds(kind: str, ratio_bounds: tuple[float, float], max_difference: float) -> list:
    """[low, high] for a check kind (None = open)."""
    return [None, max_difference] if kind == "difference" else [ratio_bounds[0], ratio_bounds[1]]


def evaluate(features: dict, ratio_bounds: tuple[float, float], max_difference: float, prefix: str = "") -> list[dict]:
    """One verdict per (view, disparity), in a stable order."""
    out = []
    for feature, block in features.items():
        for metric, kind in CHECKS.items():
            bound = bounds(kind, ratio_bounds, max_difference)
            value, ci = block.get(metric), block.get("ci", {}).get(metric, [None, None])
            out.append({
                "check": f"{prefix}{metric} by {feature}",
                "feature": feature,
                "metric": metric,
                "value": value,
                "ci": list(ci),
                "bound": bound,
                "status": status(value, ci, *bound),
            })  # fmt: skip
    return out


def failed(verdicts: list[dict]) -> list[str]:
    """Names of the checks whose whole interval is outside the bound (status ``fail``).

    Inconclusive checks are not violations: the data cannot tell. (The MLflow registry gate in
    the log stage is stricter and asks for ``pass`` everywhere.)
    """
    return [v["check"] for v in verdicts if v["status"] == "fail"]
