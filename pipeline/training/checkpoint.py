"""The ``last`` training checkpoint: what it holds, how it is written, and when it is refused.

Why our own format and not Lightning's ``.ckpt``:

* It must load with ``torch.load(weights_only=True)``: it holds only tensors, numbers, strings,
  lists and dicts (model and optimiser state, history, early-stopping state, fingerprint).
  Nothing in it can run code when loaded.
* It must never be half-written: bytes are serialised in memory and handed to
  :func:`pipeline.io.write_bytes` (temporary file, fsync, rename). Lightning's own checkpoint
  saving has lost atomicity before (Lightning #19970, #21253).
* A resumed run must equal an uninterrupted one. Lightning's resume does not promise that
  (#17543); here the data order is a function of the epoch number (``TensorBatches``), so model
  and optimiser state plus the epoch number are the whole state of training.
* It must be refused when it belongs to another training: it records a digest of the training
  params and one of the data arrays, and :func:`load` compares both before anything is used.

Writes happen in the training thread at the end of each epoch, through
:func:`write`: serialising a small network's state and the fsync cost little beside an epoch, so
nothing is handed to a background thread (no thread to join on interruption, no state shared
while training goes on). A kill loses at most the write in flight: the previous checkpoint
stays whole, and the temporary file the kill left behind is removed when the next fit starts
(:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import hashlib
import io as _io
import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import io
from pipeline.errors import IntegrityError

#: Bumped whenever the content below changes meaning; older checkpoints are then refused.
FORMAT = 2
LAST_NAME = "last.pt"
#: Settings that change where or how a run is recorded, not what it computes.
NOT_FINGERPRINTED = frozenset({"resume", "energy"})
RESUME_HINT = "delete it or set train.resume: false to start training from scratch"


def params_digest(settings, seed: int) -> str:
    """sha256 of every training setting that changes the result, plus the seed."""
    payload = settings.model_dump(mode="json", exclude=set(NOT_FINGERPRINTED))
    text = json.dumps({"seed": seed, "train": payload}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def data_digest(arrays: dict[str, dict[str, np.ndarray]]) -> str:
    """sha256 over the train and validation arrays (name, dtype, shape and bytes of each).

    Training sample weights count when given (other weights train another model); without
    them the digest is the one of ``X`` and ``y`` alone.
    """
    digest = hashlib.sha256()
    for split in ("train", "val"):
        for name in ("X", "y", "sample_weight"):
            if name not in arrays[split]:
                continue
            array = np.ascontiguousarray(arrays[split][name])
            digest.update(f"{split}/{name}/{array.dtype.str}/{array.shape}".encode())
            digest.update(array)  # its bytes, without a copy; an empty array adds none
    return digest.hexdigest()


def fingerprint(settings, seed: int, arrays) -> dict[str, str]:
    return {"params_sha256": params_digest(settings, seed), "data_sha256": data_digest(arrays)}


def remove_stale_temporaries(directory: Path) -> list[Path]:
    """Delete temporary checkpoint files a killed run left in ``directory``; return them.

    :func:`pipeline.io.write_bytes` writes ``.last.pt.<random>.tmp`` and renames it; SIGKILL
    between the two leaves the temporary file. No other writer shares the directory (DVC runs
    one train stage at a time), so any such file is stale.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    stale = sorted(directory.glob(f".{LAST_NAME}.*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def to_cpu(value: Any) -> Any:
    """A copy of nested state with every tensor detached, cloned and moved to the CPU."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {k: to_cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(to_cpu(v) for v in value)
    return value


def serialise(state: dict) -> bytes:
    import torch

    buffer = _io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    return buffer.getvalue()


def load(path: Path, expected: dict[str, str] | None = None) -> dict:
    """Read a checkpoint as plain weights; refuse a corrupt one or one from another training.

    Raises :class:`IntegrityError` naming the file, what differs, and how to proceed.
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises UnpicklingError, RuntimeError or EOFError
        first = str(err).splitlines()[0] if str(err) else ""
        raise IntegrityError(
            f"{path}: cannot be loaded as a plain-weights checkpoint ({type(err).__name__}: {first}); "
            f"it is truncated, corrupt, or carries a pickled object; {RESUME_HINT}"
        ) from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise IntegrityError(f"{path}: checkpoint format {found!r}, expected {FORMAT}; {RESUME_HINT}")
    for key, what in (("params_sha256", "training params (train section or seed)"), ("data_sha256", "prepared data")):
        if expected is not None and state.get(key) != expected[key]:
            raise IntegrityError(
                f"{path}: checkpoint was made with different {what}: "
                f"{key} {str(state.get(key))[:12]}... in the checkpoint, {expected[key][:12]}... now; "
                f"refusing to resume from it; {RESUME_HINT}"
            )
    return state


def write(path: Path, state: dict) -> None:
    """Serialise ``state`` and write it to ``path`` atomically (temporary file, fsync, rename)."""
    try:
        io.write_bytes(Path(path), serialise(state))
    except OSError as err:
        raise IntegrityError(f"{path}: writing the training checkpoint failed: {err}") from err
