"""Stage ``fairness``: group metrics with intervals, verdicts under the audit policy and an
existing system's decisions (mitigation is the ``mitigate`` stage).

The stage never fails because the audit did: a failing audit is evidence the report and the
MLflow run must hold. ``python -m pipeline gate`` turns the verdicts into exit 5 afterwards.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pipeline import contracts, io, manifest, paths, splits
from pipeline.audit import existing, fairness
from pipeline.audit.fairness import FairnessSettings
from pipeline.audit.gate import blockers, gate, upstream
from pipeline.audit.group_accuracy import group_accuracy
from pipeline.config import Config
from pipeline.contracts import Meta
from pipeline.errors import BadInputError


def check_settings(s: FairnessSettings, groups: pd.DataFrame, sensitive: list[str]) -> None:
    """Exit 2 for a reference group or a policy attribute that this data does not have."""
    views = fairness.sensitive_views(groups, sensitive)
    fairness.check_reference(s.reference, views)
    unknown = [a for a in (s.policy.attributes or ()) if a not in views]
    if unknown:
        raise BadInputError(f"audit.policy.attributes names {unknown}, not audited here (attributes: {list(views)})")
    for e in s.policy.exempt:
        if e.attribute not in views or e.group not in set(views[e.attribute]):
            groups = sorted(set(views[e.attribute])) if e.attribute in views else []
            raise BadInputError(
                f"audit.policy.exempt names group {e.group!r} of {e.attribute!r}, which this data does not have "
                f"(attributes: {list(views)}; groups of {e.attribute!r}: {groups})"
            )


def external_decisions(cfg: Config, meta: Meta, s: FairnessSettings) -> dict:
    """An existing system's decisions carried beside the data (never model inputs), audited on
    every labelled row (``data.csv.existing_rows: all``) or the test split."""
    csv = cfg.data.csv
    used = list(paths.SPLITS) if csv.existing_rows == "all" else ["test"]
    groups = pd.concat([splits.groups(sp) for sp in used], ignore_index=True)
    y01 = np.concatenate([splits.arrays(sp)["y"] for sp in used]) == meta.favourable_index
    found = {}
    if "__score" in groups:
        found["score"] = existing.decisions_from_score(groups["__score"], csv.score_threshold, csv.score_direction)
    if "__decision" in groups:
        found["decision"] = existing.decisions_from_labels(
            groups["__decision"], meta.classes, meta.favourable, csv.favourable_decision, csv.decision
        )
    out = {}
    for role, (decided, usable) in found.items():
        audited = fairness.audit_decisions(
            y01[usable].astype(int), decided[usable], None, groups[usable].reset_index(drop=True), meta.sensitive, s
        )
        audited["system"] = existing.describe(
            csv, role, int(usable.sum()), int((~usable).sum()), used, meta.favourable, meta.classes
        )
        out[role] = audited
    return out


def every_row_on_ray(cfg: Config, meta, s: FairnessSettings, inconclusive_reason: str | None) -> dict:
    """The ray engine: every test row of the shards scored in Ray actors, count tables per block
    merged on the driver, then the local engine's own audit of the merged tables (the bootstrap
    keyed by prepare's ``row_id``). An existing system's decisions stay on the sample (meta.scale)."""
    from pipeline import shards
    from pipeline.scale import audit as scaled
    from pipeline.scale import scoring
    from pipeline.scale.cluster import connected

    found = shards.verify(manifest.settings_of(cfg, "prepare"))
    fav, threshold, block_rows = meta.favourable_index, cfg.evaluate.threshold, cfg.engine.block_rows
    model = scoring.TrainedModel(str(paths.MODEL_DIR.resolve()), fav, threshold)
    with connected(cfg.engine) as ray:
        audited = scaled.audit_shards(
            ray,
            scoring.split_files(found, "test"),
            list(meta.sensitive),
            s,
            inconclusive_reason=inconclusive_reason,
            favourable_index=fav,
            threshold=threshold,
            block_rows=block_rows,
            model=model,
        )
    print(f"fairness: engine ray, every test row of the shards ({found['rows'].get('test')} rows)")
    return audited


def main(cfg: Config) -> None:
    meta = contracts.read(paths.PREPARED_META)
    predictions = io.read_csv(paths.PREDICTIONS)
    groups = splits.groups("test")
    fav = meta.favourable_index
    y01 = (predictions["y_true"].to_numpy() == fav).astype(int)
    pred01 = (predictions["y_pred"].to_numpy() == fav).astype(int)
    score = predictions[f"proba_{fav}"].to_numpy()
    s = fairness.settings_from_config(cfg)
    check_settings(s, groups, meta.sensitive)
    evaluation = contracts.read_optional(paths.EVALUATE_METRICS)
    manifest.require(cfg, "prepare", "evaluate")  # predictions and groups of one run, before they are combined
    blocked = blockers(None, **upstream(contracts.read_optional(paths.DATA_METRICS), evaluation))
    degenerate = [b for b in blocked if b.startswith("degenerate model")]
    reason = "; ".join(degenerate) or None
    if cfg.engine.kind == "ray":
        audited = every_row_on_ray(cfg, meta, s, reason)
    else:
        audited = fairness.audit_decisions(
            y01,
            pred01,
            score,
            groups,
            meta.sensitive,
            s,
            inconclusive_reason=reason,
            row_id=groups["row_id"] if "row_id" in groups else None,  # the bootstrap's key: prepare's ids when written
        )
    result = {
        "favourable_class": meta.favourable,
        **audited,
        "blockers": blocked,
        "degenerate": evaluation.degenerate.model_dump(exclude_unset=True) if evaluation else None,
    }
    result["settings"] = {
        "n_boot": s.n_boot,
        "ci": s.ci,
        "min_group_size": s.min_group_size,
        "ratio_bounds": list(s.ratio_bounds),
        "max_difference": s.max_difference,
    }
    if len(meta.classes) > 2:
        result["binary_note"] = (
            f"multiclass target: fairness rates treat '{meta.favourable}' as favourable against all other classes"
        )
        per_group = group_accuracy(predictions["y_true"], predictions["y_pred"], groups, meta.sensitive)
        result["accuracy_all_classes"] = {
            view: {g: row["accuracy"] for g, row in rows.items()} for view, rows in per_group.items()
        }
    result["external"] = external_decisions(cfg, meta, s)
    contracts.validate(paths.FAIRNESS_METRICS, result)  # before the first output is replaced
    io.write_csv(paths.GROUP_RATES, fairness.selection_rate_rows(result["features"]), float_format="%.6g")
    contracts.write(paths.FAIRNESS_METRICS, result)
    g = gate(result)
    gating = [v for v in result["verdicts"] if v["gating"]]
    print(
        f"fairness: {len(gating)} gating checks ({', '.join(f'{k} {n}' for k, n in g.counts.items())}), "
        f"{len(result['verdicts']) - len(gating)} informational; policy {'passes' if g.passed else 'does not pass'}"
    )
