"""The audit's evidence, verified before anything acts on its verdict (``gate`` and ``log``).

Both the CI gate and the registry (the ``audited`` alias) act on ``fairness.json``. Neither reads a
status string: :func:`verified_fairness` recomputes every gating verdict from the confusion cells
and calibration sums in the file, under the policy in ``params.yaml`` now, and checks the audit
outputs against the hashes DVC recorded in ``dvc.lock``. Anything that disagrees is named and
refused with exit 4 (:class:`pipeline.errors.EvidenceMismatchError`), and no alias moves.
"""

from __future__ import annotations

from pipeline import contracts, paths, provenance
from pipeline.audit.fairness import settings_from_config
from pipeline.audit.recompute import discrepancies
from pipeline.config import Config
from pipeline.errors import EvidenceMismatchError
from pipeline.stats.groups import VIEW_SEP


def verified_fairness(cfg: Config) -> dict:
    """``fairness.json``, once its gating verdicts recompute from its evidence under the configured
    policy and the audit outputs match dvc.lock."""
    fairness = contracts.read(paths.FAIRNESS_METRICS)
    meta = contracts.read_optional(paths.PREPARED_META)
    # without the prepared data (a CI job holding only the reports): the attributes the audit saw
    sensitive = meta["sensitive"] if meta else [v for v in fairness.get("features") or {} if VIEW_SEP not in v]
    problems = discrepancies(fairness, settings_from_config(cfg), sensitive, provenance.dvc_lock_hashes())
    if problems:
        raise EvidenceMismatchError(
            f"{paths.FAIRNESS_METRICS}: the verdicts cannot be trusted as written: " + "; ".join(problems)
        )
    return fairness
