"""The report's data model: a section is a title, paragraphs, tables and figures.

Every section builder (``sections_*.py``) returns a :class:`Section`; :mod:`pipeline.report.render`
puts them in order and hands them to the templates, which only lay them out. The model lives apart
from ``render`` so that builders never import it back (no import circle).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Section:
    key: str
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[tuple[str, Table]] = field(default_factory=list)
    figures: list[tuple[str, str]] = field(default_factory=list)  # (caption, inline svg)
    available: bool = True
    conclusion: str = ""  # the one line shown above the collapsed detail (render derives one when empty)


def not_run(key: str, title: str, stage: str) -> Section:
    """The slot of a stage that did not run: it stays in the report, greyed out, and says so."""
    return Section(
        key, title, [f"The '{stage}' stage has not run or does not apply to this configuration."], available=False
    )
