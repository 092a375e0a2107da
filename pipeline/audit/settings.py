"""The fairness audit's settings from the typed config: one place for the stages that audit.

Both the ``fairness`` and the ``mitigate`` stage audit under the same policy; building the
settings here keeps stages from importing each other.
"""

from __future__ import annotations

from pipeline.audit import fairness
from pipeline.audit.policy import Policy
from pipeline.config import Config


def fairness_settings(cfg: Config) -> fairness.FairnessSettings:
    a, p = cfg.audit, cfg.audit.policy
    policy = Policy(
        criteria=dict(p.criteria),
        attributes=tuple(p.attributes) if p.attributes is not None else None,
        min_events=p.min_events,
        require_all_groups=p.require_all_groups,
        family=p.family,
    )
    reference = dict(a.reference) if isinstance(a.reference, dict) else a.reference
    return fairness.FairnessSettings(
        n_boot=a.n_boot,
        ci=a.ci,
        seed=cfg.seed,
        min_group_size=a.min_group_size,
        reference=reference,
        ratio_bounds=tuple(a.ratio_bounds),
        max_difference=a.max_difference,
        calibration_bins=cfg.evaluate.calibration_bins,
        policy=policy,
    )
