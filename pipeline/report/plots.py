"""Figures as inline SVG with fixed ids and no timestamp, so the report's bytes are reproducible."""

from __future__ import annotations

import io


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
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def barh(labels: list[str], values: list[float], title: str, xlabel: str) -> str:
    """Horizontal bars, first label on top (labels are drawn as text, never as markup)."""
    fig, ax = _figure(6.0, max(2.0, 0.28 * len(labels) + 1.0))
    ax.barh(range(len(labels)), values, color="#4a78a8")
    ax.set_yticks(range(len(labels)), labels=labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    return _svg(fig)


def lines(series: dict[str, tuple[list[float], list[float]]], title: str, xlabel: str, ylabel: str, diagonal: bool = False) -> str:
    fig, ax = _figure()
    for name, (xs, ys) in series.items():
        ax.plot(xs, ys, label=name)
    if diagonal:
        ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    ax.legend(fontsize=8)
    return _svg(fig)


def scatter(xs: list[float], ys: list[float], labels: list[str], title: str, xlabel: str, ylabel: str) -> str:
    """Labelled points (e.g. models on an accuracy/disparity plane)."""
    fig, ax = _figure(6.0, 3.6)
    ax.scatter(xs, ys, color="#4a78a8")
    for x, y, label in zip(xs, ys, labels):
        ax.annotate(label, (x, y), fontsize=7, xytext=(4, 2), textcoords="offset points")
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=9)
    return _svg(fig)
