"""Stage ``mitigate``: fairlearn candidates of the network, each audited like the original.

Reads the trained network and the prepared splits; writes each deployable candidate to
``models/candidates/<name>/`` (weights and rule, see :mod:`pipeline.models.postprocessed`), its
test decisions to ``outputs/mitigation_decisions_test.csv``, the audit of every candidate to
``reports/metrics/mitigation.json`` and the measured cost to ``reports/compute/``. The ``log``
stage registers the candidates and gives the ``audited`` alias to the best passing one.
"""

from __future__ import annotations

import shutil
import time

import numpy as np
import pandas as pd

from pipeline import contracts, io, paths
from pipeline.audit import fairness, mitigation, performance
from pipeline.audit.gate import gate
from pipeline.config import Config
from pipeline.errors import ConfigError
from pipeline.stages.fairness import settings as audit_settings

#: How reductions hand their weights to the training loop (see pipeline.training.estimator).
WEIGHTING = "loss"
#: Each refit's temporary checkpoints (inside the project; removed after each method).
REFIT_DIR = paths.MODEL_DIR / "refits.tmp"
#: The disparity shown on the trade-off plot for each constraint (the one the constraint targets).
TRADE_OFF_METRIC = {
    "demographic_parity": "demographic_parity_difference",
    "equalized_odds": "equalized_odds_difference",
    "true_positive_rate_parity": "equal_opportunity_difference",
    "false_positive_rate_parity": "equalized_odds_difference",
}
#: Audit-policy criteria that measure what each constraint equalises (issue 15's policy names).
POLICY_CRITERIA = {
    "demographic_parity": ("selection_rate_ratio", "demographic_parity"),
    "equalized_odds": ("equalized_odds",),
    "true_positive_rate_parity": ("equal_opportunity",),
    "false_positive_rate_parity": ("false_positive_rate_balance",),
}


def _read_split(split: str, fav: int) -> dict:
    arrays = io.read_npz(paths.split_arrays(split))
    groups = io.read_csv(paths.split_groups(split), dtype=str, keep_default_na=False)
    return {"X": arrays["X"], "y01": (arrays["y"] == fav).astype(int), "groups": groups}


def _attribute(cfg: Config, meta: dict) -> str:
    attribute = cfg.mitigation.attribute or meta["sensitive"][0]
    if attribute not in meta["sensitive"]:
        raise ConfigError(f"mitigation.attribute '{attribute}' is not an audited sensitive column ({meta['sensitive']})")
    return attribute


def build_candidates(cfg: Config, meta: dict, splits: dict, attribute: str, budget) -> tuple[list, dict]:
    """The unmitigated network plus one candidate per configured method; failures are recorded, not fatal."""
    from pipeline.models.predict import load_trained
    from pipeline.training import reductions
    from pipeline.training.estimator import FitBudgetExhausted

    m, fav, names, seed = cfg.mitigation, meta["favourable_index"], meta["feature_names"], cfg.seed
    network = load_trained()
    built = [mitigation.original(network, fav, cfg.evaluate.threshold, names, seed)]
    errors = {}
    train, val = splits["train"], splits["val"]
    for method in m.methods:
        name = f"{method} ({m.constraint})"
        if method in ("exponentiated_gradient", "grid_search") and cfg.train.dp.enabled:
            errors[name] = "skipped: train.dp.enabled is true and reductions would refit the network without DP-SGD"
            continue
        try:
            if method == "threshold_optimizer":
                built.append(mitigation.threshold_optimizer(
                    m.constraint, network, fav, val["X"], val["y01"], val["groups"][attribute], names, attribute, seed))  # fmt: skip
            elif method in ("exponentiated_gradient", "grid_search"):
                built.append(reductions.reductions(
                    method, m.constraint, cfg.train, train["X"], train["y01"], train["groups"][attribute], names,
                    seed=seed, budget=budget, max_iter=m.max_iter, grid_size=m.grid_size, eps=m.eps, weighting=WEIGHTING,
                    workdir=str(REFIT_DIR)))  # fmt: skip
        except (ValueError, FitBudgetExhausted) as err:  # e.g. fairlearn's "Degenerate labels" for a one-class group
            errors[name] = str(err).splitlines()[0]
        finally:
            shutil.rmtree(REFIT_DIR, ignore_errors=True)
    return built, errors


def audit_candidate(decisions, score, test: dict, sensitive: list[str], s, *, cfg: Config, data: dict | None) -> dict:
    """The same audit as the fairness stage (every attribute and intersection), plus accuracy and AUC.

    The same blockers as the network's gate apply: suspected target leakage in the data, and a
    candidate that is itself degenerate (a rule that accepts or refuses nearly everyone passes
    parity checks trivially, so its verdicts say nothing).
    """
    evaluation = {"degenerate": performance.degeneracy(test["y01"], np.asarray(decisions, dtype=np.int64), 2,
                                                       cfg.evaluate.degenerate_margin, cfg.evaluate.degenerate_share,
                                                       ["unfavourable", "favourable"])}  # fmt: skip
    reason = "; ".join(evaluation["degenerate"]["reasons"]) if evaluation["degenerate"]["degenerate"] else None
    audited = fairness.audit_decisions(test["y01"], decisions, score, test["groups"], sensitive, s,
                                       inconclusive_reason=f"degenerate candidate: {reason}" if reason else None)  # fmt: skip
    g = gate(audited, data=data, evaluation=evaluation)
    return {**mitigation.overall_performance(test["y01"], decisions, score, s), "audit": audited,
            "degenerate": evaluation["degenerate"], "passed": g.passed, "failed_checks": g.failed,
            "check_counts": g.counts}  # fmt: skip


