"""General-task evaluation sets: items, readers of the published layouts, and a registry of named sets.

A general set is a list of `GeneralItem`: an image, a question, the options
of a multiple-choice question (or none), the reference answer(s) and the
answer type that decides how an answer is scored
(:mod:`radioassist.general.scoring`).  :func:`load_general_set` turns a *set
spec* into a `GeneralSet`:

* a registered name: ``'synthetic-general'`` (shipped, generated on the fly,
  :func:`radioassist.general.synthetic.make_synthetic_general`);
* a path, whose layout is recognised from its content, or ``FORMAT:PATH``
  to name the layout:

  ``llava``
      LLaVA conversation JSON (the fine-tuning format,
      :mod:`radioassist.training.formats`): the first human turn is the
      question (``<image>`` removed), the first ``gpt`` turn the reference
      answer; optional record keys ``options`` (list of option texts),
      ``answers`` (all reference answers), ``answer_type`` and ``category``.
  ``datalist``
      radio-llava datalist JSON (``{"data": [...]}``): ``filepaths`` (the
      image), ``question``, ``label`` (the reference answer, a list for
      several, the option letter or text for multiple choice), optional
      ``options``, ``answer_type``, ``category``, ``id``.
  ``chartqa``
      ChartQA as published: a ``test_human.json`` / ``test_augmented.json``
      list of ``{"imgname", "query", "label"}`` with the charts in ``png/``
      next to it (or the folder holding them); relaxed accuracy.
  ``docvqa``
      DocVQA as published: ``val_v1.0.json`` (``{"data": [{"questionId",
      "question", "image": "documents/...png", "answers"}]}``); ANLS.
  ``scienceqa``
      ScienceQA as published: ``problems.json`` (``{pid: {"question",
      "choices", "answer" (index), "hint", "image", "split"}}``) with images
      in ``images/<split>/<pid>/image.png``; items without an image are
      left out; multiple choice.
  ``mmbench``
      MMBench TSV as published (``index``, ``question``, ``hint``, ``A``-``F``,
      ``answer``, ``category``, ``image`` as base64); multiple choice, each
      question asked once (no circular evaluation).

Options follow the spec after commas, as in model specs:
``'scienceqa:data/problems.json,split=test,limit=500'``; ``limit=N`` keeps
the first N items, ``name=`` renames the set, ``image_dir=`` says where the
images are, ``split=`` filters ScienceQA/MMBench/datalist items; for
``synthetic-general``, ``n=`` and ``seed=``.
"""
import base64
import csv
import hashlib
import io
import sys
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import numpy as np

from .._jsonio import read_json as _read_json
from ..exceptions import InputError
from ..logger import log
from .scoring import ANSWER_TYPES

__all__ = ["GeneralItem", "GeneralSet", "load_general_set", "parse_set_spec", "register_general_set",
           "available_general_sets", "item_prompt", "training_records", "write_general_set", "FORMATS",
           "OPTION_LETTERS", "MC_INSTRUCTION", "SHORT_INSTRUCTION"]

#: Letters of the options of multiple-choice items, in order.
OPTION_LETTERS = "ABCDEFGHIJ"

#: Instruction after a multiple-choice question (the LLaVA-OneVision evaluation prompt).
MC_INSTRUCTION = "Answer with the option's letter from the given choices directly."

#: Instruction after an open question (the LLaVA short-answer prompt).
SHORT_INSTRUCTION = "Answer the question using a single word or phrase."

#: Layouts :func:`load_general_set` reads.
FORMATS = ("llava", "datalist", "chartqa", "docvqa", "scienceqa", "mmbench")

_NAMED = {}


