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
from pipeline.contracts import MitigationMetrics
from pipeline.errors import EvidenceMismatchError
from pipeline.stats.groups import VIEW_SEP


def verified_fairness(cfg: Config) -> dict:
    """``fairness.json``, once its gating verdicts recompute from its evidence under the configured
    policy and the audit outputs match dvc.lock."""
    fairness = contracts.read_dict(paths.FAIRNESS_METRICS)  # recomputed from the numbers exactly as written
    meta = contracts.read_optional(paths.PREPARED_META)
    # without the prepared data (a CI job holding only the reports): the attributes the audit saw
    sensitive = meta.sensitive if meta else [v for v in fairness["features"] if VIEW_SEP not in v]
    problems = discrepancies(fairness, settings_from_config(cfg), sensitive, provenance.dvc_lock_hashes())
    if problems:
        raise EvidenceMismatchError(
            f"{paths.FAIRNESS_METRICS}: the verdicts cannot be trusted as written: " + "; ".join(problems)
        )
    return fairness


def verify_candidates(cfg: Config, mitigation: MitigationMetrics, sensitive: list[str]) -> None:
    """Every deployable candidate's verdicts recompute from its own evidence, and the candidate named
    ``best_passing`` (which receives the alias) passes every gating check: a hand-edited
    ``mitigation.json`` cannot move the alias either."""
    settings = settings_from_config(cfg)
    problems = []
    for name, row in mitigation.candidates.items():
        if not row.deployable:
            continue
        degenerate = row.degenerate
        reason = None
        if degenerate is not None and degenerate.degenerate:
            reason = "degenerate candidate: " + "; ".join(degenerate.reasons)
        problems += [
            f"candidate {name}: {p}" for p in discrepancies(row.audit, settings, sensitive, inconclusive_reason=reason)
        ]
    best = mitigation.best_passing
    if best is not None:
        row = mitigation.candidates[best]  # the contract holds best_passing to a candidate
        gating = [v for v in row.audit.get("verdicts") or [] if v.get("gating", True)]
        if not row.passed or not gating or any(v.get("status") != "pass" for v in gating):
            problems.append(f"best_passing names {best!r}, which does not pass every gating check")
    if problems:
        raise EvidenceMismatchError(
            f"{paths.MITIGATION_METRICS}: the candidates' verdicts cannot be trusted as written: " + "; ".join(problems)
        )
