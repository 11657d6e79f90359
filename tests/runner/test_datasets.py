"""Datasets: records, JSON Lines and CSV files, ids (docs/comparison.md §1), errors saying where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import evalyard
from evalyard.core.ids import derive_datapoint_id
from evalyard.errors import InvalidInputError, InvalidRecordError
from evalyard.runner.datasets import Datapoint, as_dataset


def test_given_ids_are_kept_and_missing_ones_derived_from_content() -> None:
    dataset = evalyard.Dataset(
        [
            {"id": "q1", "inputs": {"q": "2+2?"}, "ground_truth": "4"},
            {"datapoint_id": 7, "inputs": "seven"},
            {"inputs": {"q": "capital?"}, "ground_truth": "Paris", "metadata": {"src": "wiki"}},
        ],
        name="mixed",
    )
    assert dataset.ids[:2] == ["q1", "7"]
    assert dataset.ids[2] == derive_datapoint_id({"q": "capital?"}, "Paris")
    assert dataset[2] == Datapoint(dataset.ids[2], {"q": "capital?"}, "Paris", {"src": "wiki"})
    assert dataset.name == "mixed"
    assert len(dataset) == 3


def test_derived_ids_do_not_depend_on_position() -> None:
    records = [{"inputs": {"n": n}, "ground_truth": n * 2} for n in range(5)]
    forwards = {d.inputs["n"]: d.datapoint_id for d in evalyard.Dataset(records)}
    backwards = {d.inputs["n"]: d.datapoint_id for d in evalyard.Dataset(records[::-1])}
    extended = evalyard.Dataset([*records, {"inputs": {"n": 99}}])
    assert forwards == backwards
    assert extended.ids[:5] == list(forwards.values())


def test_duplicate_ids_are_an_error_naming_both_records() -> None:
    with pytest.raises(InvalidRecordError, match=r"'a' appears twice.*record 0 and record 2"):
        evalyard.Dataset(
            [{"id": "a", "inputs": 1}, {"id": "b", "inputs": 2}, {"id": "a", "inputs": 3}]
        )
    # the same content without ids derives the same id: also a duplicate
    with pytest.raises(InvalidRecordError, match="appears twice"):
        evalyard.Dataset([{"inputs": {"q": 1}}, {"inputs": {"q": 1}}])


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ("just a string", "record 0 is a str, not a dict"),
        ({"input": {"q": 1}}, r"unknown keys \['input'\]"),
        ({"ground_truth": "x"}, "has no 'inputs'"),
        ({"id": "", "inputs": 1}, "datapoint id .*is empty"),
        ({"id": "a", "datapoint_id": "b", "inputs": 1}, "both id 'a' and datapoint_id 'b'"),
        ({"id": "a", "inputs": {1, 2}}, "inputs of record 0 .*'a'.* is not JSON data"),
        ({"id": "a", "inputs": 1, "metadata": float("nan")}, "metadata of record 0"),
    ],
)
def test_bad_records_are_refused_with_a_clear_error(record: object, message: str) -> None:
    with pytest.raises(InvalidRecordError, match=message):
        evalyard.Dataset([record])  # type: ignore[list-item]


def test_jsonl_files_load_and_bad_lines_are_named(tmp_path: Path) -> None:
    good = tmp_path / "qa-v1.jsonl"
    good.write_text(
        json.dumps({"id": "q1", "inputs": {"q": "a"}, "ground_truth": "A"})
        + "\n\n"
        + json.dumps({"inputs": {"q": "b"}, "metadata": {"level": 2}})
        + "\n",
        encoding="utf-8",
    )
    dataset = evalyard.Dataset.from_jsonl(good)
    assert dataset.name == "qa-v1"
    assert dataset.ids[0] == "q1"
    assert dataset[1].metadata == {"level": 2}

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"inputs": 1}\n{"inputs": 2,}\n', encoding="utf-8")
    with pytest.raises(InvalidRecordError, match=r"broken.jsonl line 2 is not valid JSON"):
        evalyard.Dataset.from_jsonl(broken)

    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"inputs": 1}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(InvalidRecordError, match=r"wrong.jsonl line 2 is a list"):
        evalyard.Dataset.from_jsonl(wrong)

    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "x", "inputs": 1}\n\n{"id": "x", "inputs": 2}\n', encoding="utf-8")
    with pytest.raises(InvalidRecordError, match=r"twice.jsonl line 1 and .*twice.jsonl line 3"):
        evalyard.Dataset.from_jsonl(twice)

    with pytest.raises(InvalidInputError, match=r"missing\.jsonl does not exist"):
        evalyard.Dataset.from_jsonl(tmp_path / "missing.jsonl")


def test_csv_files_map_columns_to_inputs_ground_truth_and_metadata(tmp_path: Path) -> None:
    path = tmp_path / "capitals.csv"
    path.write_text(
        "\ufeffid,country,question,ground_truth,source\n"
        'c1,France,"Capital of France, please?",Paris,atlas\n'
        'c2,Peru,"Capital,\nof Peru?",,atlas\n',
        encoding="utf-8",
    )
    dataset = evalyard.Dataset.from_csv(path, metadata=["source"])
    assert dataset.name == "capitals"
    assert dataset.ids == ["c1", "c2"]
    first, second = dataset
    assert first.inputs == {"country": "France", "question": "Capital of France, please?"}
    assert first.ground_truth == "Paris"
    assert first.metadata == {"source": "atlas"}
    assert second.inputs["question"] == "Capital,\nof Peru?"
    assert second.ground_truth is None  # an empty cell is no ground truth

    only_question = evalyard.Dataset.from_csv(path, inputs="question", name="q-only")
    assert only_question[0].inputs == "Capital of France, please?"
    assert only_question.name == "q-only"

    with pytest.raises(InvalidInputError, match="has no column 'answer'"):
        evalyard.Dataset.from_csv(path, inputs=["answer"])


def test_csv_rows_with_the_wrong_number_of_fields_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("question,ground_truth\na,b\nc,d,e\n", encoding="utf-8")
    with pytest.raises(
        InvalidRecordError, match=r"bad.csv line 3 has 3 fields but the header has 2"
    ):
        evalyard.Dataset.from_csv(path)
    short = tmp_path / "short.csv"
    short.write_text("question,ground_truth,extra\na,b,c\nd\n", encoding="utf-8")
    with pytest.raises(InvalidRecordError, match=r"short.csv line 3 has 1 fields"):
        evalyard.Dataset.from_csv(short)


def test_only_datapoints_are_accepted_as_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="from_jsonl"):
        as_dataset(str(tmp_path / "qa.jsonl"))
    with pytest.raises(InvalidInputError, match="got dict"):
        as_dataset({"inputs": 1})
    with pytest.raises(InvalidInputError, match="got int"):
        as_dataset(3)
    generated = as_dataset({"inputs": n} for n in range(3))
    assert len(generated) == 3
    assert as_dataset(generated) is generated
