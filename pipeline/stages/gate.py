"""``python -m pipeline gate``: the CI gate, run after ``dvc repro`` has written all the evidence.

Not a DVC stage on purpose: a failing stage stops ``dvc repro`` (exit 255, later stages not run),
which would leave the previous run's report beside a fresh audit. Here the report and the MLflow
run are complete first; this command recomputes every gating verdict from the evidence under
``params.yaml`` (exit 4 naming what disagrees), then exits 5 naming every gating check that did
not pass (and any blocking reason), or 0 when the audit policy passes.
"""

from __future__ import annotations

from pipeline import contracts, paths
from pipeline.audit.gate import gate, upstream
from pipeline.config import Config
from pipeline.errors import AuditFailedError
from pipeline.evidence import verified_fairness
from pipeline.report import gate_message


def main(cfg: Config) -> None:
    fairness = verified_fairness(cfg)
    g = gate(
        fairness,
        **upstream(contracts.read_optional(paths.DATA_METRICS), contracts.read_optional(paths.EVALUATE_METRICS)),
    )
    text = gate_message.message(fairness, g)
    if not g.passed:
        raise AuditFailedError(text)
    print(text)
