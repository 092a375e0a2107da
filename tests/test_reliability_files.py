"""Files: atomic writes survive exceptions and SIGKILL; tampered weights are refused, never unpickled."""

from __future__ import annotations

import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from pipeline import errors, io
from pipeline.models.mlp import MLP, MlpSpec, load_weights
from tests.conftest import REPO
from tests.reliability_helpers import stage_env

SPEC = MlpSpec(n_inputs=6, hidden=(4,), n_classes=2)


def test_exception_mid_write_keeps_the_old_file(tmp_path):
    """A crash inside ``atomic_path`` leaves the previous file byte for byte and no temporary behind."""
    target = tmp_path / "metrics.json"
    io.write_json(target, {"accuracy": 0.8})
    before = target.read_bytes()
    with pytest.raises(RuntimeError, match="boom"):
        with io.atomic_path(target) as tmp:
            tmp.write_text('{"accuracy": 0.')
            raise RuntimeError("boom")
    with pytest.raises(ValueError):  # NaN is refused by the canonical JSON writer, before the rename
        io.write_text(target, io.json.dumps({"x": float("nan")}, allow_nan=False))
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_unserialisable_payload_keeps_the_old_file(tmp_path):
    target = tmp_path / "report.json"
    io.write_json(target, {"ok": True})
    with pytest.raises(TypeError):
        io.write_json(target, {"ok": object()})
    assert io.read_json(target) == {"ok": True}


KILL_WRITER = """
import sys
from pipeline import io
target, size = sys.argv[1], int(sys.argv[2])
i = 0
print("ready", flush=True)
while True:
    i += 1
    io.write_bytes(target, bytes([i % 250 + 1]) * size)
"""


def test_sigkill_during_writes_leaves_a_complete_file(tmp_path):
    """SIGKILL a process rewriting an 8 MB file in a loop: the file is always one whole version."""
    target, size = tmp_path / "model.pt", 8 << 20
    io.write_bytes(target, b"\0" * size)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_WRITER, str(target), str(size)], env=stage_env(), stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    data = target.read_bytes()
    assert len(data) == size and data == data[:1] * size
    # a kill may leave one stray temporary (never the target itself half written); it is hidden and named *.tmp
    assert all(p.name.startswith(".model.pt.") and p.suffix == ".tmp" for p in tmp_path.iterdir() if p != target)


def _saved(tmp_path: Path) -> Path:
    path = tmp_path / "model.pt"
    torch.manual_seed(0)
    torch.save(MLP(SPEC).state_dict(), path)
    return path


def test_good_weights_load(tmp_path):
    model = load_weights(_saved(tmp_path), SPEC)
    assert not model.training


def test_truncated_weights_are_refused(tmp_path):
    path = _saved(tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(errors.IntegrityError, match=r"model\.pt: cannot be loaded as plain weights") as info:
        load_weights(path, SPEC)
    assert info.value.exit_code == errors.EXIT_INTEGRITY


def test_garbage_and_empty_weights_are_refused(tmp_path):
    path = tmp_path / "model.pt"
    for content in (b"", b"not a checkpoint at all" * 10):
        path.write_bytes(content)
        with pytest.raises(errors.IntegrityError, match="truncated, corrupt, or carries a pickled object"):
            load_weights(path, SPEC)


def test_weights_of_another_network_are_refused(tmp_path):
    path = _saved(tmp_path)
    with pytest.raises(errors.IntegrityError, match="do not fit the network described by the spec"):
        load_weights(path, MlpSpec(n_inputs=7, hidden=(4,), n_classes=2))


class _Payload:
    """Unpickling this runs ``open(marker, 'w')``: proof that code ran if the marker appears."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
@pytest.mark.parametrize("container", ["torch.save", "raw pickle"])
def test_pickle_payload_is_refused_and_never_runs(tmp_path, container):
    """A model file whose pickle holds a ``__reduce__`` payload: IntegrityError, and the payload never ran."""
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    state = {**MLP(SPEC).state_dict(), "evil": _Payload(str(marker))}
    if container == "torch.save":
        torch.save(state, path)
    else:
        path.write_bytes(pickle.dumps(state))
    with pytest.raises(errors.IntegrityError, match="carries a pickled object, which is refused"):
        load_weights(path, SPEC)
    assert not marker.exists()


def test_torch_load_always_passes_weights_only_true():
    """Every ``torch.load`` in the package says ``weights_only=True``: an env var can flip the default."""
    offenders = []
    for source in sorted((REPO / "pipeline").rglob("*.py")):
        text = source.read_text()
        for match in re.finditer(r"torch\.load\(", text):
            call = text[match.start() : text.find(")", match.start()) + 1]
            if "weights_only=True" not in call:
                offenders.append(f"{source.relative_to(REPO)}: {call}")
        if re.search(r"allow_pickle\s*=\s*True", text):
            offenders.append(f"{source.relative_to(REPO)}: allow_pickle=True")
    assert not offenders, offenders


def test_tampered_model_exits_4_through_the_cli(tmp_path):
    """The real ``evaluate`` stage on a corrupt models/model.pt: exit 4 naming the file."""
    from tests.conftest import make_project
    from tests.reliability_helpers import run_stage

    project = make_project(tmp_path / "p")
    prepared = run_stage("prepare", project)
    assert prepared.returncode == 0, prepared.stderr
    (project / "models").mkdir()
    io.write_json(project / "models" / "model.json", {"n_inputs": 3, "hidden": [2], "n_classes": 2})
    (project / "models" / "model.pt").write_bytes(b"PK\x03\x04 truncated zip")
    done = run_stage("evaluate", project)
    assert done.returncode == errors.EXIT_INTEGRITY, done.stderr
    assert "error [IntegrityError]: models/model.pt: cannot be loaded as plain weights" in done.stderr
    assert not (project / "reports" / "metrics" / "evaluate.json").exists()
