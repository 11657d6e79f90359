"""The shorter check path of plain records (an id, metrics, inputs, outputs) judges and
encodes every record exactly as the full one does."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from evalyard.runner.records import PreparedRecord, prepare_mapping, prepare_record

_ids = st.one_of(
    st.none(),
    st.text(alphabet="ab1 \t\u200b\ud800é", max_size=6),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.floats(allow_nan=True),
    st.booleans(),
)
_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet="ab\ud800", max_size=4),
    st.lists(st.integers(), max_size=3),
)
_fields = st.one_of(
    st.none(),
    st.text(alphabet="xy\udce9", max_size=5),
    st.dictionaries(st.text(alphabet="kq", max_size=2), _values, max_size=3),
    st.floats(allow_nan=True),
    st.sets(st.integers(), max_size=2),
)
_metrics = st.one_of(
    st.none(),
    st.lists(st.floats(), max_size=2),
    st.dictionaries(st.text(alphabet="m1 ", max_size=3), _values, max_size=4),
)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        prepared: PreparedRecord = call()
    except Exception as exc:  # the same error type, message and place is what matters
        return "error", (type(exc).__name__, str(exc), getattr(exc, "index", None))
    values, special = prepared.metrics
    numbers = {
        k: ("nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in values.items()
    }
    return "ok", (prepared.row, numbers, special, prepared.step_metrics)


@settings(max_examples=600, deadline=None)
@given(
    id_key=st.sampled_from(["datapoint_id", "id", None]),
    raw_id=_ids,
    metrics=st.one_of(st.just("absent"), _metrics),
    inputs=st.one_of(st.just("absent"), _fields),
    outputs=st.one_of(st.just("absent"), _fields),
)
def test_plain_records_are_judged_and_encoded_as_by_the_full_path(
    id_key: str | None, raw_id: Any, metrics: Any, inputs: Any, outputs: Any
) -> None:
    record: dict[str, Any] = {} if id_key is None else {id_key: raw_id}
    for key, value in (("metrics", metrics), ("inputs", inputs), ("outputs", outputs)):
        if not (isinstance(value, str) and value == "absent"):
            record[key] = value
    index, limit = 7, 200
    plain = _outcome(lambda: prepare_mapping(record, index, limit=limit))
    full = _outcome(
        lambda: prepare_record(
            record.get("datapoint_id", record.get("id")),
            inputs=record.get("inputs"),
            outputs=record.get("outputs"),
            metrics=record.get("metrics"),
            index=index,
            limit=limit,
        )
    )
    assert plain == full
