"""Stage ``report``: render ``reports/audit_report.html`` and ``reports/model_card.md``."""

from __future__ import annotations

from pipeline import io, paths, provenance
from pipeline.config import Config
from pipeline.report.context import collect
from pipeline.report.render import render
from pipeline.report.summary_metrics import summary_metrics


def main(cfg: Config) -> None:
    ctx = collect(cfg, provenance.record(cfg))
    html, markdown = render(ctx)
    io.write_text(paths.REPORT_HTML, html)
    io.write_text(paths.MODEL_CARD, markdown)
    io.write_figures(paths.SUMMARY_METRICS, summary_metrics(ctx))
    print(f"report: wrote {paths.REPORT_HTML}, {paths.MODEL_CARD} and {paths.SUMMARY_METRICS}")
