"""One manifest per multi-file stage output: the set is used whole, or refused.

Why: each file is written atomically, but a stage writes several. A ``kill -9`` of ``prepare``
between two renames left a new ``train.npz`` beside the old validation, test and group files, and
later stages ran to exit 0 on misaligned splits; a ``prepare`` rerun on another data set made the
old model and predictions meet new arrays inside numpy or torch (``mat1 and mat2 shapes cannot be
multiplied``). Each per-file check passes in both cases; only the set is wrong.

How: a stage first removes its manifest (:func:`begin`), writes its files, and writes the
manifest last and atomically (:func:`finish`): every file's size and sha256, the settings that
made them, row counts, and the sha256 of each upstream manifest the stage read. A kill anywhere
before that last rename leaves no manifest, so the set is refused. Readers call :func:`require`
before they combine data from two files: a missing file or manifest, a file whose hash differs, a
setting changed since, or an upstream manifest that changed since (its stage ran again) is
refused with :class:`~pipeline.errors.BadInputError` (exit 2) naming the stage to rerun. The
manifest has no clock in it, so an identical rerun writes identical bytes and DVC sees no change.

Each file's own contract (``meta.json``, weights that load) is checked where the file is read, with
exit 4; the manifest answers the other question, whether the files belong together.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline import io, paths
from pipeline.errors import BadInputError

#: Bumped when the manifest's layout changes, so an older manifest is refused, not misread.
FORMAT = 1
#: The settings each stage's outputs follow from (dotted keys of the config): a change makes them stale.
SETTINGS = {
    "prepare": ("seed", "data"),
    "train": ("seed", "train"),
    "evaluate": ("evaluate",),
    "mitigate": ("seed", "mitigation", "audit.policy"),
}


#: Settings inside those sections that the stage does not read (the fairness stage reads them): changing
#: them does not make the stage's outputs stale.
NOT_READ = {
    "prepare": (
        "data.csv.score_threshold",
        "data.csv.score_direction",
        "data.csv.favourable_decision",
        "data.csv.existing_rows",
    ),
}


def _rerun(stage: str) -> str:
    return f"rerun `python -m pipeline {stage}` (or `dvc repro`, which runs the stages in order)"


def settings_of(cfg: Any, stage: str) -> dict[str, Any]:
    """The settings of ``stage`` as plain JSON values, keyed by their dotted names."""
    dumped = cfg.model_dump(mode="json")
    out = {}
    for dotted in SETTINGS[stage]:
        node = dumped
        for part in dotted.split("."):
            node = node[part]
        out[dotted] = node
    for dotted in NOT_READ.get(stage, ()):
        section = next(key for key in out if dotted.startswith(key + "."))
        *inner, leaf = dotted[len(section) + 1 :].split(".")
        node = out[section]
        for part in inner:
            node = node[part]
        node.pop(leaf, None)
    return json.loads(io.dumps_json(out))


def _listed(files: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders expanded to the files inside them (sorted; temporaries skipped)."""
    out: list[Path] = []
    for item in map(Path, files):
        if item.is_dir():
            out += sorted(p for p in item.rglob("*") if p.is_file() and not _temporary(p))
        else:
            out.append(item)
    return out


def _temporary(path: Path) -> bool:
    """A temporary of :func:`pipeline.io.atomic_path` (``.name.xxxx.tmp``) that a kill left behind."""
    return path.name.startswith(".") and path.name.endswith(".tmp")


def begin(stage: str, outputs: Iterable[str | os.PathLike] = ()) -> None:
    """Before the stage's first write: remove its manifest, so from here until :func:`finish` the set is
    refused, and remove temporaries a killed run left beside ``outputs``."""
    target = paths.MANIFESTS[stage]
    io.check_inside_root(target)
    target.unlink(missing_ok=True)
    folders = {Path(o) if Path(o).is_dir() else Path(o).parent for o in outputs}
    for folder in sorted(folders):
        if folder.is_dir():
            for stray in folder.glob(".*.tmp"):
                stray.unlink(missing_ok=True)


