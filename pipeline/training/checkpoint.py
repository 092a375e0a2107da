"""The ``last`` checkpoint: a plain dict of tensors and primitives, written atomically each epoch.

Plain data (no pickled classes) so it loads with ``torch.load(weights_only=True)``; a fingerprint
of the train params, seed and data arrays guards against resuming someone else's training.
"""

from __future__ import annotations

import hashlib
import io as _io
import json
from pathlib import Path

import numpy as np

from pipeline import io
from pipeline.errors import IntegrityError

#: Settings that do not change what is learned (where it runs, whether it resumes).
NOT_FINGERPRINTED = {"resume", "accelerator", "devices", "strategy", "num_nodes"}


def fingerprint(settings, seed: int, arrays: dict[str, dict[str, np.ndarray]]) -> str:
    """sha256 of the train params that shape the result, the seed and every data array's bytes."""
    params = {k: v for k, v in settings.model_dump(mode="json").items() if k not in NOT_FINGERPRINTED}
    digest = hashlib.sha256(json.dumps({"train": params, "seed": seed}, sort_keys=True).encode())
    for split in sorted(arrays):
        for name in sorted(arrays[split]):
            array = np.ascontiguousarray(arrays[split][name])
            digest.update(f"{split}/{name}/{array.dtype}/{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def save(path: Path, state: dict) -> None:
    """Write ``state`` so that a kill leaves either the previous file or the new one, never half."""
    import torch

    buffer = _io.BytesIO()
    torch.save(state, buffer)
    io.write_bytes(path, buffer.getvalue())


def load(path: Path, expected_fingerprint: str) -> dict:
    """Load a checkpoint made by :func:`save`; refuse corrupt files and foreign fingerprints."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ... on bad bytes
        raise IntegrityError(
            f"checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}); delete it to start over"
        ) from err
    if not isinstance(state, dict) or "fingerprint" not in state or "epoch" not in state:
        raise IntegrityError(f"checkpoint {path} lacks 'fingerprint'/'epoch'; it was not written by this pipeline")
    if state["fingerprint"] != expected_fingerprint:
        raise IntegrityError(
            f"checkpoint {path} was made with different train params, seed or data "
            f"(fingerprint {state['fingerprint'][:12]}..., expected {expected_fingerprint[:12]}...); "
            "delete it or set train.resume: false to start over"
        )
    return state
