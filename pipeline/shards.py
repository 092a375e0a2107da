"""The ray engine's encoded Parquet shards and their manifest: written block-wise, read as one set.

Layout: ``data/prepared/shards/<split>/part-NNNNN.parquet``, one file per (block, split), with columns
``row_id`` (int64, the row's position in the loaded source: stable between runs, unlike Ray's own ids),
``y`` (int64 class index), the float32 features ``f0000``, ``f0001``, ... (names in the manifest), one
string column ``group:<attr>`` per sensitive attribute and ``extra:<role>`` for an existing system's
score or decision. ``manifest.json`` beside them lists every file (split, rows, bytes, sha256), the
feature names, the settings and row counts that made them; it is removed before the first shard is
replaced and written last, atomically, so an interrupted run leaves a set :func:`verify` refuses
(exit 2, naming the stage to rerun), exactly like :mod:`pipeline.manifest` does for the local files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from pipeline import io, paths
from pipeline.errors import BadInputError

FORMAT = 1
ROW_ID, LABEL = "row_id", "y"
GROUP_PREFIX, EXTRA_PREFIX = "group:", "extra:"
_RERUN = "rerun `python -m pipeline prepare` with engine.kind: ray (or `dvc repro`)"


def feature_column(i: int) -> str:
    return f"f{i:04d}"


def write_shard(target: Path, row_id: np.ndarray, y: np.ndarray, X: np.ndarray, text: dict[str, np.ndarray]) -> dict:
    """Write one shard atomically; ``text`` maps column name -> strings. Returns rows, bytes, sha256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {ROW_ID: pa.array(np.asarray(row_id, dtype=np.int64)), LABEL: pa.array(np.asarray(y, dtype=np.int64))}
    X = np.asarray(X, dtype=np.float32)
    for i in range(X.shape[1]):
        columns[feature_column(i)] = pa.array(X[:, i])
    for name, values in text.items():
        columns[name] = pa.array([str(v) for v in values], type=pa.string())
    with io.atomic_path(target) as tmp:
        pq.write_table(pa.table(columns), tmp)
    return {"rows": int(len(row_id)), "bytes": target.stat().st_size, "sha256": io.sha256_file(target)}


def begin(root: Path = paths.SHARDS_DIR) -> None:
    """Before the first shard is written: remove the manifest, then every old shard."""
    manifest = root / paths.SHARDS_MANIFEST.name
    io.check_inside_root(manifest)
    manifest.unlink(missing_ok=True)
    if root.is_dir():
        shutil.rmtree(root)


def finish(files: dict[str, dict], *, feature_names: list[str], text_columns: list[str], settings: dict) -> dict:
    """Write the manifest last; ``files`` maps each shard's path to its split, rows, bytes and sha256."""
    rows: dict[str, int] = {}
    for entry in files.values():
        rows[entry["split"]] = rows.get(entry["split"], 0) + int(entry["rows"])
    payload = {
        "format": FORMAT,
        "files": dict(sorted(files.items())),
        "feature_names": list(feature_names),
        "feature_columns": [feature_column(i) for i in range(len(feature_names))],
        "text_columns": list(text_columns),
        "settings": settings,
        "rows": dict(sorted(rows.items())),
    }
    io.write_json(paths.SHARDS_MANIFEST, payload)
    return payload


def verify(settings: dict, root: Path = paths.SHARDS_DIR) -> dict:
    """The manifest, after checking the set is whole: every listed file present with its size and
    hash, no unlisted shard beside them, made with ``settings``. Refused with exit 2 otherwise."""
    target = root / paths.SHARDS_MANIFEST.name
    if not target.is_file():
        raise BadInputError(
            f"{target} does not exist: the shards are missing or not one complete set (an interrupted run); {_RERUN}"
        )
    try:
        found = io.read_json(target)
    except (json.JSONDecodeError, UnicodeDecodeError):
        found = None
    if not isinstance(found, dict) or found.get("format") != FORMAT or not isinstance(found.get("files"), dict):
        raise BadInputError(f"{target} is not a shard manifest this version can read; {_RERUN}")
    for name, expected in found["files"].items():
        path = Path(name)
        if not path.is_file():
            raise BadInputError(f"{name} is missing from the shards {target} lists: the set is torn; {_RERUN}")
        if path.stat().st_size != expected["bytes"] or io.sha256_file(path) != expected["sha256"]:
            raise BadInputError(
                f"{name} is not the shard {target} lists (other size or sha256): the set is torn; {_RERUN}"
            )
    listed = {Path(name).resolve() for name in found["files"]}
    stray = sorted(str(p) for p in root.rglob("*.parquet") if p.resolve() not in listed)
    if stray:
        raise BadInputError(f"{stray[0]} is a shard {target} does not list: the set is torn; {_RERUN}")
    if found.get("settings") != settings:
        raise BadInputError(
            f"the shards in {root} were made with other settings than params.yaml holds now: they are stale; {_RERUN}"
        )
    return found


def split_files(found: dict, split: str) -> list[str]:
    """The shards of one split, in block order (a verified manifest's paths, as listed)."""
    return [name for name, entry in found["files"].items() if entry["split"] == split]
