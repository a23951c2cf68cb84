"""radio-llava benchmark datalists and LLaVA conversation files (radioassist.training.formats)."""
import json

import pytest

from radioassist.exceptions import InputError
from radioassist.training.formats import (conversation_record, read_conversations, read_datalist,
                                          validate_conversations, write_conversations, write_datalist)


def _write(path, content):
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


# ------------------------------------------------------------------------------------------ datalists
def test_datalist_round_trip(tmp_path):
    entries = [{"filepaths": ["imgs/a.fits"], "sname": "J0001+0001", "label": "FR-II", "id": 2},
               {"filepaths": ["imgs/b.fits", "imgs/b_nvss.fits"], "label": ["EXTENDED", "RADIO-GALAXY"],
                "id": [4, 7], "split": "valid", "extra": {"kept": True}}]
    path = write_datalist(entries, tmp_path / "list.json")
    assert json.loads(path.read_text()) == {"data": entries}  # upstream layout, nothing added or lost
    assert read_datalist(path) == entries
    resolved = read_datalist(path, resolve_paths=True)
    assert resolved[1]["filepaths"] == [str(tmp_path / "imgs/b.fits"), str(tmp_path / "imgs/b_nvss.fits")]


def test_datalist_spellings_accepted(tmp_path):
    path = _write(tmp_path / "l.json", {"data": [{"filepath": "a.png", "label": "FR-I"},
                                                 {"filepaths": "b.png", "label": "FR-II"}]})
    assert [e["filepaths"] for e in read_datalist(path)] == [["a.png"], ["b.png"]]
    bare = _write(tmp_path / "bare.json", [{"filepaths": ["a.png"]}])
    assert read_datalist(bare, require_label=False) == [{"filepaths": ["a.png"]}]


@pytest.mark.parametrize("content, message", [
    ("{not json", r"bad\.json is not valid JSON"),
    ({"items": []}, r"bad\.json must be a JSON object with a 'data' list of entries \(keys found: 'items'\)"),
    ({"data": {"a": 1}}, r"bad\.json: 'data' must be a list of entries, got dict"),
    ({"data": [{"filepaths": ["a"], "label": "X"}, "oops"]}, r"bad\.json: entry 1 must be a JSON object"),
    ({"data": [{"label": "FR-I"}]}, r"bad\.json: entry 0 has no 'filepaths'"),
    ({"data": [{"filepaths": [], "label": "FR-I"}]}, r"entry 0: 'filepaths' must be a non-empty list"),
    ({"data": [{"filepaths": ["a"], "label": 3}]}, r"entry 0: 'label' must be a string or a list of strings"),
    ({"data": [{"filepaths": ["a"], "label": ["A", ""]}]}, r"entry 0: 'label' must be a string or a list"),
    ({"data": [{"filepaths": ["a"], "label": "A"}, {"filepaths": ["b"]}]},
     r"bad\.json: entry 1 has no 'label'"),
    ({"data": [{"filepaths": ["a"], "label": "A", "id": 1.5}]},
     r"entry 0: 'id' must be an integer, a string"),
    ({"data": [{"filepaths": ["a"], "label": "A", "sname": 3}]}, r"entry 0: 'sname' must be a string"),
    ({"data": [{"filepaths": ["a"], "label": "A", "split": "later"}]}, r"entry 0: 'split' must be one of"),
])
def test_datalist_errors_name_file_entry_and_problem(tmp_path, content, message):
    path = _write(tmp_path / "bad.json", content)
    with pytest.raises(InputError, match=message):
        read_datalist(path)


