"""The Hub stand-ins: local copies with the Hub datasets' exact layout, models by architecture."""

from __future__ import annotations

import json

import pytest
from datasets import load_dataset

from course_utils import data
from course_utils.core import paths
from course_utils.tooling import catalog, standins


@pytest.fixture
def stand_ins(tmp_path, monkeypatch):
    """Stand-in mode, with the dataset copies written into a tmp folder."""
    monkeypatch.setenv(standins.ENV, "1")
    monkeypatch.setattr(paths, "stand_ins_dir", lambda: tmp_path / "hub-stand-ins")
    return tmp_path / "hub-stand-ins"


def test_dialogsum_copy_has_the_hub_layout_and_its_repeated_test_dialogues(stand_ins):
    folder = standins.write_dataset("knkarthick/dialogsum")
    assert sorted(p.name for p in folder.iterdir()) == ["test.csv", "train.csv", "validation.csv"]
    loaded = load_dataset(str(folder))
    assert sorted(loaded) == ["test", "train", "validation"]
    for split in loaded.values():
        assert split.column_names == ["id", "dialogue", "summary", "topic"]
        assert {f.dtype for f in split.features.values()} <= {"string", "large_string"}
    test = loaded["test"]
    assert len(set(test["dialogue"])) * 3 == len(test)  # each dialogue once per summary
    assert len(set(test["summary"])) == len(test)
    assert test[0]["id"] == "test_0_1" and test[2]["id"] == "test_0_3"


def test_alpaca_cleaned_copy_is_one_json_file_with_one_split(stand_ins):
    folder = standins.write_dataset("yahma/alpaca-cleaned")
    rows = json.loads((folder / "alpaca_data_cleaned.json").read_text())
    assert list(rows[0]) == ["output", "input", "instruction"]
    loaded = load_dataset(str(folder))
    assert list(loaded) == ["train"]
    assert sorted(loaded["train"].column_names) == ["input", "instruction", "output"]


def test_ultrafeedback_copy_holds_conversations_and_scores(stand_ins):
    folder = standins.write_dataset("trl-lib/ultrafeedback_binarized")
    loaded = load_dataset(str(folder))
    assert sorted(loaded) == ["test", "train"]
    train = loaded["train"]
    assert train.column_names == ["chosen", "rejected", "score_chosen", "score_rejected"]
    assert train.features["score_chosen"].dtype == "float64"
    chosen = train[0]["chosen"]
    assert [m["role"] for m in chosen] == ["user", "assistant"]
    assert train[0]["rejected"][0] == chosen[0]  # the same prompt


@pytest.mark.parametrize("name", sorted(data.SOURCES))
def test_data_load_in_t4_reads_the_stand_in_with_the_bundled_columns(stand_ins, name):
    with pytest.raises(RuntimeError, match="no local copy"):
        data.load(name, "t4")  # nothing written yet: an error that says how to write them
    assert len(standins.write_missing()) == len(standins.DATASETS)
    assert standins.write_missing() == []  # written once
    loaded = data.load(name, "t4")
    bundled = data.load(name, "mini")
    assert "train" in loaded and "test" in loaded  # a test split is carved where there is none
    columns = set(data.SOURCES[name].columns)
    assert set(loaded["train"].column_names) == set(bundled["train"].column_names) & columns
    assert paths.stand_in_dataset_dir(data.SOURCES[name].hub_id).parent == stand_ins


def test_every_catalogue_download_has_a_stand_in():
    for spec in catalog.NOTEBOOKS.values():
        for item in spec.downloads:
            if item.kind == "model":
                assert item.stand_in.startswith("mini:"), item
                path = standins.model_path("MODEL", item.repo_id)
                assert path == str(paths.models_dir() / item.stand_in.removeprefix("mini:"))
            else:
                assert item.repo_id in standins.DATASETS, item
                assert paths.stand_in_dataset_dir(item.repo_id).name == item.stand_in
    for source in data.SOURCES.values():
        assert source.hub_id in standins.DATASETS, source


def test_unknown_ids_are_refused():
    with pytest.raises(Exception, match="no local stand-in.*google/flan-t5-small"):
        standins.model_path("MODEL", "someone/model")
    with pytest.raises(KeyError, match="someone/data"):
        standins.write_dataset("someone/data")


def test_emotion_copy_has_the_split_configuration_and_class_labels(stand_ins):
    from course_utils import peft_family

    folder = standins.write_dataset("dair-ai/emotion")
    assert sorted(p.name for p in (folder / "split").iterdir()) == [
        f"{s}-00000-of-00001.parquet" for s in ("test", "train", "validation")
    ]
    loaded = load_dataset(str(folder))
    assert sorted(loaded) == ["test", "train", "validation"]
    assert loaded["train"].column_names == ["text", "label"]
    assert tuple(loaded["train"].features["label"].names) == standins.EMOTION_LABELS
    task = peft_family.emotion_task(n_train=8, n_test=4)
    assert task.labels == standins.EMOTION_LABELS
    assert len(task.train) == 8 and len(task.test) == 4
    assert {e.target for e in task.train} <= set(task.labels)
    assert all("{text}" in template for template in task.hard_prompts)


def test_gsm8k_copy_has_the_main_configuration_and_worked_answers(stand_ins):
    folder = standins.write_dataset("openai/gsm8k")
    assert sorted(p.name for p in (folder / "main").iterdir()) == [
        f"{s}-00000-of-00001.parquet" for s in ("test", "train")
    ]
    loaded = data.hub_dataset("openai/gsm8k", "GSM8K", "use mini", config="main")
    assert sorted(loaded) == ["test", "train"]
    row = loaded["train"][0]
    assert loaded["train"].column_names == ["question", "answer"]
    assert row["question"].endswith("?") and row["answer"].splitlines()[-1].startswith("#### ")
