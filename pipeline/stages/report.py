"""Stage ``report``: render ``reports/audit_report.html`` and ``reports/model_card.md``."""

from __future__ import annotations

from pipeline import io, paths
from pipeline.config import Config
from pipeline.report.context import collect
from pipeline.report.render import render


def main(cfg: Config) -> None:
    html, markdown = render(collect(cfg))
    io.write_text(paths.REPORT_HTML, html)
    io.write_text(paths.MODEL_CARD, markdown)
    print(f"report: wrote {paths.REPORT_HTML} and {paths.MODEL_CARD}")
