"""Verdict logic at the bounds, including inconclusive intervals."""

from __future__ import annotations

import pytest

from pipeline.audit import verdicts


@pytest.mark.parametrize(
    ("value", "ci", "expected"),
    [
        (0.05, [0.02, 0.08], "pass"),
        (0.10, [0.10, 0.10], "pass"),  # on the bound counts as inside (closed range)
        (0.09, [0.05, 0.1000001], "inconclusive"),  # straddles
        (0.15, [0.1000001, 0.2], "fail"),
        (0.15, [0.10, 0.2], "inconclusive"),  # touches the bound from outside
        (None, [None, None], "inconclusive"),
    ],
)
def test_difference_bound(value, ci, expected):
    assert verdicts.status(value, ci, None, 0.1) == expected


@pytest.mark.parametrize(
    ("value", "ci", "expected"),
    [
        (0.9, [0.85, 0.95], "pass"),
        (0.8, [0.8, 1.25], "pass"),
        (0.82, [0.79, 0.9], "inconclusive"),
        (0.5, [0.4, 0.79], "fail"),
        (1.3, [1.26, 1.4], "fail"),
        (1.2, [1.1, 1.3], "inconclusive"),
    ],
)
def test_ratio_bounds(value, ci, expected):
    assert verdicts.status(value, ci, 0.8, 1.25) == expected


def test_without_interval_uses_the_value():
    assert verdicts.status(0.2, [None, None], None, 0.1) == "fail"
    assert verdicts.status(0.05, [], None, 0.1) == "pass"


def test_evaluate_shape_and_failed_names():
    features = {"sex": {"demographic_parity_difference": 0.2, "ci": {"demographic_parity_difference": [0.15, 0.25]}}}
    out = verdicts.evaluate(features, (0.8, 1.25), 0.1)
    dp = next(v for v in out if v["metric"] == "demographic_parity_difference")
    assert dp == {"check": "demographic_parity_difference by sex", "feature": "sex", "metric": "demographic_parity_difference",
                  "value": 0.2, "ci": [0.15, 0.25], "bound": [None, 0.1], "status": "fail"}  # fmt: skip
    assert verdicts.failed(out) == ["demographic_parity_difference by sex"]  # missing metrics are inconclusive
