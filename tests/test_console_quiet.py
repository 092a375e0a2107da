"""The explain stage prints no captum UserWarning: they describe captum's own mechanics
(requires_grad set on inputs, hooks on activations), which the user cannot act on."""

from __future__ import annotations

import warnings

from tests._report_support import run_stages


def test_explain_stage_emits_no_captum_warnings(cfg):
    from pipeline.stages import explain

    run_stages(cfg, ("prepare", "train", "evaluate"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explain.main(cfg)
    captum = [str(w.message) for w in caught if "captum" in (w.filename or "")]
    assert captum == []