def finish(
    stage: str,
    outputs: Iterable[str | os.PathLike],
    cfg: Any,
    *,
    upstream: dict[str, str] | None = None,
    rows: dict[str, int] | None = None,
) -> None:
    """Write the stage's manifest, last: ``upstream`` maps each stage read to the digest :func:`require` gave."""
    files = {p.as_posix(): {"bytes": p.stat().st_size, "sha256": io.sha256_file(p)} for p in _listed(outputs)}
    io.write_json(
        paths.MANIFESTS[stage],
        {
            "format": FORMAT,
            "stage": stage,
            "files": files,
            "settings": settings_of(cfg, stage),
            "rows": rows or {},
            "upstream": dict(sorted((upstream or {}).items())),
        },
    )


def digest(stage: str) -> str | None:
    """The sha256 of ``stage``'s manifest as it is now, or ``None`` when there is none."""
    target = paths.MANIFESTS[stage]
    return io.sha256_file(target) if target.is_file() else None


def _load(stage: str) -> dict:
    target = paths.MANIFESTS[stage]
    if not target.is_file():
        raise BadInputError(
            f"{target} does not exist: the '{stage}' stage writes it last, after its other outputs, so those "
            "are missing or not known to be one complete set (an interrupted run, or files from elsewhere); "
            f"run `python -m pipeline {stage}` first (or `dvc repro`, which runs the stages in order)"
        )
    try:
        found = io.read_json(target)
    except (json.JSONDecodeError, UnicodeDecodeError):
        found = None
    if not isinstance(found, dict) or found.get("format") != FORMAT or not isinstance(found.get("files"), dict):
        raise BadInputError(f"{target} is not a manifest this version can read; {_rerun(stage)}")
    return found


def _check_files(stage: str, found: dict) -> None:
    for name, expected in found["files"].items():
        path = Path(name)
        if not path.is_file():
            raise BadInputError(
                f"{name} is missing from the set the '{stage}' stage wrote ({paths.MANIFESTS[stage]}); {_rerun(stage)}"
            )
        size = path.stat().st_size
        if size != expected.get("bytes") or io.sha256_file(path) != expected.get("sha256"):
            raise BadInputError(
                f"{name} is not the file the last '{stage}' run wrote beside the others ({size} bytes, "
                f"{paths.MANIFESTS[stage]} lists {expected.get('bytes')} bytes and another sha256): the set is torn "
                f"(an interrupted run, or a file copied in from another run); {_rerun(stage)}"
            )


def _check_settings(stage: str, found: dict, cfg: Any) -> None:
    now = settings_of(cfg, stage)
    then = found.get("settings") or {}
    changed = [k for k in sorted(set(now) | set(then)) if now.get(k) != then.get(k)]
    if changed:
        details = "; ".join(_difference(k, then.get(k), now.get(k)) for k in changed)
        raise BadInputError(
            f"the outputs of '{stage}' ({paths.MANIFESTS[stage].parent}) were made with other settings than "
            f"params.yaml holds now ({details}): they are stale; {_rerun(stage)}"
        )


def _difference(key: str, then: Any, now: Any, limit: int = 3) -> str:
    """The first few dotted settings that differ under ``key``, as ``key: old -> new``."""
    if isinstance(then, dict) and isinstance(now, dict):
        inner = [k for k in sorted(set(then) | set(now)) if then.get(k) != now.get(k)]
        return ", ".join(_difference(f"{key}.{k}", then.get(k), now.get(k)) for k in inner[:limit])
    return f"{key}: {json.dumps(then)[:60]} -> {json.dumps(now)[:60]}"


def _check_upstream(stage: str, found: dict, digests: dict[str, str | None]) -> None:
    for up, recorded in found.get("upstream", {}).items():
        if up not in digests:
            digests[up] = digest(up)
        if digests[up] != recorded:
            raise BadInputError(
                f"the outputs of '{stage}' were made from other '{up}' outputs than the ones now in place "
                f"({paths.MANIFESTS[up]} changed since, or is missing): they do not belong together; {_rerun(stage)}"
            )


def require(cfg: Any, *stages: str) -> dict[str, str]:
    """Verify the sets of ``stages`` (in pipeline order) before they are used together.

    Returns each stage's manifest digest, for the caller's own :func:`finish` (``upstream``).
    """
    digests: dict[str, str | None] = {}
    for stage in stages:
        found = _load(stage)
        _check_files(stage, found)
        _check_settings(stage, found, cfg)
        _check_upstream(stage, found, digests)
        digests[stage] = digest(stage)
    return {s: digests[s] for s in stages}
