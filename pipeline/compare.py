"""``python -m pipeline compare A B``: what changed between two runs in accuracy, disparities and verdicts.

A and B may each be ``workspace`` (the files on disk), a DVC experiment name, a git revision, or an
MLflow run id. With one argument, ``compare X`` compares X with its baseline: the commit a DVC
experiment was run from, or the last commit (``HEAD``) for anything else. (Right after ``dvc exp
run``, the workspace holds the experiment's own outputs, so ``compare workspace <exp>`` shows no
change: that was the README's first version of this step.)

DVC experiments and git revisions are read with plain ``git`` (experiments are git refs under
``refs/exps``; the metrics files are git-tracked because they are ``cache: false``), MLflow runs
from their ``metrics/`` artifacts, so the comparison code sees the same JSON either way.
No torch import: this command must stay fast.
"""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pipeline import io, paths
from pipeline.audit.gate import Gate, checks, gate, label
from pipeline.errors import BadInputError
from pipeline.report.safe import fmt, md

FILES = {"evaluate": paths.EVALUATE_METRICS, "fairness": paths.FAIRNESS_METRICS}
ACCURACY_KEYS = ("accuracy", "balanced_accuracy", "roc_auc", "log_loss", "expected_calibration_error")
DEFAULT_OUT = paths.REPORTS_DIR / "compare.md"


@dataclass
class Side:
    """One side of the comparison: where it came from and its parsed metrics (None where absent)."""

    name: str
    origin: str
    evaluate: dict | None
    fairness: dict | None


def _git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], capture_output=True, text=True)


def _exp_refs(name: str) -> list[tuple[str, str]]:
    """(commit, baseline commit) of each DVC experiment ref named ``name``.

    DVC keeps an experiment as ``refs/exps/<baseline[:2]>/<baseline[2:]>/<name>``: the ref's path
    names the commit the experiment was run from."""
    refs = _git("for-each-ref", "--format=%(refname) %(objectname)", "refs/exps").stdout.splitlines()
    found = []
    for line in refs:
        ref, commit = line.split()
        parts = ref.split("/")
        if parts[-1] == name and len(parts) == 5:
            found.append((commit, parts[2] + parts[3]))
    return found


def _exp_commit(name: str) -> str | None:
    """The commit of DVC experiment ``name`` (refs/exps/<base>/<name>), if exactly one exists."""
    found = {commit for commit, _ in _exp_refs(name)}
    return found.pop() if len(found) == 1 else None


def baseline(name: str) -> str:
    """What ``compare NAME`` compares NAME with: a DVC experiment's baseline commit, else the last commit."""
    bases = {base for _, base in _exp_refs(name)}
    return bases.pop() if len(bases) == 1 else "HEAD"


def _from_git(name: str, commit: str, origin: str) -> Side:
    def read(path: Path):
        shown = _git("show", f"{commit}:{path.as_posix()}")
        return json.loads(shown.stdout) if shown.returncode == 0 else None

    return Side(name, origin, read(FILES["evaluate"]), read(FILES["fairness"]))


def _from_mlflow(run_id: str) -> Side:
    """Download the run's ``metrics/`` artifacts (the JSON the stages wrote) into a temp dir."""
    from pipeline import tracking

    tracking.connect_readonly()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = tracking.download_artifacts(run_id, "metrics", Path(tmp))
        except Exception as err:  # mlflow raises several types for an unknown run
            raise BadInputError(
                f"compare: '{run_id}' is neither a DVC experiment, a git revision nor a readable MLflow run "
                f"({type(err).__name__})"
            ) from None
        load = {k: io.read_json(local / p.name) if (local / p.name).is_file() else None for k, p in FILES.items()}
    return Side(run_id, f"MLflow run {run_id}", load["evaluate"], load["fairness"])


