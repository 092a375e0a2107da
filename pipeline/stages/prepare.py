"""Stage ``prepare``: load, validate, scan for PII, audit, split and encode the data.

Everything that can fail on bad input (reading, validation, the PII scan) runs before the first
write, so a rejected file leaves earlier outputs untouched.
"""

from __future__ import annotations

import pandas as pd

from pipeline import io, paths
from pipeline.config import Config
from pipeline.data import audit, pii
from pipeline.data.prepare import Prepared, prepare
from pipeline.data.sources import load_source, resolve


def summarise(prepared: Prepared) -> dict:
    """Rows, class balance and group sizes per split (the data audit builds on this)."""
    summary: dict = {"rows": prepared.meta["rows"], "classes": prepared.meta["classes"], "splits": {}}
    for name, part in prepared.splits.items():
        counts = pd.Series(part.y).value_counts().sort_index()
        summary["splits"][name] = {
            "class_counts": {prepared.meta["classes"][i]: int(n) for i, n in counts.items()},
            "groups": {
                col: {str(k): int(v) for k, v in part.groups[col].value_counts().sort_index().items()}
                for col in prepared.meta["sensitive"]
            },
        }
    return summary


def privacy_scan(table, cfg: Config) -> dict:
    """PII findings and k-anonymity; which flagged columns leave the model's inputs and why."""
    settings = resolve(cfg.data)
    findings = pii.scan(table.features, cfg.seed, protected=set(settings.sensitive))
    excluded = [f["column"] for f in findings if f["excludable"]] if settings.pii.exclude else []
    for finding in findings:
        finding["excluded"] = finding["column"] in excluded
    anonymity = pii.k_anonymity(table.features, list(settings.pii.quasi_identifiers), settings.pii.k)
    return {
        "findings": findings,
        "excluded": excluded,
        "exclude_setting": settings.pii.exclude,
        "k_anonymity": anonymity,
    }


def write(prepared: Prepared) -> None:
    for name, part in prepared.splits.items():
        io.write_npz(paths.split_arrays(name), X=part.X, y=part.y)
        io.write_csv(paths.split_groups(name), part.groups)
    io.write_json(paths.PREPARED_META, prepared.meta)


def main(cfg: Config) -> None:
    table = load_source(cfg.data)
    privacy = privacy_scan(table, cfg)
    data_audit = audit.audit(table, resolve(cfg.data).sensitive, cfg.audit.min_group_size, privacy["excluded"])
    prepared = prepare(table, cfg.data, seed=cfg.seed, excluded=privacy["excluded"])
    write(prepared)
    io.write_json(paths.DATA_METRICS, {**summarise(prepared), "audit": data_audit, "pii": privacy})
    print(f"prepare: {prepared.meta['rows']} rows, {len(prepared.meta['feature_names'])} encoded features")
    for finding in privacy["findings"]:
        print(f"prepare: PII column '{finding['column']}': {finding['reason']}; excluded={finding['excluded']}")
