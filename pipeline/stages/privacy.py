"""Stage ``privacy``: a membership-inference attack on the trained model, and DP-SGD's (ε, δ).

Writes ``reports/metrics/privacy.json``: ``membership_inference`` (AUC, TPR at 1% FPR, by group)
and ``dp`` (the (ε, δ) spent when ``train.dp.enabled``, with this run's accuracy and demographic
parity differences beside it, read from the evaluate and fairness outputs when they exist).
"""

from __future__ import annotations

from pipeline import contracts, manifest, paths, splits
from pipeline.audit import privacy
from pipeline.config import Config


def _read(split: str):
    arrays = splits.arrays(split)
    groups = splits.groups(split)
    return (arrays["X"], arrays["y"]), groups


def _dp_summary() -> dict | None:
    """The DP accounting from train.json, with this run's accuracy and fairness beside it."""
    train = contracts.read_optional(paths.TRAIN_METRICS)
    dp = train.cost.dp if train else None
    if not dp:
        return None
    evaluate = contracts.read_optional(paths.EVALUATE_METRICS)
    fairness = contracts.read_optional(paths.FAIRNESS_METRICS)
    gaps = {f: b.demographic_parity_difference for f, b in fairness.features.items()} if fairness else {}
    return {**dp, "accuracy": evaluate.accuracy if evaluate else None, "demographic_parity_difference": gaps}


def main(cfg: Config) -> None:
    from pipeline.models.predict import load_trained

    meta = contracts.read(paths.PREPARED_META)
    manifest.require(cfg, "prepare", "train")
    result = {"enabled": cfg.privacy.enabled, "dp": _dp_summary()}
    if cfg.privacy.enabled:
        (members, member_groups), (non_members, non_member_groups) = _read("train"), _read("test")
        result["membership_inference"] = privacy.membership_inference(
            load_trained(),
            members,
            non_members,
            member_groups=member_groups,
            non_member_groups=non_member_groups,
            sensitive=meta.sensitive,
            max_rows=cfg.privacy.max_rows,
            seed=cfg.seed,
            min_group_size=cfg.privacy.min_group_size,
            n_boot=cfg.privacy.n_boot,
            ci=cfg.privacy.ci,
        )
        mia = result["membership_inference"]
        print(
            f"privacy: attack AUC {mia['auc']:.3f}, TPR at 1% FPR {mia['tpr_at_1pct_fpr']:.3f} "
            f"({mia['rows_per_side']} rows a side)"
        )
    contracts.write(paths.PRIVACY_METRICS, result)
