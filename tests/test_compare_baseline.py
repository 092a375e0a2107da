"""``compare X`` with one argument (issue 26), worked by hand on a real git repository: a DVC
experiment is compared with the commit its ref names as baseline, anything else with HEAD; the
comparison reads both sides from git and prints a non-zero change."""

from __future__ import annotations

import json
import subprocess

from pipeline import compare, paths

ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def _git(*args: str, cwd) -> str:
    import os

    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **ENV}
    ).stdout.strip()


def _commit_accuracy(root, value: float) -> str:
    target = root / paths.EVALUATE_METRICS
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"accuracy": value}))
    _git("add", "-A", cwd=root)
    _git("commit", "-qm", f"accuracy {value}", cwd=root)
    return _git("rev-parse", "HEAD", cwd=root)


def test_one_argument_compares_an_experiment_with_its_baseline_and_anything_else_with_head(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    _git("init", "-q", cwd=tmp_path)
    base = _commit_accuracy(tmp_path, 0.80)
    exp = _commit_accuracy(tmp_path, 0.85)  # the experiment's commit (DVC keeps it under refs/exps)
    _git("update-ref", f"refs/exps/{base[:2]}/{base[2:]}/two-epochs", exp, cwd=tmp_path)
    _git("reset", "-q", "--hard", base, cwd=tmp_path)
    later = _commit_accuracy(tmp_path, 0.90)  # HEAD moves on: the experiment's baseline stays
    assert compare.baseline("two-epochs") == base
    assert compare.baseline("workspace") == "HEAD" and compare.baseline(later) == "HEAD"
    from pipeline import io

    io.set_write_root(tmp_path)
    assert compare.main("two-epochs", None, str(tmp_path / "out.md")) == 0
    printed = capsys.readouterr().out
    assert f"A: git revision {base} ({base[:10]})" in printed and "DVC experiment two-epochs" in printed
    assert "| accuracy | 0.800 | 0.850 | +0.050 |" in printed
