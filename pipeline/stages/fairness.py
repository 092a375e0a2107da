"""Stage ``fairness``: group metrics with intervals, verdicts under the audit policy, mitigation
and an existing system's decisions.

The stage never fails because the audit did: a failing audit is evidence the report and the
MLflow run must hold. ``python -m pipeline gate`` turns the verdicts into exit 5 afterwards.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import io, paths
from pipeline.audit import existing, fairness
from pipeline.audit.policy import Policy
from pipeline.config import Config
from pipeline.errors import BadInputError
from pipeline.report import verdicts

MITIGATIONS = (
    ("threshold_optimizer", "demographic_parity"),
    ("threshold_optimizer", "equalized_odds"),
    ("exponentiated_gradient", "demographic_parity"),
)


def settings(cfg: Config) -> fairness.AuditSettings:
    a, p = cfg.audit, cfg.audit.policy
    policy = Policy(criteria=dict(p.criteria), attributes=tuple(p.attributes) if p.attributes is not None else None,
                    min_events=p.min_events, require_all_groups=p.require_all_groups, family=p.family)  # fmt: skip
    reference = dict(a.reference) if isinstance(a.reference, dict) else a.reference
    return fairness.AuditSettings(
        n_boot=a.n_boot, ci=a.ci, seed=cfg.seed, min_group_size=a.min_group_size, reference=reference,
        ratio_bounds=tuple(a.ratio_bounds), max_difference=a.max_difference, calibration_bins=cfg.evaluate.calibration_bins,
        policy=policy,
    )  # fmt: skip


def read_groups(split: str) -> pd.DataFrame:
    return pd.read_csv(paths.split_groups(split), dtype=str, keep_default_na=False)


def check_settings(s: fairness.AuditSettings, groups: pd.DataFrame, sensitive: list[str]) -> None:
    """Exit 2 for a reference group or a policy attribute that this data does not have."""
    views = fairness.sensitive_views(groups, sensitive)
    fairness.check_reference(s.reference, views)
    unknown = [a for a in (s.policy.attributes or ()) if a not in views]
    if unknown:
        raise BadInputError(f"audit.policy.attributes names {unknown}, not audited here (attributes: {list(views)})")


def external_decisions(cfg: Config, meta: dict, s: fairness.AuditSettings) -> dict:
    """An existing system's decisions carried beside the data (never model inputs), audited on
    every labelled row (``data.csv.existing_rows: all``) or the test split."""
    csv = cfg.data.csv
    splits = list(paths.SPLITS) if csv.existing_rows == "all" else ["test"]
    groups = pd.concat([read_groups(sp) for sp in splits], ignore_index=True)
    y01 = np.concatenate([io.read_npz(paths.split_arrays(sp))["y"] for sp in splits]) == meta["favourable_index"]
    found = {}
    if "__score" in groups:
        found["score"] = existing.decisions_from_score(groups["__score"], csv.score_threshold, csv.score_direction)
    if "__decision" in groups:
        found["decision"] = existing.decisions_from_labels(groups["__decision"], meta["classes"], meta["favourable"],
                                                           csv.favourable_decision, csv.decision)  # fmt: skip
    out = {}
    for role, (decided, usable) in found.items():
        audited = fairness.audit_decisions(y01[usable].astype(int), decided[usable], None,
                                           groups[usable].reset_index(drop=True), meta["sensitive"], s)  # fmt: skip
        audited["system"] = existing.describe(csv, role, int(usable.sum()), int((~usable).sum()), splits, meta["favourable"], meta)
        out[role] = audited
    return out


def summarise(audited: dict, y01, pred01) -> dict:
    view = next(iter(audited["features"].values()))
    return {"accuracy": float((y01 == pred01).mean()), "selection_rate": float(pred01.mean()),
            "demographic_parity_difference": view["demographic_parity_difference"],
            "equalized_odds_difference": view["equalized_odds_difference"]}  # fmt: skip


def mitigate(cfg: Config, meta: dict, y01, score, test_groups: pd.DataFrame, s: fairness.AuditSettings) -> dict:
    """Each mitigated model audited like the original on the primary sensitive attribute."""
    from pipeline.audit import mitigation
    from pipeline.models.predict import load_trained, predict_proba

    fav, feature = meta["favourable_index"], meta["sensitive"][0]
    model = load_trained()
    val, train = io.read_npz(paths.split_arrays("val")), io.read_npz(paths.split_arrays("train"))
    test_x = io.read_npz(paths.split_arrays("test"))["X"]
    val_score = predict_proba(model, val["X"])[:, fav]
    val_groups, train_groups = read_groups("val")[feature], read_groups("train")[feature]
    rows, limit = {}, cfg.audit.mitigation_max_rows
    candidates = {"network (unmitigated)": None}
    for method, constraint in MITIGATIONS:
        name = f"{method} ({constraint})"
        try:
            if method == "threshold_optimizer":
                candidates[name] = mitigation.threshold_optimizer(
                    constraint, val_score, (val["y"] == fav).astype(int), val_groups, score, test_groups[feature], cfg.seed)
            else:
                candidates[name] = mitigation.exponentiated_gradient(
                    constraint, train["X"], (train["y"] == fav).astype(int), train_groups, test_x, cfg.seed, limit)
        except ValueError as err:  # e.g. fairlearn's "Degenerate labels" for a one-class group
            rows[name] = {"error": str(err).splitlines()[0]}
    candidates["logistic regression stand-in (unmitigated)"] = mitigation.logistic_baseline(
        train["X"], (train["y"] == fav).astype(int), test_x, cfg.seed, limit)
    # The audits below need none of these; freeing them first took the stage's peak at 1M rows
    # from 2,246 MiB to 970 MiB (with compact resample counts, group_metrics.resample_weights).
    del model, val, train, test_x, val_score, val_groups, train_groups
    one_view = test_groups[[feature]]
    for name, decisions in candidates.items():
        decisions = (score >= cfg.evaluate.threshold).astype(int) if decisions is None else decisions
        audited = fairness.audit_decisions(y01, decisions, None, one_view, [feature], s)
        rows[name] = {**summarise(audited, y01, decisions), "audit": audited}
    return {"feature": feature, "fitted_on": "validation split (threshold optimizer); training split (reductions)",
            "reductions_estimator": "sklearn LogisticRegression stands in for the network in ExponentiatedGradient",
            "models": rows}  # fmt: skip


def _optional(path) -> dict | None:
    return io.read_json(path) if path.is_file() else None


def main(cfg: Config) -> None:
    meta = io.read_json(paths.PREPARED_META)
    predictions = pd.read_csv(paths.PREDICTIONS)
    groups = read_groups("test")
    fav = meta["favourable_index"]
    y01 = (predictions["y_true"].to_numpy() == fav).astype(int)
    pred01 = (predictions["y_pred"].to_numpy() == fav).astype(int)
    score = predictions[f"proba_{fav}"].to_numpy()
    s = settings(cfg)
    check_settings(s, groups, meta["sensitive"])
    evaluation = _optional(paths.EVALUATE_METRICS)
    blocked = verdicts.blockers(None, _optional(paths.DATA_METRICS), evaluation)
    degenerate = [b for b in blocked if b.startswith("degenerate model")]
    audited = fairness.audit_decisions(y01, pred01, score, groups, meta["sensitive"], s,
                                       inconclusive_reason="; ".join(degenerate) or None)  # fmt: skip
    result = {"favourable_class": meta["favourable"], **audited, "blockers": blocked,
              "degenerate": (evaluation or {}).get("degenerate")}  # fmt: skip
    result["settings"] = {"n_boot": s.n_boot, "ci": s.ci, "min_group_size": s.min_group_size,
                          "ratio_bounds": list(s.ratio_bounds), "max_difference": s.max_difference}  # fmt: skip
    if len(meta["classes"]) > 2:
        result["binary_note"] = f"multiclass target: fairness rates treat '{meta['favourable']}' as favourable against all other classes"
        result["accuracy_all_classes"] = fairness.multiclass_accuracy(
            predictions["y_true"], predictions["y_pred"], groups, meta["sensitive"])
    result["external"] = external_decisions(cfg, meta, s)
    if cfg.audit.mitigation:
        result["mitigation"] = mitigate(cfg, meta, y01, score, groups, s)
    with io.atomic_path(paths.GROUP_RATES) as tmp:
        fairness.selection_rate_rows(result["features"]).to_csv(tmp, index=False, float_format="%.6g")
    io.write_json(paths.FAIRNESS_METRICS, result)
    g = verdicts.gate(result)
    gating = [v for v in result["verdicts"] if v["gating"]]
    print(f"fairness: {len(gating)} gating checks ({', '.join(f'{k} {n}' for k, n in g.counts.items())}), "
          f"{len(result['verdicts']) - len(gating)} informational; policy {'passes' if g.passed else 'does not pass'}")  # fmt: skip