@dataclass(frozen=True)
class GeneralItem:
    """One general visual question.

    Attributes
    ----------
    id : str
        Unique within its set.
    question : str
        The question (without options or answer instructions).
    answers : tuple of str
        Reference answers; for multiple choice, the letter of the right option.
    answer_type : str
        One of :data:`radioassist.general.scoring.ANSWER_TYPES`.  The
        following attributes are keyword-only arguments.
    options : tuple of str
        Option texts of a multiple-choice item (lettered A, B, ... in order); empty otherwise.
    image : str, bytes or ndarray
        An image file, encoded image bytes, or a uint8 RGB array.
    category : str
        What the item tests (``'counting'``, a benchmark category...).
    hint : str
        Context shown before the question (ScienceQA, MMBench hints).
    """

    id: str
    question: str
    answers: tuple
    answer_type: str
    _: KW_ONLY
    options: tuple = ()
    image: object = field(default=None, repr=False, compare=False)
    category: str = ""
    hint: str = ""

    def load_image(self):
        """The image as a uint8 ``(H, W, 3)`` RGB array."""
        image = self.image
        if isinstance(image, np.ndarray):
            array = image
        else:
            from PIL import Image
            try:
                source = io.BytesIO(image) if isinstance(image, (bytes, bytearray)) else image
                with Image.open(source) as pic:
                    array = np.array(pic.convert("RGB"))
            except (OSError, ValueError, TypeError) as exc:
                where = "its encoded image" if isinstance(image, (bytes, bytearray)) else f"image {image}"
                msg = f"general item {self.id!r}: cannot read {where}: {exc}"
                raise InputError(msg) from None
        if array.ndim == 2:
            array = np.repeat(array[..., None], 3, axis=-1)
        return np.ascontiguousarray(array[..., :3].astype(np.uint8, copy=False))

    @property
    def letters(self):
        """Option letters of a multiple-choice item (``('A', 'B', ...)``)."""
        return tuple(OPTION_LETTERS[:len(self.options)])


class GeneralSet:
    """A named list of `GeneralItem` with its provenance.

    Parameters
    ----------
    name : str
        Name in tables and figures.
    items : sequence of `GeneralItem`
    source : str, optional
        Where the items came from (a path or a generator description).
    format : str, optional
        The layout read.
    meta : dict, optional
        More provenance (hashes, options).
    """

    def __init__(self, name, items, *, source=None, format=None, meta=None):
        self.name = str(name)
        self.items = list(items)
        self.source = source
        self.format = format
        self.meta = dict(meta or {})
        seen = set()
        for i, item in enumerate(self.items):
            if item.answer_type not in ANSWER_TYPES:
                msg = (f"general set {self.name}: item {i} (id {item.id!r}) has answer_type {item.answer_type!r}; "
                       f"use one of {', '.join(ANSWER_TYPES)}")
                raise InputError(msg)
            if not item.answers:
                msg = f"general set {self.name}: item {i} (id {item.id!r}) has no reference answer"
                raise InputError(msg)
            if item.answer_type == "multiple_choice":
                if len(item.options) < 2 or len(item.options) > len(OPTION_LETTERS):
                    msg = (f"general set {self.name}: multiple-choice item {i} (id {item.id!r}) needs 2 to "
                           f"{len(OPTION_LETTERS)} options, got {len(item.options)}")
                    raise InputError(msg)
                bad = [a for a in item.answers if a not in item.letters]
                if bad:
                    msg = (f"general set {self.name}: item {i} (id {item.id!r}): the answer {bad[0]!r} is not one "
                           f"of the option letters {', '.join(item.letters)}")
                    raise InputError(msg)
            if item.id in seen:
                msg = f"general set {self.name}: item id {item.id!r} appears twice"
                raise InputError(msg)
            seen.add(item.id)

    def __len__(self):
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, index):
        return self.items[index]

    def __repr__(self):
        return f"<GeneralSet {self.name}: {len(self)} items, {self.counts()}>"

    def counts(self):
        """Number of items per answer type."""
        out = {}
        for item in self.items:
            out[item.answer_type] = out.get(item.answer_type, 0) + 1
        return out

    def head(self, n):
        """The set restricted to its first ``n`` items."""
        return GeneralSet(self.name, self.items[:int(n)], source=self.source, format=self.format,
                          meta=dict(self.meta, limit=int(n)))

    def describe(self):
        """Provenance of the set (JSON-able)."""
        return {"name": self.name, "source": self.source, "format": self.format, "n_items": len(self),
                "answer_types": self.counts(), **self.meta}


