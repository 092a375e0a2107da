"""The ``log`` stage's registry policy (issue 26): what the registry holds must read true.

- The network gets one registered version per distinct set of weights: a pipeline state whose
  network has the same decision fingerprint as a registered version reuses that version (its
  description and verdict tags are brought up to date) instead of adding a copy.
- Mitigation candidates are logged models of the run (each with its own metrics); only those that
  pass the audit policy are registered, under the same registered model so that
  ``models:/<name>@audited`` serves the best one. The unmitigated network's "candidate" has the
  network's fingerprint and so is never registered a second time.
- Every registered version's description opens with its verdict, and the registered model carries
  the latest verdict as a tag, which MLflow's registered-model list shows beside the name.

The fingerprint is of the *decision*, not of a file: the tensors of each network (names, dtypes,
shapes, bytes) plus the rule that turns scores into decisions, so two serialisations of the same
weights match and a threshold rule on the same network does not.
"""

from __future__ import annotations

import hashlib
import json

from pipeline.report import findings

FINGERPRINT_TAG = "decision_fingerprint"
SEPARATOR = findings.SEPARATOR


# --- the verdict in a few characters (run name, tags, registered model) ---------------------------


def verdict_label(fairness: dict | None) -> str:
    """:func:`pipeline.report.findings.verdict_label`: the runs table and the registry show the same words."""
    return findings.verdict_label(fairness)


def run_name(source: str, fairness: dict | None) -> str:
    """``adult · FAIL 2 · INCONCLUSIVE 2``: the data and the verdict, the one field the runs table always
    shows (runs with the same verdict are told apart by their Created column and ``pipeline_state`` tag)."""
    return SEPARATOR.join([source, verdict_label(fairness)])


def summary_tags(fairness: dict | None) -> dict[str, str]:
    """Tags beside ``audit_verdict`` and the per-status counts: the one-line label."""
    return {"audit_summary": verdict_label(fairness)}


# --- fingerprints ------------------------------------------------------------------------------


def _tensor_digest(state_dict) -> str:
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def fingerprint(networks: list, entries: list[dict], thresholds: dict | None = None, seed: int | None = None) -> str:
    """sha256 of the decision: each network's tensors with its favourable output, weight and cut-off,
    plus group thresholds; the seed counts only where the rule is randomised (a mixture or thresholds)."""
    randomised = bool(thresholds) or len(networks) > 1
    payload = {
        "networks": [
            {
                "tensors": _tensor_digest(net.state_dict()),
                "favourable_index": int(entry.get("favourable_index", 0)),
                "weight": float(entry.get("weight", 1.0)),
                "cutoff": float(entry.get("cutoff", 0.5)),
            }
            for net, entry in zip(networks, entries)
        ],
        "thresholds": thresholds or None,
        "seed": seed if randomised else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def network_fingerprint(model, favourable_index: int) -> str:
    """The trained network decides 'favourable' when that output's probability reaches 0.5."""
    return fingerprint([model], [{"favourable_index": favourable_index, "weight": 1.0, "cutoff": 0.5}])


def candidate_fingerprint(candidate) -> str:
    """A :class:`pipeline.models.postprocessed.PostProcessedNetwork`'s decision fingerprint."""
    d = candidate.description
    return fingerprint(candidate.networks, d["networks"], d.get("thresholds"), d.get("seed"))


# --- descriptions: first line is the verdict ----------------------------------------------------


def candidate_description(name: str, row: dict, parent_run: str) -> str:
    """A registered candidate's description; only passing candidates are registered."""
    status = "AUDIT PASSED" if row.get("passed") else "AUDIT FAILED"
    failed = row.get("failed_checks") or []
    first = (
        f"{status}: mitigation candidate '{name}' passes every gating check of the audit policy."
        if row.get("passed")
        else f"{status}: mitigation candidate '{name}' does not pass {len(failed)} gating checks."
    )
    acc = (row.get("accuracy") or {}).get("value")
    lines = [first, f"- method {row.get('method')}, constraint {row.get('constraint')}; built from run {parent_run}"]
    if acc is not None:
        lines.append(f"- test accuracy {findings.pct(acc)}")
    lines += [f"- not passing: {c}" for c in failed]
    return "\n".join(lines)


#: The registry's model list shows the model's tags and aliases in narrow columns: a short tag key
#: and an alias that names a failure keep the verdict readable there (issue 26).
VERDICT_TAG = "verdict"
FAILING_ALIAS = "network-fails-audit"


def model_tags(fairness: dict | None, version: int) -> dict[str, str]:
    """The registered model's tags (shown in the registry's model list): the newest network's verdict."""
    return {VERDICT_TAG: f"{verdict_label(fairness)} (network v{version})"}


# --- carrying the policy out --------------------------------------------------------------------


def register_network(name: str, model_uri: str, fingerprint_: str, description: str, tags: dict[str, str]) -> dict:
    """Register the network unless a version with the same decision fingerprint exists; then that
    version's description and verdict tags are brought up to date instead (same weights, newest audit)."""
    from pipeline import tracking

    tags = {**tags, FINGERPRINT_TAG: fingerprint_}
    existing = tracking.find_model_version(name, FINGERPRINT_TAG, fingerprint_)
    if existing is None:
        return {"version": tracking.register_version(model_uri, name, description, tags), "reused_version": False}
    tracking.describe_model_version(name, existing, description, tags)
    return {"version": existing, "reused_version": True}


def register_passing_candidates(name: str, entries: list[dict], parent_run: str) -> dict[str, int]:
    """Register each passing candidate (its fingerprint not yet registered); failing ones stay logged models."""
    from pipeline import tracking

    versions: dict[str, int] = {}
    for entry in entries:
        if not entry["row"].get("passed"):
            continue
        found = tracking.find_model_version(name, FINGERPRINT_TAG, entry["fingerprint"])
        description = candidate_description(entry["name"], entry["row"], parent_run)
        tags = {**entry["tags"], FINGERPRINT_TAG: entry["fingerprint"], "audit_verdict": "pass"}
        if found is None:
            found = tracking.register_version(entry["model_uri"], name, description, tags)
        elif not _is_network_version(name, found):  # the unmitigated network keeps the network's own description
            tracking.describe_model_version(name, found, description, tags)
        versions[entry["name"]] = found
    return versions


def _is_network_version(name: str, version: int) -> bool:
    from pipeline import tracking

    return tracking.model_version_tags(name, version).get("candidate") is None


def alias_target(
    network_version: int,
    network_passed: bool,
    candidates: list[dict] | None,
    best: str | None,
    candidate_versions: dict[str, int],
    current: int | None,
) -> int | None:
    """Who holds ``audited``: the best passing candidate (the mitigate stage's choice), else the network
    when it passes; with mitigation run and nothing passing, nobody. Without mitigation a failing
    network leaves the alias on an earlier audited version, unless that version is this very network
    (same weights, newest audit failed): then the alias is removed."""
    if best is not None and best in candidate_versions:
        return candidate_versions[best]
    if network_passed:
        return network_version
    if candidates is not None or current == network_version:
        return None
    return current
