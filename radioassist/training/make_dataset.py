"""Build instruction-tuning data (LLaVA conversations) and benchmark datalists from labelled radio images.

:func:`make_dataset` takes labelled images from

* a mosaic and a labelled catalogue: one cutout per source, labels from one
  column per task (``label_columns``; ``B6_true``-style columns are found by
  themselves) or from a column of per-source tag lists (``tags_column``; the
  labels of B1, B3, B4 and B5 then follow radio-llava's tag rules,
  :func:`radioassist.tasks.labels_from_tags`);
* a folder of labelled images (sub-folders per class, a CSV manifest or a
  regular expression on the file names, see
  :func:`radioassist.training.load_image_folder`), for one task;
* a radio-llava benchmark datalist, whose labels are either task labels or
  tag lists (told apart per entry),

and writes to ``output_dir``::

    images/<id>.png            cutouts rendered with the 'radio-llava' preset (what the VLM backends send)
    images/<id>.fits           the float cutouts too, with fits=True
    train.json, valid.json     LLaVA conversation records (test.json when the source has a test split)
    datalist_<TASK>.json       benchmark datalist of every labelled image (with a 'split' key)
    datalist_<TASK>_valid.json the held-out images only (what to evaluate a fine-tuned model on)
    dataset.json               provenance: source, tasks, options, counts per split and label

Questions are the task prompts of :func:`radioassist.prompts.build_prompt`,
exactly what the ``llava`` backend asks, optionally with the question sentence
replaced by a paraphrase (:data:`QUESTION_PARAPHRASES`) for half of the
questions; answers are :func:`radioassist.prompts.format_answer`.  With
``multi_turn=False`` (default) every record holds one image and one task (the
form the backends ask in); with ``multi_turn=True`` one record per image holds
a question/answer pair per task.  Optional captions add a "describe the
image" turn.

Everything is deterministic given ``seed``: the paraphrase of each question
and the train/validation split depend only on the seed and the image id
(a hash), so reordering or subsetting the input does not move an image
between splits; the split is stratified by the label of the first task.
"""
import dataclasses
import hashlib
import json
import re
import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import InputError, RadioassistWarning
from ..logger import log
from ..prompts import build_prompt, format_answer
from ..tasks import TAG_NAMES, get_task, labels_from_tags
from .formats import _split_name, conversation_record, read_datalist, write_conversations, write_datalist

__all__ = ["make_dataset", "DatasetResult", "QUESTION_PARAPHRASES", "CAPTION_QUESTIONS", "split_ids",
           "task_question", "auto_caption"]

#: Alternative wordings of the question of each built-in task (the v2 preamble, options and
#: instructions stay as in the canonical prompt, so the answer format never changes).
QUESTION_PARAPHRASES = {
    "B1": ("Which of the following morphological classes of radio sources are present in this image?",
           "Identify the morphological classes of the radio sources visible in the image.",
           "Which kinds of radio source morphology, among those listed, appear in this image?"),
    "B2": ("Which of the following morphological classes best describes the radio source in this image?",
           "How would you classify the radio source in the image by its number of components and peaks?",
           "Which morphological class, among those listed, does the radio source in the image belong to?"),
    "B3": ("Is there an extended radio galaxy in this image?",
           "Does the image contain a radio galaxy with an extended morphology?",
           "Can you spot any likely extended radio galaxy in the image?"),
    "B4": ("Are there imaging artefacts, such as rings around bright sources, in this image?",
           "Does the image show ring-like imaging artefacts around bright sources?",
           "Can you spot any imaging artefact with a ring pattern around a bright source in the image?"),
    "B5": ("Which peculiarity class does this radio image belong to?",
           "How would you classify this radio image by its peculiarity?",
           "Which of the peculiarity classes best describes the presented image?"),
    "B6": ("Which Fanaroff-Riley class does the radio galaxy in this image belong to?",
           "Is the radio galaxy in the image of Fanaroff-Riley type I or type II?",
           "Which of these morphological classes best describes the radio galaxy in the image?"),
    "M4": ("Which of these classes best describes the radio galaxy in this image?",
           "How would you classify the morphology of the radio source in the image?",
           "Which morphological class, among those listed, does the radio source in the image belong to?"),
}

#: Questions of the caption turns (one is chosen per image, deterministically).
CAPTION_QUESTIONS = ("Describe the radio astronomical image.",
                     "Give a short description of the radio sources in this image.",
                     "What do you see in this radio image?")

_PNG_DIR = "images"
_SAFE = re.compile(r"[^A-Za-z0-9._+-]+")
_EMPTY = ("", "NAN", "--", "N/A", "NULL")


