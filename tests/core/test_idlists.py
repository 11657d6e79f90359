"""Id lists made when first read: they behave as the plain lists they stand for."""

from __future__ import annotations

import bisect
import json
import pickle

import numpy as np

from evalyard.core.idlists import DatapointIds


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
