"""Tests of the task registry, prompts, answer parsing and tag -> label mapping."""
import copy
import dataclasses
import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from radioassist.exceptions import InputError
from radioassist.parsing import parse_answer
from radioassist.prompts import (PREAMBLE, SYSTEM_PROMPT, build_prompt, chat_messages, format_answer,
                                 reask_prompt)
from radioassist.tasks import (TASKS, Task, available_tasks, get_task, label_text, labels_from_tags,
                              register_task)

BENCHMARK = ("B1", "B2", "B3", "B4", "B5", "B6")
ALL_BUILTIN = BENCHMARK + ("M4",)


# --------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------
def test_builtin_tasks():
    assert set(ALL_BUILTIN) <= set(available_tasks())
    assert get_task("B1").multilabel and not any(get_task(t).multilabel for t in ALL_BUILTIN[1:])
    assert get_task("B2").labels == ("1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P")
    assert get_task("B5").labels == ("ORDINARY", "COMPLEX", "PECULIAR")
    assert get_task("b6").labels == ("FR-I", "FR-II")
    assert get_task("M4").labels == ("FR-I", "FR-II", "COMPACT", "BENT")
    assert get_task("galaxymorphclass-mirabest") is get_task("B6")
    assert get_task("smorph-radioimg") is get_task("B1")
    task = get_task("B6")
    assert get_task(task) is task
    assert task.label_index("fr-ii") == 1


def test_registry_errors():
    with pytest.raises(InputError, match="unknown task 'B9'.*B1, B2"):
        get_task("B9")
    with pytest.raises(InputError, match="already registered.*overwrite=True"):
        register_task(Task("B6", "again", ("A", "B")))
    with pytest.raises(TypeError, match="expects a Task"):
        register_task({"id": "X"})
    with pytest.raises(InputError, match="at least two labels"):
        Task("X1", "one label", ("A",))
    with pytest.raises(InputError, match="duplicate labels"):
        Task("X1", "dups", ("A", "A"))
    with pytest.raises(InputError, match="not a label of task B6"):
        get_task("B6").label_index("FR-III")


def test_register_user_task_gets_prompts_and_parsing():
    task = Task("TEST-HT", "head-tail detection", ("HEAD-TAIL", "OTHER"), answer_aliases={"HT": "HEAD-TAIL"})
    try:
        register_task(task)
        assert get_task("test-ht") is task
        prompt = build_prompt("TEST-HT")
        assert prompt.startswith(PREAMBLE)
        assert "\nHEAD-TAIL\nOTHER\n" in prompt
        assert parse_answer("TEST-HT", "It is an HT source.") == ("HEAD-TAIL",)
        assert parse_answer(task, "other") == ("OTHER",)
        replaced = Task("TEST-HT", "literal prompt", ("HEAD-TAIL", "OTHER"),
                        prompts={"v2": "Is it a head-tail?"})
        register_task(replaced, overwrite=True)
        assert build_prompt("TEST-HT") == "Is it a head-tail?"
        assert build_prompt(task) != build_prompt(replaced)
    finally:
        TASKS.pop("TEST-HT", None)


