"""Stage ``prepare``: load, validate, shape the sensitive attributes, scan for PII and target
leakage, audit, split and encode the data.

Everything that can fail on bad input (reading, validation, the PII scan, ``data.leakage: fail``,
the pre-flight memory estimate, a non-finite encoded value) runs before the first write, so a
rejected file leaves earlier outputs untouched.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from pipeline import contracts, io, manifest, paths
from pipeline.config import Config
from pipeline.data import audit, leakage, pii, post_decision, preflight, quality, screen, sensitive_shapes
from pipeline.data.prepare import (
    Prepared,
    PreparedSplit,
    check_sensitive,
    describe,
    model_inputs,
    prepare,
    split_labels,
)
from pipeline.data.sources import load_source, resolve

#: Rows of the hash-stratified sample the ray engine audits in one process (PII, screen, leakage, data audit,
#: duplicates) and writes as the usual split files for the stages that read them (explain, privacy, mitigate).
SAMPLE_ROWS = 100_000


def split_counts(prepared: Prepared) -> dict:
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


def privacy_scan(table, cfg: Config, settings=None) -> dict:
    """PII findings and k-anonymity; which flagged columns leave the model's inputs and why."""
    settings = settings or resolve(cfg.data)
    findings = pii.scan(table.features, cfg.seed, protected=set(settings.sensitive), missing=table.missing)
    keep = set(settings.keep_columns)
    excluded = (
        [f["column"] for f in findings if f["excludable"] and f["column"] not in keep] if settings.pii.exclude else []
    )
    for finding in findings:
        finding["excluded"] = finding["column"] in excluded
    anonymity = pii.k_anonymity(table.features, list(settings.pii.quasi_identifiers), settings.pii.k)
    return {
        "findings": findings,
        "excluded": excluded,
        "exclude_setting": settings.pii.exclude,
        "k_anonymity": anonymity,
    }


def outputs(extra: tuple = ()) -> list:
    """The files later stages read as one set (listed in ``data/prepared/manifest.json``).

    ``data.json`` is written inside the same window (after the manifest is removed, before it is
    written again), so a kill there is refused too; it is not listed, because tests and reviewers edit
    its findings on purpose and its own contract is checked wherever it is read.
    """
    splits = [f(s) for s in paths.SPLITS for f in (paths.split_arrays, paths.split_groups)]
    return [*splits, paths.PREPARED_META, *extra]


def write(prepared: Prepared, cfg: Config, data_metrics: dict, extra: tuple = ()) -> None:
    """The set, then its manifest last: a kill between two writes leaves a set every reader refuses.

    ``extra``: files already written that belong to the set (the ray engine's shard manifest)."""
    contracts.validate(paths.PREPARED_META, prepared.meta)  # before the first split is replaced
    manifest.begin("prepare", [*outputs(), paths.DATA_METRICS])
    for name, part in prepared.splits.items():
        io.write_npz(paths.split_arrays(name), X=part.X, y=part.y)
        io.write_csv(paths.split_groups(name), part.groups)
    contracts.write(paths.PREPARED_META, prepared.meta)
    contracts.write(paths.DATA_METRICS, data_metrics)
    manifest.finish("prepare", outputs(extra), cfg, rows=prepared.meta["rows"])


def column_screen(table, settings, encodings: dict) -> dict:
    """Empty, constant, mostly-empty and copied columns among the would-be inputs (data.json ``screen``)."""
    encoded = set(settings.sensitive) | {c for columns in encodings.values() for c in columns}
    candidates = [c for c in table.features.columns if c not in encoded]
    csv = settings.csv
    words = {"target": f"target '{csv.target}'" if csv.target else "target"}
    for role in ("score", "decision"):
        if getattr(csv, role):
            words[role] = f"existing system's {role} '{getattr(csv, role)}'"
    return screen.screen(
        table,
        candidates,
        max_missing_share=settings.max_missing_share,
        keep=list(settings.keep_columns),
        reference_names=words,
    )


def leakage_check(table, settings, cfg: Config, excluded: list[str], encodings: dict) -> dict:
    """Score every would-be input alone, then together, against the target on the training rows (data.leakage)."""
    labels = split_labels(table, settings, cfg.seed)
    numeric, categorical = model_inputs(table, settings, excluded, encodings)
    dated = []
    if settings.csv.decision_date:  # every column is named; only would-be inputs are suspects (they block)
        others = [c for c in table.features.columns if c not in set(settings.sensitive)]
        dated = post_decision.suspects(table.features, settings.csv.decision_date, others)
    result = leakage.check(
        table.features,
        table.target,
        table.favourable,
        numeric=numeric,
        columns=numeric + categorical,
        train_rows=labels.index[labels == "train"].to_numpy(),
        action=settings.leakage,
        auc_threshold=settings.leakage_auc,
        nmi_threshold=settings.leakage_nmi,
        seed=cfg.seed,
        probe=settings.leakage_probe,
        known=[d for d in dated if d["column"] in set(numeric + categorical)],
    )
    result["post_decision"] = dated
    return result


