"""Resumable training state, written atomically and read back as weights only.

The checkpoint is a plain dict of tensors, numbers and strings (no pickled objects), saved to a
temporary file and renamed, so a kill leaves either the previous checkpoint or the new one, and
``torch.load(weights_only=True)`` can read it. A fingerprint of the training params and data
guards against resuming a run that would silently mix two experiments.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
from pathlib import Path

import numpy as np

from pipeline import io
from pipeline.errors import IntegrityError

FORMAT = 1
#: Settings that do not change what is learned, so a resumed run may differ in them.
NEUTRAL = {"resume", "accelerator", "devices", "strategy", "num_nodes"}


def fingerprint(settings: dict, seed: int, arrays: dict[str, dict[str, np.ndarray]]) -> str:
    """sha256 of the learning-relevant train params, the seed and the training/validation arrays."""
    digest = hashlib.sha256()
    relevant = {k: v for k, v in settings.items() if k not in NEUTRAL}
    digest.update(json.dumps({"train": relevant, "seed": seed}, sort_keys=True, default=str).encode())
    for split in sorted(arrays):
        for key in sorted(arrays[split]):
            digest.update(np.ascontiguousarray(arrays[split][key]).tobytes())
    return digest.hexdigest()


def save(path: Path, state: dict) -> None:
    import torch

    buffer = _io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    io.write_bytes(path, buffer.getvalue())


def load(path: Path, expected_fingerprint: str) -> dict:
    """Read a checkpoint written by :func:`save`; refuse corrupt files and foreign runs."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated zip, pickle payload, garbage: all refused the same way
        raise IntegrityError(
            f"{path}: cannot be read as a weights-only checkpoint ({type(err).__name__}); it is truncated, "
            "corrupt or carries pickled objects. Delete it or set train.resume: false"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise IntegrityError(f"{path}: not a checkpoint of this pipeline (format {state.get('format') if isinstance(state, dict) else '?'})")
    if state.get("fingerprint") != expected_fingerprint:
        raise IntegrityError(
            f"{path}: checkpoint was made with different train params or data (fingerprint "
            f"{str(state.get('fingerprint'))[:12]}, this run {expected_fingerprint[:12]}); refusing to resume. "
            "Delete it or set train.resume: false"
        )
    return state
