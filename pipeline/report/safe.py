"""Escaping for strings that come from the user's data (column names, categories, file names).

HTML goes through Jinja2's autoescape; Markdown has no autoescape, so table cells and inline
text are escaped here: markup characters become entities or are backslash-escaped, and link
syntax cannot form, so ``<script>`` or ``[x](javascript:...)`` renders as inert text.
"""

from __future__ import annotations

import html
import re

_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md(value: object) -> str:
    """Escape a value for Markdown text or a table cell (one line, no raw HTML, no links)."""
    text = "" if value is None else str(value)
    text = html.escape(text, quote=False)  # & < > : no raw HTML, no <autolink>
    text = text.replace("\r", " ").replace("\n", " ")
    return _MD_SPECIAL.sub(r"\\\1", text)  # no emphasis, code, links or cell breaks


def fmt(value: object, digits: int = 3) -> str:
    """Numbers to fixed precision; undefined values as 'undefined', never as 0."""
    if value is None:
        return "undefined"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:
            return "undefined"
        return f"{value:.{digits}f}"
    return str(value)
