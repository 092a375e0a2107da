"""Report section 'Interpretability': three methods, their agreement, groups, proxies, flips, individuals."""

from __future__ import annotations

from pipeline.report import plots
from pipeline.report.model import Section, Table, not_run
from pipeline.report.safe import fmt
from pipeline.tables.explain_methods import METHODS

KEY, TITLE = "interpretability", "Interpretability"


def _title(method: str) -> str:
    """The method's title from the explain-method table (read at call time, like the config)."""
    return METHODS[method].title if method in METHODS else method


def _methods(ex: dict) -> list[str]:
    """Every method of the table the stage ran, in table order: none is left out of the report."""
    return [m for m in METHODS if isinstance(ex.get(m), dict) and "importance" in ex[m]]


def _importance_table(ex: dict, methods: list[str]) -> Table:
    first = ex[methods[0]]["importance"]
    columns = sorted(first, key=lambda c: -first[c])
    rows = []
    for c in columns:
        row = [c]
        for m in methods:
            low, high = (ex[m].get("interval") or {}).get(c, [None, None])
            row.append(f"{fmt(ex[m]['importance'].get(c), 4)} [{fmt(low, 4)}, {fmt(high, 4)}]")
        rows.append(row)
    return Table(["Column", *(f"{_title(m)} mean |attr| [interval]" for m in methods)], rows)


def _ig_paragraph(ex: dict) -> str:
    ig = ex.get("integrated_gradients")
    if not ig:
        return "Integrated Gradients was not run."
    verdict = (
        "every row within tolerance"
        if ig.get("converged")
        else f"{ig.get('rows_over_tol')} rows still above it (shortfall reported, not hidden)"
    )
    return (
        f"Integrated Gradients towards '{ex['target_class']}' against the all-zeros baseline: "
        f"{ig.get('n_steps_initial')} steps, "
        f"{ig.get('rows_refined')} rows refined up to {ig.get('n_steps_max_used')} steps; largest convergence delta "
        f"{fmt(ig.get('convergence_delta_max_abs'), 4)} against tolerance {fmt(ig.get('delta_tol'), 4)}: {verdict}."
    )


