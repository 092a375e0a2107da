"""The run's figures as matplotlib figures, for the MLflow run (``log_figure`` shows them inline).

Drawn with the report's own functions (:mod:`pipeline.report.plots`) from the same collected
context, so the PNGs in MLflow and the SVGs in the report show the same data. A figure whose
input is missing is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from pipeline.report import plots


def _roc(ctx: dict):
    roc = ctx.get("roc")
    if roc is None:
        return None
    return plots.draw_lines(
        {"model": (roc["fpr"].tolist(), roc["tpr"].tolist())},
        "ROC curve (test split)",
        "false positive rate",
        "true positive rate",
        diagonal=True,
    )


def _calibration(ctx: dict):
    c = ctx.get("calibration")
    if c is None:
        return None
    return plots.draw_lines(
        {"model": (c["mean_predicted"].tolist(), c["fraction_positive"].tolist())},
        "Calibration (test split)",
        "mean predicted probability",
        "fraction favourable",
        diagonal=True,
    )


def _selection(ctx: dict, feature: str):
    block = ((ctx.get("fairness") or {}).get("features") or {}).get(feature) or {}
    groups = block.get("groups") or {}
    names = [g for g, v in groups.items() if v.get("selection_rate") is not None]
    if not names:
        return None
    values = [groups[g]["selection_rate"] for g in names]
    intervals = [(groups[g].get("ci") or {}).get("selection_rate") for g in names]
    return plots.draw_barh(
        names, values, f"Selection rate by {feature} (95% interval)", "share predicted favourable", intervals
    )


def _importance(ctx: dict):
    ig = (ctx.get("explain") or {}).get("integrated_gradients") or {}
    importance = ig.get("importance") or {}
    if not importance:
        return None
    cols = sorted(importance, key=lambda c: -importance[c])
    intervals = [(ig.get("interval") or {}).get(c) for c in cols]
    intervals = [tuple(i) if isinstance(i, (list, tuple)) and len(i) == 2 else None for i in intervals]
    return plots.draw_barh(
        cols,
        [importance[c] for c in cols],
        "Integrated Gradients importance per column",
        "mean |attribution|",
        intervals,
    )


def _importance_by_group(ctx: dict, sensitive: str):
    block = (((ctx.get("explain") or {}).get("by_group") or {}).get("by_sensitive") or {}).get(sensitive) or {}
    groups = block.get("groups") or {}
    if not groups or not all("importance" in g for g in groups.values()):
        return None
    fig, ax = plots._figure(6.0, 4.0)
    first = next(iter(groups.values()))["importance"]
    cols = sorted(first, key=lambda c: -first[c])[:10]
    height = 0.8 / len(groups)
    for i, (name, g) in enumerate(groups.items()):
        ax.barh(
            [j + i * height for j in range(len(cols))],
            [g["importance"].get(c, 0.0) for c in cols],
            height=height,
            label=plots.text(name),
        )
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(cols))], labels=[plots.text(c) for c in cols], fontsize=8)
    ax.invert_yaxis()
    ax.set_title(plots.text(f"Importance by {sensitive} (10 strongest columns)"), fontsize=10)
    ax.set_xlabel("mean |attribution|", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def _curves(ctx: dict):
    curves = ctx.get("curves")
    if curves is None or "epoch" not in curves:
        return None
    series = {c: (curves["epoch"].tolist(), curves[c].tolist()) for c in ("train_loss", "val_loss") if c in curves}
    return plots.draw_lines(series, "Loss per epoch", "epoch", "cross-entropy") if series else None


def builders(ctx: dict) -> Iterator[tuple[str, Callable[[], object]]]:
    """(artifact file name, function drawing the figure) for every figure this run supports."""
    yield "roc.png", lambda: _roc(ctx)
    yield "calibration.png", lambda: _calibration(ctx)
    for feature in (ctx.get("fairness") or {}).get("features") or {}:
        safe = "".join(ch if ch.isalnum() else "_" for ch in feature)
        yield f"selection_rate_by_{safe}.png", lambda f=feature: _selection(ctx, f)
    yield "importance.png", lambda: _importance(ctx)
    by_sensitive = ((ctx.get("explain") or {}).get("by_group") or {}).get("by_sensitive") or {}
    for sensitive in by_sensitive:
        safe = "".join(ch if ch.isalnum() else "_" for ch in sensitive)
        yield f"importance_by_{safe}.png", lambda s=sensitive: _importance_by_group(ctx, s)
    yield "training_curves.png", lambda: _curves(ctx)
