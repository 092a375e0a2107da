"""The README's commands, run as written from a fresh shell on a copy of the project (issue 17).

Subset, with reasons: the two set-up commands (`make run`, `make test`) are replaced by what they
end in, `.venv/bin/dvc repro` with test-sized params, because `make` would reinstall the pinned
packages (network, minutes) and `make test` would run this suite inside itself; `make ui` and
`make bench` serve or measure for minutes (the MLflow UI has its own browser test). Every command
of the README's "Exploring and comparing runs" block runs unchanged, each in its own
`env -i bash --norc` shell (no inherited PATH) after the block's first line, the README's stated
activation line, and the tables they print must fit a screen: at most 40 summary figures, at most 60
`dvc metrics diff` rows, only plots with named axes; the block's `compare` shows at least one
non-zero change (it compares the experiment with the commit it was run from).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, copy_repo, tiny_params

pytestmark = pytest.mark.slow

SECTION = "## Exploring and comparing runs"
NAMED_PLOTS = {"ROC curve", "Calibration", "Confusion matrix", "Training curves", "Selection rate by group"}


def readme_block(section: str = SECTION) -> list[str]:
    """The command lines of the first ```bash block under ``section`` (comments dropped)."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = text[text.index(section) :]
    block = re.search(r"```bash\n(.*?)```", body, flags=re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip() and not line.startswith("#")]


ACTIVATE = "source .venv/bin/activate"


def fresh_shell(command: str, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "DVC_NO_ANALYTICS": "1"}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    home = root / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[user]\n\tname = reader\n\temail = reader@example.org\n")
    dest = copy_repo(root / "repo", tiny_params())
    (dest / ".venv").symlink_to((REPO / ".venv").resolve())
    with open(dest / ".git" / "info" / "exclude", "a") as fh:
        fh.write(".venv\n")
    repro = fresh_shell(f"{ACTIVATE} && dvc repro", dest, home)
    assert repro.returncode == 0, repro.stdout[-3000:] + repro.stderr[-3000:]
    # a clone of the project holds its pipeline outputs committed (the lead commits them after `dvc repro`)
    committed = fresh_shell("git add -A && git commit -qm outputs", dest, home)
    assert committed.returncode == 0, committed.stderr
    return dest, home, repro.stdout


def test_dvc_repro_ends_with_the_verdict_and_the_report(repo):
    dest, _, stdout = repo
    tail = "\n".join(stdout.strip().splitlines()[-25:])
    assert re.search(r"AUDIT (FAILED|PASSED|INCOMPLETE)", tail), tail
    assert "Report: reports/audit_report.html" in tail


def test_every_exploration_command_runs_from_a_fresh_shell(repo):
    dest, home, _ = repo
    activate, *commands = readme_block()
    assert activate == ACTIVATE and any(c.startswith("dvc exp run") for c in commands)
    outputs = {}
    for command in commands:
        result = fresh_shell(f"{ACTIVATE} && {command}", dest, home)
        assert result.returncode == 0, f"{command}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
        outputs[command.split("#")[0].strip()] = result.stdout
    diff = next(v for k, v in outputs.items() if k.endswith("dvc metrics diff"))
    rows = [line for line in diff.splitlines() if line.strip()]
    assert 0 < len(rows) <= 60, diff
    shown = json.loads(fresh_shell(f"{ACTIVATE} && dvc exp show --json", dest, home).stdout)
    figures = _metric_count(shown)
    assert 0 < figures <= 40, figures
    csv_header = next(v for k, v in outputs.items() if k.endswith("exp show --csv")).splitlines()[0].split(",")
    summary = json.loads((dest / "reports" / "summary.json").read_text())
    leaves = _leaves(summary)
    assert len([c for c in csv_header if c.split(":")[-1] in leaves]) <= 40
    plots = json.loads(fresh_shell(f"{ACTIVATE} && dvc plots show --json", dest, home).stdout)
    drawn = set(plots.get("data", plots))  # {"data": {plot id: ...}} (dvc 3)
    assert drawn == NAMED_PLOTS, sorted(drawn)
    assert (dest / "reports" / "compare.md").is_file()
    compared = next(v for k, v in outputs.items() if " compare " in f" {k} ")
    changes = re.findall(r"\| ([+-]\d+\.\d{3}) \|", compared)
    assert changes and any(float(c) != 0 for c in changes), compared  # the block compares something that changed
    status = fresh_shell("git status --porcelain -- dvc_plots reports/compare.md", dest, home).stdout
    assert status.strip() == "", status


def _leaves(tree: dict, prefix: str = "") -> set[str]:
    out = set()
    for key, value in tree.items():
        name = f"{prefix}.{key}" if prefix else key
        out |= _leaves(value, name) if isinstance(value, dict) else {name}
    return out


def _metric_count(shown) -> int:
    """Number of metric figures of the workspace row in ``dvc exp show --json``."""
    workspace = next(e for e in shown if e.get("rev") == "workspace")
    files = ((workspace.get("data") or {}).get("metrics")) or {}
    return sum(len(_leaves(f.get("data") or {})) for f in files.values())


def test_readme_states_the_activation_line_before_any_tool_command():
    """Inline commands are `make` targets or tool commands, which the README says run after activation."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first_tool = re.search(r"`(?:dvc|python|mlflow|pytest|ruff) [^`]*`", text)
    assert ACTIVATE in text[: first_tool.start()]
    assert "python: not found" in text  # says why activation is needed