def item_prompt(item):
    """The text asked with the image: hint, question, lettered options and the answer instruction.

    Examples
    --------
    >>> from radioassist.general.sets import GeneralItem, item_prompt
    >>> item = GeneralItem('q1', 'What colour is the circle?', ('B',), 'multiple_choice',
    ...                    options=('red', 'blue'))
    >>> print(item_prompt(item))
    What colour is the circle?
    A. red
    B. blue
    Answer with the option's letter from the given choices directly.
    """
    lines = []
    if item.hint:
        lines.append(f"Hint: {item.hint}")
    lines.append(item.question)
    if item.answer_type == "multiple_choice":
        lines += [f"{letter}. {text}" for letter, text in zip(item.letters, item.options)]
        lines.append(MC_INSTRUCTION)
    else:
        lines.append(SHORT_INSTRUCTION)
    return "\n".join(lines)


def training_records(general_set, *, prefix=None):
    """LLaVA conversation records of a general set (prompt as asked at evaluation, first reference as answer).

    Used to mix general instruction data into a radio fine-tuning set
    (``radioassist finetune --mix``).  ``image`` is the item's image path, or
    its uint8 array for generated or embedded images.

    Parameters
    ----------
    general_set : `GeneralSet`
    prefix : str, optional
        Prefix of the record ids (the set name by default).

    Returns
    -------
    list of dict
    """
    prefix = general_set.name if prefix is None else prefix
    records = []
    for item in general_set:
        image = item.image if isinstance(item.image, (str, Path)) else item.load_image()
        records.append({"id": f"{prefix}-{item.id}", "image": str(image) if isinstance(image, Path) else image,
                        "conversations": [{"from": "human", "value": "<image>\n" + item_prompt(item)},
                                          {"from": "gpt", "value": item.answers[0]}]})
    return records


def write_general_set(general_set, folder, *, format="datalist", overwrite=False):
    """Write a general set as PNG images plus a datalist or LLaVA conversation JSON that reads back as it was.

    Parameters
    ----------
    general_set : `GeneralSet`
    folder : str or path-like
        Output folder: ``<name>.json`` and ``images/<id>.png``.
    format : {'datalist', 'llava'}, optional
        radio-llava datalist entries (``filepaths``, ``question``, ``label``,
        ``options``, ``answer_type``...) or LLaVA conversation records (the
        question and first answer as turns, plus ``answers``, ``options``,
        ``answer_type``...).
    overwrite : bool, optional
        Replace an existing JSON file.

    Returns
    -------
    pathlib.Path
        The JSON file; ``load_general_set(path)`` gives the same items back.
    """
    from PIL import Image

    from ..training.formats import write_conversations, write_datalist

    if format not in ("datalist", "llava"):
        msg = f"format must be 'datalist' or 'llava', got {format!r}"
        raise InputError(msg)
    folder = Path(folder)
    path = folder / f"{general_set.name}.json"
    if path.exists() and not overwrite:
        msg = f"{path} already exists; pass overwrite=True to replace it"
        raise InputError(msg)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    out = []
    for k, item in enumerate(general_set):
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in item.id) or "item"
        image = f"images/{k:06d}-{safe}.png"
        Image.fromarray(item.load_image()).save(folder / image)
        extra = {"answer_type": item.answer_type}
        if item.options:
            extra["options"] = list(item.options)
        for key in ("category", "hint"):
            if getattr(item, key):
                extra[key] = getattr(item, key)
        if format == "datalist":
            label = list(item.answers) if len(item.answers) > 1 else item.answers[0]
            out.append({"filepaths": [image], "id": item.id, "question": item.question, "label": label, **extra})
        else:
            out.append({"id": item.id, "image": image,
                        "conversations": [{"from": "human", "value": "<image>\n" + item.question},
                                          {"from": "gpt", "value": item.answers[0]}],
                        "answers": list(item.answers), **extra})
    if format == "datalist":
        return write_datalist(out, path, overwrite=overwrite)
    return write_conversations(out, path, overwrite=overwrite)


