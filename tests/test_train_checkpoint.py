"""The 'last' checkpoint: fingerprint, weights-only loading, refusals, atomic background writes."""

from __future__ import annotations

import io as _io

import numpy as np
import pytest
import torch

from pipeline.config import TrainSettings
from pipeline.errors import IntegrityError
from pipeline.training import checkpoint


def _arrays(seed: int = 0):
    rng = np.random.default_rng(seed)
    split = lambda n: {  # noqa: E731
        "X": rng.normal(size=(n, 4)).astype(np.float32),
        "y": rng.integers(0, 2, n).astype(np.int64),
    }
    return {"train": split(20), "val": split(6)}


def _state(fp: dict) -> dict:
    return {
        **fp,
        "epoch": 1,
        "finished": False,
        "model": {"w": torch.ones(2, 2)},
        "history": [{"epoch": 0, "val_loss": 0.5}],
    }


def test_fingerprint_ignores_where_results_are_recorded_but_not_what_is_computed():
    base = TrainSettings()
    arrays = _arrays()
    fp = checkpoint.fingerprint(base, 1, arrays)
    assert checkpoint.fingerprint(base.model_copy(update={"resume": True}), 1, arrays) == fp
    assert checkpoint.fingerprint(base.model_copy(update={"energy": {"enabled": False}}), 1, arrays) == fp
    assert (
        checkpoint.fingerprint(base.model_copy(update={"lr": 0.5}), 1, arrays)["params_sha256"] != fp["params_sha256"]
    )
    assert checkpoint.fingerprint(base, 2, arrays)["params_sha256"] != fp["params_sha256"]
    changed = _arrays()
    changed["val"]["y"][0] = 1 - changed["val"]["y"][0]
    other = checkpoint.fingerprint(base, 1, changed)
    assert other["data_sha256"] != fp["data_sha256"] and other["params_sha256"] == fp["params_sha256"]


def test_fingerprint_hashes_an_empty_validation_split():
    """A fit without validation has an empty split: it is hashed too instead of failing on a
    zero-length buffer, and differs from the fingerprint with rows."""
    arrays = _arrays()
    empty = {**arrays, "val": {"X": arrays["val"]["X"][:0], "y": arrays["val"]["y"][:0]}}
    digest = checkpoint.fingerprint(TrainSettings(), 1, empty)["data_sha256"]
    assert digest != checkpoint.fingerprint(TrainSettings(), 1, arrays)["data_sha256"]


def test_round_trip_loads_with_weights_only(tmp_path):
    fp = checkpoint.fingerprint(TrainSettings(), 1, _arrays())
    path = tmp_path / "last.pt"
    path.write_bytes(checkpoint.serialise(_state(fp)))
    state = checkpoint.load(path, fp)
    assert state["epoch"] == 1 and torch.equal(state["model"]["w"], torch.ones(2, 2))
    # what load() relies on: torch itself accepts the file under weights_only=True
    assert torch.load(path, weights_only=True)["format"] == checkpoint.FORMAT


@pytest.mark.parametrize(
    ("change", "what"),
    [("params_sha256", "different training params"), ("data_sha256", "different prepared data")],
)
def test_checkpoint_of_another_training_is_refused(tmp_path, change, what):
    fp = checkpoint.fingerprint(TrainSettings(), 1, _arrays())
    path = tmp_path / "last.pt"
    path.write_bytes(checkpoint.serialise(_state({**fp, change: "0" * 64})))
    with pytest.raises(IntegrityError) as err:
        checkpoint.load(path, fp)
    message = str(err.value)
    assert str(path) in message and what in message and "train.resume: false" in message


def test_truncated_checkpoint_is_refused(tmp_path):
    fp = checkpoint.fingerprint(TrainSettings(), 1, _arrays())
    data = checkpoint.serialise(_state(fp))
    path = tmp_path / "last.pt"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(IntegrityError, match="truncated, corrupt"):
        checkpoint.load(path, fp)


class Payload:
    """Any class: unpickling it would run code chosen by whoever wrote the file."""


def test_checkpoint_carrying_a_pickled_object_is_refused(tmp_path):
    fp = checkpoint.fingerprint(TrainSettings(), 1, _arrays())
    buffer = _io.BytesIO()
    torch.save({**_state(fp), "format": checkpoint.FORMAT, "extra": Payload()}, buffer)
    path = tmp_path / "last.pt"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(IntegrityError, match="pickled object"):
        checkpoint.load(path, fp)


def test_other_format_is_refused(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"state_dict": {}}, path)  # e.g. a Lightning or foreign checkpoint
    with pytest.raises(IntegrityError, match=f"format None, expected {checkpoint.FORMAT}"):
        checkpoint.load(path, None)


def test_write_replaces_the_checkpoint_and_leaves_no_temporary_files(tmp_path):
    for epoch in range(3):
        checkpoint.write(tmp_path / "last.pt", {"epoch": epoch})
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_a_failed_write_names_the_file(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    with pytest.raises(IntegrityError, match="not-a-dir/last.pt: writing the training checkpoint failed"):
        checkpoint.write(blocker / "last.pt", {"epoch": 0})


def test_the_epoch_end_callback_pickles_for_spawned_processes(tmp_path):
    """DDP's spawn strategy pickles the callbacks: the fingerprint travels with them."""
    import pickle

    from pipeline.training.callbacks import EpochEnd

    fp = checkpoint.fingerprint(TrainSettings(), 1, _arrays())
    copy = pickle.loads(pickle.dumps(EpochEnd(tmp_path / "last.pt", fp, patience=1, max_epochs=2)))
    assert copy.fingerprint == fp