def test_datalist_missing_files(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    path = write_datalist([{"filepaths": ["a.png"], "label": "A"}, {"filepaths": ["b.png"], "label": "B"}],
                          tmp_path / "l.json")
    with pytest.raises(InputError, match=r"l\.json: entry 1: image file b\.png does not exist"):
        read_datalist(path, check_files=True)
    with pytest.raises(InputError, match="l.json does not exist"):
        read_datalist(tmp_path / "missing" / "l.json")


def test_writers_refuse_to_overwrite_and_validate_first(tmp_path):
    path = write_datalist([{"filepaths": ["a"], "label": "A"}], tmp_path / "l.json")
    with pytest.raises(InputError, match="already exists; pass overwrite=True"):
        write_datalist([{"filepaths": ["b"], "label": "B"}], path)
    write_datalist([{"filepaths": ["b"], "label": "B"}], path, overwrite=True)
    assert read_datalist(path)[0]["label"] == "B"
    with pytest.raises(InputError, match="entry 0 has no 'label'"):
        write_datalist([{"filepaths": ["b"]}], tmp_path / "new.json")
    assert not (tmp_path / "new.json").exists()


# ------------------------------------------------------------------------------------------ conversations
def _record(rid="r1", image="img/r1.png", turns=(("<image>\nFR-I or FR-II?", "FR-II"),)):
    conversations = []
    for question, answer in turns:
        conversations += [{"from": "human", "value": question}, {"from": "gpt", "value": answer}]
    record = {"id": rid, "conversations": conversations}
    if image is not None:
        record["image"] = image
    return record


def test_conversations_round_trip(tmp_path):
    records = [_record(), _record("r2", "img/r2.png", [("<image>\nQ1", "A1"), ("Q2", "A2")]),
               _record(3, None, [("Text only?", "Yes")]),
               {"id": "s", "image": "x.png", "conversations": [
                   {"from": "system", "value": "Be brief."}, {"from": "human", "value": "<image>\nQ"},
                   {"from": "gpt", "value": "A"}]}]
    path = write_conversations(records, tmp_path / "train.json")
    assert json.loads(path.read_text()) == records
    assert read_conversations(path) == records
    resolved = read_conversations(path, resolve_paths=True)
    assert resolved[0]["image"] == str(tmp_path / "img/r1.png") and "image" not in resolved[2]


def test_conversation_record_builder():
    record = conversation_record("s1", "images/s1.png", [("Question one?", "YES"), ("Question two?", "FR-I")],
                                 source="sim")
    assert record == {"id": "s1", "image": "images/s1.png", "source": "sim", "conversations": [
        {"from": "human", "value": "<image>\nQuestion one?"}, {"from": "gpt", "value": "YES"},
        {"from": "human", "value": "Question two?"}, {"from": "gpt", "value": "FR-I"}]}
    assert validate_conversations([record]) == [record]
    kept = conversation_record("s2", "a.png", [("What is <image> here?", "A ring.")])
    assert kept["conversations"][0]["value"] == "What is <image> here?"
    with pytest.raises(InputError, match="needs at least one"):
        conversation_record("s3", "a.png", [])


@pytest.mark.parametrize("records, message", [
    ({"id": 1}, r"t\.json must be a JSON list of conversation records, got dict"),
    (["x"], r"t\.json: record 0 must be a JSON object"),
    ([{"image": "a.png", "conversations": []}], r"record 0: 'id' must be a string or an integer"),
    ([{"id": "a", "image": "a.png"}], r"record 0 \(id 'a'\): 'conversations' must be a non-empty list"),
    ([_record(image=["a.png", 3])], r"record 0: 'image' must be a file name or a list of file names"),
    ([{"id": "a", "image": "a.png", "conversations": [{"from": "gpt", "value": "A"}]}],
     r"record 0 \(id 'a'\), turn 0: expected a 'human' turn \(turns alternate human, gpt\), got 'gpt'"),
    ([{"id": "a", "image": "a.png", "conversations": [{"from": "user", "value": "<image>\nQ"}]}],
     r"turn 0: 'from' must be 'human' or 'gpt', got 'user'"),
    ([{"id": "a", "image": "a.png", "conversations": [{"from": "human", "value": "<image>\nQ"}]}],
     r"'conversations' must hold human/gpt pairs \(got 1 turns"),
    ([{"id": "a", "image": "a.png", "conversations": [{"from": "human"}]}], r"turn 0 must be an object with"),
    ([_record(turns=[("<image>\nQ", 3)])], r"turn 1: 'value' must be a string, got int"),
    ([_record(turns=[("<image>\nQ", " ")])], r"turn 1: empty 'gpt' answer"),
    ([_record(turns=[("<image>\nQ", "see <image>")])], r"turn 1: a 'gpt' answer must not contain <image>"),
    ([_record(turns=[("Q", "A")])], r"record 0 \(id 'r1'\): 1 image\(s\) but 0 <image> placeholder"),
    ([_record(image=None)], r"0 image\(s\) but 1 <image> placeholder"),
    ([_record(), _record()], r"t\.json: record 1 repeats the id 'r1' of record 0"),
])
def test_conversation_errors_name_file_record_and_problem(tmp_path, records, message):
    path = _write(tmp_path / "t.json", records)
    with pytest.raises(InputError, match=message):
        read_conversations(path)


def test_conversation_images_checked(tmp_path):
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "r1.png").write_bytes(b"")
    path = write_conversations([_record(), _record("r2", "img/r2.png")], tmp_path / "t.json")
    with pytest.raises(InputError, match=r"t\.json: record 1 \(id 'r2'\): image img/r2\.png does not exist"):
        read_conversations(path, check_images=True)
    assert len(read_conversations(path)) == 2  # not checked by default
