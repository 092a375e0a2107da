"""``python -m pipeline gate``: the CI gate, run after ``dvc repro`` has written all the evidence.

Not a DVC stage on purpose: a failing stage stops ``dvc repro`` (exit 255, later stages not run),
which would leave the previous run's report beside a fresh audit. Here the report and the MLflow
run are complete first; this command only reads the outputs and exits 5 naming every gating
check that did not pass (and any blocking reason), or 0 when the audit policy passes.
"""

from __future__ import annotations

from pipeline import contracts, paths
from pipeline.audit.gate import gate
from pipeline.config import Config
from pipeline.errors import AuditFailedError


def _optional(path) -> dict | None:
    return contracts.read_optional(path)


def main(cfg: Config) -> None:  # noqa: ARG001 - every command receives the config
    fairness = contracts.read(paths.FAIRNESS_METRICS)  # missing: exit 2 naming the stage to run, not 5 (issue 25)
    g = gate(fairness, data=_optional(paths.DATA_METRICS), evaluation=_optional(paths.EVALUATE_METRICS))
    if not g.passed:
        where = "" if fairness else f" ({paths.FAIRNESS_METRICS} not found: run `dvc repro` first)"
        raise AuditFailedError(f"audit gate failed{where}: {'; '.join(g.failed)}")
    print(f"gate: audit policy passes ({', '.join(f'{k} {n}' for k, n in g.counts.items())} gating checks)")
