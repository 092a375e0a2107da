"""Figures as inline SVG with fixed ids and no timestamp, so the report's bytes are reproducible.

Every SVG carries a ``<title>`` and a ``<desc>`` (from the axes' title and labels) and
``role="img"`` with ``aria-labelledby``, so screen readers announce it; its fixed width and height
are replaced by the viewBox alone, so it scales to a phone's width. The same drawing functions
return matplotlib figures (``draw_*``) that the log stage stores as PNG images in the MLflow run.
"""

from __future__ import annotations

import html
import io
import re

#: Markup an SVG figure must never contain: it is inserted into the HTML report without escaping.
_ACTIVE = re.compile(r"<script|<foreignObject|<[^>]*(\son[a-z]+\s*=|href\s*=\s*[\"']?\s*javascript:)", re.IGNORECASE)


def text(value: object) -> str:
    """A user-data string as matplotlib text: ``$`` would start mathtext (and a stray one raises)."""
    return str(value).replace("$", r"\$")


def inert(svg: str) -> str:
    """Refuse an SVG that could run code; matplotlib escapes text, this guards against regressions."""
    match = _ACTIVE.search(svg)
    if match:
        raise ValueError(f"refusing to embed an SVG figure containing {match.group(0)!r}")
    return svg


def _figure(width: float = 6.0, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.hashsalt"] = "audit-report"
    plt.rcParams["svg.fonttype"] = "none"
    return plt.subplots(figsize=(width, height))


def describe(fig) -> tuple[str, str]:
    """A figure's title and a one-line description from its axes (title, x and y labels)."""
    ax = fig.axes[0] if fig.axes else None
    if ax is None:
        return "Figure", "Figure"
    title = (ax.get_title() or "Figure").replace(r"\$", "$")
    parts = [
        f"x axis: {ax.get_xlabel()}" if ax.get_xlabel() else "",
        f"y axis: {ax.get_ylabel()}" if ax.get_ylabel() else "",
    ]
    return title, f"{title}. " + "; ".join(p for p in parts if p)


_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_SIZE = re.compile(r'\s(width|height)="[^"]*"')


def accessible(svg: str, title: str, desc: str, ident: str) -> str:
    """Give the SVG a title and description for screen readers and let it scale with its container."""
    opening = _SVG_OPEN.search(svg)
    if opening is None:
        raise ValueError("not an SVG document")
    tag = _SIZE.sub("", opening.group(0))
    tag = tag[:-1] + f' role="img" aria-labelledby="{ident}-t {ident}-d" preserveAspectRatio="xMidYMid meet">'
    inserted = f'<title id="{ident}-t">{html.escape(title)}</title><desc id="{ident}-d">{html.escape(desc)}</desc>'
    return svg[: opening.start()] + tag + inserted + svg[opening.end() :]


def _svg(fig, title: str | None = None, desc: str | None = None) -> str:
    import hashlib

    import matplotlib.pyplot as plt

    auto_title, auto_desc = describe(fig)
    title, desc = title or auto_title, desc or auto_desc
    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    ident = "fig-" + hashlib.sha256(svg.encode()).hexdigest()[:10]  # stable across reruns, unique per figure
    return inert(accessible(svg, title, desc, ident))


def png(fig) -> bytes:
    """The figure as PNG bytes (closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def draw_barh(labels: list[str], values: list[float], title: str, xlabel: str, intervals: list | None = None):
    """Horizontal bars, first label on top (labels are drawn as text, never as markup); optional
    ``intervals`` [(low, high) or None per bar] drawn as error bars."""
    fig, ax = _figure(6.0, max(2.0, 0.28 * len(labels) + 1.0))
    xerr = None
    if intervals and any(i and i[0] is not None for i in intervals):
        xerr = [
            [max(v - (i[0] if i and i[0] is not None else v), 0) for v, i in zip(values, intervals)],
            [max((i[1] if i and i[1] is not None else v) - v, 0) for v, i in zip(values, intervals)],
        ]
    ax.barh(range(len(labels)), values, color="#4a78a8", xerr=xerr, ecolor="#222", capsize=3 if xerr else 0)
    ax.set_yticks(range(len(labels)), labels=[text(x) for x in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(text(title), fontsize=10)
    ax.set_xlabel(text(xlabel), fontsize=9)
    return fig


def barh(labels: list[str], values: list[float], title: str, xlabel: str, intervals: list | None = None) -> str:
    return _svg(draw_barh(labels, values, title, xlabel, intervals))


def draw_lines(
    series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str, diagonal: bool = False
):
    fig, ax = _figure()
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, label=text(name))
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_title(text(title), fontsize=10)
    ax.set_xlabel(text(xlabel), fontsize=9)
    ax.set_ylabel(text(ylabel), fontsize=9)
    ax.legend(fontsize=8)
    return fig


def lines(
    series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str, diagonal: bool = False
) -> str:
    return _svg(draw_lines(series, title, xlabel, ylabel, diagonal))


def scatter_intervals(points: list[dict], title: str, xlabel: str, ylabel: str) -> str:
    """Labelled points with interval bars on both axes: ``{"label", "x", "x_ci", "y", "y_ci"}``
    (a missing interval draws no bar)."""
    fig, ax = _figure(6.4, 3.8)
    for p in points:
        xerr = [[p["x"] - p["x_ci"][0]], [p["x_ci"][1] - p["x"]]] if p.get("x_ci") else None
        yerr = [[p["y"] - p["y_ci"][0]], [p["y_ci"][1] - p["y"]]] if p.get("y_ci") else None
        ax.errorbar([p["x"]], [p["y"]], xerr=xerr, yerr=yerr, fmt="o", color=p.get("color", "#4a78a8"), capsize=3)
        ax.annotate(text(p["label"]), (p["x"], p["y"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
    ax.set_title(text(title), fontsize=10)
    ax.set_xlabel(text(xlabel), fontsize=9)
    ax.set_ylabel(text(ylabel), fontsize=9)
    return _svg(fig)