def test_registered_tasks_cannot_be_changed():
    """A registered task is immutable, its dicts included: build a new one and register it instead."""
    task = get_task("B6")
    question = task.prompts["question"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.labels = ("A", "B")
    for mapping in (task.prompts, task.class_definitions, task.answer_aliases):
        with pytest.raises(TypeError, match="a Task cannot be changed.*overwrite=True"):
            mapping["question"] = "What is it?"
        with pytest.raises(TypeError, match="a Task cannot be changed"):
            mapping.update({"x": 1})
        with pytest.raises(TypeError, match="a Task cannot be changed"):
            mapping.pop(next(iter(mapping)))
    assert get_task("B6").prompts["question"] == question
    # the dicts given are copied: changing them later does not change the task
    aliases = {"HT": "HEAD-TAIL"}
    user = Task("TEST-COPY", "copy", ("HEAD-TAIL", "OTHER"), answer_aliases=aliases)
    aliases["OT"] = "OTHER"
    assert dict(user.answer_aliases) == {"HT": "HEAD-TAIL"}
    # the documented way to change a task
    changed = dataclasses.replace(task, prompts={**task.prompts, "question": "Which class?"})
    assert "Question: Which class?" in build_prompt(changed) and build_prompt(task) != build_prompt(changed)
    assert get_task("B6") is task


def test_tasks_pickle():
    """Tasks travel to dask worker processes."""
    for task_id in ALL_BUILTIN:
        task = get_task(task_id)
        again = pickle.loads(pickle.dumps(task))
        assert again == task and dict(again.prompts) == dict(task.prompts)
        assert dict(again.answer_aliases) == dict(task.answer_aliases)
        assert build_prompt(again, with_definitions=True) == build_prompt(task, with_definitions=True)
        with pytest.raises(TypeError, match="cannot be changed"):
            again.prompts["question"] = "?"
    assert copy.deepcopy(get_task("B1")).prompts == get_task("B1").prompts


@pytest.mark.parametrize("kwargs, match", [
    ({"labels": "AB"}, "must be a sequence of non-empty strings"),
    ({"labels": (), "multilabel": True}, "must be a sequence of non-empty strings"),
    ({"labels": ("A", "")}, "must be a sequence of non-empty strings"),
    ({"labels": ("A", 2)}, "must be a sequence of non-empty strings"),
    ({"labels": ("A", "a")}, "duplicate labels"),
    ({"labels": ("A", "NONE")}, "none label 'NONE' .* is also one of its labels"),
    ({"labels": ("A,B", "C"), "multilabel": True}, "cannot contain commas"),
    ({"id": " "}, "task id must be a non-empty string"),
])
def test_task_validation(kwargs, match):
    arguments = {"id": "X1", "name": "test", "labels": ("A", "B")} | kwargs
    with pytest.raises(InputError, match=match):
        Task(**arguments)


def test_prompt_pieces_of_a_user_task():
    single = Task("X1", "test", ("A", "B"))
    pieces = single.prompt_pieces()
    assert pieces["question"] == "Which of these classes does the radio source in the image belong to?"
    assert pieces["options"] is True
    assert pieces["instructions"] == (
        "Answer with only one class label among {labels}, without any additional explanation text.",)
    assert pieces["v1_format"] == pieces["instructions"][0]
    multi = Task("X2", "test", ("A", "B"), multilabel=True, none_label="NOTHING",
                 prompts={"question": "Which?", "instructions": "Name them."})
    pieces = multi.prompt_pieces()
    assert pieces["question"] == "Which?" and pieces["options"] is False
    assert pieces["instructions"] == ("Name them.",)
    pieces["question"] = "changed"  # a new dict each time
    assert multi.prompt_pieces()["question"] == "Which?"
    generic = Task("X3", "test", ("A", "B"), multilabel=True, none_label="NOTHING").prompt_pieces()
    assert generic["instructions"][1] == (
        "Answer NOTHING if you cannot recognize any of the above classes in the image.")


@pytest.mark.parametrize("value, task_id, expected", [
    (None, "B1", ""),
    (None, None, ""),
    ("", "B6", ""),
    (("DIFFUSE", "EXTENDED"), "B1", "EXTENDED,DIFFUSE"),
    (["diffuse-large", "extended", "EXTENDED"], "B1", "EXTENDED,DIFFUSE-LARGE"),
    ((), "B1", "NONE"),
    (("NONE",), "B1", "NONE"),
    ("NONE", "B1", "NONE"),
    ("diffuse, extended", "B1", "EXTENDED,DIFFUSE"),
    ([True, False, True], "B1", "EXTENDED,DIFFUSE-LARGE"),
    (np.array([False, False, False]), "B1", "NONE"),
    (np.array([0, 1, 0]), "B1", "DIFFUSE"),
    (1, "B6", "FR-II"),
    (np.int64(0), "B6", "FR-I"),
    ("fr-ii", "B6", "FR-II"),
    (("FR-I",), "B6", "FR-I"),
    ((), "B6", "NONE"),
    ("FR-II", None, "FR-II"),
    (("A", "B"), None, "A,B"),
    ((), None, "NONE"),
])
def test_label_text(value, task_id, expected):
    assert label_text(value, task=task_id) == expected
    if task_id is not None:
        assert get_task(task_id).label_text(value) == expected


def test_label_text_errors():
    with pytest.raises(InputError, match="not a label of task B6"):
        label_text("FR-III", task="B6")
    with pytest.raises(InputError, match="single-label: give one label"):
        label_text(("FR-I", "FR-II"), task="B6")
    with pytest.raises(InputError, match="2 is not a class index of task B6"):
        label_text(2, task="B6")
    with pytest.raises(InputError, match="needs task= to turn the class index 1"):
        label_text(1)


def test_label_text_matches_the_catalogue_columns():
    """The <task>_label column of a run is label_text of each prediction."""
    from radioassist.backends import Predictions

    for task_id, labels in (("B1", [("DIFFUSE", "EXTENDED"), (), None, ("DIFFUSE-LARGE",)]),
                            ("B6", ["FR-I", None, "FR-II"])):
        task = get_task(task_id)
        predictions = Predictions(task_id, labels, np.full((len(labels), task.n_classes), 0.5))
        assert predictions.to_columns()[f"{task_id}_label"].tolist() == [
            label_text(label, task=task) for label in predictions.labels]


def test_label_text_is_the_catalogue_spelling():
    """What the parser reads back from label_text is the same labels (the catalogue round trip)."""
    for task_id in ALL_BUILTIN:
        task = get_task(task_id)
        for label in task.labels:
            assert parse_answer(task, label_text((label,), task=task)) == (label,)
        if task.multilabel:
            assert parse_answer(task, label_text(task.labels, task=task)) == task.labels
            assert parse_answer(task, label_text((), task=task)) == ()


# --------------------------------------------------------------------------------------
# prompts
# --------------------------------------------------------------------------------------
def _option_lines(prompt):
    lines = prompt.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("Question: "))
    stop = lines.index("Instructions:")
    return lines[start + 1:stop]


