"""The ``log`` stage's part for mitigation candidates: each candidate of ``reports/metrics/
mitigation.json`` logged as its own MLflow model and registered with its lineage, and the
``audited`` alias given to the best passing one (or removed when none passes).

The decision which candidate is best was made by the ``mitigate`` stage (its ``best_passing``:
the passing candidate with the highest accuracy); here it is only carried out.
"""

from __future__ import annotations

import pandas as pd

from pipeline import contracts, paths, splits
from pipeline.evidence import verify_candidates

#: Rows of the test split used as the logged input example.
EXAMPLE_ROWS = 5


def input_frame(meta: dict, split: str = "test", rows: int | None = None) -> pd.DataFrame:
    """A split as the candidates' serving input: encoded feature columns plus the raw sensitive columns."""
    X = splits.arrays(split)["X"][:rows]
    frame = pd.DataFrame(X, columns=meta["feature_names"])
    groups = splits.groups(split)
    for column in meta["sensitive"]:
        if column not in frame.columns:
            frame[column] = groups[column].to_numpy()[: len(frame)]
    return frame


def lineage_tags(name: str, row: dict, parent_run: str, attribute: str) -> dict[str, str]:
    return {
        "candidate": name,
        "method": row["method"],
        "constraint": str(row["constraint"]),
        "policy_criteria_targeted": ", ".join(row.get("targets") or []) or "none",
        "mitigated_attribute": attribute,
        "verdict": "pass" if row["passed"] else "fail",
        "audit_failed_checks": ", ".join(row["failed_checks"])[:5000] or "none",
        "parent_run": parent_run,
        "test_accuracy": f"{row['accuracy']['value']:.6f}",
    }


def log_candidates(cfg, meta: dict, parent_run: str, requirements: list[str]) -> dict | None:
    """Log and register every deployable candidate; ``None`` when the mitigate stage has not run or is off."""
    from pipeline import tracking
    from pipeline.models.postprocessed import PostProcessedNetwork

    if not paths.MITIGATION_METRICS.is_file():
        return None
    result = contracts.read(paths.MITIGATION_METRICS)
    if not result.get("enabled"):  # mitigation off: the network's own registration stands alone
        return None
    verify_candidates(cfg, result, meta["sensitive"])  # before any candidate is logged or the alias moves
    example = input_frame(meta, rows=EXAMPLE_ROWS)
    requirements = [*requirements, *_versions("pandas")]
    entries = []
    for name, row in result["candidates"].items():
        if not row.get("deployable"):
            continue
        folder = paths.candidate_dir(name)
        output = PostProcessedNetwork.load(folder).predict(example)
        info = tracking.log_candidate_model(
            f"candidate-{paths.candidate_slug(name)}",
            folder,
            example,
            output,
            lineage_tags(name, row, parent_run, result["attribute"]),
            requirements,
        )
        entries.append(
            {
                "name": name,
                "model_uri": info.model_uri,
                "tags": lineage_tags(name, row, parent_run, result["attribute"]),
            }
        )
    registry = tracking.register_candidates(entries, cfg.tracking.model_name, result.get("best_passing"))
    return {**registry, "model_uris": {e["name"]: e["model_uri"] for e in entries}}


def _versions(*names: str) -> list[str]:
    from importlib import metadata

    return [f"{name}=={metadata.version(name)}" for name in names]
