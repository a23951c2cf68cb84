"""General question sets: scoring rules, readers of the published layouts, the synthetic set."""
import base64
import csv
import io
import json

import numpy as np
import pytest
from PIL import Image

from radioassist.exceptions import InputError
from radioassist.general import GeneralItem, item_prompt, load_general_set, make_synthetic_general
from radioassist.general.scoring import (anls, bootstrap_mean_interval, exact_match, levenshtein,
                                         normalize_answer, relative_change, relative_change_interval,
                                         relaxed_accuracy, score_answer)
from radioassist.general.sets import parse_set_spec, training_records, write_general_set


# ------------------------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("answer, reference, expected", [
    ("Three", "3", 1.0), ("the dog.", "dog", 1.0), ("  A Red  Circle ", "red circle", 1.0), ("3.5", "3.5", 1.0),
    ("35", "3.5", 0.0), ("dogs", "dog", 0.0), (None, "dog", 0.0)])
def test_exact_match_normalises_like_vqa(answer, reference, expected):
    assert exact_match(answer, [reference]) == expected


@pytest.mark.parametrize("answer, references, expected", [
    ("10.4", ["10"], 1.0), ("9.5", ["10"], 1.0), ("10.6", ["10"], 0.0),  # 5% tolerance, ChartQA rule
    ("12%", ["0.12"], 1.0),  # a trailing % divides by 100
    ("0", ["0"], 1.0), ("0.01", ["0"], 0.0),  # a zero reference needs the exact text
    ("Yes", ["yes"], 1.0), ("Brazil", ["Brazil ", "Peru"], 1.0), ("Chile", ["Brazil"], 0.0),
    ("1,000", ["1000"], 0.0)])  # not a number in ChartQA's parser: text comparison
def test_relaxed_accuracy_follows_chartqa(answer, references, expected):
    assert relaxed_accuracy(answer, references) == expected


def test_anls_follows_docvqa():
    assert anls("Radio", ["radio"]) == 1.0
    # one edit in 12 characters: 1 - 1/12
    assert anls("radio asist", ["radio assist"]) == pytest.approx(1 - 1 / 12)
    # a normalised distance of 0.5 or more scores 0 (DocVQA's threshold), and the best reference counts
    assert anls("abcdefg", ["abcdxyz"]) == pytest.approx(4 / 7) and anls("abcdef", ["abcxyz"]) == 0.0
    assert anls("london", ["paris", "London "]) == 1.0
    assert levenshtein("kitten", "sitting") == 3 and levenshtein("", "abc") == 3


def test_normalize_answer():
    assert normalize_answer("The answer is: Two!") == "answer is 2"


def test_score_answer_dispatches_and_rejects_unknown_types():
    assert score_answer("b", ("B",), "multiple_choice") == 1.0
    assert score_answer("10.3", ("10",), "relaxed") == 1.0
    with pytest.raises(InputError, match="answer_type must be one of"):
        score_answer("x", ("x",), "fuzzy")


def test_bootstrap_intervals():
    scores = np.array([1.0] * 30 + [0.0] * 70)
    low, high = bootstrap_mean_interval(scores, n_resamples=2000, seed=1)
    assert low < 0.3 < high and high - low < 0.25
    assert bootstrap_mean_interval(scores, seed=1) == bootstrap_mean_interval(scores, seed=1)
    assert bootstrap_mean_interval(np.ones(20)) == (1.0, 1.0)
    # the same answers: a change of exactly 0 with a zero-width interval
    assert relative_change_interval(scores, scores) == (0.0, 0.0)
    assert relative_change(0.3, 0.3) == 0.0 and relative_change(0.2, 0.4) == -0.5
    assert np.isnan(relative_change(0.2, 0.0))
    # paired: a model that loses 10 of the 30 right answers
    worse = scores.copy()
    worse[:10] = 0
    low, high = relative_change_interval(worse, scores, n_resamples=2000)
    assert low < -1 / 3 < high and high < 0


