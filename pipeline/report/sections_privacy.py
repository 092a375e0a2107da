"""Report section 'Privacy': the membership-inference attack and, when trained with DP-SGD, (ε, δ)."""

from __future__ import annotations

from pipeline.report.model import Section, Table, not_run
from pipeline.report.safe import fmt

KEY, TITLE = "privacy", "Privacy"


def _attack(mia: dict) -> tuple[list[str], list]:
    low, high = mia.get("auc_interval") or [None, None]
    paragraphs = [
        f"Loss-threshold membership inference: {mia['rows_per_side']} training rows (members) against as many "
        f"held-out test rows. Attack AUC {fmt(mia['auc'])} [{fmt(low)}, {fmt(high)}] (0.5 = a coin flip), TPR at 1% "
        f"FPR {fmt(mia['tpr_at_1pct_fpr'])} (chance: 0.010), membership advantage {fmt(mia['advantage'])}. Mean "
        f"loss: members {fmt(mia['mean_loss_members'], 4)}, non-members {fmt(mia['mean_loss_non_members'], 4)}."
    ]
    tables = []
    for s, block in (mia.get("by_group") or {}).items():
        rows = [
            [
                g,
                fmt(v["members"]),
                fmt(v["non_members"]) + (" (small)" if v["small"] else ""),
                fmt(v["auc"]),
                fmt(v["tpr_at_1pct_fpr"]),
                fmt(v["advantage"]),
            ]
            for g, v in block.items()
        ]
        tables.append(
            (f"Attack by {s}", Table(["Group", "Members", "Non-members", "AUC", "TPR at 1% FPR", "Advantage"], rows))
        )
    return paragraphs, tables


def _dp(dp: dict | None) -> tuple[list[str], list]:
    if not dp:
        return ["Trained without differential privacy (train.dp.enabled is false): no (ε, δ) guarantee applies."], []
    rows = [
        ["ε (epsilon) spent", fmt(dp["epsilon"])],
        ["δ (delta)", fmt(dp["delta"])],
        ["Noise multiplier", fmt(dp["noise_multiplier"])],
        ["Max gradient norm", fmt(dp["max_grad_norm"])],
        ["Accountant", str(dp.get("accountant"))],
        ["Test accuracy (this run)", fmt(dp.get("accuracy"))],
    ]
    rows += [
        [f"Demographic parity difference by {f} (this run)", fmt(v)]
        for f, v in (dp.get("demographic_parity_difference") or {}).items()
    ]
    note = (
        "Trained with DP-SGD (Opacus) in a plain PyTorch loop. Compare accuracy and fairness with the non-private run "
        "(`dvc exp show` or the MLflow run with train.dp.enabled=false); this report describes this run only."
    )
    return [note], [("Differential privacy", Table(["Item", "Value"], rows))]


def build(ctx: dict) -> Section:
    pv = ctx.get("privacy")
    if not pv:
        return not_run(KEY, TITLE, "privacy")
    paragraphs, tables = _dp(pv.get("dp"))
    if pv.get("membership_inference"):
        attack_paragraphs, attack_tables = _attack(pv["membership_inference"])
        paragraphs, tables = attack_paragraphs + paragraphs, attack_tables + tables
    else:
        paragraphs.insert(0, "The membership-inference attack is switched off (privacy.enabled is false).")
    return Section(KEY, TITLE, paragraphs, tables)
