"""The mitigate stage's candidates audited on every test row of the shards (``engine.kind: ray``).

fairlearn needs the rows in memory, so the candidates are built on the hash-stratified sample's
split files; each deployable one, saved as a :class:`pipeline.models.postprocessed.PostProcessedNetwork`
folder, is then loaded once in each actor of a block pass (:func:`pipeline.scale.scoring.per_block`) that
adds its score and decision to every block of the test shards (a group-threshold rule reads each
row's ``group:<attribute>`` labels). Each block becomes the fairness count tables
(:func:`pipeline.scale.audit.shard_tables`), merged on the driver, and the local engine's own
candidate audit runs on the merged tables (:func:`pipeline.mitigation.build.audit_candidate_tables`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import io
from pipeline.errors import BadInputError
from pipeline.models.postprocessed import DESCRIPTION_NAME
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


def block_groups(batch: pd.DataFrame, sensitive: list[str]) -> pd.DataFrame:
    """One block's distinct combinations of the sensitive columns' labels (the reduce function of a pass)."""
    missing = [scoring.GROUP_PREFIX + a for a in sensitive if scoring.GROUP_PREFIX + a not in batch.columns]
    if missing:
        raise BadInputError(f"the test shards lack column(s) {missing}; they have {list(batch.columns)}")
    combos = pd.DataFrame({a: scoring.text_labels(batch[scoring.GROUP_PREFIX + a]) for a in sensitive})
    return combos.drop_duplicates().reset_index(drop=True)


def shard_groups(ray, files: list[str], sensitive: list[str], block_rows: int) -> pd.DataFrame:
    """Every combination of sensitive labels among the rows of ``files`` (one cheap pass reading
    only the group columns), as :func:`pipeline.scale.scoring.text_labels` writes them."""
    columns = [scoring.GROUP_PREFIX + a for a in sensitive]
    reduce = partial(block_groups, sensitive=list(sensitive))
    parts = list(scoring.per_block(ray, files, reduce, block_rows=block_rows, columns=columns))
    if not parts:
        raise BadInputError("the test shards hold no rows (no block came back)")
    return pd.concat(parts, ignore_index=True).drop_duplicates().reset_index(drop=True)


def check_decidable(name: str, folder: Path, combos: pd.DataFrame) -> None:
    """Refuse (exit 2, before any row is scored) a group-threshold candidate that the test shards hold
    a group for that its thresholds never saw (fitted on the sample's validation split): the served
    model refuses such a row too, and Ray would report it as its own error, not the project's."""
    description = io.read_json(Path(folder) / DESCRIPTION_NAME)
    if not description.get("thresholds"):
        return
    sensitive = description["sensitive"]
    columns = [sensitive] if isinstance(sensitive, str) else list(sensitive)
    unknown = sorted({str(g) for g in joint_groups(combos, columns)} - set(description["thresholds"]))
    if unknown:
        raise BadInputError(
            f"mitigation candidate {name!r}: sensitive column(s) {columns}: value(s) {unknown[:5]} occur in the test "
            f"shards but were not seen when its thresholds were fitted on the sample's validation split (known: "
            f"{sorted(description['thresholds'])}); a larger sample (or the group's rows) is needed"
        )


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
    under the candidate saved in ``folders[name]``: one pass over the test shards per candidate.
    A group-threshold candidate that cannot decide some test row is refused first (:func:`check_decidable`)."""
    files = scoring.split_files(found, "test")
    combos = None
    for name, folder in folders.items():
        if io.read_json(Path(folder) / DESCRIPTION_NAME).get("thresholds"):
            combos = shard_groups(ray, files, sensitive, block_rows) if combos is None else combos
            check_decidable(name, folder, combos)
    out = {}
    for name, folder in folders.items():
        model = CandidateModel(str(Path(folder).resolve()))
        # the threshold is not used: the candidate's own ``decision`` column is what is counted
        out[name] = audit.shard_tables(
            ray, files, sensitive, spec, favourable_index=favourable_index, block_rows=block_rows, model=model
        )
    return out