def report_console(
    prepared: Prepared, privacy: dict, leaks: dict, rows: dict, screened: dict, data_audit: dict | None = None
) -> None:
    print(f"prepare: {prepared.meta['rows']} rows, {len(prepared.meta['feature_names'])} encoded features")
    for note in prepared.meta["notes"]:
        if note.startswith("duplicate column"):
            print(f"prepare: WARNING: {note}")
    for finding in screened["findings"]:
        kept = "excluded from the inputs" if finding["excluded"] else "kept as an input (data.keep_columns)"
        print(f"prepare: WARNING: column '{finding['column']}' is {finding['kind']}: {finding['reason']}; {kept}")
    for suspect in leaks["suspected"]:
        kept = (
            "STILL A MODEL INPUT (data.leakage: warn)"
            if suspect["column"] in prepared.meta["input_columns"]
            else "excluded from the inputs"
        )
        print(f"prepare: SUSPECTED TARGET LEAKAGE: {leakage.describe(suspect)}; {kept}; blocks the 'audited' alias")
    suspects = {s["column"] for s in leaks["suspected"]}
    for dated in leaks.get("post_decision") or []:
        if dated["column"] not in suspects:
            print(f"prepare: WARNING: column '{dated['column']}' is {dated['reason']}; not a model input")
    for alike in (data_audit or {}).get("confusable_groups", []):
        print(f"prepare: sensitive column '{alike['column']}': {alike['reason']} {alike['groups']!r}")
    for finding in privacy["findings"]:
        print(f"prepare: PII column '{finding['column']}': {finding['reason']}; excluded={finding['excluded']}")
    absent = privacy["k_anonymity"]["missing_quasi_identifiers"]
    if absent:
        print(
            f"prepare: quasi-identifier(s) {absent} (data.pii.quasi_identifiers) are not columns of the data; "
            "k-anonymity is measured without them"
        )
    for capped in prepared.meta["capped_columns"]:
        print(
            f"prepare: column '{capped['column']}' capped at {capped['kept']} levels + '<other>' "
            f"({capped['folded_into_other']} rare levels folded; data.max_categories)"
        )
    overlap = rows["train_test_overlap"]
    if rows["duplicate_rows"] or overlap["identical_rows"]:
        print(
            f"prepare: {rows['duplicate_rows']} duplicated rows; {overlap['identical_rows']} of "
            f"{overlap['test_rows']} test rows also occur in training"
        )


def column_audits(table, settings, cfg: Config, encodings: dict) -> tuple[dict, dict, dict, list[str], dict]:
    """PII scan, column screen, leakage check and data audit, each one's exclusions feeding the next:
    ``(privacy, screened, leaks, excluded, data_audit)``."""
    privacy = privacy_scan(table, cfg, settings)
    screened = column_screen(table, settings, encodings)
    # A copy of the target leaves the inputs here and is still scored as leakage (it blocks the alias).
    target_copies = {f["column"] for f in screened["findings"] if f.get("copy_of") == "target"}
    before_leakage = set(privacy["excluded"]) | (set(screened["excluded"]) - target_copies)
    leaks = leakage_check(table, settings, cfg, sorted(before_leakage), encodings)
    excluded = sorted(before_leakage | set(screened["excluded"]) | set(leaks["excluded"]))
    data_audit = audit.audit(table, settings.sensitive, cfg.audit.min_group_size, excluded)
    return privacy, screened, leaks, excluded, data_audit


def main(cfg: Config) -> None:
    if cfg.engine.kind == "ray":
        return main_ray(cfg)
    raw = load_source(cfg.data)
    table, settings, encodings = sensitive_shapes.derive(raw, resolve(cfg.data))
    privacy, screened, leaks, excluded, data_audit = column_audits(table, settings, cfg, encodings)
    sizes = {}

    def check_size(n_rows, encoding):
        sizes.update(
            preflight.check(
                n_rows, encoding.feature_groups, explain_batch=cfg.explain.batch_size, limit_mb=settings.memory_limit_mb
            )
        )

    # Before the encoded matrices exist, so the two never take memory at the same time.
    rows = quality.duplicates_and_overlap(raw.features, raw.target, split_labels(table, settings, cfg.seed))
    prepared = prepare(table, settings, seed=cfg.seed, excluded=excluded, encodings=encodings, preflight=check_size)
    data_metrics = contracts.validate(
        paths.DATA_METRICS,
        {
            **split_counts(prepared),
            "audit": data_audit,
            "pii": privacy,
            "screen": screened,
            "leakage": leaks,
            "rows_quality": rows,
            "capped_columns": prepared.meta["capped_columns"],
            "memory_estimate": sizes,
            "sensitive_encodings": prepared.meta["sensitive_encodings"],
            "sensitive_inputs": prepared.meta["sensitive_inputs"],
        },
    )
    write(prepared, cfg, data_metrics)
    report_console(prepared, privacy, leaks, rows, screened, data_audit)


