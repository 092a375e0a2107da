"""``prepare`` on Ray: statistics per block merged on the driver, then encoded Parquet shards per block.

Two passes over the blocks, each a Ray task per block: (1) the hash split of the block's rows
(:mod:`pipeline.data.hash_split`) and its statistics — value counts and numeric moments of the
training rows, class and group counts per split (:mod:`pipeline.stats.blockwise`); the driver merges
them and builds the encoding from the merged statistics (:func:`pipeline.data.encode.from_statistics`);
(2) each block encodes its rows with that encoding and writes one shard per split
(:mod:`pipeline.shards`). Every worker's memory follows ``engine.block_rows``, not the data size; the
driver holds the merged statistics only.

A user's CSV file (``data.source: csv``) is read block-wise too (:mod:`pipeline.scale.csv_read`): the
tasks type their own block with decisions merged from every block, so no process holds the table.
Other sources (the bundled tables, and a CSV file with ``data.sensitive_onehot``,
``data.sensitive_bins`` or ``data.max_rows``) are read and validated by the project's loaders in the
driver, cut into blocks there (:func:`table_items`); the encoded data never exists whole in one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline import manifest, paths, shards
from pipeline.config import Config
from pipeline.data import encode, hash_split
from pipeline.data.prepare import check_finite
from pipeline.data.table import RawTable
from pipeline.errors import BadInputError
from pipeline.stats import blockwise


@dataclass(frozen=True)
class Block:
    """One block's rows: the encoder's inputs, their ids and class indices, and the text columns."""

    row_id: np.ndarray
    y: np.ndarray
    inputs: pd.DataFrame
    text: pd.DataFrame  # group:<attr> and extra:<role>, as strings
    official: np.ndarray | None = None  # the publisher's train/test per row, when it fixed a split


@dataclass(frozen=True)
class Plan:
    """What every task needs besides its block (small: shipped with each task)."""

    seed: int
    val_size: float
    test_size: float
    numeric: list[str]
    categorical: list[str]
    groups: list[str]  # the text columns named group:<attr>


@dataclass(frozen=True)
class Sharded:
    encoding: encode.Encoding
    counts: dict  # split -> {"classes": {index: rows}, "groups": {group:<attr>: {level: rows}}}
    manifest: dict


def text_columns(table: RawTable, sensitive: list[str], part: slice) -> pd.DataFrame:
    """The columns carried beside the features, for the rows ``part``: each sensitive attribute and an
    existing system's columns, as strings."""
    text = {f"{shards.GROUP_PREFIX}{c}": table.features[c].iloc[part].astype(str).to_numpy() for c in sensitive}
    for role, series in table.extra.items():
        text[f"{shards.EXTRA_PREFIX}{role}"] = series.iloc[part].astype(str).to_numpy()
    return pd.DataFrame(text)


def blocks(
    table: RawTable, row_id: np.ndarray, inputs: list[str], sensitive: list[str], block_rows: int
) -> Iterator[Block]:
    """The table cut into blocks of ``block_rows`` rows, each row carrying its ``row_id``, made one at a
    time as the tasks take them."""
    class_index = {c: i for i, c in enumerate(table.classes)}
    y = table.target.map(class_index).to_numpy(dtype=np.int64)
    for start in range(0, len(y), block_rows):
        part = slice(start, start + block_rows)
        yield (
            Block(
                row_id=np.asarray(row_id[part], dtype=np.int64),
                y=y[part],
                inputs=table.features[inputs].iloc[part].reset_index(drop=True),
                text=text_columns(table, sensitive, part),
                official=None if table.official_split is None else table.official_split.iloc[part].to_numpy(),
            )
        )


def table_items(table: RawTable, row_id: np.ndarray, inputs: list[str], sensitive: list[str], block_rows: int):
    """The blocks of a table the driver holds (a new generator per pass)."""
    return lambda: blocks(table, row_id, inputs, sensitive, block_rows)


def as_block(item, plan: Plan) -> Block:
    """A task's block: as sent, or typed here from a CSV block (:class:`pipeline.scale.csv_read.CsvItem`)."""
    if isinstance(item, Block):
        return item
    from pipeline.data import csv_blocks, csv_source

    row_id, frame = csv_blocks.typed_block(item.part, item.layout, item.decisions)
    class_index = {c: i for i, c in enumerate(item.decisions.classes)}
    text = {f"{shards.GROUP_PREFIX}{c}": frame[c].astype(str).to_numpy() for c in item.sensitive}
    for role, series in csv_source.extras(frame, item.layout.roles).items():
        text[f"{shards.EXTRA_PREFIX}{role}"] = series.astype(str).to_numpy()
    return Block(
        row_id=row_id,
        y=frame[item.layout.target].astype(str).map(class_index).to_numpy(dtype=np.int64),
        inputs=frame[plan.numeric + plan.categorical].reset_index(drop=True),
        text=pd.DataFrame(text),
    )


