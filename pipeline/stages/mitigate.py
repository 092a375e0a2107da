"""Stage ``mitigate``: fairlearn candidates of the network, each audited like the original.

What is mitigated follows ``audit.policy`` by default (:mod:`pipeline.mitigation.targets`):
the fairlearn constraint of each gating criterion, on the policy's attributes jointly. The
threshold optimizer gives one candidate per constraint; the reductions one under all of them at
once (``mitigation.combine``). When none passes, ``obstacles`` in ``mitigation.json`` names the
closest candidate, each check it does not pass, and the checks no model could pass on this test
split (:func:`pipeline.mitigation.candidates.at_equality`).

Reads the trained network and the prepared splits; writes each deployable candidate to
``models/candidates/<name>/`` (weights and rule, see :mod:`pipeline.models.postprocessed`), its
test decisions to ``outputs/mitigation_decisions_test.csv``, the audit of every candidate to
``reports/metrics/mitigation.json`` and the measured cost to ``reports/compute/``. The ``log``
stage registers the candidates and gives the ``audited`` alias to the best passing one.
"""

from __future__ import annotations

import time

import pandas as pd

from pipeline import contracts, io, paths
from pipeline.audit import fairness
from pipeline.config import Config
from pipeline.mitigation import candidates as mitigation
from pipeline.mitigation.build import (
    WEIGHTING,
    audit_candidate,
    build_candidates,
    denominators,
    plan,
    read_split,
    save_candidates,
    trade_off,
)
from pipeline.stats.groups import joint_groups


def main(cfg: Config) -> None:
    from pipeline.mitigation.estimator import FitBudget

    started = time.perf_counter()
    m, meta = cfg.mitigation, contracts.read(paths.PREPARED_META)
    fav, sensitive = meta["favourable_index"], meta["sensitive"]
    splits = {s: read_split(s, fav) for s in paths.SPLITS}
    planned = plan(cfg, meta, float(splits["train"]["y01"].mean()))
    columns = planned["columns"]
    budget = FitBudget(m.max_fits)
    built, errors = build_candidates(cfg, meta, splits, planned, budget) if m.enabled else ([], {})
    built_s = time.perf_counter() - started
    s = fairness.settings_from_config(cfg)
    data = contracts.read_optional(paths.DATA_METRICS)
    test, rows, decided = splits["test"], {}, {}
    for c in built:
        groups = joint_groups(test["groups"], c.model.sensitive_columns) if c.model.sensitive else None
        decided[c.name] = c.model.decide(test["X"], groups)
        score = c.model.score(test["X"], groups)
        rows[c.name] = {
            "method": c.method,
            "constraint": c.constraint,
            "targets": c.targets,
            "deployable": True,
            "fits": c.fits,
            "notes": c.notes,
            **audit_candidate(decided[c.name], score, test, sensitive, s, cfg=cfg, data=data),
        }
    if m.enabled and "logistic_stand_in" in m.methods:
        train = splits["train"]
        pred, score = mitigation.logistic_stand_in(train["X"], train["y01"], test["X"], cfg.seed, m.stand_in_max_rows)
        rows[mitigation.STAND_IN] = {
            "method": "logistic_stand_in",
            "constraint": None,
            "targets": [],
            "deployable": False,
            "fits": 0,
            "notes": [
                f"scikit-learn LogisticRegression on {min(m.stand_in_max_rows, len(train['y01']))} sampled "
                "rows, unmitigated: a comparison, never registered"
            ],
            **audit_candidate(pred, score, test, sensitive, s, cfg=cfg, data=data),
        }
    first = f"{columns[0]}: {next(iter(cfg.audit.policy.criteria))}"
    for row in rows.values():
        row["trade_off"] = trade_off(row, first)
    folders = save_candidates(built)
    for name, folder in folders.items():
        rows[name]["folder"] = folder
    io.write_csv(paths.CANDIDATE_DECISIONS, pd.DataFrame({paths.candidate_slug(k): v for k, v in decided.items()}))
    best = mitigation.best_passing(rows)
    result = {
        "enabled": m.enabled,
        "attribute": " x ".join(columns),
        "attributes": columns,
        "constraint": m.constraint,
        "combine": m.combine,
        "methods": list(m.methods),
        "policy_criteria": {k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.audit.policy.criteria.items()},
        "targets": [
            {
                "constraint": t.constraint,
                "criteria": list(t.criteria),
                "moments": [{"moment": p.moment, **p.bound} for p in t.parts],
            }
            for t in [*planned["singles"], *([planned["combined"]] if planned["combined"] else [])]
        ],
        "untargeted_criteria": planned["untargeted"],
        "fit_budget": m.max_fits,
        "fits_used": budget.used,
        "best_passing": best,
        "candidates": rows,
        "errors": errors,
        "weighting": WEIGHTING,
        "obstacles": mitigation.obstacles(rows, denominators(test, sensitive)) if not best else None,
    }
    contracts.write(paths.MITIGATION_METRICS, result)
    io.write_json(
        paths.MITIGATION_COST,
        {
            "stage_wall_s": time.perf_counter() - started,
            "build_wall_s": built_s,
            "fits": budget.used,
            "fit_wall_s": budget.seconds,
        },
    )
    print(
        f"mitigate: {len(rows)} candidate(s) audited, {budget.used} network fit(s); best passing: {best or 'none'}"
        + (f"; not built: {', '.join(errors)}" if errors else "")
    )
