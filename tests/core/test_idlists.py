"""Id lists made when first read: they behave as the plain lists they stand for."""

from __future__ import annotations

import bisect
import json
import pickle

import numpy as np
import pytest

from evalyard.core.idlists import DatapointIds, IdColumn, id_texts, take_ids


def _ids() -> DatapointIds:
    source = np.array(["q1", "q10", "q2", "q3"], dtype=object)
    mask = np.array([True, False, True, True])
    return DatapointIds(source, mask, 3)


def test_the_count_is_known_before_the_list_is_made() -> None:
    ids = _ids()
    assert len(ids) == 3
    assert ids._list is None  # nothing built yet
    assert ids == ["q1", "q2", "q3"]
    assert ids._list == ["q1", "q2", "q3"]


def test_it_reads_as_a_list() -> None:
    ids = _ids()
    assert list(ids) == ["q1", "q2", "q3"]
    assert ids[0] == "q1"
    assert ids[-1] == "q3"
    assert ids[1:] == ["q2", "q3"]
    assert "q2" in ids
    assert "q10" not in ids
    assert bisect.bisect_left(ids, "q2") == 1
    assert ids == ("q1", "q2", "q3")
    assert ids != ["q1", "q2"]
    assert ids == _ids()
    assert repr(ids) == "['q1', 'q2', 'q3']"
    assert bool(ids)
    assert not DatapointIds(np.array([], dtype=object), np.array([], dtype=bool), 0)


def test_it_travels_as_a_plain_list() -> None:
    ids = _ids()
    copied = pickle.loads(pickle.dumps(ids))
    assert type(copied) is list
    assert copied == ["q1", "q2", "q3"]
    assert json.dumps(ids.to_list()) == '["q1", "q2", "q3"]'


def test_joining_lists_gives_a_list() -> None:
    assert _ids() + _ids() == ["q1", "q2", "q3"] * 2
    assert ["q0"] + _ids() == ["q0", "q1", "q2", "q3"]  # noqa: RUF005 (what is tested)
    assert _ids() + ["q4"] == ["q1", "q2", "q3", "q4"]  # noqa: RUF005 (what is tested)


# -- ids as the store keeps them --------------------------------------------------------


def _column(ids: list[str]) -> IdColumn:
    return IdColumn("\n".join(ids).encode("utf-8"), len(ids))


def test_a_stored_column_reads_as_its_list_and_is_decoded_only_when_read() -> None:
    column = _column(["a1", "b2", "c3"])
    assert len(column) == 3
    assert column[1] == "b2"  # one id, through the bytes
    assert column[-1] == "c3"
    assert column._list is None
    assert column == ["a1", "b2", "c3"]
    assert column._list == ["a1", "b2", "c3"]
    assert column[0:2] == ["a1", "b2"]
    assert bisect.bisect_left(column, "b2") == 1
    assert type(pickle.loads(pickle.dumps(column))) is list
    assert not IdColumn(b"", 0)
    assert IdColumn(b"", 0) == []
    assert IdColumn(b"", 1) == [""]


def test_keys_of_ids_of_one_length_are_fixed_width_bytes() -> None:
    keys = _column(["dp-01", "dp-02", "dp-10"]).keys()
    assert keys is not None
    assert keys.dtype == np.dtype("S5")
    assert keys.tolist() == [b"dp-01", b"dp-02", b"dp-10"]


def test_keys_of_uneven_ids_are_padded_and_sort_as_the_strings_do() -> None:
    ids = ["b", "a", "é", "aa", "z", "\u00e9t\u00e9", "\U0001f600", "ab c", "Z", "a\u0301"]
    keys = _column(ids).keys()
    assert keys is not None
    assert [key.decode("utf-8") for key in keys.tolist()] == ids
    by_bytes = [ids[i] for i in np.argsort(keys, kind="stable").tolist()]
    assert by_bytes == sorted(ids)


def test_ids_too_uneven_to_pad_stay_text() -> None:
    ids = ["x" * 500, *(f"{i}" for i in range(10))]
    column = _column(ids)
    assert column.keys() is None
    assert column == ids
    assert column[0] == "x" * 500


def test_a_column_whose_count_is_wrong_is_named_damaged() -> None:
    with pytest.raises(ValueError, match="damaged"):
        IdColumn(b"a\nb", 3).to_list()
    with pytest.raises(ValueError, match="damaged"):
        IdColumn(b"a\nbb\nc", 2).keys()


def test_columns_join_and_take_rows_without_decoding() -> None:
    joined = IdColumn.concat([_column(["a", "b"]), IdColumn(b"", 0), _column(["c"])])
    assert len(joined) == 3
    taken = joined.take(np.array([2, 0], dtype=np.int64))
    assert isinstance(taken, IdColumn)
    assert taken == ["c", "a"]
    assert joined._list is None
    assert take_ids(["a", "b"], np.array([1], dtype=np.int64)) == ["b"]


def test_a_selection_of_bytes_ids_reads_as_strings() -> None:
    keys = np.array([b"q1", b"\xc3\xa9", b"q3"], dtype="S2")
    ids = DatapointIds(keys, np.array([False, True, True]), 2)
    assert ids == ["é", "q3"]
    assert DatapointIds(keys, None, 3) == ["q1", "é", "q3"]
    assert id_texts(keys[:0]) == []


def test_joined_columns_keep_their_keys_padded_to_the_widest() -> None:
    first, second = _column(["a", "b"]), _column(["cc", "dd"])
    assert first.keys() is not None
    assert second.keys() is not None
    joined = IdColumn.concat([first, second])
    assert joined._keys is not False  # already known: not computed again
    keys = joined.keys()
    assert keys is not None
    assert keys.tolist() == [b"a", b"b", b"cc", b"dd"]
    assert joined == ["a", "b", "cc", "dd"]


def test_joined_columns_know_their_order_and_join_their_text_only_when_read() -> None:
    first, second = _column(["a", "b"]), _column(["c", "é"])
    assert first.increasing()
    assert second.increasing()
    first.keys(), second.keys()
    joined = IdColumn.concat([first, second])
    assert joined._raw is None  # compared as keys until the text is read
    assert joined._increasing is True  # known from the parts: not checked again
    assert joined.raw == "a\nb\nc\né".encode()
    assert joined == ["a", "b", "c", "é"]
    backwards = IdColumn.concat([second, first])
    assert backwards._increasing is None
    assert not backwards.increasing()
    assert backwards == ["c", "é", "a", "b"]
    unsorted = _column(["b", "a"])
    assert not unsorted.increasing()
    assert IdColumn.concat([unsorted, _column(["c"])]).increasing() is False
