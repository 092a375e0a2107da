"""Figures as inline SVG with fixed ids and no timestamp, so the report's bytes are reproducible."""

from __future__ import annotations

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


def _svg(fig) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.tight_layout()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    svg = buffer.getvalue()
    return inert(svg[svg.index("<svg") :])


def barh(labels: list[str], values: list[float], title: str, xlabel: str) -> str:
    """Horizontal bars, first label on top (labels are drawn as text, never as markup)."""
    fig, ax = _figure(6.0, max(2.0, 0.28 * len(labels) + 1.0))
    ax.barh(range(len(labels)), values, color="#4a78a8")
    ax.set_yticks(range(len(labels)), labels=[text(x) for x in labels], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(text(title), fontsize=10)
    ax.set_xlabel(text(xlabel), fontsize=9)
    return _svg(fig)


def lines(
    series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str, diagonal: bool = False
) -> str:
    fig, ax = _figure()
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, label=text(name))
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_title(text(title), fontsize=10)
    ax.set_xlabel(text(xlabel), fontsize=9)
    ax.set_ylabel(text(ylabel), fontsize=9)
    ax.legend(fontsize=8)
    return _svg(fig)


def scatter(xs: list[float], ys: list[float], labels: list[str], title: str, xlabel: str, ylabel: str) -> str:
    """Labelled points (e.g. models on an accuracy/disparity plane)."""
    fig, ax = _figure(6.0, 3.6)
    ax.scatter(xs, ys, color="#4a78a8")
    for x, y, label in zip(xs, ys, labels):
        ax.annotate(text(label), (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.set_title(text(title), fontsize=10)
    ax.set_xlabel(text(xlabel), fontsize=9)
    ax.set_ylabel(text(ylabel), fontsize=9)
    return _svg(fig)


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