@pytest.mark.parametrize("task_id", ALL_BUILTIN)
def test_v2_prompt_structure(task_id):
    task = get_task(task_id)
    prompt = build_prompt(task_id)
    assert prompt.split("\n")[0] == (
        "You are given a radio astronomical input image. Answer to the question below, strictly following "
        "the provided instructions.")
    with_options = task_id in ("B1", "B2", "B6", "M4")
    assert _option_lines(prompt) == (list(task.labels) if with_options else [])
    instructions = prompt.split("Instructions:\n")[1]
    if task_id in ("B3", "B4"):
        assert instructions == "- Answer concisely: Yes or No."
    else:
        assert ", ".join(task.labels) in instructions
        assert "without any additional explanation text" in instructions
        if task.multilabel:
            assert "separated by commas" in instructions
        else:
            assert "only one class label" in instructions
    assert ("NONE" in instructions) == (task_id == "B1")
    assert build_prompt(task) == prompt


@pytest.mark.parametrize("task_id, question", [
    ("B1", "Which of these morphological classes of radio sources do you see in the image?"),
    ("B2", "Which of these morphological classes of radio sources do you see in the image?"),
    ("B3", "Do you see any likely radio galaxy with an extended morphology in the image?"),
    ("B4", "Do you see any imaging artefact with a ring pattern around bright sources in the image?"),
    ("B5", "Can you identify which peculiarity class the presented image belongs to?"),
    ("B6", "Which of these morphological classes of radio galaxy do you see in the image?"),
])
def test_v2_questions(task_id, question):
    assert f"\nQuestion: {question}\n" in build_prompt(task_id)


@pytest.mark.parametrize("task_id", ALL_BUILTIN)
def test_v1_prompt(task_id):
    task = get_task(task_id)
    prompt = build_prompt(task_id, version="v1")
    assert PREAMBLE not in prompt and "Instructions" not in prompt
    assert prompt == build_prompt(task, version="v1")
    if task_id in ("B1", "B2", "B6", "M4"):
        assert " \n " + " \n ".join(task.labels) + " \n " in prompt
    assert len(prompt) < len(build_prompt(task_id))