def _group_figure(block: dict, sensitive: str, method: str) -> str:
    """Grouped bars: mean |attribution| per column for each group."""
    groups = list(block["groups"])
    ref = block["groups"][block["reference"]]["importance"]
    columns = sorted(ref, key=lambda c: -ref[c])
    fig, ax = plots._figure(6.0, max(2.5, 0.3 * len(columns) + 1.2))
    height = 0.8 / max(len(groups), 1)
    for i, g in enumerate(groups):
        values = [block["groups"][g]["importance"][c] for c in columns]
        ax.barh([j + i * height for j in range(len(columns))], values, height=height, label=g)
    ax.set_yticks([j + 0.4 - height / 2 for j in range(len(columns))], labels=columns, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(f"{_title(method)} by {sensitive}", fontsize=10)
    ax.set_xlabel("mean |attribution|", fontsize=9)
    ax.legend(fontsize=7)
    return plots._svg(fig)


def _group_tables(ex: dict) -> tuple[list, list]:
    tables, figures = [], []
    by_group = ex.get("by_group") or {}
    method = by_group.get("method", "integrated_gradients")
    for sensitive, block in (by_group.get("by_sensitive") or {}).items():
        ref = block["reference"]
        rows = []
        for g, entry in block["groups"].items():
            if g == ref:
                continue
            diffs = sorted(entry["difference"].items(), key=lambda item: -abs(item[1]["value"] or 0))[:5]
            shown = "; ".join(
                f"{c} {fmt(d['value'], 4)} [{fmt(d['low'], 4)}, "
                f"{fmt(d['high'], 4)}]{' *' if d['excludes_zero'] else ''}"
                for c, d in diffs
            )
            rows.append(
                [
                    g,
                    fmt(entry["count"]) + (" (small)" if entry["small"] else ""),
                    fmt(entry["top_k_overlap_with_reference"]),
                    ", ".join(entry["top_k"]),
                    shown,
                ]
            )
        tables.append(
            (
                f"By {sensitive} (reference group '{ref}', {block['groups'][ref]['count']} rows; * interval "
                "excludes 0)",
                Table(
                    ["Group", "Rows", "Top-k overlap", "Top columns", "Largest differences from reference [interval]"],
                    rows,
                ),
            )
        )
        figures.append((f"Mean |attribution| by {sensitive}", _group_figure(block, sensitive, method)))
    return tables, figures


def _proxy_table(ex: dict) -> tuple[list[str], Table | None]:
    px = ex.get("proxies")
    if not px:
        return [], None
    paragraphs = [f"Columns associated with a sensitive attribute come from: {px['source']}."]
    rows = []
    for s, block in px["by_sensitive"].items():
        flip = block.get("flip") or {}
        per_group = "; ".join(f"{g} {fmt(v['changed_share_any'])}" for g, v in (flip.get("groups") or {}).items())
        shares = ", ".join(f"{_title(m)} {fmt(v)}" for m, v in block["attribution_share"].items())
        where = "model input" if block["is_model_input"] else "not a model input"
        rows.append(
            [
                s,
                where,
                ", ".join(block["proxies"]) or "none",
                shares,
                block["flip_on"],
                fmt(flip.get("changed_share_overall")),
                per_group,
            ]
        )
        if not block["is_model_input"]:
            paragraphs.append(
                f"'{s}' is not a model input, so the flip test runs on {block['flip_on']}: each row takes the "
                "other group's typical value of that column."
            )
    header = [
        "Sensitive",
        "Input?",
        "Proxies",
        "Attribution share on proxies",
        "Flip applied to",
        "Decisions changed",
        "Changed by group",
    ]
    return paragraphs, Table(header, rows)


def _local_table(ex: dict) -> Table | None:
    local = ex.get("local")
    if not local or not local.get("examples"):
        return None
    rows = [
        [
            f"{e['sensitive']}={e['group']}",
            e["kind"].replace("_", " "),
            fmt(e["row"]),
            fmt(e["proba_favourable"]),
            "; ".join(f"{t['column']} {t['attribution']:+.3f}" for t in e["top_columns"]),
        ]
        for e in local["examples"]
    ]
    return Table(["Group", "Error", "Test row", "P(favourable)", "Top columns (signed attribution)"], rows)


def _scale_paragraphs(ex: dict) -> list[str]:
    """The ray engine's split between every test row and the sample (``explain.json`` ``scale``)."""
    scale = ex.get("scale")
    if not scale:
        return []
    return [
        f"Engine: {scale['engine']}. Every test row ({fmt(scale['rows'])} rows, {fmt(scale['blocks'])} blocks): "
        f"{scale['every_row']}. The sample's {fmt(scale['sample_rows'])} test rows: {scale['sample']}. "
        f"Intervals: {scale['intervals']}."
    ]


def build(ctx: dict) -> Section:
    ex = ctx.get("explain")
    if not ex:
        return not_run(KEY, TITLE, "explain")
    methods = _methods(ex)
    if not methods:
        return not_run(KEY, TITLE, "explain")
    paragraphs = _scale_paragraphs(ex) + [_ig_paragraph(ex)]
    paragraphs += [
        f"{_title(a)} vs {_title(b)}: Spearman {fmt(p['spearman'])}, top-k overlap {fmt(p['top_k_overlap'])}."
        for p in ex.get("agreement", [])
        for a, b in [p["methods"]]
    ]
    tables = [("Global importance per original column (bootstrap interval)", _importance_table(ex, methods))]
    first = ex[methods[0]]["importance"]
    cols = sorted(first, key=lambda c: -first[c])
    figures = [
        (
            f"{_title(methods[0])} importance",
            plots.barh(cols, [first[c] for c in cols], f"{_title(methods[0])} importance", "mean |attribution|"),
        )
    ]
    group_tables, group_figures = _group_tables(ex)
    tables += group_tables
    figures += group_figures
    proxy_paragraphs, proxy_table = _proxy_table(ex)
    paragraphs += proxy_paragraphs
    if proxy_table:
        tables.append(("Proxies and counterfactual flips", proxy_table))
    local = _local_table(ex)
    if local:
        tables.append(("Local explanations: the most confident errors per group", local))
    return Section(KEY, TITLE, paragraphs, tables, figures)
