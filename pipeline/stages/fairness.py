"""Stage ``fairness``: group metrics, intervals, verdicts and mitigation on the test split.

All outputs are written before ``audit.fail_on_violation`` can stop the pipeline, so a CI job
that gates on the exit status still gets the evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import io, paths
from pipeline.audit import bootstrap, fairness, verdicts
from pipeline.config import Config
from pipeline.errors import AuditFailedError, BadInputError


def main(cfg: Config) -> None:
    meta = io.read_json(paths.PREPARED_META)
    predictions = pd.read_csv(paths.PREDICTIONS)
    groups = pd.read_csv(paths.split_groups("test"), dtype=str, keep_default_na=False)
    fav, n_classes = meta["favourable_index"], len(meta["classes"])
    score = predictions[f"proba_{fav}"].to_numpy(dtype=float)
    dec = fairness.decisions_from_classes(predictions["y_true"].to_numpy(), predictions["y_pred"].to_numpy(), fav, score, n_classes)
    views = fairness.sensitive_views(groups, meta["sensitive"])
    s = settings(cfg)
    weights = bootstrap.resample_counts(len(dec.y_true), s.n_boot, s.seed)
    result = audited(dec, views, s, weights, cfg)
    result["favourable_class"] = meta["favourable"]
    result["settings"] = cfg.audit.model_dump(mode="json") | {"seed": s.seed}
    external = external_decisions(groups, dec.y_true, cfg, meta)
    if external:
        result["external"] = {name: audited(d, views, s, weights, cfg) for name, d in external.items()}
    if cfg.audit.mitigation:
        from pipeline.stages import fairness_mitigation

        result["mitigation"] = fairness_mitigation.run(cfg, meta, dec, views, s, weights)
    with io.atomic_path(paths.GROUP_RATES) as tmp:
        fairness.selection_rate_rows(result["features"]).to_csv(tmp, index=False, float_format="%.6g")
    io.write_json(paths.FAIRNESS_METRICS, result)
    summarise(result)
    failed = verdicts.failed(result["verdicts"])
    if cfg.audit.fail_on_violation and failed:
        raise AuditFailedError(f"fairness audit failed {len(failed)} check(s): {'; '.join(failed)} (outputs written to {paths.FAIRNESS_METRICS})")


def settings(cfg: Config) -> fairness.AuditSettings:
    a = cfg.audit
    return fairness.AuditSettings(min_group_size=a.min_group_size, n_boot=a.n_boot, ci=a.ci, reference=a.reference,
                                  seed=cfg.seed, bins=cfg.evaluate.calibration_bins)  # fmt: skip


def audited(dec: fairness.Decisions, views: dict, s: fairness.AuditSettings, weights: np.ndarray, cfg: Config) -> dict:
    """Features, verdicts and overall accuracy of one decision maker."""
    features = fairness.audit(dec, views, s, weights)
    checks = verdicts.evaluate(features, tuple(cfg.audit.ratio_bounds), cfg.audit.max_difference)
    return {"features": features, "verdicts": checks, "accuracy": fairness.overall_accuracy(dec)}


def external_decisions(groups: pd.DataFrame, y_true: np.ndarray, cfg: Config, meta: dict) -> dict[str, fairness.Decisions]:
    """An existing system's decisions carried in ``__score`` / ``__decision`` (never model inputs)."""
    out = {}
    if "__score" in groups.columns:
        raw = pd.to_numeric(groups["__score"], errors="coerce")
        if raw.isna().any():
            bad = groups["__score"][raw.isna()].iloc[0]
            raise BadInputError(f"{paths.split_groups('test')}: column __score (data.csv.score) must be numeric; found {bad!r}")
        score = raw.to_numpy(dtype=float)
        pred = (score >= cfg.data.csv.score_threshold).astype(np.int64)
        in_unit = bool(((score >= 0) & (score <= 1)).all())
        out["score"] = fairness.Decisions(y_true, pred, score if in_unit else None)
    if "__decision" in groups.columns:
        out["decision"] = fairness.Decisions(y_true, decision_labels(groups["__decision"], meta["favourable"]))
    return out


def decision_labels(column: pd.Series, favourable: str) -> np.ndarray:
    """1 where the decision is the favourable class (by name) or 1/true; else 0."""
    text = column.astype(str).str.strip()
    if (text == str(favourable)).any():
        return (text == str(favourable)).to_numpy(dtype=np.int64)
    allowed = {"0", "1", "true", "false", "yes", "no"}
    found = sorted(set(text.str.lower()) - allowed)
    if found:
        raise BadInputError(f"{paths.split_groups('test')}: column __decision (data.csv.decision) must hold the favourable class "
                            f"{favourable!r} or 0/1/true/false/yes/no; found {found[:3]}")  # fmt: skip
    return text.str.lower().isin({"1", "true", "yes"}).to_numpy(dtype=np.int64)


def summarise(result: dict) -> None:
    for name, block in result["features"].items():
        ci = block["ci"]["demographic_parity_difference"]
        print(f"fairness: {name}: DP difference {fmt(block['demographic_parity_difference'])} [{fmt(ci[0])}, {fmt(ci[1])}]")
    counts = pd.Series([v["status"] for v in result["verdicts"]]).value_counts().to_dict()
    print(f"fairness: verdicts {counts}")


def fmt(x) -> str:
    return "undefined" if x is None else f"{x:.3f}"