def trade_off(row: dict, attribute: str, constraint: str) -> dict:
    """The disparity the constraint targets on the mitigated attribute, and the gating checks there.

    When the audit gives that max-min disparity no interval, the gating check of the same
    criterion (which has one) is plotted instead, so every point carries its uncertainty.
    """
    metric = TRADE_OFF_METRIC[constraint]
    d = row["audit"]["features"][attribute]["disparities"].get(metric) or {}
    checks = [{k: v.get(k) for k in ("check", "metric", "value", "ci", "bound", "status")}
              for v in row["audit"]["verdicts"] if v.get("feature") == attribute and v.get("gating", True)]  # fmt: skip
    same = [c for c in checks if c["metric"] in POLICY_CRITERIA[constraint] and c.get("ci")]
    if not d.get("ci") and same:
        return {"metric": same[0]["metric"], "value": same[0]["value"], "ci": same[0]["ci"], "gating_checks": checks}
    return {"metric": metric, "value": d.get("value"), "ci": d.get("ci"), "gating_checks": checks}


def save_candidates(built: list) -> dict[str, str]:
    """Each deployable candidate in its own folder; the whole set replaced at once."""
    staging = paths.CANDIDATES_DIR.with_name(paths.CANDIDATES_DIR.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    folders = {}
    for c in built:
        if c.model is not None:
            c.model.save(staging / paths.candidate_slug(c.name))
            folders[c.name] = paths.candidate_dir(c.name).as_posix()
    shutil.rmtree(paths.CANDIDATES_DIR, ignore_errors=True)
    staging.mkdir(parents=True, exist_ok=True)
    staging.rename(paths.CANDIDATES_DIR)
    return folders


def main(cfg: Config) -> None:
    from pipeline.training.estimator import FitBudget

    started = time.perf_counter()
    m, meta = cfg.mitigation, contracts.read(paths.PREPARED_META)
    fav, sensitive, attribute = meta["favourable_index"], meta["sensitive"], _attribute(cfg, meta)
    splits = {s: _read_split(s, fav) for s in paths.SPLITS}
    budget = FitBudget(m.max_fits)
    built, errors = build_candidates(cfg, meta, splits, attribute, budget) if m.enabled else ([], {})
    built_s = time.perf_counter() - started
    s = audit_settings(cfg)
    data = contracts.read_optional(paths.DATA_METRICS)
    test, rows, decided = splits["test"], {}, {}
    for c in built:
        groups = test["groups"][attribute].to_numpy() if c.model.sensitive else None
        decided[c.name] = c.model.decide(test["X"], groups)
        score = c.model.score(test["X"], groups)
        rows[c.name] = {"method": c.method, "constraint": c.constraint, "deployable": True, "fits": c.fits, "notes": c.notes,
                        **audit_candidate(decided[c.name], score, test, sensitive, s, cfg=cfg, data=data)}  # fmt: skip
    if m.enabled and "logistic_stand_in" in m.methods:
        train = splits["train"]
        pred, score = mitigation.logistic_stand_in(train["X"], train["y01"], test["X"], cfg.seed, m.stand_in_max_rows)
        rows[mitigation.STAND_IN] = {"method": "logistic_stand_in", "constraint": None, "deployable": False, "fits": 0,
                                     "notes": [f"scikit-learn LogisticRegression on {min(m.stand_in_max_rows, len(train['y01']))} sampled rows, unmitigated: a comparison, never registered"],
                                     **audit_candidate(pred, score, test, sensitive, s, cfg=cfg, data=data)}  # fmt: skip
    for row in rows.values():
        row["trade_off"] = trade_off(row, attribute, m.constraint)
    folders = save_candidates(built)
    for name, folder in folders.items():
        rows[name]["folder"] = folder
    io.write_csv(paths.CANDIDATE_DECISIONS, pd.DataFrame({paths.candidate_slug(k): v for k, v in decided.items()}))
    best = mitigation.best_passing(rows)
    result = {"enabled": m.enabled, "attribute": attribute, "constraint": m.constraint, "methods": list(m.methods),
              "fit_budget": m.max_fits, "fits_used": budget.used, "best_passing": best, "candidates": rows, "errors": errors,
              "weighting": WEIGHTING}  # fmt: skip
    contracts.write(paths.MITIGATION_METRICS, result)
    io.write_json(paths.MITIGATION_COST, {"stage_wall_s": time.perf_counter() - started, "build_wall_s": built_s,
                                          "fits": budget.used, "fit_wall_s": budget.seconds})  # fmt: skip
    print(f"mitigate: {len(rows)} candidate(s) audited, {budget.used} network fit(s); best passing: {best or 'none'}"
          + (f"; not built: {', '.join(errors)}" if errors else ""))