# ------------------------------------------------------------------------------------------- synthetic
def test_synthetic_set_is_deterministic_and_balanced():
    full = make_synthetic_general()
    assert len(full) == 300
    categories = [item.category for item in full]
    assert {c: categories.count(c) for c in set(categories)} == {
        "counting": 50, "text": 50, "number": 50, "chart": 50, "colour": 50, "position": 50}
    assert full.counts() == {"exact": 100, "anls": 50, "relaxed": 50, "multiple_choice": 100}
    again = load_general_set("synthetic-general", limit=30)
    small = make_synthetic_general(n=30)
    for a, b, c in zip(again, small, full):
        assert a == b == c  # ids, questions, answers, options
        assert np.array_equal(a.load_image(), c.load_image())
    assert len({item.id for item in full}) == 300
    other = make_synthetic_general(n=30, seed=1)
    assert [i.answers for i in other] != [i.answers for i in small]


def test_synthetic_answers_match_the_pictures():
    from scipy import ndimage

    items = make_synthetic_general(n=60)
    colours = {"red": (220, 30, 30), "green": (30, 160, 50), "blue": (30, 70, 220), "yellow": (235, 200, 20),
               "black": (15, 15, 15), "orange": (245, 130, 20), "purple": (140, 40, 170), "grey": (128, 128, 128)}
    for item in items:
        image = item.load_image().astype(int)
        ink = np.any(image < 250, axis=-1)
        if item.category == "counting":
            _, count = ndimage.label(ink)
            assert str(count) == item.answers[0], item.id
        elif item.category == "colour":
            chosen = item.options["ABCD".index(item.answers[0])]
            assert tuple(image[64, 64]) == colours[chosen]
        elif item.category == "position":
            red = (image[..., 0] > 200) & (image[..., 1] < 60)
            ys, xs = np.nonzero(red)
            where = ("bottom " if ys.mean() > 64 else "top ") + ("right" if xs.mean() > 64 else "left")
            assert item.options["ABCD".index(item.answers[0])] == where
        elif item.category == "chart":
            assert 10 <= int(item.answers[0]) <= 90 and item.answer_type == "relaxed"


def test_prompt_and_training_records():
    item = make_synthetic_general(n=5)[4]
    prompt = item_prompt(item)
    assert prompt.startswith(item.question) and "\nA. " in prompt and prompt.endswith("directly.")
    records = training_records(make_synthetic_general(n=6))
    assert records[4]["conversations"][1]["value"] == item.answers[0]
    assert records[0]["conversations"][0]["value"].startswith("<image>\nHow many")
    assert records[0]["image"].shape == (128, 128, 3)