def test_v1_prompt_upstream_layout():
    assert build_prompt("B6", version="v1") == (
        "Which of these morphological classes of radio galaxy do you see in the image?  \n FR-I \n FR-II \n "
        "Report only the identified class label, without any additional explanation text.")
    assert build_prompt("B4", version="v1") == (
        "Do you see any imaging artefact with a ring pattern around bright sources in the image?  \n "
        "Answer concisely: Yes or No.")


@pytest.mark.parametrize("task_id", ALL_BUILTIN)
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_definitions(task_id, version):
    task = get_task(task_id)
    plain = build_prompt(task_id, version=version)
    prompt = build_prompt(task_id, version=version, with_definitions=True)
    assert prompt != plain
    for label, text in task.class_definitions.items():
        assert f"{label}: {text}" in prompt
    assert set(task.class_definitions) == set(task.labels)
    if version == "v2":
        assert prompt.startswith(PREAMBLE + "\nContext: ")


def test_definition_content():
    b1 = build_prompt("B1", with_definitions=True)
    assert "10 times the beam" in b1 and "roundish" in b1 and "irregular shape" in b1 and "4-connected" in b1
    b6 = build_prompt("B6", with_definitions=True)
    assert "jet-dominated" in b6 and "hotspots" in b6


def test_system_prompt_and_errors():
    assert SYSTEM_PROMPT == "You are an AI assistant specialized in radio astronomical topics."
    with pytest.raises(InputError, match="unknown prompt version 'v3'.*v1, v2"):
        build_prompt("B6", version="v3")
    with pytest.raises(InputError, match="unknown prompt version"):
        reask_prompt("B6", version="v0")
    with pytest.raises(InputError, match="unknown task"):
        build_prompt("nope")


@pytest.mark.parametrize("task_id", ALL_BUILTIN)
def test_reask_prompt_reminds_the_format_without_the_question(task_id):
    task = get_task(task_id)
    text = reask_prompt(task_id)
    assert text.startswith("The format of your response does not comply with the requested instructions.")
    assert task.prompts["question"] not in text and "Question" not in text
    if task_id in ("B3", "B4"):
        assert "Yes or No" in text
    else:
        assert ", ".join(task.labels) in text


def test_format_answer_and_chat_messages():
    assert format_answer("B1", ["DIFFUSE-LARGE", "EXTENDED"]) == "EXTENDED,DIFFUSE-LARGE"
    assert format_answer("B1", ()) == "NONE"
    assert format_answer("B3", "yes") == "YES"
    with pytest.raises(InputError, match="single-label"):
        format_answer("B6", ["FR-I", "FR-II"])
    with pytest.raises(InputError, match="single-label: give exactly one label"):
        format_answer("B6", [])
    with pytest.raises(InputError, match="needs the true labels"):
        format_answer("B1", None)
    with pytest.raises(InputError, match="not a label of task B1"):
        format_answer("B1", ["COMPACT"])
    assert format_answer("B1", "diffuse,extended") == "EXTENDED,DIFFUSE"
    messages = chat_messages("B6", system_prompt=True, examples=["FR-I", "FR-II"])
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT
    assert [m["content"] for m in messages if m["role"] == "assistant"] == ["FR-I", "FR-II"]
    assert messages[-1]["content"] == build_prompt("B6")
    v1_prompt = build_prompt("B3", version="v1")
    assert chat_messages("B3", version="v1") == [{"role": "user", "content": v1_prompt}]


