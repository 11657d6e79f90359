from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.core.columns import (
    Block,
    MetricColumn,
    block_from_rows,
    collapse_epochs,
    decode_block,
    encode_block,
    merge_blocks,
    read_columns,
    sort_block,
)
from evalyard.core.model import MetricKind


def _block(ids: list[str], epochs: list[int], **columns: list[object]) -> Block:
    built: dict[str, MetricColumn] = {}
    for name, values in columns.items():
        if any(isinstance(v, str) for v in values):
            built[name] = MetricColumn(MetricKind.STRING, np.array(values, dtype=object))
        else:
            array = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
            built[name] = MetricColumn(MetricKind.NUMBER, array)
    return Block(ids, np.array(epochs, dtype=np.int64), built)


def test_blocks_round_trip_through_their_encoding() -> None:
    block = _block(["q1", "é 2", "q3"], [0, 2, 1], acc=[0.5, None, 1.0], label=["a", None, "ü"])
    decoded = decode_block(3, *encode_block(block))
    assert decoded.ids == block.ids
    assert decoded.epochs.tolist() == [0, 2, 1]
    np.testing.assert_array_equal(decoded.columns["acc"].values, block.columns["acc"].values)
    assert decoded.columns["label"].values.tolist() == ["a", None, "ü"]
    assert decoded.columns["label"].kind is MetricKind.STRING


@settings(max_examples=100, deadline=None)
@given(
    names=st.lists(st.text(min_size=1, max_size=9), min_size=1, max_size=4, unique=True),
    labels=st.lists(st.text(max_size=7), min_size=3, max_size=3),
)
def test_every_number_column_of_an_encoded_block_is_read_back_aligned(
    names: list[str], labels: list[str]
) -> None:
    columns: dict[str, list[object]] = {}
    for position, name in enumerate(names):  # text and number columns in turn
        columns[name] = list(labels) if position % 2 else [0.25, -1.5, 1e300]
    block = _block(["a", "b", "c"], [0, 0, 0], **columns)
    _, _, metrics = encode_block(block)
    decoded = decode_block(3, b"a\nb\nc", None, metrics)
    for name, values in columns.items():
        column = decoded.columns[name]
        if column.kind is MetricKind.STRING:
            assert column.values.tolist() == values
        else:
            assert column.values.flags.aligned
            assert column.values.tolist() == values
            # read in place, not copied to align it
            assert np.shares_memory(column.values, np.frombuffer(metrics, dtype=np.uint8))


def test_number_columns_stored_unaligned_are_read_back_aligned() -> None:
    # A block of an older store: the header's length puts the floats at an odd offset.
    head = b'[["m","number",16]]'
    metrics = len(head).to_bytes(4, "little") + head + np.array([0.5, 2.0]).tobytes()
    assert (4 + len(head)) % 8
    values = decode_block(2, b"a\nb", None, metrics).columns["m"].values
    assert values.flags.aligned
    assert values.tolist() == [0.5, 2.0]


def test_blocks_without_epochs_store_no_epoch_column() -> None:
    _, epochs, _ = encode_block(_block(["a"], [0], m=[1.0]))
    assert epochs is None
    assert decode_block(0, b"", None, encode_block(_block([], [], m=[]))[2]).ids == []


def test_merging_keeps_the_last_record_per_datapoint_and_epoch() -> None:
    first = _block(["a", "b"], [0, 0], m=[1.0, 2.0], only_first=[5.0, 6.0])
    second = _block(["b", "c"], [0, 0], m=[20.0, 30.0])
    merged, live = merge_blocks([(1, first), (2, second)], want_live=True)
    assert merged.ids == ["a", "b", "c"]
    assert merged.columns["m"].values.tolist() == [1.0, 20.0, 30.0]
    # a replaced record is replaced as a whole: metrics it no longer has are gone
    assert np.isnan(merged.columns["only_first"].values[1])
    assert live is not None
    assert live.batch_of == {"a": 1, "b": 2, "c": 2}


def test_step_rows_of_replaced_records_are_dropped() -> None:
    sessions = [(1, _block(["a", "b"], [0, 0])), (2, _block(["a"], [0]))]
    _, live = merge_blocks(sessions, want_live=True)
    step = [(1, _block(["a", "b"], [0, 0], hits=[3.0, 4.0]))]
    merged, _ = merge_blocks(step, live=live)
    # batch 2 logged "a" again without this step
    assert merged.ids == ["b"]


def test_collapsing_epochs_averages_each_metric_and_sorts_ids() -> None:
    block = _block(
        ["b", "a", "b", "a", "a"],
        [0, 0, 1, 1, 2],
        m=[1.0, 0.0, 3.0, None, 1.0],
        cat=["x", "y", "z", "z", "z"],
    )
    values = collapse_epochs(block)
    assert values.ids == ["a", "b"]
    assert values.epochs == 3
    assert values.columns["m"].values.tolist() == [0.5, 2.0]
    assert values.columns["m"].epoch_counts is not None
    assert values.columns["m"].epoch_counts.tolist() == [2, 2]
    assert values.columns["m"].epoch_spread is not None
    assert values.columns["m"].epoch_spread.tolist() == [1.0, 2.0]
    # the most common category; ties go to the earliest epoch
    assert values.columns["cat"].values.tolist() == ["z", "x"]