# ------------------------------------------------------------------------------------------- readers
def _png(path, seed=0, size=(24, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    array = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(array).save(path)
    return array


def test_chartqa_layout(tmp_path):
    test = tmp_path / "ChartQA Dataset" / "test"
    first = _png(test / "png" / "41699051005347.png")
    _png(test / "png" / "multi_col_1.png", seed=1)
    rows = [{"imgname": "41699051005347.png", "query": "What's the value of the highest bar?", "label": "57"},
            {"imgname": "multi_col_1.png", "query": "Which country has the lowest value?", "label": "Chile"}]
    (test / "test_human.json").write_text(json.dumps(rows))
    for spec in (test / "test_human.json", test, f"chartqa:{test / 'test_human.json'}"):
        items = load_general_set(spec)
        assert len(items) == 2 and items.format == "chartqa" and items.name == "test"
    assert items[0].answer_type == "relaxed" and items[0].answers == ("57",)
    assert items[0].question == rows[0]["query"] and np.array_equal(items[0].load_image(), first)
    assert len(items.meta["sha256"]) == 64
    (test / "png" / "multi_col_1.png").unlink()
    with pytest.raises(InputError, match="multi_col_1.png not found"):
        load_general_set(test / "test_human.json")


def test_docvqa_layout(tmp_path):
    image = _png(tmp_path / "documents" / "pybv0228_81.png")
    content = {"dataset_name": "docvqa", "dataset_split": "val", "dataset_version": "1.0", "data": [
        {"questionId": 49153, "question": "What is the 'actual' value per 1000, during the year 1975?",
         "question_types": ["figure/diagram"], "image": "documents/pybv0228_81.png", "docId": 14465,
         "ucsf_document_id": "pybv0228", "ucsf_document_page_no": "81", "answers": ["0.28"],
         "data_split": "val"}]}
    (tmp_path / "val_v1.0.json").write_text(json.dumps(content))
    items = load_general_set(tmp_path / "val_v1.0.json")
    assert items.format == "docvqa" and items[0].id == "49153" and items[0].answer_type == "anls"
    assert items[0].answers == ("0.28",) and np.array_equal(items[0].load_image(), image)
    del content["data"][0]["answers"]
    (tmp_path / "val_v1.0.json").write_text(json.dumps(content))
    with pytest.raises(InputError, match="no 'answers'"):
        load_general_set(tmp_path / "val_v1.0.json")


def test_scienceqa_layout(tmp_path):
    image = _png(tmp_path / "images" / "test" / "7" / "image.png")
    _png(tmp_path / "images" / "train" / "1" / "image.png", seed=2)
    problems = {
        "1": {"question": "Which of these states is farthest north?", "choices": ["West Virginia", "Louisiana"],
              "answer": 0, "hint": "", "image": "image.png", "task": "closed choice", "grade": "grade2",
              "subject": "social science", "topic": "geography", "category": "Geography", "split": "train"},
        "7": {"question": "Which animal's feet are also adapted for sticking to smooth surfaces?",
              "choices": ["tiger", "Madagascar day gecko", "cat"], "answer": 1,
              "hint": "Read the text about an animal.", "image": "image.png", "subject": "natural science",
              "split": "test"},
        "9": {"question": "What is 2 + 2?", "choices": ["3", "4"], "answer": 1, "hint": "", "image": None,
              "split": "test"}}
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    items = load_general_set(f"{tmp_path / 'problems.json'},split=test")
    assert [i.id for i in items] == ["7"]  # the other split and the problem without an image are left out
    item = items[0]
    assert item.answers == ("B",) and item.options[1] == "Madagascar day gecko" and item.hint.startswith("Read")
    assert np.array_equal(item.load_image(), image)
    assert item_prompt(item).startswith("Hint: Read the text") and "C. cat" in item_prompt(item)
    assert len(load_general_set(tmp_path)) == 2  # the folder, both splits


def test_mmbench_tsv_layout(tmp_path):
    buffer = io.BytesIO()
    array = np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    Image.fromarray(array).save(buffer, format="PNG")
    encoded = base64.b64encode(buffer.getvalue()).decode()
    columns = ["index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image", "source",
               "l2-category", "comment", "split"]
    rows = [[241, "Which category does this image belong to?", "nan", "Oil Paiting", "Sketch", "Digital art",
             "Photo", "A", "image_style", encoded, "MMBench", "coarse_perception", "nan", "dev"],
            [242, "How many apples are there?", "Count them.", "1", "2", "", "", "B", "counting", encoded,
             "MMBench", "fine", "nan", "dev"]]
    path = tmp_path / "MMBench_DEV_EN.tsv"
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow(columns)
        writer.writerows(rows)
    items = load_general_set(path)
    assert items.format == "mmbench" and [i.id for i in items] == ["241", "242"]
    assert items[0].options == ("Oil Paiting", "Sketch", "Digital art", "Photo") and items[0].hint == ""
    assert items[1].options == ("1", "2") and items[1].answers == ("B",) and items[1].hint == "Count them."
    assert np.array_equal(items[0].load_image(), array)
    # the test split has no answers
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, delimiter="\t")
        writer.writerow([c for c in columns if c != "answer"])
        writer.writerow([v for c, v in zip(columns, rows[0]) if c != "answer"])
    with pytest.raises(InputError, match="no 'answer' column"):
        load_general_set(path)


def test_native_datalist_and_llava_layouts(tmp_path):
    _png(tmp_path / "img" / "a.png")
    _png(tmp_path / "img" / "b.png", seed=1)
    datalist = {"data": [
        {"filepaths": ["img/a.png"], "id": 0, "question": "What colour is the sky?", "options": ["green", "blue"],
         "label": "blue", "answer_type": "multiple_choice"},
        {"filepaths": ["img/b.png"], "id": 1, "question": "What is written?", "label": ["STOP", "stop sign"],
         "answer_type": "anls"}]}
    (tmp_path / "general.json").write_text(json.dumps(datalist))
    items = load_general_set(tmp_path / "general.json")
    assert items.format == "datalist" and items[0].answers == ("B",)  # an option's text becomes its letter
    assert items[1].answers == ("STOP", "stop sign") and items[1].answer_type == "anls"
    records = [{"id": "q1", "image": "img/a.png", "options": ["green", "blue"], "answer_type": "mc",
                "conversations": [{"from": "human", "value": "<image>\nWhat colour is the sky?"},
                                  {"from": "gpt", "value": "B"}]},
               {"id": "q2", "image": "img/b.png", "answers": ["12", "twelve"],
                "conversations": [{"from": "human", "value": "<image>\nHow many?"}, {"from": "gpt", "value": "12"}]}]
    (tmp_path / "conv.json").write_text(json.dumps(records))
    items = load_general_set(f"{tmp_path / 'conv.json'},name=mine,limit=2")
    assert items.name == "mine" and items.format == "llava"
    assert items[0].question == "What colour is the sky?" and items[0].answers == ("B",)
    assert items[1].answer_type == "exact" and items[1].answers == ("12", "twelve")
    records[0]["conversations"][1]["value"] = "purple"
    (tmp_path / "conv.json").write_text(json.dumps(records))
    with pytest.raises(InputError, match="neither an option letter"):
        load_general_set(tmp_path / "conv.json")


def test_bad_specs_say_what_to_do(tmp_path):
    with pytest.raises(InputError, match="does not exist.*synthetic-general"):
        load_general_set(tmp_path / "missing.json")
    (tmp_path / "odd.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(InputError, match="FORMAT:PATH"):
        load_general_set(tmp_path / "odd.json")
    with pytest.raises(InputError, match="KEY=VALUE"):
        load_general_set("synthetic-general,oops")
    with pytest.raises(InputError, match="limit must be a positive integer"):
        load_general_set("synthetic-general", limit=0)
    with pytest.raises(InputError, match="needs 2 to"):
        from radioassist.general import GeneralSet
        GeneralSet("x", [GeneralItem("a", "q?", ("A",), "multiple_choice", options=("only",))])
    assert parse_set_spec("mmbench:x.tsv,split=dev") == ("x.tsv", "mmbench", {"split": "dev"})


@pytest.mark.parametrize("layout", ["datalist", "llava"])
def test_written_sets_read_back_unchanged(tmp_path, layout):
    original = make_synthetic_general(n=12)
    path = write_general_set(original, tmp_path, format=layout)
    again = load_general_set(path)
    assert again.format == layout and again.name == "synthetic-general"
    for a, b in zip(original, again):
        assert (a.id, a.question, a.answers, a.answer_type, a.options, a.category) == (
            b.id, b.question, b.answers, b.answer_type, b.options, b.category)
        assert np.array_equal(a.load_image(), b.load_image())
    with pytest.raises(InputError, match="already exists"):
        write_general_set(original, tmp_path, format=layout)
