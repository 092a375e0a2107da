"""The explain stage's work as one function: model + arrays in, a plain dict out.

Kept apart from the stage so tests and the benchmark call exactly what ``dvc repro`` runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.audit import explain, explain_groups, proxies
from pipeline.config import ExplainSettings
from pipeline.contracts import DataMetrics, Meta
from pipeline.errors import BadInputError


@dataclass(frozen=True)
class Inputs:
    """What the audit reads, already loaded (the stage loads it from the artifact paths)."""

    X: np.ndarray
    meta: Meta
    groups: pd.DataFrame
    predictions: pd.DataFrame | None
    data_metrics: DataMetrics | None


def attribute_all(
    model, X: np.ndarray, meta: Meta, settings: ExplainSettings
) -> tuple[dict[str, np.ndarray], dict, dict]:
    """Per-row attributions per *original* column for each configured method, what each method
    reports about itself (IG: its convergence), and the seconds each method took."""
    target, fg = meta.favourable_index, meta.feature_groups
    per_column, summaries, seconds = {}, {}, {}
    for method in settings.methods:
        start = time.perf_counter()
        per_column[method], summaries[method] = explain.attribute(method, model, X, target, fg, settings)
        seconds[method] = time.perf_counter() - start
    return per_column, summaries, seconds


def _proxy_block(model, inputs: Inputs, importances: dict, settings: ExplainSettings, threshold: float) -> dict:
    """Association of each input with each sensitive column, attribution share on proxies, flips."""
    meta = inputs.meta
    categorical = meta.encoder_state.categorical
    decoded = proxies.decode_columns(inputs.X, meta.feature_groups, categorical)
    computed = proxies.associations(decoded, inputs.groups, meta.sensitive)
    data = inputs.data_metrics
    from_audit = proxies.proxies_from_data_audit(data.audit.proxies if data and data.audit else None, meta.sensitive)
    # One Cramér's V per pair in one report: the data audit's (whole table) wins where it has one.
    strengths = {s: dict(computed[s]) for s in meta.sensitive}
    for s, listed_by_audit in (from_audit or {}).items():
        strengths[s].update({c: v for c, v in listed_by_audit.items() if v is not None})
        strengths[s] = dict(sorted(strengths[s].items(), key=lambda item: -item[1]))
    out = {
        "source": "data audit (reports/metrics/data.json)"
        if from_audit
        else "bias-corrected Cramér's V on the test split",
        "threshold": settings.proxy_threshold,
        "associations": strengths,
        "by_sensitive": {},
    }
    for s in meta.sensitive:
        listed = [c for c, v in strengths[s].items() if v >= settings.proxy_threshold]
        listed = [c for c in listed if c in meta.feature_groups and c != s]
        shares = {m: proxies.attribution_share(imp, listed) for m, imp in importances.items()}
        is_input = s in meta.feature_groups
        candidates = [c for c in strengths[s] if c in meta.feature_groups and c != s]
        flip_column = s if is_input else next(iter(candidates), None)
        block = {
            "proxies": listed,
            "attribution_share": shares,
            "is_model_input": is_input,
            "flip_on": "the sensitive attribute itself"
            if is_input
            else (
                f"its strongest proxy '{flip_column}' "
                f"(bias-corrected Cramér's V {strengths[s].get(flip_column, 0):.3f})"
            ),
        }
        if flip_column is not None:
            block["flip"] = proxies.flip_test(
                model,
                inputs.X,
                inputs.groups[s].to_numpy().astype("U"),
                column=flip_column,
                idx=meta.feature_groups[flip_column],
                levels=categorical.get(flip_column),
                decoded=None if is_input else decoded,
                favourable_index=meta.favourable_index,
                threshold=threshold,
            )
        out["by_sensitive"][s] = block
    return out


def audit(model, inputs: Inputs, settings: ExplainSettings, *, threshold: float, seed: int) -> dict:
    """Everything ``reports/metrics/explain.json`` holds (see the stage's docstring for keys)."""
    meta = inputs.meta
    missing = [s for s in meta.sensitive if s not in inputs.groups.columns]
    if missing:
        raise BadInputError(f"groups_test.csv lacks sensitive column(s) {missing} named in meta.json")
    if len(inputs.groups) != len(inputs.X):
        raise BadInputError(
            f"groups_test.csv has {len(inputs.groups)} rows, test.npz has {len(inputs.X)}; expected them row-aligned"
        )
    columns = list(meta.feature_groups)
    per_column, summaries, seconds = attribute_all(model, inputs.X, meta, settings)
    result: dict = {"target_class": meta.favourable, "n_rows": len(inputs.X), "seconds": seconds}
    importances = {}
    for method, values in per_column.items():
        table = explain.importance_table(values, columns, n_boot=settings.n_boot, ci=settings.ci, seed=seed)
        result[method] = {**explain.method_block(table), **summaries[method]}
        importances[method] = result[method]["importance"]
    if "integrated_gradients" in result:
        result["integrated_gradients"]["n_steps"] = result["integrated_gradients"]["n_steps_max_used"]
    result["agreement"] = explain.agreement(importances, settings.top_k)
    primary = settings.methods[0]
    result["by_group"] = {
        "method": primary,
        "by_sensitive": {
            s: explain_groups.by_group(
                per_column[primary],
                columns,
                inputs.groups[s],
                k=settings.top_k,
                n_boot=settings.n_boot,
                ci=settings.ci,
                seed=seed,
                min_group_size=settings.min_group_size,
            )
            for s in meta.sensitive
        },
    }
    result["proxies"] = _proxy_block(model, inputs, importances, settings, threshold)
    if inputs.predictions is not None and settings.local_examples:
        if len(inputs.predictions) != len(inputs.X):
            raise BadInputError(
                f"predictions_test.csv has {len(inputs.predictions)} rows, test.npz {len(inputs.X)}; rerun evaluate"
            )
        examples = []
        for s in meta.sensitive:
            labels = inputs.groups[s].to_numpy().astype("U")
            picks = explain_groups.pick_errors(
                inputs.predictions, meta.favourable_index, labels, settings.local_examples
            )
            examples += [
                {"sensitive": s, **e}
                for e in explain_groups.local_explanations(picks, per_column[primary], columns, settings.top_k)
            ]
        result["local"] = {"method": primary, "examples": examples}
    return result
