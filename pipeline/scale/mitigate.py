"""The mitigate stage's candidates audited on every test row of the shards (``engine.kind: ray``).

fairlearn needs the rows in memory, so the candidates are built on the hash-chosen sample's
split files; each deployable one, saved as a :class:`pipeline.models.postprocessed.PostProcessedNetwork`
folder, is then loaded once in a :class:`pipeline.scale.scoring.Scorer` actor that adds its score
and decision to every block of the test shards (a group-threshold rule reads each row's
``group:<attribute>`` labels). Each block becomes the fairness count tables
(:func:`pipeline.scale.audit.dataset_tables`), merged on the driver, and the local engine's own
candidate audit runs on the merged tables (:func:`pipeline.mitigation.build.audit_candidate_tables`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import BadInputError
from pipeline.scale import audit, scoring
from pipeline.stats import counts
from pipeline.stats.groups import joint_groups


@dataclass(frozen=True)
class CandidateModel:
    """A saved mitigation candidate (:class:`pipeline.models.postprocessed.PostProcessedNetwork`,
    ``models/candidates/<slug>/``) as the mitigate stage audits it: ``score`` (its ranking score)
    and ``decision`` (0/1, 1 = favourable). A group-threshold rule reads each row's joint label of
    its sensitive columns from the ``group:<attribute>`` columns, joined as the local engine joins
    them (:func:`pipeline.stats.groups.joint_groups`), so both engines decide the same row alike."""

    folder: str

    def load(self) -> Callable[[np.ndarray, pd.DataFrame], dict]:
        from pipeline.models.postprocessed import PostProcessedNetwork

        return partial(_candidate_columns, PostProcessedNetwork.load(Path(self.folder)))


def _candidate_columns(candidate, X: np.ndarray, batch: pd.DataFrame) -> dict:
    groups = None
    if candidate.sensitive:
        columns = candidate.sensitive_columns
        missing = [scoring.GROUP_PREFIX + c for c in columns if scoring.GROUP_PREFIX + c not in batch.columns]
        if missing:
            raise BadInputError(f"the shards lack column(s) {missing}, which the candidate's group thresholds read")
        groups = joint_groups(
            pd.DataFrame({c: scoring.text_labels(batch[scoring.GROUP_PREFIX + c]) for c in columns}), columns
        )
    decision, score = candidate.decide_and_score(X, groups)
    return {"score": score, "decision": decision}


def candidate_tables(
    ray,
    found: dict,
    folders: dict[str, Path],
    sensitive: list[str],
    spec: counts.TableSpec,
    favourable_index: int,
    block_rows: int,
) -> dict[str, counts.CountTables]:
    """Per candidate name, the count tables of every test row of the verified shards (``found``)
    under the candidate saved in ``folders[name]``: one pass over the test shards per candidate,
    in one actor of half a CPU (the readers and counters keep the rest)."""
    out = {}
    for name, folder in folders.items():
        model = CandidateModel(str(Path(folder).resolve()))
        scored = scoring.score_with(
            scoring.split_dataset(ray, found, "test"), model, block_rows, actors=1, actor_cpus=0.5
        )
        # the threshold is not used: the candidate's own ``decision`` column is what is counted
        out[name] = audit.dataset_tables(scored, sensitive, spec, favourable_index, 0.5, block_rows)
    return out
