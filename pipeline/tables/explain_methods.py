"""The one table of explain methods: name -> title, function, and the glossary's words.

The functions live in :mod:`pipeline.audit.explain` (they import torch and captum); this table
sits below them so that the config and the report, which must not import torch, read the same
rows. ``function`` names the function there; all share one signature, captum's
``attribute`` style::

    function(model, X, target, feature_groups, settings) -> (per_column, summary)

``per_column`` holds one attribution per row and *original* column (``feature_groups``
order); ``summary`` holds what the method reports about itself (may be empty). Adding a method
is a row here and a function of that signature there; the config accepts its name, the explain
audit runs it, and the report and glossary show it under its title.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ExplainMethod:
    name: str
    title: str
    #: the function's name in pipeline.audit.explain (signature in the module docstring)
    function: str
    definition: str


METHODS: dict[str, ExplainMethod] = {
    m.name: m
    for m in (
        ExplainMethod(
            "integrated_gradients",
            "Integrated Gradients",
            "attribute_integrated_gradients",
            "Attribution method summing the model's gradients along a path from a baseline input to the real one.",
        ),
        ExplainMethod(
            "deeplift",
            "DeepLift",
            "attribute_deeplift",
            "Attribution method comparing each input with a reference input, layer by layer.",
        ),
        ExplainMethod(
            "feature_ablation",
            "Feature ablation",
            "attribute_feature_ablation",
            "Attribution by replacing a column with a baseline and measuring how the prediction changes.",
        ),
    )
}


def glossary() -> dict[str, str]:
    """The glossary's entries for the methods: title -> definition."""
    return {m.title: m.definition for m in METHODS.values()}