def take(table, rows: np.ndarray):
    """The table's rows at positions ``rows`` (every per-row part of it)."""

    def pick(series):
        return None if series is None else series.iloc[rows].reset_index(drop=True)

    return dataclasses.replace(
        table,
        features=table.features.iloc[rows].reset_index(drop=True),
        target=pick(table.target),
        official_split=pick(table.official_split),
        extra={k: pick(v) for k, v in table.extra.items()},
    )


def sample_splits(table, labels: pd.Series, encoding, sensitive: list[str]) -> dict[str, PreparedSplit]:
    """The usual split files' contents for the audit sample, encoded with the encoding of all rows."""
    class_index = {c: i for i, c in enumerate(table.classes)}
    inputs = table.features[encoding.numeric + encoding.categorical]
    out = {}
    for name in paths.SPLITS:
        idx = np.flatnonzero((labels == name).to_numpy())
        groups = table.features[sensitive].iloc[idx].astype(str).reset_index(drop=True)
        for role, series in table.extra.items():
            groups[f"__{role}"] = series.iloc[idx].to_numpy()
        y = table.target.iloc[idx].map(class_index).to_numpy(dtype=np.int64)
        out[name] = PreparedSplit(X=encode_rows(encoding, inputs, idx), y=y, groups=groups)
    return out


def encode_rows(encoding, inputs: pd.DataFrame, idx: np.ndarray) -> np.ndarray:
    from pipeline.data import encode

    return encode.transform(encoding, inputs, rows=idx)


def full_counts(classes: list[str], counts: dict, sensitive: list[str]) -> dict:
    """data.json's per-split class and group counts, from the counts merged over every block (all rows)."""
    return {
        name: {
            "class_counts": {classes[int(i)]: n for i, n in sorted(part["classes"].items(), key=lambda kv: int(kv[0]))},
            "groups": {c: part["groups"].get(f"group:{c}", {}) for c in sensitive},
        }
        for name, part in counts.items()
    }


def scale_note(manifest_rows: dict) -> dict:
    """``scale`` in meta.json and data.json: what covers every row and what covers the sample."""
    from pipeline.data import hash_split

    return {
        "engine": "ray",
        "split": "hash of row_id and seed (pipeline/data/hash_split.py): shares met in expectation, not stratified",
        "rows": dict(manifest_rows),
        "sample_rows": SAMPLE_ROWS,
        "sample": "the split files and the data audit (PII, screen, leakage, data audit, duplicates) cover a "
        f"hash-stratified sample: the {SAMPLE_ROWS} rows of smallest hash, and with them at least "
        f"{hash_split.STRATUM_FLOOR} rows (all, when fewer) of every class within every sensitive group "
        "(pipeline/data/hash_split.py), so that a small group can be audited and mitigated; the shards, the "
        "encoder and the counts cover every row",
        "shards": paths.SHARDS_MANIFEST.as_posix(),
    }


def ray_rows(raw, table, settings, seed: int):
    """``row_id`` (each row's position in the loaded source, stable between runs) and the tables cut to
    ``data.max_rows`` rows chosen by hash when it is set."""
    from pipeline.data import hash_split

    row_id = np.arange(len(table.target), dtype=np.int64)
    if settings.max_rows is None:
        return row_id, raw, table
    row_id = row_id[hash_split.sample(row_id, seed, settings.max_rows)]
    return row_id, take(raw, row_id), take(table, row_id)


def blockwise_csv(settings) -> str | None:
    """Why a source must be read whole on the driver under the ray engine, or None when the tasks read it."""
    if settings.source != "csv":
        return f"data.source '{settings.source}' is a bundled table its loader reads whole"
    for name in ("sensitive_onehot", "sensitive_bins", "max_rows"):
        if getattr(settings, name):
            return f"data.{name} is set (it is applied to the whole table)"
    return None


