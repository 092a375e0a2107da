"""Atomic file writes, canonical JSON and safe CSV.

Every output goes to a temporary file in the same directory and is renamed over the target, so a
crash, a kill or a full disk leaves either the previous file or the complete new one, never half
of one. Every CSV the project writes goes through :func:`write_csv`, the one place where cells
from the data are made inert for spreadsheets and for DVC's HTML plots.
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
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


def check_stays_inside(target: str | os.PathLike, root: str | os.PathLike, what: str = "write") -> Path:
    """Refuse ``target`` when it names a place inside ``root`` but a symlink carries it outside.

    For stores the user may point anywhere on purpose (``MLFLOW_TRACKING_URI``): a path that is
    outside ``root`` as written is the user's choice; one that is inside as written and outside
    once symlinks are followed (a symlinked ``mlartifacts/``) would send files where DVC and git
    cannot see or restore them.
    """
    from pipeline.errors import BadInputError

    root = Path(root).resolve()
    written = Path(os.path.abspath(target))
    resolved = Path(target).resolve()
    if written.is_relative_to(root) and not resolved.is_relative_to(root):
        raise BadInputError(
            f"refusing to {what} {target}: it resolves to {resolved}, outside the project root {root} "
            "(a symlinked folder?); point it inside the project or set MLFLOW_TRACKING_URI explicitly"
        )
    return resolved


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


#: A full disk or an exhausted quota: the environment, not the data, is at fault.
_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


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
    except OSError as err:
        if err.errno not in _NO_SPACE:
            raise
        from pipeline.errors import StorageError

        raise StorageError(
            f"cannot write {target}: {os.strerror(err.errno)}; the previous version (if any) is unchanged. "
            "Free some space (or raise the quota) and run the stage again"
        ) from None
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | os.PathLike, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


#: Significant digits of every figure written to a metrics file. Sums of the same float64 values in
#: another order (threads, BLAS kernels) differ in the 16th-17th digit (0.0837312566469529 vs
#: 0.08373125664695291 between two clones); 12 digits keep every figure the audit reports and make
#: the files byte-identical.
FIGURE_DIGITS = 12
#: Blocks that echo settings from params.yaml rather than computed figures: written exactly, since
#: readers compare them with the configuration (the gate's evidence check compares ``policy``).
SETTINGS_KEYS = frozenset({"policy", "settings", "policy_criteria"})


def to_plain(value: Any, digits: int | None = None) -> Any:
    """Convert numpy scalars/arrays and NaN to JSON-friendly values (NaN and inf become None); with
    ``digits``, round every float to that many significant digits, except under :data:`SETTINGS_KEYS`."""
    if isinstance(value, dict):
        return {str(k): to_plain(v, None if k in SETTINGS_KEYS else digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, digits) for v in value]
    if isinstance(value, np.ndarray):
        return [to_plain(v, digits) for v in value.tolist()]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        value = float(value)
        if not math.isfinite(value):
            return None
        return float(f"{value:.{digits}g}") if digits else value
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def dumps_json(payload: Any, digits: int | None = None) -> str:
    """Canonical JSON: sorted keys, plain floats (rounded to ``digits`` significant digits when given),
    undefined values as null, trailing newline."""
    return json.dumps(to_plain(payload, digits), indent=2, sort_keys=True, allow_nan=False) + "\n"


def write_json(target: str | os.PathLike, payload: Any, digits: int | None = None) -> None:
    write_text(target, dumps_json(payload, digits))


def write_figures(target: str | os.PathLike, payload: Any) -> None:
    """A metrics file: :func:`write_json` with every float rounded to :data:`FIGURE_DIGITS`."""
    write_json(target, payload, FIGURE_DIGITS)


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


#: A cell a spreadsheet would run as a formula (OWASP "CSV injection": = + - @ tab CR).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A plain number, which a spreadsheet reads as a number: ``-3.5`` stays as it is.
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
#: What ends or hides a ``<script>`` block in HTML (``dvc plots show`` embeds the CSV rows there).
_SCRIPT_BREAK = re.compile(r"<(/|!--)", re.IGNORECASE)
#: Marks an escaped cell; a cell that really starts with it is escaped too, so reading back is exact.
ESCAPE_MARK = "'"


def escape_cell(value: str) -> str:
    """Make one text cell inert; :func:`unescape_cell` restores the original exactly.

    A cell starting with a formula character gets a leading ``'`` (the convention spreadsheets
    honour: the rest is shown as text), unless it is a plain number such as ``-3.5``. A cell that
    could close DVC's ``<script>`` block (``</script>``, ``<!--``) or holds a carriage return
    (which the CSV writer leaves unquoted, so a reader splits the row there) is marked the same
    way. In a marked cell ``&``, ``<`` and CR are written ``&amp;``, ``&lt;`` and ``&#13;``. Other
    text, such as ``<=50K``, is untouched.
    """
    formula = value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value)
    if not (formula or "\r" in value or value.startswith(ESCAPE_MARK) or _SCRIPT_BREAK.search(value)):
        return value
    return ESCAPE_MARK + value.replace("&", "&amp;").replace("<", "&lt;").replace("\r", "&#13;")


def unescape_cell(value: str) -> str:
    """The inverse of :func:`escape_cell`."""
    if not value.startswith(ESCAPE_MARK):
        return value
    return value[len(ESCAPE_MARK) :].replace("&#13;", "\r").replace("&lt;", "<").replace("&amp;", "&")


def _is_text(series) -> bool:
    """Object, string or categorical columns: anything that can hold text from the data."""
    import pandas as pd

    kinds = pd.api.types
    return (
        kinds.is_object_dtype(series) or kinds.is_string_dtype(series) or isinstance(series.dtype, pd.CategoricalDtype)
    )


def write_csv(target: str | os.PathLike, frame, *, float_format: str | None = None, index: bool = False) -> None:
    """Write ``frame`` as CSV atomically, every text cell and column name passed through :func:`escape_cell`.

    The one CSV writer of the project: group names and labels come from the user's data and end
    up in spreadsheets (``data/prepared/groups_*.csv``, ``outputs/``) and inside the ``<script>``
    block of ``dvc plots show`` (``reports/plots/*.csv``). Numeric columns are written as numbers.
    """
    out = frame.copy()
    for column in out.columns:
        if _is_text(out[column]):
            out[column] = out[column].astype(object).map(lambda v: escape_cell(v) if isinstance(v, str) else v)
    out.columns = [escape_cell(c) if isinstance(c, str) else c for c in out.columns]
    if index and _is_text(out.index.to_series()):
        out.index = out.index.map(lambda v: escape_cell(v) if isinstance(v, str) else v)
    with atomic_path(target) as tmp:
        out.to_csv(tmp, index=index, float_format=float_format)


def read_csv(path: str | os.PathLike, **kwargs):
    """Read a CSV written by :func:`write_csv`, restoring every escaped text cell and column name."""
    import pandas as pd

    frame = pd.read_csv(path, **kwargs)
    for column in frame.columns:
        if _is_text(frame[column]):
            frame[column] = frame[column].map(lambda v: unescape_cell(v) if isinstance(v, str) else v)
    frame.columns = [unescape_cell(c) if isinstance(c, str) else c for c in frame.columns]
    return frame
