"""Atomic file writes and canonical JSON.

Every output goes to a temporary file in the same directory and is renamed over the target, so a
crash or a kill leaves either the previous file or the complete new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()

#: When set (the CLI sets it to the project root), every write must land inside this folder.
_WRITE_ROOT: Path | None = None


def set_write_root(root: str | os.PathLike | None) -> None:
    """Confine every later write to ``root`` (``None`` lifts the guard, for library use in tests).

    Inputs may live anywhere (``data.csv.path`` is read, never written), but a stage must never
    write outside the project: a configured path like ``../../etc/x`` or a symlinked output folder
    pointing elsewhere would otherwise overwrite files DVC does not track and cannot restore.
    """
    global _WRITE_ROOT
    _WRITE_ROOT = None if root is None else Path(root).resolve()


def check_inside_root(target: str | os.PathLike) -> Path:
    """Return ``target`` resolved (symlinks followed), or refuse it when it escapes the write root."""
    from pipeline.errors import BadInputError

    resolved = Path(target).resolve()
    if _WRITE_ROOT is not None and not resolved.is_relative_to(_WRITE_ROOT):
        raise BadInputError(
            f"refusing to write {target}: it resolves to {resolved}, outside the project root {_WRITE_ROOT}; "
            "outputs must stay inside the project (check the configured path and any symlinked folder)"
        )
    return resolved


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` only on success."""
    check_inside_root(target)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_UMASK)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def to_plain(value: Any) -> Any:
    """Convert numpy scalars/arrays and NaN to JSON-friendly values (NaN and inf become None)."""
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return [to_plain(v) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        return None if not math.isfinite(value) else value
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def dumps_json(payload: Any) -> str:
    """Canonical JSON: sorted keys, plain floats, undefined values as null, trailing newline."""
    return json.dumps(to_plain(payload), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(target: str | os.PathLike, payload: Any) -> None:
    write_text(target, dumps_json(payload))


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def write_npz(target: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays uncompressed (fast to load) and atomically; never pickled objects."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def read_npz(path: str | os.PathLike) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