def run_blocks(ray, submit: Callable, stream: Iterable) -> list:
    """``submit(block, index)`` for every block, at most two per cluster CPU in flight, results in block
    order: only the blocks in flight sit in Ray's object store, never the whole table."""
    from pipeline.scale.cluster import gather

    window = 2 * max(1, int(ray.cluster_resources().get("CPU", 1)))
    pending: dict = {}
    results: dict[int, object] = {}
    for index, block in enumerate(stream):
        if len(pending) >= window:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                results[pending.pop(ref)] = gather(ray, [ref])[0]
        pending[submit(block, index)] = index
    for ref, index in list(pending.items()):
        results[index] = gather(ray, [ref])[0]
    return [results[i] for i in range(len(results))]


def labels(block: Block, plan: Plan) -> np.ndarray:
    return hash_split.assign(
        block.row_id, plan.seed, val_size=plan.val_size, test_size=plan.test_size, official=block.official
    )


def summarise(item, plan: Plan) -> tuple[blockwise.ColumnStats, dict]:
    """Pass 1 on one block: the training rows' column statistics, class and group counts per split."""
    block = as_block(item, plan)
    split = labels(block, plan)
    stats = blockwise.summarise(block.inputs[split == "train"], plan.numeric, plan.categorical)
    counts = {}
    for name in paths.SPLITS:
        rows = split == name
        classes = np.bincount(block.y[rows]) if rows.any() else np.zeros(0, dtype=np.int64)
        counts[name] = {
            "classes": {str(i): int(n) for i, n in enumerate(classes) if n},
            "groups": blockwise.value_counts(block.text[rows], plan.groups),
        }
    return stats, counts


def merge_counts(parts: list[dict]) -> dict:
    out = {name: {"classes": {}, "groups": {}} for name in paths.SPLITS}
    for part in parts:
        for name in paths.SPLITS:
            out[name]["classes"] = blockwise.merge_counts(
                {"c": out[name]["classes"]}, {"c": part[name]["classes"]}
            ).get("c", {})
            out[name]["groups"] = blockwise.merge_counts(out[name]["groups"], part[name]["groups"])
    return out


def write_block(item, index: int, plan: Plan, encoding: encode.Encoding, root: str) -> dict:
    """Pass 2 on one block: encode its rows and write one shard per split it has rows in."""
    block = as_block(item, plan)
    split = labels(block, plan)
    written = {}
    for name in paths.SPLITS:
        rows = np.flatnonzero(split == name)
        if not len(rows):
            continue
        X = encode.transform(encoding, block.inputs, rows=rows)
        check_finite(X, encoding.feature_names, name)
        rel = paths.shard_file(name, index)
        entry = shards.write_shard(
            Path(root) / rel,
            block.row_id[rows],
            block.y[rows],
            X,
            {c: block.text[c].to_numpy()[rows] for c in block.text},
        )
        classes = np.bincount(block.y[rows])
        written[rel.as_posix()] = {
            "split": name,
            **entry,
            "classes": {str(i): int(n) for i, n in enumerate(classes) if n},
        }
    return written


def check_statistics(stats: blockwise.ColumnStats, numeric: list[str]) -> None:
    """Refuse, before any shard is written, numbers the encoder cannot scale (exit 2, naming the columns)."""
    bad = [
        c for c, m, v in zip(numeric, stats.moments.mean, stats.moments.var) if not (np.isfinite(m) and np.isfinite(v))
    ]
    if bad:
        raise BadInputError(
            f"column(s) {bad[:10]} hold values too large to scale (their mean or variance over the training rows "
            "is not finite); the encoded shards would hold NaN or infinity"
        )


def shard(
    ray,
    items: Callable[[], Iterable],
    cfg: Config,
    *,
    numeric: list[str],
    categorical: list[str],
    sensitive: list[str],
    extra_roles: Iterable[str],
) -> Sharded:
    """Both passes on the cluster ``ray`` is connected to; the shard manifest written last.

    ``items()`` gives the blocks afresh for each pass (:func:`table_items`, or
    :func:`pipeline.scale.csv_read.items`); each row carries its ``row_id``, its position in the loaded
    source. Nothing is written before the merged statistics are known to encode to finite numbers;
    from the first shard on, the prepare stage's manifest and the shard manifest are both absent until
    the set is whole.
    """
    plan = Plan(
        cfg.seed,
        cfg.data.val_size,
        cfg.data.test_size,
        list(numeric),
        list(categorical),
        [f"{shards.GROUP_PREFIX}{c}" for c in sensitive],
    )
    first = ray.remote(num_cpus=1)(summarise)
    shared_plan = ray.put(plan)
    summaries = run_blocks(ray, lambda block, _: first.remote(block, shared_plan), items())
    stats = blockwise.merge_all(s for s, _ in summaries)
    check_statistics(stats, plan.numeric)
    encoding = encode.from_statistics(stats, plan.numeric, plan.categorical, cfg.data.max_categories)
    manifest.begin("prepare")
    shards.begin()
    task = ray.remote(num_cpus=1)(write_block)
    root = str(Path.cwd())
    shared_encoding = ray.put(encoding)
    files: dict = {}
    for written in run_blocks(ray, lambda block, i: task.remote(block, i, shared_plan, shared_encoding, root), items()):
        files.update(written)
    found = shards.finish(
        files,
        feature_names=encoding.feature_names,
        text_columns=[*plan.groups, *(f"{shards.EXTRA_PREFIX}{role}" for role in extra_roles)],
        settings=manifest.settings_of(cfg, "prepare"),
    )
    return Sharded(encoding, merge_counts([c for _, c in summaries]), found)
