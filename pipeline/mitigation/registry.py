"""The ``log`` stage's part for mitigation candidates: each candidate of ``reports/metrics/
mitigation.json`` logged as its own MLflow model of the run, with its lineage tags and its own
metrics. Which candidates are registered, and which receives the ``audited`` alias, is the
registry policy's (below); the decision which candidate is best was made by the ``mitigate``
stage (its ``best_passing``).

The registry policy (issue 26), for the network and the candidates alike:

- the network gets one registered version per distinct decision fingerprint
  (:mod:`pipeline.mitigation.fingerprint`): a pipeline state whose network matches a registered version
  reuses that version (its description and verdict tags are brought up to date) instead of adding
  a copy;
- candidates are logged models of the run with their own metrics; only those that pass the audit
  policy are registered, under the same registered model so that ``models:/<name>@audited`` serves
  the best one; the unmitigated network's "candidate" has the network's fingerprint and so is never
  registered a second time;
- every registered version's description opens with its verdict, and the registered model carries
  the newest network's verdict as a short tag and the alias :data:`FAILING_ALIAS`, which the
  registry's model list shows beside its name.
"""

from __future__ import annotations

import pandas as pd

from pipeline import contracts, paths, splits
from pipeline.contracts import Candidate, Meta
from pipeline.evidence import verify_candidates

#: Rows of the test split used as the logged input example.
EXAMPLE_ROWS = 5
#: Version tag holding :func:`pipeline.mitigation.fingerprint.fingerprint`.
FINGERPRINT_TAG = "decision_fingerprint"
#: The registry's model list shows the model's tags and aliases in narrow columns: a short tag key
#: and an alias that names a failure keep the verdict readable there (issue 26).
VERDICT_TAG = "verdict"
FAILING_ALIAS = "network-fails-audit"


def input_frame(meta: Meta, split: str = "test", rows: int | None = None) -> pd.DataFrame:
    """A split as the candidates' serving input: encoded feature columns plus the raw sensitive columns."""
    X = splits.arrays(split)["X"][:rows]
    frame = pd.DataFrame(X, columns=meta.feature_names)
    groups = splits.groups(split)
    for column in meta.sensitive:
        if column not in frame.columns:
            frame[column] = groups[column].to_numpy()[: len(frame)]
    return frame


def lineage_tags(name: str, row: Candidate, parent_run: str, attribute: str) -> dict[str, str]:
    return {
        "candidate": name,
        "method": row.method,
        "constraint": str(row.constraint),
        "policy_criteria_targeted": ", ".join(row.targets) or "none",
        "mitigated_attribute": attribute,
        "verdict": "pass" if row.passed else "fail",
        "audit_failed_checks": ", ".join(row.failed_checks)[:5000] or "none",
        "parent_run": parent_run,
        "test_accuracy": f"{row.accuracy.value:.6f}",
    }


def log_candidates(cfg, meta: Meta, parent_run: str, requirements: list[str]) -> list[dict] | None:
    """Log every deployable candidate as a model of the run; ``None`` when mitigation is off or has not run.

    Registration is decided afterwards (:func:`register_passing_candidates`). Each entry: ``name``,
    ``row`` (its ``mitigation.json`` entry), ``model_uri``, ``model_id``, ``tags``, ``fingerprint``.
    """
    from pipeline import tracking
    from pipeline.mitigation.fingerprint import candidate_fingerprint
    from pipeline.models.postprocessed import PostProcessedNetwork

    if not paths.MITIGATION_METRICS.is_file():
        return None
    result = contracts.read(paths.MITIGATION_METRICS)
    if not result.enabled:  # mitigation off: the network's own registration stands alone
        return None
    verify_candidates(cfg, result, meta.sensitive)  # before any candidate is logged or the alias moves
    example = input_frame(meta, rows=EXAMPLE_ROWS)
    requirements = [*requirements, *_versions("pandas")]
    entries = []
    for name, row in result.candidates.items():
        if not row.deployable:
            continue
        folder = paths.candidate_dir(name)
        candidate = PostProcessedNetwork.load(folder)
        tags = lineage_tags(name, row, parent_run, result.attribute)
        info = tracking.log_candidate_model(
            f"candidate-{paths.candidate_slug(name)}", folder, example, candidate.predict(example), tags, requirements
        )
        entries.append(
            {
                "name": name,
                "row": row,
                "model_uri": info.model_uri,
                "model_id": info.model_id,
                "tags": tags,
                "fingerprint": candidate_fingerprint(candidate),
            }
        )
    return entries


def candidate_metrics(entry: dict) -> dict[str, float]:
    """A candidate's own figures (linked to its logged model, never to the network's)."""
    row: Candidate = entry["row"]
    slug = paths.candidate_slug(entry["name"])
    out = {f"candidate/{slug}/passed": 1.0 if row.passed else 0.0}
    out[f"candidate/{slug}/checks_not_passing"] = float(len(row.failed_checks))
    if row.accuracy.value is not None:
        out[f"candidate/{slug}/accuracy"] = float(row.accuracy.value)
    return out


def _versions(*names: str) -> list[str]:
    from importlib import metadata

    return [f"{name}=={metadata.version(name)}" for name in names]


# --- the registry policy (issue 26) ---------------------------------------------------------------


def candidate_description(name: str, row: Candidate, parent_run: str) -> str:
    """A registered candidate's description; only passing candidates are registered."""
    status = "AUDIT PASSED" if row.passed else "AUDIT FAILED"
    failed = row.failed_checks
    first = (
        f"{status}: mitigation candidate '{name}' passes every gating check of the audit policy."
        if row.passed
        else f"{status}: mitigation candidate '{name}' does not pass {len(failed)} gating checks."
    )
    acc = row.accuracy.value
    lines = [first, f"- method {row.method}, constraint {row.constraint}; built from run {parent_run}"]
    if acc is not None:
        lines.append(f"- test accuracy {f'{100 * acc:.1f}%'}")
    lines += [f"- not passing: {c}" for c in failed]
    return "\n".join(lines)


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
        if not entry["row"].passed:
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
