"""Byte-identical metrics files (issue 25, item 6): every float written to a metrics file is rounded
to ``io.FIGURE_DIGITS`` significant digits in one place, the JSON writer the contracts use."""

from __future__ import annotations

import pytest

from pipeline import contracts, io, paths
from tests.conftest import make_project
from tests.reliability_helpers import run_stage


def test_the_two_ece_values_of_two_clones_are_written_as_the_same_bytes(tmp_path):
    """0.0837312566469529 vs 0.08373125664695291: the ECE of mitigation.json in two fresh clones."""
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    io.write_figures(a, {"ece": 0.0837312566469529, "n": 3, "ok": True, "none": float("nan")})
    io.write_figures(b, {"ece": 0.08373125664695291, "n": 3, "ok": True, "none": float("nan")})
    assert a.read_bytes() == b.read_bytes()
    assert io.read_json(a) == {"ece": 0.083731256647, "n": 3, "ok": True, "none": None}


def test_rounding_is_stable_and_keeps_twelve_digits():
    """Rounding twice changes nothing (a file read and written again is unchanged); 12 digits survive."""
    for value in (0.1, 1 / 3, 2 / 3 * 1e-9, 123456.78901234567, -0.9999999999995, 5e-324):
        once = io.to_plain(value, io.FIGURE_DIGITS)
        assert io.to_plain(once, io.FIGURE_DIGITS) == once
        assert once == pytest.approx(value, rel=1e-11, abs=0)


def test_contracted_files_are_written_through_the_rounding_writer(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    payload = {"enabled": False, "dp": {"epsilon": 1.0000000000000002}}
    contracts.write(paths.PRIVACY_METRICS, payload)
    assert '"epsilon": 1.0\n' in paths.PRIVACY_METRICS.read_text()


#: Stages whose metrics files two clean runs must write byte-identically (train.json carries no timings).
STAGES = ("prepare", "train", "evaluate", "fairness", "mitigate")


@pytest.mark.slow
def test_two_clean_runs_in_separate_folders_write_identical_metrics(tmp_path):
    """The real stages as separate processes in two fresh folders: every metrics file byte for byte."""
    written = []
    for name in ("one", "two"):
        project = make_project(tmp_path / name)
        for stage in STAGES:
            done = run_stage(stage, project)
            assert done.returncode == 0, (name, stage, done.stderr[-2000:])
        written.append({p.name: p.read_bytes() for p in sorted((project / paths.METRICS_DIR).glob("*.json"))})
    assert written[0].keys() == {f"{s}.json" for s in ("data", "train", "evaluate", "fairness", "mitigation")}
    differing = [name for name in written[0] if written[0][name] != written[1][name]]
    assert not differing
