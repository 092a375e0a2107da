"""Put the report's sections in their readers' order and render HTML and Markdown.

Sections are plain data (:mod:`pipeline.report.model`) built once by the ``sections_*`` modules;
the two templates only lay them out. The HTML environment autoescapes everything; the Markdown
template passes every cell through :func:`pipeline.report.safe.md`. A section whose stage has not
run stays in its slot and says so ('not run'), so a section never silently vanishes.
"""

from __future__ import annotations

import re
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from pipeline.report import (
    findings,
    sections_data,
    sections_ethics,
    sections_explain,
    sections_fairness,
    sections_mitigation,
    sections_model,
    sections_privacy,
    sections_reference,
    sections_training,
)
from pipeline.report.model import Section
from pipeline.report.safe import md

TEMPLATES = Path(__file__).parent / "templates"


def _titled(section: Section, title: str) -> Section:
    """Keep the model card's own section name (Mitchell et al.) whatever its builder calls the section."""
    if not section.title.startswith(title):
        section.title = f"{title}: {section.title[0].lower()}{section.title[1:]}"
    return section


def sections(ctx: dict) -> list[Section]:
    """The report in its readers' order: the audit's findings (fairness, explanations, privacy,
    ethics, caveats), then the data, then the model, its training and cost, the glossary and the
    manifest. Every section of Mitchell et al.'s model card is present."""
    return [
        sections_fairness.build(ctx),
        sections_mitigation.build(ctx),
        sections_explain.build(ctx),
        sections_privacy.build(ctx),
        sections_ethics.ethics_section(ctx),
        sections_ethics.caveats_section(ctx),
        _titled(sections_data.build(ctx), "Training data"),
        sections_model.evaluation_data(ctx),
        sections_model.factors(ctx),
        sections_model.intended_use(ctx),
        sections_model.model_details(ctx),
        sections_model.metrics_section(ctx),
        sections_training.build(ctx),
        sections_reference.glossary_section(ctx),
        sections_reference.manifest_section(ctx),
    ]


# --- one line per section, the detail collapsed (issue 26) ------------------------------------------

#: A conclusion line longer than this is cut at a word boundary (the detail holds the rest).
MAX_CONCLUSION = 320


def _first_sentence(section: Section) -> str:
    text = next((p for p in section.paragraphs if p.strip()), "")
    if not text:
        counts = ((len(section.tables), "table"), (len(section.figures), "figure"))
        parts = [f"{n} {word}{'s' if n != 1 else ''}" for n, word in counts if n]
        return f"Detail below: {', '.join(parts) or 'nothing recorded'}."
    sentence = re.split(r"(?<=[.!?])\s+(?=[A-Z'])", text.strip(), maxsplit=1)[0]
    if len(sentence) > MAX_CONCLUSION:
        sentence = sentence[:MAX_CONCLUSION].rsplit(" ", 1)[0] + " ..."
    return sentence


def _fairness_conclusion(ctx: dict) -> str | None:
    fairness = ctx.get("fairness")
    failing = [v for v in findings.gating(fairness) if v.get("status") != "pass"]
    if not findings.gating(fairness):
        return None
    label = findings.verdict_label(fairness)
    if not failing:
        return f"{label}: every gating check passes."
    named = "; ".join(
        f"{v.get('check')} {v.get('status')}"
        + (f" ({v.get('group')} vs {v.get('reference')})" if v.get("group") and v.get("reference") else "")
        for v in failing
    )
    return f"{label}: {named}."


def _mitigation_conclusion(ctx: dict) -> str | None:
    result = ctx.get("mitigation") or {}
    if not result.get("candidates"):
        return None
    best = result.get("best_passing")
    if best:
        return f"Best passing candidate: {best}; the 'audited' alias points to it."
    closest = (result.get("obstacles") or {}).get("closest")
    return "No candidate passes the audit policy" + (f"; the closest is {closest}." if closest else ".")


def _other_conclusion(key: str):
    """The report's own plain finding for explanations or privacy (the first screen's sentence)."""

    def conclude(ctx: dict) -> str | None:
        sub = {k: ctx.get(k) for k in ("explain", "privacy") if k == key}
        found = findings.findings(sub, limit=1)
        return found[0] if found else None

    return conclude


CONCLUDERS = {
    "quantitative-analyses": _fairness_conclusion,
    "mitigation": _mitigation_conclusion,
    "interpretability": _other_conclusion("explain"),
    "privacy": _other_conclusion("privacy"),
}


def conclude(sections_: list[Section], ctx: dict) -> list[Section]:
    """Give every section its one-line conclusion: its own, a plain finding, or its first sentence."""
    for section in sections_:
        if section.conclusion:
            continue
        maker = CONCLUDERS.get(section.key) if section.available else None
        section.conclusion = (maker(ctx) if maker else None) or _first_sentence(section)
    return sections_


# --- the ten-second summary ---------------------------------------------------------------------


def summary(ctx: dict, built: list[Section]) -> dict:
    """The first screen: the verdict, the gating failures, and plain sentences built from this run's figures."""
    v = findings.verdict(ctx["fairness"])
    lines = findings.summary_findings(ctx)
    if v.counts:
        lines.append("Checks by status: " + ", ".join(f"{k} {n}" for k, n in v.counts.items()) + ".")
    skipped = [s.title for s in built if not s.available]
    if skipped:
        lines.append(f"Not run or not applicable: {', '.join(skipped)}.")
    return {"status": v.status, "headline": v.headline, "lines": lines, "gating_failures": v.gating_failures}


def _environment(autoescape: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["md"] = md
    return env


def render(ctx: dict) -> tuple[str, str]:
    """Return (html, markdown) for the collected context."""
    built = conclude(sections(ctx), ctx)
    title = f"Audit report: {ctx['meta']['source'] if ctx['meta'] else 'unknown data'}"
    values = {
        "title": title,
        "summary": summary(ctx, built),
        "sections": built,
        "params_yaml": ctx["manifest"]["params_yaml"],
    }
    html = _environment(autoescape=True).get_template("report.html").render(**values)
    markdown = _environment(autoescape=False).get_template("model_card.md").render(**values)
    return html, markdown
