"""Helpers shared by the report, tracking and browser tests (not a test module).

``run_stages`` runs the real stage ``main`` functions in the current directory; ``with_verdicts``
writes a fairness.json verdict list in the shape the fairness stage will produce
({check, feature, metric, value, ci, bound, status}), used where only the report's presentation
is tested; ``with_audit`` writes a real audit of decisions with a known outcome, which the gate and
``log`` recompute and accept (they refuse hand-written statuses).
"""

from __future__ import annotations

import importlib

from pipeline import io, paths

UPSTREAM = ("prepare", "train", "evaluate", "fairness", "explain")


def with_audit(outcome: str = "pass", variant: int = 0) -> dict:
    """Replace fairness.json by the fairness code's own audit (under the project's params) of
    synthetic decisions whose outcome is known, over the prepared data's sensitive columns, each with
    groups 'A' and 'B' of 10,000 rows per combination: ``pass`` (equal rates everywhere), ``fail``
    (group 'B' of the last attribute selected at half the rate, TPR 0.4 vs 0.8) or ``inconclusive``
    (the same group's TPR lower by 0.07, inside the bound but not shown to be). ``variant`` adds rows,
    so each call can make a new pipeline state."""
    import itertools

    import numpy as np
    import pandas as pd

    from pipeline import config
    from pipeline.audit.fairness import audit_decisions, settings_from_config

    cfg = config.load("params.yaml")
    sensitive = io.read_json(paths.PREPARED_META)["sensitive"]
    y, pred, rows = [], [], []
    for combo in itertools.product("AB", repeat=len(sensitive)):
        tp, fp, fn, tn = 2000, 500, 500, 7000 + variant
        if combo[-1] == "B" and outcome == "fail":
            tp, fp, fn, tn = 1000, 250, 1500, 7250 + variant
        elif combo[-1] == "B" and outcome == "inconclusive":
            tp, fp, fn, tn = 1825, 675, 675, 6825 + variant
        for truth, p, n in ((1, 1, tp), (0, 1, fp), (1, 0, fn), (0, 0, tn)):
            y += [truth] * n
            pred += [p] * n
            rows += [combo] * n
    groups = pd.DataFrame(rows, columns=sensitive)
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    fairness.update(audit_decisions(np.array(y), np.array(pred), None, groups, sensitive, settings_from_config(cfg)))
    io.write_json(paths.FAIRNESS_METRICS, fairness)
    return fairness


def run_stages(cfg, names=UPSTREAM) -> None:
    for name in names:
        importlib.import_module(f"pipeline.stages.{name}").main(cfg)


def with_verdicts(statuses: dict[str, str]) -> dict:
    """Add a verdict per ``{check: status}`` to the fairness.json on disk; return the new payload."""
    fairness = io.read_json(paths.FAIRNESS_METRICS)
    fairness["verdicts"] = [
        {
            "check": check,
            "feature": check.split("/")[0],
            "metric": check.split("/")[-1],
            "value": 0.9,
            "ci": [0.85, 0.95],
            "bound": 0.8,
            "status": status,
        }
        for check, status in statuses.items()
    ]
    io.write_json(paths.FAIRNESS_METRICS, fairness)
    return fairness