# ------------------------------------------------------------------------------------------- registry
def register_general_set(name, factory):
    """Register a named general set: ``factory(**options)`` returns a `GeneralSet`.

    Raises `~radioassist.exceptions.InputError` when the name is taken.
    """
    key = str(name).lower()
    if key in _NAMED:
        msg = f"a general set named {name!r} is already registered"
        raise InputError(msg)
    _NAMED[key] = factory
    return factory


def available_general_sets():
    """Names of the registered general sets."""
    return sorted(_NAMED)


# ------------------------------------------------------------------------------------------- helpers
def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _letter_answer(answer, options, where):
    """The option letter of a multiple-choice reference given as a letter, an index or the option text."""
    text = str(answer).strip()
    letters = OPTION_LETTERS[:len(options)]
    if len(text) == 1 and text.upper() in letters:
        return text.upper()
    if isinstance(answer, (int, np.integer)) and not isinstance(answer, bool) and 0 <= int(answer) < len(options):
        return letters[int(answer)]
    for letter, option in zip(letters, options):
        if text.lower() == str(option).strip().lower():
            return letter
    msg = f"{where}: the answer {answer!r} is neither an option letter ({', '.join(letters)}) nor an option's text"
    raise InputError(msg)


def _answer_type(value, options, where, default):
    if value is None:
        return "multiple_choice" if options else default
    value = str(value).strip().lower().replace("-", "_")
    aliases = {"mc": "multiple_choice", "choice": "multiple_choice", "multiple_choice": "multiple_choice",
               "exact": "exact", "exact_match": "exact", "vqa": "exact", "relaxed": "relaxed",
               "relaxed_accuracy": "relaxed", "anls": "anls"}
    if value not in aliases:
        msg = f"{where}: answer_type must be one of {', '.join(ANSWER_TYPES)}, got {value!r}"
        raise InputError(msg)
    return aliases[value]


def _image_path(name, folders, where):
    name = str(name)
    if Path(name).is_absolute():
        candidates = [Path(name)]
    else:
        candidates = [Path(folder) / name for folder in folders]
    for candidate in candidates:
        if candidate.is_file():
            return str(candidate)
    msg = f"{where}: image {name} not found (looked in {', '.join(str(Path(f)) for f in folders)}); pass image_dir="
    raise InputError(msg)


# ------------------------------------------------------------------------------------------- readers
def _read_llava(path, options):
    from ..training.formats import read_conversations

    path = Path(path)
    records = read_conversations(path)
    folders = [options.get("image_dir") or path.parent]
    items = []
    for i, record in enumerate(records):
        where = f"{path}: record {i} (id {record['id']!r})"
        turns = [t for t in record["conversations"] if t["from"] != "system"]
        question = turns[0]["value"].replace("<image>\n", "").replace("<image>", "").strip()
        image = record.get("image")
        if isinstance(image, list):
            image = image[0] if len(image) == 1 else None
        if image is None:
            msg = f"{where}: a general item needs exactly one image"
            raise InputError(msg)
        choices = tuple(str(o) for o in record.get("options") or ())
        kind = _answer_type(record.get("answer_type"), choices, where, "exact")
        answers = record.get("answers") or [turns[1]["value"]]
        if isinstance(answers, str):
            answers = [answers]
        if kind == "multiple_choice":
            answers = [_letter_answer(a, choices, where) for a in answers]
        items.append(GeneralItem(str(record["id"]), question, tuple(str(a) for a in answers), kind,
                                 options=choices, image=_image_path(image, folders, where),
                                 category=str(record.get("category") or ""),
                                 hint=str(record.get("hint") or "")))
    return items


