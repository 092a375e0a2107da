"""``python -m pipeline gate``: the CI gate, run after ``dvc repro`` has written all the evidence.

Not a DVC stage on purpose: a failing stage stops ``dvc repro`` (exit 255, later stages not run),
which would leave the previous run's report beside a fresh audit. Here the report and the MLflow
run are complete first; this command recomputes every gating verdict from the evidence under
``params.yaml`` (exit 4 naming what disagrees), then exits 5 naming every gating check that did
not pass (and any blocking reason), or 0 when the audit policy passes.
"""

from __future__ import annotations

from pipeline import contracts, paths
from pipeline.audit.gate import gate, label
from pipeline.config import Config
from pipeline.errors import AuditFailedError
from pipeline.evidence import verified_fairness


def check_lines(fairness: dict) -> list[str]:
    """One line per gating check: status, decisive group, value with interval, bound, what it would take."""
    lines = []
    for v in (v for v in fairness["verdicts"] if v.get("gating", True)):
        ci = v.get("ci") or [None, None]
        interval = f"[{ci[0]:.3f}, {ci[1]:.3f}]" if None not in ci else "[undefined]"
        value = f"{v['value']:.3f}" if v.get("value") is not None else "undefined"
        bound = v.get("bound")
        bound = f"[{bound[0]:g}, {bound[1]:g}]" if isinstance(bound, list) else f"|d| <= {bound:g}"
        group = f"'{v.get('group')}' vs '{v.get('reference')}'" if v.get("reference") else f"'{v.get('group')}'"
        line = f"  {v['status'].upper():<15} {label(v)}: {group} = {value} {interval}, bound {bound}"
        lines.append(line)
        lines += [f"      {n}" for n in v.get("needed") or []]
        lines += [f"      exempt '{e['group']}' ({e['status']}): {e['reason']}" for e in v.get("exempt") or []]
    return lines


def main(cfg: Config) -> None:
    fairness = verified_fairness(cfg)
    g = gate(
        fairness,
        data=contracts.read_optional(paths.DATA_METRICS),
        evaluation=contracts.read_optional(paths.EVALUATE_METRICS),
    )
    body = "\n".join([*check_lines(fairness), f"report: {paths.REPORT_HTML}"])
    if not g.passed:
        raise AuditFailedError(f"audit gate failed: {'; '.join(g.failed)}\n{body}")
    print(f"gate: audit policy passes ({', '.join(f'{k} {n}' for k, n in g.counts.items())} gating checks)\n{body}")
