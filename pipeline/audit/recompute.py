"""Recompute the gating verdicts from the evidence in ``fairness.json`` and name every disagreement.

The gate must never read a decision back from a file: a status edited by hand, verdicts computed
under a policy other than the configured one, or outputs that differ from the hashes DVC recorded
would otherwise move the ``audited`` alias. The verdicts are a function of the confusion cells and
calibration sums per group (both in the file) and the policy, so they can be recomputed exactly.
"""

from __future__ import annotations

import json

from pipeline.audit import fairness as fm

#: the audit outputs the gate rests on, as DVC records them in dvc.lock
EVIDENCE_FILES = (
    "reports/metrics/fairness.json",
    "reports/metrics/data.json",
    "reports/metrics/evaluate.json",
    "reports/metrics/mitigation.json",  # the candidates' verdicts, which can move the alias too
)


def _plain(value):
    """JSON-shaped copy (tuples as lists) so a stored policy compares equal to a recomputed one."""
    return json.loads(json.dumps(value))


def _degenerate_reason(fairness: dict) -> str | None:
    found = [b for b in fairness.get("blockers") or [] if str(b).startswith("degenerate model")]
    return "; ".join(found) or None


def discrepancies(
    fairness: dict, settings, sensitive: list[str], lock: dict | None = None, *, inconclusive_reason: str | None = None
) -> list[str]:
    """Why the verdicts in ``fairness`` cannot be trusted as written, or [] when they recompute.

    ``settings`` is the configured :class:`pipeline.audit.fairness.FairnessSettings`, ``sensitive`` the
    prepared data's sensitive columns, ``lock`` the table of :func:`pipeline.provenance.dvc_lock_hashes`
    (None: not checked, e.g. no dvc.lock yet). ``inconclusive_reason`` overrides the degenerate-model
    reason read from the file's blockers (a mitigation candidate keeps its own in its row).
    """
    problems = [
        f"{path} differs from the hash dvc.lock recorded for it (edited after `dvc repro`?)"
        for files in (lock or {}).values()
        for path, entry in files.items()
        if path in EVIDENCE_FILES and entry.get("on_disk") == "differs"
    ]
    try:
        verdicts, policy = fm.decide_verdicts(
            fm.evidence_from_file(fairness),
            settings,
            sensitive,
            inconclusive_reason=inconclusive_reason or _degenerate_reason(fairness),
            gating_only=True,
        )
    except (KeyError, TypeError, ValueError) as err:
        return [*problems, f"fairness.json holds no usable evidence to recompute the verdicts from ({err!r})"]
    stored_policy = _plain(fairness.get("policy") or {})
    for key, now in _plain(policy).items():
        if stored_policy.get(key) != now:
            problems.append(
                f"policy '{key}': the verdicts were computed under {stored_policy.get(key)!r}, "
                f"params.yaml now says {now!r} (rerun the fairness stage)"
            )
    stored = {v.get("check"): v for v in fairness.get("verdicts") or []}
    for v in (v for v in verdicts if v["gating"]):
        was = stored.get(v["check"])
        if was is None or not was.get("gating", True):
            problems.append(f"{v['check']}: gates under params.yaml but is not a gating check in fairness.json")
        elif was.get("status") != v["status"]:
            problems.append(
                f"{v['check']}: fairness.json says {was.get('status')!r}, its own evidence gives {v['status']!r}"
            )
    now_gating = {v["check"] for v in verdicts if v["gating"]}
    problems += [
        f"{c}: gating in fairness.json but not under params.yaml"
        for c, v in stored.items()
        if v.get("gating", True) and c not in now_gating
    ]
    return problems