def test_bools_and_numbers_mix_into_numbers_and_strings_stay_apart() -> None:
    rows = [({"ok": 1.0}, (("ok", MetricKind.BOOL),)), ({"ok": 0.5}, ())]
    assert block_from_rows(["a", "b"], [0, 0], rows).columns["ok"].kind is MetricKind.NUMBER
    rows = [({"ok": 1.0}, (("ok", MetricKind.BOOL),)), ({}, ())]
    assert block_from_rows(["a", "b"], [0, 0], rows).columns["ok"].kind is MetricKind.BOOL


def test_sorting_orders_by_id_then_epoch() -> None:
    block = sort_block(_block(["b", "a", "a"], [0, 1, 0], m=[1.0, 2.0, 3.0]))
    assert block.ids == ["a", "a", "b"]
    assert block.epochs.tolist() == [0, 1, 0]
    assert block.columns["m"].values.tolist() == [3.0, 2.0, 1.0]


@settings(max_examples=200, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.sampled_from(["a", "bb", "é", "c d", "zz9", "a\u0301", "q10"]), unique=True),
        min_size=1,
        max_size=5,
    )
)
def test_stored_blocks_merge_as_the_same_ids_given_as_strings(batches: list[list[str]]) -> None:
    def blocks(stored: bool) -> list[tuple[int, Block]]:
        made = []
        for batch_id, ids in enumerate(batches):
            block = _block(
                ids, [0] * len(ids), m=[float(batch_id * 100 + i) for i in range(len(ids))]
            )
            if stored:
                block = decode_block(len(ids), *encode_block(block))
            made.append((batch_id, block))
        return made

    as_text, _ = merge_blocks(blocks(False))
    as_bytes, _ = merge_blocks(blocks(True))
    assert list(as_bytes.ids) == list(as_text.ids)
    assert as_bytes.columns["m"].values.tolist() == as_text.columns["m"].values.tolist()
    last = {i: float(b * 100 + k) for b, ids in enumerate(batches) for k, i in enumerate(ids)}
    assert dict(zip(as_bytes.ids, as_bytes.columns["m"].values.tolist(), strict=True)) == last


class _Bytes:
    """A stored value held in memory, read a part at a time as the store's are."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]

    def read_into(self, offset: int, into: np.ndarray) -> None:
        into[:] = np.frombuffer(self.data[offset : offset + into.size], dtype=np.uint8)


def test_columns_of_blocks_in_a_row_are_read_into_one_array_each() -> None:
    first = _block(["a", "b"], [0, 0], acc=[0.5, None], label=["x", None])
    second = _block(["c"], [0], acc=[1.0], cost=[3.0])
    passed = MetricColumn(MetricKind.BOOL, np.array([1.0, 0.0]))
    first.columns["passed"] = passed
    second.columns["passed"] = MetricColumn(MetricKind.NUMBER, np.array([0.25]))
    columns = read_columns(
        [(len(block), _Bytes(encode_block(block)[2])) for block in (first, second)]
    )
    assert columns is not None
    assert columns["acc"].values.tolist()[::2] == [0.5, 1.0]
    assert np.isnan(columns["acc"].values[1])
    assert columns["label"].values.tolist() == ["x", None, None]  # missing in the second
    assert np.isnan(columns["cost"].values[:2]).all()
    assert columns["cost"].values[2] == 3.0
    assert columns["passed"].kind is MetricKind.NUMBER  # a bool, then a number
    assert columns["passed"].values.tolist() == [1.0, 0.0, 0.25]
    assert all(c.values.flags.aligned for c in columns.values() if c.kind is not MetricKind.STRING)


def test_a_metric_of_text_and_numbers_in_blocks_in_a_row_is_left_to_merging() -> None:
    first, second = _block(["a"], [0], m=[0.5]), _block(["b"], [0], m=["x"])
    pieces = [(1, _Bytes(encode_block(block)[2])) for block in (first, second)]
    assert read_columns(pieces) is None


def test_a_block_whose_columns_do_not_fit_its_rows_is_named_damaged() -> None:
    stored = _Bytes(encode_block(_block(["a", "b"], [0, 0], m=[0.5, 1.0]))[2])
    with pytest.raises(ValueError, match="damaged"):
        read_columns([(3, stored)])
    texts = _Bytes(encode_block(_block(["a", "b"], [0, 0], m=["x", "y"]))[2])
    with pytest.raises(ValueError, match="damaged"):
        read_columns([(3, texts)])