def _read_datalist(path, options):
    from ..training.formats import read_datalist

    path = Path(path)
    entries = read_datalist(path)
    folders = [options.get("image_dir") or path.parent]
    split = options.get("split")
    items = []
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i}"
        if split and str(entry.get("split", "")).lower() != str(split).lower():
            continue
        if not entry.get("question"):
            msg = f"{where} has no 'question' (general datalist entries need one)"
            raise InputError(msg)
        choices = tuple(str(o) for o in entry.get("options") or ())
        kind = _answer_type(entry.get("answer_type"), choices, where, "exact")
        label = entry["label"]
        answers = label if isinstance(label, list) else [label]
        if kind == "multiple_choice":
            answers = [_letter_answer(a, choices, where) for a in answers]
        ident = entry.get("id", i)
        ident = "-".join(map(str, ident)) if isinstance(ident, list) else str(ident)
        items.append(GeneralItem(ident, str(entry["question"]), tuple(str(a) for a in answers), kind,
                                 options=choices, image=_image_path(entry["filepaths"][0], folders, where),
                                 category=str(entry.get("category") or ""),
                                 hint=str(entry.get("hint") or "")))
    return items


def _read_chartqa(path, options):
    path = Path(path)
    content = _read_json(path, "ChartQA file")
    if not isinstance(content, list):
        msg = f"ChartQA file {path} must be a JSON list of {{'imgname', 'query', 'label'}} entries"
        raise InputError(msg)
    folders = [options["image_dir"]] if options.get("image_dir") else [path.parent / "png", path.parent]
    items = []
    for i, entry in enumerate(content):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or not {"imgname", "query", "label"} <= set(entry):
            msg = f"{where} must have 'imgname', 'query' and 'label' (the ChartQA layout)"
            raise InputError(msg)
        label = entry["label"]
        answers = label if isinstance(label, list) else [label]
        items.append(GeneralItem(f"{i}", str(entry["query"]), tuple(str(a) for a in answers), "relaxed",
                                 image=_image_path(entry["imgname"], folders, where), category="chart"))
    return items


def _read_docvqa(path, options):
    path = Path(path)
    content = _read_json(path, "DocVQA file")
    entries = content.get("data") if isinstance(content, dict) else None
    if not isinstance(entries, list):
        msg = f"DocVQA file {path} must be a JSON object with a 'data' list (the DocVQA layout)"
        raise InputError(msg)
    folders = [options.get("image_dir") or path.parent]
    items = []
    for i, entry in enumerate(entries):
        where = f"{path}: entry {i}"
        if not isinstance(entry, dict) or not {"question", "image"} <= set(entry):
            msg = f"{where} must have 'question', 'image' and 'answers' (the DocVQA layout)"
            raise InputError(msg)
        answers = entry.get("answers")
        if not answers:
            msg = f"{where} has no 'answers' (the DocVQA test split has none: evaluate on the validation split)"
            raise InputError(msg)
        ident = str(entry.get("questionId", i))
        items.append(GeneralItem(ident, str(entry["question"]), tuple(str(a) for a in answers), "anls",
                                 image=_image_path(entry["image"], folders, where), category="document"))
    return items


def _read_scienceqa(path, options):
    path = Path(path)
    content = _read_json(path, "ScienceQA file")
    if not isinstance(content, dict):
        msg = f"ScienceQA file {path} must be a JSON object {{problem id: problem}} (problems.json)"
        raise InputError(msg)
    root = Path(options.get("image_dir") or path.parent / "images")
    split = options.get("split")
    items, skipped = [], 0
    for pid, problem in content.items():
        where = f"{path}: problem {pid}"
        if not isinstance(problem, dict) or not {"question", "choices", "answer"} <= set(problem):
            msg = f"{where} must have 'question', 'choices' and 'answer' (the ScienceQA layout)"
            raise InputError(msg)
        if split and str(problem.get("split", "")).lower() != str(split).lower():
            continue
        if not problem.get("image"):
            skipped += 1
            continue
        part = str(problem.get("split", ""))
        folders = [root / part / str(pid), root / str(pid)]
        choices = tuple(str(c) for c in problem["choices"])
        answer = _letter_answer(int(problem["answer"]), choices, where)
        items.append(GeneralItem(str(pid), str(problem["question"]), (answer,), "multiple_choice",
                                 options=choices, image=_image_path(problem["image"], folders, where),
                                 category=str(problem.get("subject") or problem.get("category") or ""),
                                 hint=str(problem.get("hint") or "")))
    if skipped:
        log.info("%s: %d ScienceQA problems without an image left out", path, skipped)
    return items


