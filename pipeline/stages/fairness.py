"""Stage ``fairness``: group metrics with intervals, verdicts and external decisions (mitigation: stage ``mitigate``).

All outputs are written before a violation is raised, so ``audit.fail_on_violation`` can gate
a CI job without losing the evidence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import io, paths
from pipeline.audit import fairness
from pipeline.config import Config
from pipeline.errors import AuditFailedError


def settings(cfg: Config) -> fairness.AuditSettings:
    a = cfg.audit
    return fairness.AuditSettings(
        n_boot=a.n_boot, ci=a.ci, seed=cfg.seed, min_group_size=a.min_group_size, reference=a.reference,
        ratio_bounds=tuple(a.ratio_bounds), max_difference=a.max_difference, calibration_bins=cfg.evaluate.calibration_bins,
    )  # fmt: skip


def read_groups(split: str) -> pd.DataFrame:
    return pd.read_csv(paths.split_groups(split), dtype=str, keep_default_na=False)


def external_decisions(cfg: Config, groups: pd.DataFrame, favourable: str) -> dict[str, np.ndarray]:
    """An existing system's decisions carried beside the data (never model inputs)."""
    found = {}
    if "__score" in groups:
        score = pd.to_numeric(groups["__score"], errors="coerce").to_numpy()
        found["score"] = (score >= cfg.data.csv.score_threshold).astype(int)
    if "__decision" in groups:
        found["decision"] = (groups["__decision"].astype(str) == str(favourable)).astype(int).to_numpy()
    return found


def main(cfg: Config) -> None:
    meta = io.read_json(paths.PREPARED_META)
    predictions = pd.read_csv(paths.PREDICTIONS)
    groups = read_groups("test")
    fav = meta["favourable_index"]
    y01 = (predictions["y_true"].to_numpy() == fav).astype(int)
    pred01 = (predictions["y_pred"].to_numpy() == fav).astype(int)
    score = predictions[f"proba_{fav}"].to_numpy()
    s = settings(cfg)
    result = {"favourable_class": meta["favourable"], **fairness.audit_decisions(y01, pred01, score, groups, meta["sensitive"], s)}
    result["settings"] = {"n_boot": s.n_boot, "ci": s.ci, "min_group_size": s.min_group_size,
                          "ratio_bounds": list(s.ratio_bounds), "max_difference": s.max_difference}  # fmt: skip
    if len(meta["classes"]) > 2:
        result["binary_note"] = f"multiclass target: fairness rates treat '{meta['favourable']}' as favourable against all other classes"
        result["accuracy_all_classes"] = fairness.multiclass_accuracy(
            predictions["y_true"], predictions["y_pred"], groups, meta["sensitive"])
    external = external_decisions(cfg, groups, meta["favourable"])
    result["external"] = {k: fairness.audit_decisions(y01, d, None, groups, meta["sensitive"], s) for k, d in external.items()}
    with io.atomic_path(paths.GROUP_RATES) as tmp:
        fairness.selection_rate_rows(result["features"]).to_csv(tmp, index=False, float_format="%.6g")
    io.write_json(paths.FAIRNESS_METRICS, result)
    failed = [v["check"] for v in result["verdicts"] if v["status"] == "fail"]
    print(f"fairness: {len(result['verdicts'])} checks, {len(failed)} failed")
    if failed and cfg.audit.fail_on_violation:
        raise AuditFailedError(f"{len(failed)} fairness check(s) failed: {'; '.join(failed)} (outputs are written)")