# ------------------------------------------------------------------------------------------------ helpers
def _unit_hash(*parts):
    """A number in [0, 1) from a SHA-256 of the parts (stable across runs and platforms)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split_ids(ids, strata, *, val_fraction=0.1, seed=0):
    """Deterministic, stratified train/validation assignment of ids.

    Within each stratum the ids are ordered by a seeded hash of the id and the
    first ``round(val_fraction * n)`` go to validation (at least one when the
    stratum has two or more ids and ``val_fraction > 0``).  The result of an id
    depends only on the seed and the ids of its stratum, never on the input
    order.

    Parameters
    ----------
    ids : sequence of str
        Unique ids.
    strata : sequence
        A hashable stratum per id (e.g. its label).
    val_fraction : float, optional
        Fraction of each stratum held out for validation.
    seed : int, optional
        Seed of the hash.

    Returns
    -------
    splits : list of str
        ``'train'`` or ``'valid'`` per id, in input order.

    Examples
    --------
    >>> from radioassist.training.make_dataset import split_ids
    >>> ids = [f'src{i}' for i in range(10)]
    >>> splits = split_ids(ids, ['A'] * 5 + ['B'] * 5, val_fraction=0.2, seed=1)
    >>> splits.count('valid')
    2
    >>> dict(zip(ids, splits)) == dict(zip(ids[::-1], split_ids(ids[::-1], ['B'] * 5 + ['A'] * 5,
    ...                                                         val_fraction=0.2, seed=1)))
    True
    """
    ids = [str(i) for i in ids]
    strata = list(strata)
    if len(ids) != len(strata):
        msg = f"split_ids needs one stratum per id, got {len(ids)} ids and {len(strata)} strata"
        raise InputError(msg)
    if not 0 <= float(val_fraction) < 1:
        msg = f"val_fraction must be in [0, 1), got {val_fraction!r}"
        raise InputError(msg)
    groups = {}
    for k, stratum in enumerate(strata):
        groups.setdefault(stratum, []).append(k)
    out = ["train"] * len(ids)
    for members in groups.values():
        n = len(members)
        n_valid = int(round(val_fraction * n))
        if val_fraction > 0 and n >= 2:
            n_valid = max(n_valid, 1)
        n_valid = min(n_valid, n - 1) if n >= 2 else n_valid
        order = sorted(members, key=lambda k: (_unit_hash("split", seed, ids[k]), ids[k]))
        for k in order[:n_valid]:
            out[k] = "valid"
    return out


def task_question(task, *, variant=0, version="v2", with_definitions=False):
    """The prompt asking ``task``, with the question sentence replaced by paraphrase ``variant``.

    ``variant=0`` is the canonical prompt (:func:`radioassist.prompts.build_prompt`);
    ``variant=k`` uses ``QUESTION_PARAPHRASES[task.id][k - 1]``.  Tasks without
    paraphrases (or a prompt given as literal text) always get the canonical prompt.

    Examples
    --------
    >>> from radioassist.prompts import build_prompt
    >>> from radioassist.training.make_dataset import task_question
    >>> task_question('B3') == build_prompt('B3')
    True
    >>> 'Is there an extended radio galaxy in this image?' in task_question('B3', variant=1)
    True
    """
    task = get_task(task)
    alternatives = QUESTION_PARAPHRASES.get(task.id, ()) if "question" in (task.prompts or {}) else ()
    if variant == 0 or not alternatives:
        return build_prompt(task, version=version, with_definitions=with_definitions)
    question = alternatives[(int(variant) - 1) % len(alternatives)]
    paraphrased = dataclasses.replace(task, prompts={**task.prompts, "question": question})
    return build_prompt(paraphrased, version=version, with_definitions=with_definitions)


def _paraphrase_variant(task, item_id, seed):
    """0 (canonical) for half of the questions, else one of the paraphrases, from a hash of the id."""
    alternatives = QUESTION_PARAPHRASES.get(task.id, ()) if "question" in (task.prompts or {}) else ()
    if not alternatives:
        return 0
    u = _unit_hash("question", seed, task.id, item_id)
    if u < 0.5:
        return 0
    return 1 + min(int((u - 0.5) * 2 * len(alternatives)), len(alternatives) - 1)


def auto_caption(labels):
    """A short description of an image from its labels (``{task_id: labels}``).

    Examples
    --------
    >>> from radioassist.training.make_dataset import auto_caption
    >>> print(auto_caption({'B6': ('FR-II',), 'B4': ('NO',)}))  # doctest: +NORMALIZE_WHITESPACE
    Imaging artefact detection: NO (the image contains no such imaging artefact).
    Radio-galaxy morphology (FR-I/FR-II): FR-II (an edge-brightened radio galaxy whose lobes are brightest
    far from the core, with hotspots at the ends of powerful, well-collimated jets).
    """
    sentences = []
    for task_id in sorted(labels):
        task = get_task(task_id)
        chosen = labels[task_id]
        if chosen is None:
            continue
        definitions = task.class_definitions or {}
        if not chosen:
            sentences.append(f"{task.name[:1].upper()}{task.name[1:]}: none of "
                             f"{', '.join(task.labels)}.")
            continue
        parts = []
        for label in chosen:
            text = definitions.get(label)
            parts.append(f"{label} ({text})" if text else label)
        sentences.append(f"{task.name[:1].upper()}{task.name[1:]}: {'; '.join(parts)}.")
    return " ".join(sentences)


def _safe_name(item_id):
    name = _SAFE.sub("_", str(item_id)).strip("._")
    return name or "image"


def _is_empty(value):
    if value is None:
        return True
    if np.ma.is_masked(value):
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    if isinstance(value, (list, tuple, np.ndarray)):
        return False
    return str(value).strip().upper() in _EMPTY


def _as_list(value):
    if isinstance(value, (list, tuple, np.ndarray)):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(",") if v.strip()]


class _LabelReader:
    """Raw label values (strings, lists, tag lists) -> task labels, collecting unknown values."""

    def __init__(self, label_map):
        self.map = {str(k).strip().upper(): str(v).strip() for k, v in (label_map or {}).items()}
        self.unknown = {}

    def _canonical(self, task, raw):
        mapped = self.map.get(raw.upper(), raw)
        if task.multilabel and mapped.upper() == task.none_label.upper():
            return None
        try:
            return task.labels[task.label_index(mapped)]
        except InputError:
            return False

    def labels(self, task, raw, *, tags=None, where=""):
        """Tuple of labels of ``task`` (``()`` is NONE for multi-label tasks), or None (no label)."""
        if tags is True:
            return labels_from_tags(task, _as_list(raw))
        if _is_empty(raw):
            return None
        values = _as_list(raw)
        if not values:
            return None
        found = [self._canonical(task, v) for v in values]
        if all(f is not False for f in found):
            chosen = tuple(label for label in task.labels if label in {f for f in found if f})
            if not task.multilabel and len(chosen) != 1:
                msg = f"task {task.id} is single-label but {where} gives the labels {values!r}"
                raise InputError(msg)
            return chosen
        if tags is None and task.id in ("B1", "B3", "B4", "B5"):
            upper = {v.upper().replace("_", "-") for v in values}
            if upper <= set(TAG_NAMES):  # a tag list: radio-llava's tag rules
                return labels_from_tags(task, values)
        for value, f in zip(values, found):
            if f is False:
                key = (task.id, value)
                self.unknown[key] = self.unknown.get(key, 0) + 1
        return None

    def check(self, where):
        if not self.unknown:
            return
        by_task = {}
        for (task_id, value), n in sorted(self.unknown.items()):
            by_task.setdefault(task_id, []).append(f"{value!r} ({n})")
        details = "; ".join(f"task {t} ({', '.join(get_task(t).labels)}): {', '.join(v)}"
                            for t, v in by_task.items())
        first_task, first_value = next(iter(sorted(self.unknown)))
        msg = (f"labels in {where} that are not labels of the task: {details}; map them with a label map, "
               f"e.g. --label-map {first_value}={get_task(first_task).labels[0]}")
        raise InputError(msg)


def _split_of(value, where):
    return _split_name("" if _is_empty(value) else value, where)


@dataclass
class _Item:
    """One labelled image before writing."""

    id: str
    labels: dict  # task id -> tuple of labels (or None: no label for that task)
    split: str = ""
    rgb: np.ndarray = None  # uint8 (H, W, 3)
    fits_source: object = None  # a path to copy, or an HDU to write
    caption: str = None
    sname: str = None


@dataclass
class DatasetResult:
    """What :func:`make_dataset` wrote.

    Attributes
    ----------
    output_dir : pathlib.Path
    n_images : int
        Images written.
    n_records : dict
        Conversation records per split.
    counts : dict
        ``{task: {split: {label: n}}}`` (multi-label tasks count each label, NONE for none).
    files : dict
        Written files: ``'conversations'`` (split -> path), ``'datalists'`` (task -> path),
        ``'datalists_heldout'`` (task -> path), ``'manifest'`` (dataset.json).
    n_skipped : int
        Images dropped (outside the mosaic, blank, or no label for any task).
    """

    output_dir: Path
    n_images: int
    n_records: dict
    counts: dict
    files: dict = field(default_factory=dict)
    n_skipped: int = 0


# ------------------------------------------------------------------------------------------------ sources
def _catalog_items(image, catalog, tasks, *, label_columns, tags_column, label_map, id_column, split_column,
                   caption_column, size, resample_to, fits, progress):
    from astropy.table import Table

    from ..catalog import read_catalog
    from ..cutouts import extract_cutouts
    from ..render import blank_mask, render

    where = "the catalogue table" if isinstance(catalog, Table) else str(catalog)
    table = read_catalog(catalog)
    columns = table.colnames
    label_columns = dict(label_columns or {})
    for key in list(label_columns):
        task_id = get_task(key).id
        if task_id != key:
            label_columns[task_id] = label_columns.pop(key)
    unknown_tasks = sorted(set(label_columns) - {t.id for t in tasks})
    if unknown_tasks:
        msg = (f"label columns given for task(s) {', '.join(unknown_tasks)} that are not among the requested "
               f"tasks ({', '.join(t.id for t in tasks)})")
        raise InputError(msg)
    if tags_column is None and "tags" in columns:
        tags_column = "tags"
    sources = {}
    for task in tasks:
        column = label_columns.get(task.id)
        if column is None:
            for candidate in (f"{task.id}_true", f"{task.id}_label", task.id, f"label_{task.id}"):
                if candidate in columns:
                    column = candidate
                    break
        if column is None and tags_column is not None and task.id in ("B1", "B3", "B4", "B5"):
            sources[task.id] = (tags_column, True)
            continue
        if column is None:
            hint = " or a tags column (B1, B3, B4, B5)" if task.id in ("B1", "B3", "B4", "B5") else ""
            msg = (f"no label column for task {task.id} in {where}: pass "
                   f"label_columns={{'{task.id}': COLUMN}} (--label-column {task.id}=COLUMN){hint}; "
                   f"columns: {', '.join(columns)}")
            raise InputError(msg)
        if column not in columns:
            msg = f"label column {column!r} (task {task.id}) is not in {where}; columns: {', '.join(columns)}"
            raise InputError(msg)
        sources[task.id] = (column, column == tags_column or None)
    for name, what in ((tags_column, "tags"), (id_column, "id"), (split_column, "split"),
                       (caption_column, "caption")):
        if name is not None and name not in columns:
            msg = f"{what} column {name!r} is not in {where}; columns: {', '.join(columns)}"
            raise InputError(msg)
    if id_column is None:
        id_column = next((c for c in ("name", "id", "source_id", "source_name", "sname") if c in columns),
                         None)
    if id_column:
        ids = [str(v).strip() for v in table[id_column]]
    else:
        ids = [f"row{i:06d}" for i in range(len(table))]
    reader = _LabelReader(label_map)
    rows = []
    for i in range(len(table)):
        labels = {}
        for task in tasks:
            column, tags = sources[task.id]
            labels[task.id] = reader.labels(task, table[column][i], tags=tags, where=f"{where} row {i}")
        rows.append(labels)
    reader.check(where)
    keep = np.array([any(v is not None for v in labels.values()) for labels in rows])
    if "position_ok" in columns:
        keep &= np.asarray(table["position_ok"], dtype=bool)
    n_unlabelled = int(len(table) - keep.sum())
    if not keep.any():
        msg = f"no source of {where} has both a usable position and a label for the requested tasks"
        raise InputError(msg)
    index = np.flatnonzero(keep)
    stack = extract_cutouts(image, table["skycoord"][index], size=size, resample_to=resample_to,
                            off_image="keep", progress=progress)
    blank = blank_mask(stack.data)
    usable = np.asarray(stack.valid, dtype=bool) & ~blank
    n_bad = int((~usable).sum())
    if n_bad:
        warnings.warn(f"{n_bad} source(s) of {where} have no usable cutout (outside the image or blank)",
                      RadioassistWarning)
    good = np.flatnonzero(usable)
    if not len(good):
        msg = f"no usable cutout for the sources of {where}"
        raise InputError(msg)
    rgb = render(stack.data[good], preset="radio-llava")
    items = []
    for k, j in enumerate(good):
        row = index[j]
        split = _split_of(table[split_column][row], where) if split_column else ""
        caption = None
        if caption_column is not None and not _is_empty(table[caption_column][row]):
            caption = str(table[caption_column][row]).strip()
        items.append(_Item(ids[row], rows[row], split, rgb[k], stack.to_hdu(j) if fits else None, caption,
                           ids[row] if id_column else None))
    source = {"kind": "mosaic+catalogue", "image": str(getattr(stack, "parent", None) or image),
              "catalog": where, "cutout_size_pix": int(stack.size),
              "label_columns": {t: c for t, (c, _) in sources.items()}}
    return items, n_unlabelled + n_bad, source


def _read_picture(path):
    from ..image import load_image
    from ..render import blank_mask, render

    name = str(path).lower()
    if name.endswith((".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = load_image(path)
            try:
                data = np.array(img.data, dtype=np.float32)
            finally:
                img.close()
    else:
        from PIL import Image
        with Image.open(path) as pic:
            data = np.asarray(pic.convert("L"), dtype=np.float32)
    if blank_mask(data[None])[0]:
        return None
    return render(data[None], preset="radio-llava")[0]


def _is_fits_name(path):
    return str(path).lower().endswith((".fits", ".fit", ".fts", ".fits.gz", ".fit.gz"))


def _strip_image_suffix(name):
    from .datasets import IMAGE_SUFFIXES

    for suffix in sorted(IMAGE_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def _datalist_items(path, tasks, *, label_map, caption_column, fits, progress):
    path = Path(path)
    entries = read_datalist(path, resolve_paths=True, check_files=True)
    reader = _LabelReader(label_map)
    raw_ids = []
    for entry in entries:
        first = Path(entry["filepaths"][0])
        try:
            relative = first.relative_to(path.parent.resolve()) if first.is_absolute() else first
        except ValueError:
            relative = first
        raw_ids.append(_strip_image_suffix(str(relative)))
    scalar_ids = [e.get("id") for e in entries]
    if all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in scalar_ids) and \
            len({str(v) for v in scalar_ids}) == len(entries):
        ids = [str(v) for v in scalar_ids]
    else:
        ids = raw_ids
    labelled = []
    for i, entry in enumerate(entries):
        labels = {task.id: reader.labels(task, entry["label"], where=f"{path} entry {i}") for task in tasks}
        labelled.append(labels)
    reader.check(str(path))
    items, n_skipped = [], 0
    iterator = range(len(entries))
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc="reading images", unit="img", leave=False)
    for i in iterator:
        entry = entries[i]
        if all(v is None for v in labelled[i].values()):
            n_skipped += 1
            continue
        file = entry["filepaths"][0]
        try:
            rgb = _read_picture(file)
        except Exception as exc:
            msg = f"{path}: entry {i}: cannot read image {file}: {exc}"
            raise InputError(msg) from exc
        if rgb is None:
            n_skipped += 1
            log.info("skipping blank image %s", file)
            continue
        caption = entry.get(caption_column) if caption_column else None
        items.append(_Item(ids[i], labelled[i], _split_of(entry.get("split", ""), f"{path} entry {i}"), rgb,
                           file if (fits and _is_fits_name(file)) else None,
                           str(caption).strip() if caption else None, entry.get("sname")))
    if n_skipped:
        warnings.warn(f"{n_skipped} entr(ies) of {path} skipped (blank image or no label for the tasks)",
                      RadioassistWarning)
    return items, n_skipped, {"kind": "datalist", "datalist": str(path)}


def _folder_items(path, tasks, *, manifest, label_from_filename, label_map, file_column, label_column,
                  split_column, fits, progress):
    from .datasets import load_image_folder

    if len(tasks) != 1:
        msg = (f"a folder of labelled images gives the labels of one task, got {len(tasks)} tasks "
               f"({', '.join(t.id for t in tasks)}); make one dataset per task")
        raise InputError(msg)
    task = tasks[0]
    root = Path(path)
    if root.is_file() and root.suffix.lower() == ".csv":
        manifest, root = root, root.parent
    data = load_image_folder(root, task=task, manifest=manifest, label_from_filename=label_from_filename,
                             label_map=label_map, file_column=file_column, label_column=label_column,
                             split_column=split_column, progress=progress)
    items = []
    for k, file in enumerate(data.files):
        file = Path(file)
        try:
            relative = file.resolve().relative_to(root.resolve())
        except ValueError:
            relative = Path(file.name)
        name = _strip_image_suffix(str(relative))
        target = data.targets[k]
        if task.multilabel:
            labels = tuple(label for label, on in zip(task.labels, target) if on)
        else:
            labels = (task.labels[int(target)],)
        grey = data.images[k]
        items.append(_Item(name.replace("\\", "/"), {task.id: labels}, str(data.splits[k]),
                           np.repeat(grey[..., None], 3, axis=-1), str(file) if (fits and _is_fits_name(file))
                           else None))
    return items, 0, {"kind": "image folder", "folder": str(root),
                      "manifest": None if manifest is None else str(manifest)}


# ------------------------------------------------------------------------------------------------ main
def _parse_label_columns(label_columns, tasks):
    if label_columns is None:
        return {}
    if isinstance(label_columns, str):
        label_columns = [label_columns]
    if isinstance(label_columns, dict):
        return {str(k): str(v) for k, v in label_columns.items()}
    out = {}
    for item in label_columns:
        if "=" in item:
            key, column = item.split("=", 1)
            out[get_task(key.strip()).id] = column.strip()
        elif len(tasks) == 1:
            out[tasks[0].id] = item.strip()
        else:
            msg = (f"label column {item!r}: with several tasks give TASK=COLUMN (e.g. B6=B6_true), "
                   f"tasks: {', '.join(t.id for t in tasks)}")
            raise InputError(msg)
    return out


def _check_output(output_dir, overwrite):
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        msg = f"output folder {out} is a file"
        raise InputError(msg)
    existing = [p for p in (out / "dataset.json", out / "train.json", out / "valid.json", out / _PNG_DIR)
                if p.exists()]
    if existing and not overwrite:
        msg = (f"output folder {out} already holds a dataset ({existing[0].name}); pass overwrite=True "
               "(--overwrite) to replace it")
        raise InputError(msg)
    if existing:
        for old in out.glob("datalist_*.json"):
            old.unlink()
        for name in ("train.json", "valid.json", "test.json", "dataset.json"):
            if (out / name).exists():
                (out / name).unlink()
        if (out / _PNG_DIR).is_dir():
            shutil.rmtree(out / _PNG_DIR)
    return out


def _label_key(task, labels):
    if labels is None:
        return None
    if task.multilabel:
        return ",".join(labels) if labels else task.none_label
    return labels[0]


def make_dataset(source, output_dir, *, tasks, catalog=None, label_columns=None, tags_column=None,
                 label_map=None, id_column=None, split_column=None, caption_column=None, captions=False,
                 size=150, resample_to=None, fits=False, paraphrases=True, multi_turn=False,
                 prompt_version="v2", with_definitions=False, val_fraction=0.1, seed=0, manifest=None,
                 label_from_filename=None, file_column=None, label_column=None, overwrite=False,
                 progress=False):
    """Write cutout images, LLaVA conversations and benchmark datalists for instruction fine-tuning.

    Parameters
    ----------
    source : str, path-like or image
        A mosaic (with ``catalog=``), a folder of labelled images or a CSV
        manifest, or a radio-llava datalist ``.json``.
    output_dir : str or path-like
        Output folder (see the module documentation for its layout).
    tasks : str or sequence of str
        Task ids (``'B3'``, ``['B3', 'B6']``...).
    catalog : str, path-like or `~astropy.table.Table`, optional
        Labelled source catalogue of the mosaic ``source``.
    label_columns : dict or sequence of str, optional
        Catalogue column per task: ``{'B6': 'B6_true'}``, or ``['B6=B6_true']``
        (a bare column name when there is one task).  Columns named
        ``<TASK>_true``, ``<TASK>_label`` or ``<TASK>`` are found by themselves.
        Values: a label, comma-separated labels (multi-label tasks, ``NONE``
        for none), or a tag list (B1/B3/B4/B5).
    tags_column : str, optional
        Catalogue column of per-source tags (``'COMPACT,RADIO-GALAXY'``); gives
        B1/B3/B4/B5 labels when no label column is found (a ``tags`` column is
        used by default).
    label_map : dict, optional
        Raw label -> task label (``{'I': 'FR-I', 'II': 'FR-II'}``), for every task.
    id_column : str, optional
        Catalogue column of source names, used as ids and file names (default:
        ``name``/``id``/``source_id``... when present, else the row number).
    split_column : str, optional
        Catalogue or manifest column with train/valid/test; rows without one are split by ``val_fraction``.
    caption_column : str, optional
        Catalogue column or datalist key with a caption per image (adds a caption turn).
    captions : bool, optional
        Add a caption turn generated from the labels (:func:`auto_caption`) to
        images that have no caption of their own.
    size : int or `~astropy.units.Quantity`, optional
        Cutout side for mosaics (pixels, or an angle).
    resample_to : `~astropy.units.Quantity`, optional
        Resample mosaic cutouts to this pixel scale.
    fits : bool, optional
        Also write the float cutouts as FITS (mosaics), or copy the source FITS
        files (folders, datalists); the datalists then point to the FITS files.
    paraphrases : bool, optional
        Ask half of the questions with a paraphrased question sentence
        (:data:`QUESTION_PARAPHRASES`), chosen by a hash of the seed, task and id.
    multi_turn : bool, optional
        One record per image with every task (True), or one record per image
        and task, the way the backends ask (False, default).
    prompt_version : {'v2', 'v1'}, optional
        Prompt version (v2: what radio-llava was fine-tuned with and what the
        ``llava`` backend asks by default).
    with_definitions : bool, optional
        Include the class definitions in the prompts.
    val_fraction : float, optional
        Fraction of the images without a given split held out for validation
        (stratified by the label of the first task).
    seed : int, optional
        Seed of the split and of the paraphrase choice.
    manifest, label_from_filename, file_column, label_column : optional
        For folders of images: see `radioassist.training.load_image_folder`
        (``label_column`` is the manifest column of labels).
    overwrite : bool, optional
        Replace a dataset already in ``output_dir``.
    progress : bool, optional
        Show progress bars.

    Returns
    -------
    `DatasetResult`

    Raises
    ------
    InputError
        Unknown task, missing columns, labels that are not labels of a task
        (listing them), an existing dataset without ``overwrite``, no usable image.

    Examples
    --------
    >>> import tempfile
    >>> from radioassist.simulate import simulate_sky
    >>> from radioassist.training.make_dataset import make_dataset
    >>> sky = simulate_sky(shape=(256, 256), n_sources=12, seed=1)
    >>> result = make_dataset(sky.image, tempfile.mkdtemp(), tasks=['B3'], catalog=sky.catalog, size=32)
    >>> sorted(result.files['conversations'])
    ['train', 'valid']
    """
    if isinstance(tasks, str):
        tasks = [tasks]
    tasks = [get_task(t) for t in tasks]
    if not tasks:
        msg = "make_dataset needs at least one task (tasks=['B3'])"
        raise InputError(msg)
    if len({t.id for t in tasks}) != len(tasks):
        msg = f"tasks are repeated: {[t.id for t in tasks]}"
        raise InputError(msg)
    if not 0 <= float(val_fraction) < 1:
        msg = f"val_fraction must be in [0, 1), got {val_fraction!r}"
        raise InputError(msg)
    build_prompt(tasks[0], version=prompt_version)  # validates the version
    out = _check_output(output_dir, overwrite)
    from .datasets import parse_label_map
    label_map = parse_label_map(label_map)

    if catalog is not None:
        items, n_skipped, source_info = _catalog_items(
            source, catalog, tasks, label_columns=_parse_label_columns(label_columns, tasks),
            tags_column=tags_column, label_map=label_map, id_column=id_column, split_column=split_column,
            caption_column=caption_column, size=size, resample_to=resample_to, fits=fits, progress=progress)
    else:
        if not isinstance(source, (str, Path)):
            msg = (f"a {type(source).__name__} source is an image: give its labelled catalogue too "
                   "(catalog=), or give a folder of images, a CSV manifest or a datalist .json")
            raise InputError(msg)
        path = Path(source)
        if not path.exists():
            msg = (f"source {source!r} does not exist; give a folder of images, a CSV manifest, a datalist "
                   ".json, or a mosaic with catalog=")
            raise InputError(msg)
        if label_columns is not None or tags_column is not None:
            msg = "label_columns/tags_column apply to catalogues; give catalog= (--catalog) with the mosaic"
            raise InputError(msg)
        if path.is_file() and path.suffix.lower() == ".json":
            items, n_skipped, source_info = _datalist_items(path, tasks, label_map=label_map,
                                                            caption_column=caption_column, fits=fits,
                                                            progress=progress)
        elif path.is_dir() or path.suffix.lower() == ".csv":
            items, n_skipped, source_info = _folder_items(
                path, tasks, manifest=manifest, label_from_filename=label_from_filename, label_map=label_map,
                file_column=file_column, label_column=label_column, split_column=split_column, fits=fits,
                progress=progress)
        else:
            msg = (f"{path} is a single image: to make a dataset from a mosaic give its labelled catalogue "
                   "too (catalog=, --catalog); otherwise give a folder of images, a CSV manifest or a "
                   "datalist .json")
            raise InputError(msg)

    # unique ids and file names
    names = {}
    for item in items:
        name = _safe_name(item.id)
        if name in names:
            msg = (f"two images have the same id {item.id!r} (or the same file name {name!r}); ids must be "
                   "unique (choose another id column)")
            raise InputError(msg)
        names[name] = item
    # splits: keep given ones, split the others (stratified by the first task's label)
    free = [item for item in items if not item.split]
    if free:
        strata = []
        for item in free:
            key = next((_label_key(t, item.labels[t.id]) for t in tasks if item.labels.get(t.id) is not None),
                       None)
            strata.append(key)
        for item, split in zip(free, split_ids([i.id for i in free], strata, val_fraction=val_fraction,
                                               seed=seed)):
            item.split = split

    image_dir = out / _PNG_DIR
    image_dir.mkdir(parents=True, exist_ok=True)
    from PIL import Image
    iterator = items
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(items, desc="writing images", unit="img", leave=False)
    records = {}
    datalists = {t.id: [] for t in tasks}
    counts = {t.id: {} for t in tasks}
    for item in iterator:
        name = _safe_name(item.id)
        png = f"{_PNG_DIR}/{name}.png"
        Image.fromarray(np.ascontiguousarray(item.rgb), mode="RGB").save(out / png)
        listed = png
        if fits and item.fits_source is not None:
            fits_name = f"{_PNG_DIR}/{name}.fits"
            if isinstance(item.fits_source, (str, Path)):
                source_name = str(item.fits_source)
                if source_name.lower().endswith(".gz"):
                    fits_name += ".gz"
                shutil.copyfile(source_name, out / fits_name)
            else:
                item.fits_source.writeto(out / fits_name, overwrite=True)
            listed = fits_name
        turns = []
        for task in tasks:
            labels = item.labels.get(task.id)
            if labels is None:
                continue
            variant = _paraphrase_variant(task, item.id, seed) if paraphrases else 0
            question = task_question(task, variant=variant, version=prompt_version,
                                     with_definitions=with_definitions)
            turns.append((task.id, question, format_answer(task, labels)))
            key = _label_key(task, labels)
            split_counts = counts[task.id].setdefault(item.split, {})
            for label in (labels if task.multilabel and labels else [key]):
                split_counts[label] = split_counts.get(label, 0) + 1
            entry = {"filepaths": [listed], "label": list(labels) if task.multilabel else labels[0],
                     "id": item.id, "split": item.split}
            if task.multilabel and not labels:
                entry["label"] = [task.none_label]
            if item.sname:
                entry["sname"] = str(item.sname)
            datalists[task.id].append(entry)
        caption = item.caption
        if caption is None and captions:
            caption = auto_caption({t.id: item.labels.get(t.id) for t in tasks})
        if caption:
            question = CAPTION_QUESTIONS[int(_unit_hash("caption", seed, item.id) * len(CAPTION_QUESTIONS))]
            turns.append(("caption", question, caption))
        split_records = records.setdefault(item.split, [])
        if multi_turn:
            split_records.append(conversation_record(item.id, png, [(q, a) for _, q, a in turns]))
        else:
            for key, question, answer in turns:
                split_records.append(conversation_record(f"{item.id}-{key}", png, [(question, answer)]))

    files = {"conversations": {}, "datalists": {}, "datalists_heldout": {}}
    for split in sorted(records, key=lambda s: ("train", "valid", "test", "").index(s)):
        files["conversations"][split] = write_conversations(records[split], out / f"{split}.json",
                                                            overwrite=True)
    for task in tasks:
        entries = datalists[task.id]
        if not entries:
            continue
        files["datalists"][task.id] = write_datalist(entries, out / f"datalist_{task.id}.json",
                                                     overwrite=True)
        for split in ("valid", "test"):
            held = [e for e in entries if e["split"] == split]
            if held:
                path = write_datalist(held, out / f"datalist_{task.id}_{split}.json", overwrite=True)
                files["datalists_heldout"].setdefault(task.id, path)
    from ..version import __version__
    manifest_info = {
        "radioassist_version": __version__,
        "source": source_info,
        "tasks": [t.id for t in tasks],
        "prompt_version": prompt_version,
        "with_definitions": bool(with_definitions),
        "paraphrases": bool(paraphrases),
        "multi_turn": bool(multi_turn),
        "captions": "auto" if captions else (caption_column or None),
        "render_preset": "radio-llava",
        "fits": bool(fits),
        "val_fraction": float(val_fraction),
        "seed": int(seed),
        "label_map": label_map or None,
        "n_images": len(items),
        "n_skipped": int(n_skipped),
        "n_records": {split: len(r) for split, r in records.items()},
        "counts": counts,
        "system_prompt_note": ("the records hold no system turn; radioassist finetune adds the radio system "
                               "prompt, as the llava backend does when asking"),
    }
    manifest_path = out / "dataset.json"
    with open(manifest_path, "w", encoding="utf-8") as fh:
        json.dump(manifest_info, fh, indent=1)
        fh.write("\n")
    files["manifest"] = manifest_path
    log.info("wrote %d images and %s conversation records to %s", len(items),
             ", ".join(f"{len(r)} {s}" for s, r in records.items()), out)
    n_records = {split: len(r) for split, r in records.items()}
    return DatasetResult(out, len(items), n_records, counts, files, int(n_skipped))