def _missing(value):
    return value is None or str(value).strip().lower() in ("", "nan", "none")


def _read_mmbench(path, options):
    path = Path(path)
    csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        msg = f"cannot read MMBench TSV {path}: {exc}"
        raise InputError(msg) from None
    if not rows:
        msg = f"MMBench TSV {path} holds no row"
        raise InputError(msg)
    columns = set(rows[0])
    needed = {"index", "question", "image", "A", "B"}
    if not needed <= columns:
        msg = (f"MMBench TSV {path} lacks the column(s) {', '.join(sorted(needed - columns))} (the published "
               "layout has index, question, hint, A-D, answer, category, image)")
        raise InputError(msg)
    if "answer" not in columns:
        msg = f"MMBench TSV {path} has no 'answer' column (the test split has none: evaluate on the dev split)"
        raise InputError(msg)
    split = options.get("split")
    items = []
    for i, row in enumerate(rows):
        where = f"{path}: row {i + 2} (index {row.get('index')})"
        if split and str(row.get("split", "")).lower() != str(split).lower():
            continue
        choices = []
        for letter in OPTION_LETTERS:
            if letter not in row or _missing(row[letter]):
                break
            choices.append(str(row[letter]))
        try:
            image = base64.b64decode(row["image"], validate=False)
        except (ValueError, TypeError) as exc:
            msg = f"{where}: the 'image' column is not base64: {exc}"
            raise InputError(msg) from None
        answer = _letter_answer(row["answer"], choices, where)
        hint = "" if _missing(row.get("hint")) else str(row["hint"])
        items.append(GeneralItem(str(row["index"]), str(row["question"]), (answer,), "multiple_choice",
                                 options=tuple(choices), image=image, category=str(row.get("category") or ""),
                                 hint=hint))
    return items


_READERS = {"llava": _read_llava, "datalist": _read_datalist, "chartqa": _read_chartqa, "docvqa": _read_docvqa,
            "scienceqa": _read_scienceqa, "mmbench": _read_mmbench}


def _detect(path):
    """(format, file) of a path: its layout recognised from the content."""
    path = Path(path)
    if path.is_dir():
        for name, fmt in (("problems.json", "scienceqa"), ("test_human.json", "chartqa"),
                          ("test/test_human.json", "chartqa"), ("val_v1.0.json", "docvqa")):
            if (path / name).is_file():
                return fmt, path / name
        msg = (f"cannot tell the layout of folder {path}: give the set's file (problems.json, test_human.json, "
               "val_v1.0.json, a .tsv or a .json) or FORMAT:PATH with FORMAT one of " + ", ".join(FORMATS))
        raise InputError(msg)
    if not path.is_file():
        msg = f"general set {path} does not exist (and is not a registered set: {', '.join(available_general_sets())})"
        raise InputError(msg)
    if path.suffix.lower() == ".tsv":
        return "mmbench", path
    content = _read_json(path, "general set")
    if isinstance(content, list):
        first = content[0] if content else {}
        if isinstance(first, dict) and "conversations" in first:
            return "llava", path
        if isinstance(first, dict) and "imgname" in first:
            return "chartqa", path
    elif isinstance(content, dict):
        data = content.get("data")
        if isinstance(data, list):
            first = data[0] if data else {}
            if isinstance(first, dict) and ("filepaths" in first or "filepath" in first):
                return "datalist", path
            if isinstance(first, dict) and ("questionId" in first or "answers" in first):
                return "docvqa", path
        values = list(content.values())[:1]
        if values and isinstance(values[0], dict) and "choices" in values[0]:
            return "scienceqa", path
    msg = (f"cannot tell the layout of {path}: name it as FORMAT:PATH with FORMAT one of {', '.join(FORMATS)}")
    raise InputError(msg)