def resolve(name: str) -> Side:
    """``workspace``, a DVC experiment, a git revision, or an MLflow run id (tried in that order)."""
    if name == "workspace":
        load = {k: io.read_json(p) if p.is_file() else None for k, p in FILES.items()}
        return Side(name, "files in the workspace", load["evaluate"], load["fairness"])
    commit = _exp_commit(name)
    if commit:
        return _from_git(name, commit, f"DVC experiment {name} ({commit[:10]})")
    rev = _git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}")
    if rev.returncode == 0:
        commit = rev.stdout.strip()
        return _from_git(name, commit, f"git revision {name} ({commit[:10]})")
    if re.fullmatch(r"[0-9a-f]{32}", name):
        return _from_mlflow(name)
    raise BadInputError(
        f"compare: '{name}' is not 'workspace', a DVC experiment (dvc exp list), a git revision or an MLflow "
        "run id (32 hex digits)"
    )


def disparities(fairness: dict | None) -> dict[str, float]:
    """Every numeric disparity per feature (``sex/demographic_parity_ratio``), group rows left out."""
    out: dict[str, float] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for key, child in value.items():
                if key != "groups":
                    walk(f"{prefix}/{key}", child)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[prefix] = float(value)

    for feature, block in ((fairness or {}).get("features") or {}).items():
        walk(str(feature), block)
    return dict(sorted(out.items()))


def _delta(a, b) -> str:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return f"{b - a:+.3f}"
    return "n/a"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(md(h) for h in headers) + " |", "|" + " --- |" * len(headers)]
    return lines + ["| " + " | ".join(md(c) for c in row) + " |" for row in rows]


def _verdict_map(fairness: dict | None) -> dict[str, dict]:
    return {label(v): v for v in checks(fairness) or []}


def _outcome(g: Gate) -> str:
    if not g.available:
        return "has no verdicts"
    return "passed" if g.passed else f"failed ({len(g.failed)} checks not passing)"


def markdown(a: Side, b: Side) -> str:
    """The comparison as Markdown; every name from the data is escaped."""
    lines = [f"# Comparison: {md(a.name)} → {md(b.name)}", "", f"- A: {md(a.origin)}", f"- B: {md(b.origin)}", ""]
    ga, gb = gate(a.fairness), gate(b.fairness)
    lines += [f"**Audit: A {_outcome(ga)}, B {_outcome(gb)}.**", "", "## Accuracy", ""]
    ea, eb = a.evaluate or {}, b.evaluate or {}
    lines += _table(
        ["metric", "A", "B", "change"],
        [[k, fmt(ea.get(k)), fmt(eb.get(k)), _delta(ea.get(k), eb.get(k))] for k in ACCURACY_KEYS],
    )
    da, db = disparities(a.fairness), disparities(b.fairness)
    lines += ["", "## Disparities", ""]
    rows = [[k, fmt(da.get(k)), fmt(db.get(k)), _delta(da.get(k), db.get(k))] for k in sorted(set(da) | set(db))]
    lines += _table(["feature / measure", "A", "B", "change"], rows) if rows else ["No fairness output on either side."]
    va, vb = _verdict_map(a.fairness), _verdict_map(b.fairness)
    lines += ["", "## Verdicts", ""]
    rows = []
    for key in sorted(set(va) | set(vb)):
        sa, sb = (va.get(key) or {}).get("status", "absent"), (vb.get(key) or {}).get("status", "absent")
        rows.append(
            [
                key,
                str(sa),
                str(sb),
                fmt((va.get(key) or {}).get("value")),
                fmt((vb.get(key) or {}).get("value")),
                "changed" if sa != sb else "",
            ]
        )
    lines += _table(["check", "A", "B", "A value", "B value", ""], rows) if rows else ["No verdicts on either side."]
    return "\n".join(lines) + "\n"


def main(a: str, b: str | None, out: str | None) -> int:
    """``compare A B``; with B left out, ``compare X`` compares X's baseline (see :func:`baseline`) with X."""
    if b is None:
        a, b = baseline(a), a
    text = markdown(resolve(a), resolve(b))
    target = Path(out) if out else DEFAULT_OUT
    io.write_text(target, text)
    print(text, end="")
    print(f"\ncompare: wrote {target}")
    return 0
