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


def test_background_fingerprint_equals_the_direct_one_and_handles_an_empty_split():
    """The fingerprint hashed on a thread is the same digest; an empty validation split (a fit
    without validation) is hashed too instead of failing on a zero-length buffer."""
    arrays = _arrays()
    assert checkpoint.fingerprint_in_background(TrainSettings(), 1, arrays).result() == checkpoint.fingerprint(
        TrainSettings(), 1, arrays
    )
    empty = {**arrays, "val": {"X": arrays["val"]["X"][:0], "y": arrays["val"]["y"][:0]}}
    digest = checkpoint.fingerprint_in_background(TrainSettings(), 1, empty).result()["data_sha256"]
    assert digest != checkpoint.fingerprint(TrainSettings(), 1, arrays)["data_sha256"]


def test_a_failed_background_fingerprint_is_raised_where_it_is_needed():
    broken = {"val": {"X": np.zeros((2, 2), np.float32), "y": np.zeros(2, np.int64)}}  # no train split
    with pytest.raises(KeyError, match="train"):
        checkpoint.fingerprint_in_background(TrainSettings(), 1, broken).result()


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


def test_writer_keeps_the_latest_write_and_leaves_no_temporary_files(tmp_path):
    writer = checkpoint.CheckpointWriter()
    for epoch in range(5):
        writer.submit(tmp_path / "last.pt", {"epoch": epoch})
    writer.close()
    assert torch.load(tmp_path / "last.pt", weights_only=True)["epoch"] == 4
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


def test_writer_reports_a_failed_write(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    writer = checkpoint.CheckpointWriter()
    writer.submit(blocker / "last.pt", {"epoch": 0})
    with pytest.raises(IntegrityError, match="writing the training checkpoint failed"):
        writer.close()


def test_the_epoch_end_callback_pickles_with_its_fingerprint_still_hashing(tmp_path):
    """DDP's spawn strategy pickles the callbacks; the pending fingerprint travels as its value."""
    import pickle

    from pipeline.training.callbacks import EpochEnd

    arrays = _arrays()
    pending = checkpoint.fingerprint_in_background(TrainSettings(), 1, arrays)
    copy = pickle.loads(pickle.dumps(EpochEnd(tmp_path / "last.pt", pending, patience=1, max_epochs=2)))
    assert copy.fingerprint == checkpoint.fingerprint(TrainSettings(), 1, arrays)
