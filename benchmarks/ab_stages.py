"""Which stage grew between two commits: each stage run in turn on both, CPU seconds compared.

Why CPU seconds: on a machine shared with other work (a load average of 4-10 on 2 cores), wall
time of one cold ``dvc repro`` doubles or halves from run to run, so a slower median says little
about our code. The CPU time a stage's process spends (user + system, from ``os.wait4``) barely
moves with load, and running the two commits' stages alternately exposes both to the same
conditions. Each commit gets its own clone under ``benchmarks/work/ab/<sha>`` with its own outputs
(one untimed ``dvc repro`` first; kept for the next run). Writes ``benchmarks/ab_stages.json`` and
``benchmarks/AB_STAGES.md``.

    python benchmarks/ab_stages.py --base 976931b            # against HEAD, 2 rounds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work" / "ab"
BIN = Path(sys.executable).parent
#: every stage but ``log``, whose second run reuses the MLflow run of the first (not comparable)
STAGES = ("prepare", "train", "evaluate", "fairness", "mitigate", "explain", "privacy", "report")


def env() -> dict:
    return {**os.environ, "PATH": f"{BIN}:{os.environ.get('PATH', '')}", "DVC_NO_ANALYTICS": "1", "PYTHONHASHSEED": "0"}


def sha(rev: str) -> str:
    done = subprocess.run(["git", "rev-parse", rev], cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def clone_with_outputs(commit: str) -> Path:
    """A clone at ``commit`` where every stage has run once (reused when already there)."""
    dest = WORK / commit[:10]
    if (dest / "reports" / "audit_report.html").is_file():
        return dest
    subprocess.run(["git", "clone", "-q", "--no-checkout", str(ROOT), str(dest)], check=True)
    subprocess.run(["git", "-C", str(dest), "checkout", "-q", commit], check=True)
    done = subprocess.run([str(BIN / "dvc"), "repro", "report"], cwd=dest, env=env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"dvc repro in {dest} failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return dest


def run_stage(folder: Path, stage: str) -> dict:
    """One ``python -m pipeline <stage>``: CPU seconds (user + system) and wall seconds."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", stage],
        cwd=folder,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return {"cpu_s": usage.ru_utime + usage.ru_stime, "wall_s": wall, "rc": os.waitstatus_to_exitcode(status)}


def compare(base: Path, head: Path, stages: tuple[str, ...], rounds: int) -> dict:
    runs: dict[str, dict[str, list[dict]]] = {s: {"base": [], "head": []} for s in stages}
    for r in range(rounds):
        for stage in stages:
            for side, folder in (("base", base), ("head", head)) if r % 2 == 0 else (("head", head), ("base", base)):
                row = run_stage(folder, stage)
                row["load_1min"] = os.getloadavg()[0]
                runs[stage][side].append(row)
                print(f"[ab] round {r + 1} {stage:9s} {side}: {row['cpu_s']:.2f} s CPU, {row['wall_s']:.2f} s wall")
    out = {}
    for stage, sides in runs.items():
        cpu = {side: statistics.median(x["cpu_s"] for x in rows) for side, rows in sides.items()}
        out[stage] = {"cpu_s_median": cpu, "cpu_s_head_minus_base": cpu["head"] - cpu["base"], "runs": sides}
    return out


def markdown(result: dict) -> str:
    lines = [
        "# Which stage grew: CPU seconds per stage, two commits alternately (benchmarks/ab_stages.py)",
        "",
        f"Base `{result['base'][:10]}`, head `{result['head'][:10]}`, {result['rounds']} rounds, "
        f"measured {result['when']} on {result['cores']} cores; 1-minute load average "
        f"{result['load_start']:.1f} at the start, {result['load_end']:.1f} at the end.",
        "",
        "| stage | base CPU s | head CPU s | head - base |",
        "|---|---|---|---|",
    ]
    for stage, row in result["stages"].items():
        cpu = row["cpu_s_median"]
        lines.append(f"| {stage} | {cpu['base']:.2f} | {cpu['head']:.2f} | {row['cpu_s_head_minus_base']:+.2f} |")
    total = {side: sum(r["cpu_s_median"][side] for r in result["stages"].values()) for side in ("base", "head")}
    lines.append(f"| all | {total['base']:.2f} | {total['head']:.2f} | {total['head'] - total['base']:+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the earlier commit")
    parser.add_argument("--head", default="HEAD", help="the later commit (default HEAD)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=STAGES)
    args = parser.parse_args(argv)
    base, head = sha(args.base), sha(args.head)
    load_start = os.getloadavg()[0]
    folders = clone_with_outputs(base), clone_with_outputs(head)
    result = {
        "base": base,
        "head": head,
        "rounds": args.rounds,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_start": load_start,
        "stages": compare(*folders, tuple(args.stages), args.rounds),
        "load_end": os.getloadavg()[0],
    }
    (ROOT / "benchmarks" / "ab_stages.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (ROOT / "benchmarks" / "AB_STAGES.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