# --------------------------------------------------------------------------------------
# answer parsing
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("task_id, text, expected", [
    # the upstream rule: exact labels once , ! . ; are stripped
    ("B6", "FR-II", ("FR-II",)),
    ("B6", " fr-i.\n", ("FR-I",)),
    ("B6", "FR-II!", ("FR-II",)),
    ("B2", "2C-3P;", ("2C-3P",)),
    ("B5", "Complex.", ("COMPLEX",)),
    ("B3", "Yes.", ("YES",)),
    ("B4", "no", ("NO",)),
    ("B1", "EXTENDED,DIFFUSE", ("EXTENDED", "DIFFUSE")),
    ("B1", "diffuse-large, extended.", ("EXTENDED", "DIFFUSE-LARGE")),
    ("B1", "EXTENDED, EXTENDED", ("EXTENDED",)),
    ("B1", "NONE", ()),
    ("B1", "None.", ()),
    # aliases and spellings
    ("B6", "FRI", ("FR-I",)),
    ("B6", "FR I", ("FR-I",)),
    ("B6", "FR-1", ("FR-I",)),
    ("B6", "FR 2", ("FR-II",)),
    ("B6", "FRII", ("FR-II",)),
    ("B6", "FR\u2013II", ("FR-II",)),
    ("B6", "Fanaroff-Riley type II", ("FR-II",)),
    ("B6", "**FR-II**", ("FR-II",)),
    ("B6", "`FR-I`", ("FR-I",)),
    ("B2", "1c1p", ("1C-1P",)),
    ("B2", "1C 2P", ("1C-2P",)),
    ("B2", "1C_3P", ("1C-3P",)),
    ("B2", "1C-2C", ("1C-2P",)),
    ("B3", "True", ("YES",)),
    ("B1", "DIFFUSE LARGE", ("DIFFUSE-LARGE",)),
    ("M4", "Compact", ("COMPACT",)),
    ("M4", "bent-tailed", ("BENT",)),
    ("M4", "It is a WAT.", ("BENT",)),
    # labels inside sentences
    ("B6", "The answer is FR-II.", ("FR-II",)),
    ("B6", "This radio galaxy is an FR-I source", ("FR-I",)),
    ("B2", "The source is 2C-3P.", ("2C-3P",)),
    ("B3", "Yes, there is an extended radio galaxy.", ("YES",)),
    ("B3", "No, I do not see any.", ("NO",)),
    ("B5", "The image is PECULIAR.", ("PECULIAR",)),
    ("B1", "I see an extended source and diffuse large emission.", ("EXTENDED", "DIFFUSE-LARGE")),
    ("B1", "There is no diffuse emission, but an extended source.", ("EXTENDED",)),
    ("B1", "No extended or diffuse sources.", ()),
    ("B1", "Nothing.", ()),
    # several labels
    ("B6", "The answer is FR-II, not FR-I.", ("FR-II",)),
    ("B6", "FR-II. The lobes are edge-brightened, unlike in FR-I galaxies.", ("FR-II",)),
    ("B6", "Answer: FR-I (an FR-II would show hotspots)", ("FR-I",)),
    ("B6", "I would say FR-I rather than FR-II", ("FR-I",)),
    # explicit NONE to a single-label task: parsed, no label
    ("B6", "NONE", ()),
    # unparsable
    ("B6", "FR-I, FR-II", None),
    ("B6", "Either FR-I or FR-II", None),
    ("B6", "It is not FR-I.", None),
    ("B6", "FR-III", None),
    ("B6", "FRIDAY", None),
    ("B6", "I cannot tell.", None),
    ("B6", "", None),
    ("B6", "   ", None),
    ("B6", None, None),
    ("B3", "Maybe", None),
    ("B3", "I do not know", None),
    ("B1", "I cannot recognize the morphology.", None),
    ("B2", "1C", None),
])
def test_parse_answer(task_id, text, expected):
    assert parse_answer(task_id, text) == expected


def test_parse_answer_bytes_and_task_object():
    assert parse_answer("B6", b"FR-II") == ("FR-II",)
    assert parse_answer(get_task("B6"), "fr-ii") == ("FR-II",)


_PREFIXES = ["", "The answer is ", "Answer: ", "answer: ", "I think the image shows ", "  ", "\n", "Label: ",
             "Based on the image, the class is ", "**", "Final answer: ", "\u201c"]
_SUFFIXES = ["", ".", "!", " .", ";", "**", "\n", " (high confidence)", ". The morphology is clear.",
             "\u201d", " \n"]
_SEPARATORS = ["-", " ", "_", "", "\u2013"]
_JOINS = [",", ", ", " , ", " and ", ", and ", "\n"]
_NONE_SPELLINGS = ["NONE", "none", "None", "None of the above", "nothing"]