def main_ray(cfg: Config) -> None:
    """``engine.kind: ray``: the split, the encoder's statistics and the encoded shards cover every row,
    block-wise on Ray; the whole-table audits run on a hash-stratified sample of ``SAMPLE_ROWS`` rows."""
    from pipeline.scale.cluster import check_packages, connected

    check_packages()  # a broken install is refused before the source is read
    whole = blockwise_csv(resolve(cfg.data))
    if whole is None:
        with connected(cfg.engine) as ray:
            return ray_csv_blocks(ray, cfg)
    print(f"prepare: engine ray, the source is read whole on the driver: {whole}")
    raw = load_source(cfg.data)
    table, settings, encodings = sensitive_shapes.derive(raw, resolve(cfg.data))
    check_sensitive(table, settings.sensitive)
    row_id, raw, table = ray_rows(raw, table, settings, cfg.seed)
    from pipeline.data import hash_split
    from pipeline.scale import prepare as scaled

    strata = hash_split.strata_of(table.target, table.features[list(settings.sensitive)])
    picked = hash_split.stratified_sample(row_id, strata, cfg.seed, SAMPLE_ROWS)
    sample, raw_sample = take(table, picked), take(raw, picked).features
    del raw  # the driver keeps one copy of the table from here on
    with connected(cfg.engine) as ray:
        finish_ray(
            ray,
            cfg,
            sample,
            raw_sample,
            row_id[picked],
            settings,
            encodings,
            lambda inputs: scaled.table_items(table, row_id, inputs, list(settings.sensitive), cfg.engine.block_rows),
            table.extra,
        )


def ray_csv_blocks(ray, cfg: Config) -> None:
    """The user's CSV file read block-wise by Ray tasks (pipeline/scale/csv_read.py): the driver holds the
    merged decisions and the sample, never the table."""
    from pipeline.scale import csv_read

    scanned = csv_read.scan(csv_read.on_ray(ray), resolve(cfg.data), cfg.seed, SAMPLE_ROWS, cfg.engine.block_rows)
    print(f"prepare: engine ray, {scanned.rows} rows read block-wise ({scanned.mode})")
    sample, settings, encodings = sensitive_shapes.derive(scanned.sample, resolve(cfg.data))
    check_sensitive(sample, settings.sensitive)
    finish_ray(
        ray,
        cfg,
        sample,
        scanned.sample.features,
        scanned.sample_row_id,
        settings,
        encodings,
        lambda inputs: csv_read.items(scanned, list(settings.sensitive)),
        scanned.sample.extra,
    )


def finish_ray(ray, cfg: Config, sample, raw_sample, sample_row_id, settings, encodings, items, extra) -> None:
    """Audits on the sample, shards of every row (``items(inputs)``: the blocks), then the usual files."""
    from pipeline.data import hash_split
    from pipeline.scale import prepare as scaled

    privacy, screened, leaks, excluded, data_audit = column_audits(sample, settings, cfg, encodings)
    official = None if sample.official_split is None else sample.official_split.to_numpy()
    labels = pd.Series(
        hash_split.assign(
            sample_row_id, cfg.seed, val_size=settings.val_size, test_size=settings.test_size, official=official
        )
    )
    rows = quality.duplicates_and_overlap(raw_sample, sample.target, labels)
    numeric, categorical = model_inputs(sample, settings, excluded, encodings)
    sharded = scaled.shard(
        ray,
        items(numeric + categorical),
        cfg,
        numeric=numeric,
        categorical=categorical,
        sensitive=list(settings.sensitive),
        extra_roles=list(extra),
    )
    splits = sample_splits(sample, labels, sharded.encoding, list(settings.sensitive))
    scale = scale_note(sharded.manifest["rows"])
    rows_now = {name: int(len(s.y)) for name, s in splits.items()}
    meta = {
        **describe(sample, settings, sharded.encoding, encodings=encodings, excluded=excluded, rows=rows_now),
        "scale": scale,
    }
    data_metrics = contracts.validate(
        paths.DATA_METRICS,
        {
            "rows": dict(sharded.manifest["rows"]),
            "classes": sample.classes,
            "splits": full_counts(sample.classes, sharded.counts, list(settings.sensitive)),
            "audit": data_audit,
            "pii": privacy,
            "screen": screened,
            "leakage": leaks,
            "rows_quality": rows,
            "capped_columns": meta["capped_columns"],
            "sensitive_encodings": meta["sensitive_encodings"],
            "sensitive_inputs": meta["sensitive_inputs"],
            "scale": scale,
        },
    )
    prepared = Prepared(splits, meta)
    write(prepared, cfg, data_metrics, extra=(paths.SHARDS_MANIFEST,))
    report_console(prepared, privacy, leaks, rows, screened, data_audit)
    print(f"prepare: engine ray, {sharded.manifest['rows']} rows in {len(sharded.manifest['files'])} shards")