def parse_set_spec(spec):
    """Split a set spec into (name or path, format or None, options dict).

    Examples
    --------
    >>> from radioassist.general.sets import parse_set_spec
    >>> parse_set_spec('synthetic-general,limit=40')
    ('synthetic-general', None, {'limit': 40})
    >>> parse_set_spec('chartqa:data/test/test_human.json')
    ('data/test/test_human.json', 'chartqa', {})
    """
    from ..evaluate import _value

    text = str(spec).strip()
    if not text:
        msg = "a general set spec is a set name (synthetic-general) or a path, got an empty string"
        raise InputError(msg)
    head, *rest = text.split(",")
    options = {}
    for part in rest:
        if "=" not in part:
            msg = f"options in the set spec {text!r} look like KEY=VALUE after a comma, got {part!r}"
            raise InputError(msg)
        key, value = part.split("=", 1)
        options[key.strip()] = _value(value)
    fmt = None
    if ":" in head:
        prefix, remainder = head.split(":", 1)
        if prefix.strip().lower() in FORMATS:
            fmt, head = prefix.strip().lower(), remainder
    return head.strip(), fmt, options


def load_general_set(spec, *, limit=None, **options):
    """Load a general evaluation set from a spec (a registered name or a path; see the module doc).

    Parameters
    ----------
    spec : str, path-like or `GeneralSet`
        ``'synthetic-general'``, a path (layout recognised from the content),
        ``'FORMAT:PATH'``, with ``,key=value`` options; a `GeneralSet` is
        returned as is (cut to ``limit``).
    limit : int, optional
        Keep the first ``limit`` items.
    **options
        Options of the reader (``split``, ``image_dir``, ``name``; ``n`` and
        ``seed`` for ``synthetic-general``), overriding those in the spec.

    Returns
    -------
    `GeneralSet`

    Examples
    --------
    >>> from radioassist.general import load_general_set
    >>> items = load_general_set('synthetic-general', limit=12)
    >>> len(items), sorted(items.counts())
    (12, ['anls', 'exact', 'multiple_choice', 'relaxed'])
    """
    if isinstance(spec, GeneralSet):
        general = spec
        spec_options = {}
    else:
        if hasattr(spec, "__fspath__"):
            spec = str(spec)
        head, fmt, spec_options = parse_set_spec(spec)
        spec_options.update(options)
        fmt = spec_options.pop("format", fmt)
        name = spec_options.pop("name", None)
        spec_limit = spec_options.pop("limit", None)
        if limit is None:
            limit = spec_limit
        if fmt is None and head.lower() in _NAMED:
            try:
                general = _NAMED[head.lower()](**spec_options)
            except TypeError as exc:
                msg = f"bad option for general set {head}: {exc}"
                raise InputError(msg) from None
            if name:
                general.name = str(name)
        else:
            if fmt is not None:
                if fmt not in _READERS:
                    msg = f"unknown general-set format {fmt!r}; use one of {', '.join(FORMATS)}"
                    raise InputError(msg)
                path = Path(head)
                if path.is_dir():
                    _, path = _detect(path)
            else:
                fmt, path = _detect(head)
            unknown = set(spec_options) - {"split", "image_dir"}
            if unknown:
                msg = (f"unknown option(s) {', '.join(sorted(unknown))} for general set {head}; accepted: split, "
                       "image_dir, limit, name, format")
                raise InputError(msg)
            items = _READERS[fmt](path, spec_options)
            if not items:
                msg = f"general set {path} ({fmt}) holds no usable item"
                raise InputError(msg)
            default_name = path.parent.name if path.stem in ("problems", "test_human", "val_v1.0") else path.stem
            general = GeneralSet(name or default_name or fmt, items, source=str(path.resolve()), format=fmt,
                                 meta={"sha256": _sha256(path),
                                       **{k: str(v) for k, v in spec_options.items()}})
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, (int, np.integer)) or limit < 1:
            msg = f"limit must be a positive integer, got {limit!r}"
            raise InputError(msg)
        general = general.head(int(limit))
    return general