@st.composite
def _spelling(draw, label):
    text = label.replace("-", draw(st.sampled_from(_SEPARATORS)))
    flips = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(c.lower() if flip else c.upper() for c, flip in zip(text, flips))


@st.composite
def _messy_answer(draw):
    task = get_task(draw(st.sampled_from(ALL_BUILTIN)))
    if task.multilabel:
        chosen = draw(st.lists(st.sampled_from(task.labels), unique=True, max_size=len(task.labels)))
        if chosen:
            spelled = [draw(_spelling(label)) for label in chosen]
            body = spelled[0]
            for part in spelled[1:]:
                body += draw(st.sampled_from(_JOINS)) + part
        else:
            body = draw(st.sampled_from(_NONE_SPELLINGS))
        expected = tuple(label for label in task.labels if label in chosen)
    else:
        label = draw(st.sampled_from(task.labels))
        body = draw(_spelling(label))
        expected = (label,)
    text = draw(st.sampled_from(_PREFIXES)) + body + draw(st.sampled_from(_SUFFIXES))
    return task, text, expected


@settings(max_examples=400, deadline=None)
@given(_messy_answer())
def test_parse_answer_property_messy_answers(case):
    task, text, expected = case
    assert parse_answer(task, text) == expected, text


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_BUILTIN), st.text(max_size=60))
def test_parse_answer_never_fails(task_id, text):
    result = parse_answer(task_id, text)
    task = get_task(task_id)
    assert result is None or (isinstance(result, tuple) and set(result) <= set(task.labels))
    if result is not None and not task.multilabel:
        assert len(result) <= 1


# --------------------------------------------------------------------------------------
# tags -> labels
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("task_id, tags, expected", [
    ("B1", ["RADIO-GALAXY"], ("EXTENDED",)),
    ("B1", ["EXTENDED", "RADIO-GALAXY"], ("EXTENDED",)),
    ("B1", ["RADIO-GALAXY", "DIFFUSE"], ("EXTENDED", "DIFFUSE")),
    ("B1", ["DIFFUSE-LARGE", "ARTEFACT", "BORDER"], ("DIFFUSE-LARGE",)),
    ("B1", ["COMPACT"], ()),
    ("B1", ["BACKGROUND"], ()),
    ("B1", ["COMPACT", "EXTENDED"], ("EXTENDED",)),
    ("B1", ["COMPACT", "ARTEFACT"], ()),
    ("B1", ["COMPACT", "BACKGROUND"], ()),
    ("B1", ["DIFFUSE", "WTF", "FILAMENT", "RING", "ARC", "DUBIOUS", "MOSAICING"], ("DIFFUSE",)),
    ("B1", "compact, extended", ("EXTENDED",)),
    ("B3", ["RADIO-GALAXY", "COMPACT"], ("YES",)),
    ("B3", ["EXTENDED", "DIFFUSE"], ("NO",)),
    ("B3", [], ("NO",)),
    ("B4", ["ARTEFACT"], ("YES",)),
    ("B4", ["RING", "COMPACT"], ("NO",)),
    ("B5", ["WTF", "EXTENDED"], ("PECULIAR",)),
    ("B5", ["WTF"], ("PECULIAR",)),
    ("B5", ["EXTENDED"], ("COMPLEX",)),
    ("B5", ["DIFFUSE"], ("COMPLEX",)),
    ("B5", ["RADIO-GALAXY"], ("COMPLEX",)),
    ("B5", ["DIFFUSE-LARGE"], ("ORDINARY",)),  # upstream's rule
    ("B5", ["COMPACT", "ARTEFACT"], ("ORDINARY",)),
    ("B5", ["radio_galaxy"], ("COMPLEX",)),
])
def test_labels_from_tags(task_id, tags, expected):
    assert labels_from_tags(task_id, tags) == expected


@pytest.mark.parametrize("task_id", ["B2", "B6", "M4"])
def test_labels_from_tags_only_for_tag_tasks(task_id):
    with pytest.raises(InputError, match=f"task {task_id} has no tag mapping"):
        labels_from_tags(task_id, ["COMPACT"])


def test_labels_from_tags_bad_input():
    with pytest.raises(InputError, match="tags must be a sequence"):
        labels_from_tags("B3", None)
