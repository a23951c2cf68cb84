"""Read and write the file formats of radio-llava: benchmark datalists and LLaVA conversations.

Benchmark datalist
    A JSON object with a ``data`` list, one entry per image::

        {"data": [{"filepaths": ["img.fits"], "sname": "J1234+5678", "label": "FR-II", "id": 2},
                  {"filepaths": ["tile_17.png"], "label": ["EXTENDED", "RADIO-GALAXY"], "id": [4, 7]}]}

    ``filepaths`` (a non-empty list of file names; the first is the image) and
    ``label`` (a string, or a list of strings: several labels, or the image's
    tags for the tasks whose labels derive from tags) are required; ``sname``
    (source name) and ``id`` (an integer, a string or a list of them) are
    optional, and so is ``split`` (``train``/``valid``/``test``, an extension
    read by :func:`radioassist.training.load_datalist`).  Other keys are kept.

LLaVA conversations (instruction-tuning data)
    A JSON list of records::

        [{"id": "SIM-00001", "image": "images/SIM-00001.png",
          "conversations": [{"from": "human", "value": "<image>\\nDo you see ...?"},
                            {"from": "gpt", "value": "YES"}]}]

    Turns alternate ``human`` / ``gpt``, starting with ``human`` (an optional
    leading ``system`` turn is accepted); the image placeholder ``<image>``
    appears exactly once per image of the record (``image`` may be a string
    or a list of strings; a record without ``image`` is text only).

Readers validate the structure and raise `~radioassist.exceptions.InputError`
naming the file, the entry index and what is wrong; writers validate what they
are given the same way before writing anything.
"""
from pathlib import Path

from .._jsonio import read_json as _read_json
from .._jsonio import write_json as _write_json
from ..exceptions import InputError

__all__ = ["IMAGE_TOKEN", "read_datalist", "write_datalist", "validate_datalist", "read_conversations",
           "write_conversations", "validate_conversations", "conversation_record"]

#: The image placeholder of LLaVA conversation turns.
IMAGE_TOKEN = "<image>"

#: Split names accepted in datalists, manifests, folder layouts and catalogues -> the split they mean.
_SPLIT_ALIASES = {"train": "train", "training": "train", "valid": "valid", "val": "valid", "validation": "valid",
                  "dev": "valid", "test": "test", "testing": "test", "": ""}
_ROLES = ("human", "gpt")


def _split_name(value, where):
    """The split (``'train'``, ``'valid'``, ``'test'`` or ``''`` for none) that a split name means."""
    key = str(value).strip().lower()
    if key in ("nan", "none"):
        key = ""
    if key not in _SPLIT_ALIASES:
        msg = f"unknown split {value!r} in {where}; use train, valid (or val) or test"
        raise InputError(msg)
    return _SPLIT_ALIASES[key]


def _is_text(value):
    return isinstance(value, str)


def _is_id(value):
    return (isinstance(value, (int, str)) and not isinstance(value, bool)) or (
        isinstance(value, list) and all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in value))


# --------------------------------------------------------------------------------------------- datalists
def _check_datalist_entry(entry, i, where, *, require_label):
    prefix = f"{where}: entry {i}"
    if not isinstance(entry, dict):
        msg = f"{prefix} must be a JSON object with 'filepaths' and 'label', got {type(entry).__name__}"
        raise InputError(msg)
    out = dict(entry)
    files = entry.get("filepaths")
    if files is None and "filepath" in entry:  # a single-file spelling seen in the wild
        files = [entry["filepath"]]
        out.pop("filepath")
    if files is None:
        msg = f"{prefix} has no 'filepaths' (a list of image file names)"
        raise InputError(msg)
    if _is_text(files):
        files = [files]
    if not isinstance(files, list) or not files or not all(_is_text(f) and f.strip() for f in files):
        msg = f"{prefix}: 'filepaths' must be a non-empty list of file names, got {files!r}"
        raise InputError(msg)
    out["filepaths"] = list(files)
    if "label" in entry:
        label = entry["label"]
        if _is_text(label):
            if not label.strip():
                msg = f"{prefix}: 'label' is an empty string"
                raise InputError(msg)
        elif isinstance(label, list):
            if not all(_is_text(v) and v.strip() for v in label):
                msg = f"{prefix}: 'label' must be a string or a list of strings, got {label!r}"
                raise InputError(msg)
        else:
            msg = f"{prefix}: 'label' must be a string or a list of strings, got {label!r}"
            raise InputError(msg)
    elif require_label:
        msg = f"{prefix} has no 'label'"
        raise InputError(msg)
    if "sname" in entry and entry["sname"] is not None and not _is_text(entry["sname"]):
        msg = f"{prefix}: 'sname' must be a string, got {entry['sname']!r}"
        raise InputError(msg)
    if "id" in entry and entry["id"] is not None and not _is_id(entry["id"]):
        msg = f"{prefix}: 'id' must be an integer, a string or a list of them, got {entry['id']!r}"
        raise InputError(msg)
    if "split" in entry:
        split = entry["split"]
        if not _is_text(split) or split.strip().lower() not in _SPLIT_ALIASES:
            msg = f"{prefix}: 'split' must be one of train, valid, test, got {split!r}"
            raise InputError(msg)
    return out


def validate_datalist(content, *, where="datalist", require_label=True):
    """Check a datalist (``{"data": [...]}``) and return its entries as a list of dicts.

    Parameters
    ----------
    content : dict or list
        The parsed JSON: an object with a ``data`` list (a bare list of
        entries is accepted too).
    where : str, optional
        How to name the datalist in error messages (its file name).
    require_label : bool, optional
        Every entry must have a ``label`` (True by default).

    Returns
    -------
    entries : list of dict
        Copies of the entries; ``filepaths`` is always a list.

    Raises
    ------
    InputError
        Naming ``where``, the entry index and what is wrong.

    Examples
    --------
    >>> from radioassist.training.formats import validate_datalist
    >>> validate_datalist({'data': [{'filepaths': ['a.fits'], 'label': 'FR-I'}]})
    [{'filepaths': ['a.fits'], 'label': 'FR-I'}]
    >>> validate_datalist({"data": [{"filepaths": []}]}, where="x.json")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    radioassist.exceptions.InputError: x.json: entry 0: 'filepaths' must be a non-empty list of file names...
    """
    if isinstance(content, dict):
        if "data" not in content:
            keys = ", ".join(map(repr, content)) or "none"
            msg = f"{where} must be a JSON object with a 'data' list of entries (keys found: {keys})"
            raise InputError(msg)
        items = content["data"]
    else:
        items = content
    if not isinstance(items, list):
        msg = f"{where}: 'data' must be a list of entries, got {type(items).__name__}"
        raise InputError(msg)
    return [_check_datalist_entry(entry, i, where, require_label=require_label)
            for i, entry in enumerate(items)]


def read_datalist(path, *, require_label=True, resolve_paths=False, check_files=False):
    """Read a radio-llava benchmark datalist.

    Parameters
    ----------
    path : str or path-like
        The JSON file.
    require_label : bool, optional
        Every entry must have a ``label``.
    resolve_paths : bool, optional
        Make relative ``filepaths`` absolute, relative to the datalist's folder.
    check_files : bool, optional
        Raise if the first file of an entry does not exist (relative paths are
        looked up next to the datalist).

    Returns
    -------
    entries : list of dict
        One dict per entry (``filepaths`` always a list of str).

    Raises
    ------
    InputError
        Unreadable file or invalid structure (the message names the file, the
        entry index and the problem).
    """
    path = Path(path)
    entries = validate_datalist(_read_json(path, "datalist"), where=str(path), require_label=require_label)
    if resolve_paths or check_files:
        for i, entry in enumerate(entries):
            resolved = [str(f if Path(f).is_absolute() else path.parent / f) for f in entry["filepaths"]]
            if check_files and not Path(resolved[0]).is_file():
                msg = (f"{path}: entry {i}: image file {entry['filepaths'][0]} does not exist "
                       f"(looked for {resolved[0]})")
                raise InputError(msg)
            if resolve_paths:
                entry["filepaths"] = resolved
    return entries


def write_datalist(entries, path, *, overwrite=False):
    """Write entries as a radio-llava benchmark datalist (``{"data": [...]}``).

    Parameters
    ----------
    entries : list of dict
        Entries with ``filepaths`` and ``label`` (and optionally ``sname``,
        ``id``, ``split`` or other keys); validated before writing.
    path : str or path-like
        Output JSON file (its folder is created).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from radioassist.training.formats import read_datalist, write_datalist
    >>> path = pathlib.Path(tempfile.mkdtemp()) / 'b6.json'
    >>> _ = write_datalist([{'filepaths': ['a.fits'], 'sname': 'J1', 'label': 'FR-II', 'id': 0}], path)
    >>> read_datalist(path)[0]['label']
    'FR-II'
    """
    checked = validate_datalist(list(entries), where=f"datalist for {path}")
    return _write_json({"data": checked}, path, overwrite=overwrite, what="datalist")


# ------------------------------------------------------------------------------------------ conversations
def _images_of(record, prefix):
    if "image" not in record or record["image"] is None:
        return []
    image = record["image"]
    if _is_text(image):
        if not image.strip():
            msg = f"{prefix}: 'image' is an empty string"
            raise InputError(msg)
        return [image]
    if isinstance(image, list) and image and all(_is_text(v) and v.strip() for v in image):
        return list(image)
    msg = f"{prefix}: 'image' must be a file name or a list of file names, got {image!r}"
    raise InputError(msg)


def _check_record(record, i, where):
    prefix = f"{where}: record {i}"
    if not isinstance(record, dict):
        msg = (f"{prefix} must be a JSON object with 'id', 'image' and 'conversations', "
               f"got {type(record).__name__}")
        raise InputError(msg)
    if "id" not in record or not _is_id(record["id"]) or isinstance(record["id"], list):
        msg = f"{prefix}: 'id' must be a string or an integer, got {record.get('id', '(missing)')!r}"
        raise InputError(msg)
    images = _images_of(record, prefix)
    turns = record.get("conversations")
    if not isinstance(turns, list) or not turns:
        msg = f"{prefix} (id {record['id']!r}): 'conversations' must be a non-empty list of turns"
        raise InputError(msg)
    n_tokens = 0
    expected = 0
    start = 0
    for j, turn in enumerate(turns):
        where_turn = f"{prefix} (id {record['id']!r}), turn {j}"
        if not isinstance(turn, dict) or "from" not in turn or "value" not in turn:
            msg = f"{where_turn} must be an object with 'from' and 'value'"
            raise InputError(msg)
        role, value = turn["from"], turn["value"]
        if j == 0 and role == "system":
            start = 1
        elif role not in _ROLES:
            msg = f"{where_turn}: 'from' must be 'human' or 'gpt', got {role!r}"
            raise InputError(msg)
        else:
            wanted = _ROLES[expected]
            if role != wanted:
                msg = f"{where_turn}: expected a '{wanted}' turn (turns alternate human, gpt), got {role!r}"
                raise InputError(msg)
            expected = 1 - expected
        if not _is_text(value):
            msg = f"{where_turn}: 'value' must be a string, got {type(value).__name__}"
            raise InputError(msg)
        if role == "gpt":
            if IMAGE_TOKEN in value:
                msg = f"{where_turn}: a 'gpt' answer must not contain {IMAGE_TOKEN}"
                raise InputError(msg)
            if not value.strip():
                msg = f"{where_turn}: empty 'gpt' answer"
                raise InputError(msg)
        n_tokens += value.count(IMAGE_TOKEN) if role != "gpt" else 0
    if len(turns) - start < 2 or (len(turns) - start) % 2:
        msg = (f"{prefix} (id {record['id']!r}): 'conversations' must hold human/gpt pairs "
               f"(got {len(turns) - start} turns after any system turn)")
        raise InputError(msg)
    if n_tokens != len(images):
        msg = (f"{prefix} (id {record['id']!r}): {len(images)} image(s) but {n_tokens} {IMAGE_TOKEN} "
               "placeholder(s) in the human turns; put one per image (e.g. '<image>\\n' before the first "
               "question)")
        raise InputError(msg)
    return dict(record, conversations=[dict(t) for t in turns])


def validate_conversations(content, *, where="conversations", unique_ids=True):
    """Check LLaVA conversation records and return them as a list of dicts.

    Parameters
    ----------
    content : list
        The parsed JSON: a list of records.
    where : str, optional
        How to name the data in error messages (its file name).
    unique_ids : bool, optional
        Record ids must be unique (True).

    Returns
    -------
    records : list of dict
        Copies of the records (and of their turns).

    Raises
    ------
    InputError
        Naming ``where``, the record index (and turn) and what is wrong.

    Examples
    --------
    >>> from radioassist.training.formats import validate_conversations
    >>> record = {'id': 'a', 'image': 'a.png',
    ...           'conversations': [{'from': 'human', 'value': '<image>\\nFR-I or FR-II?'},
    ...                             {'from': 'gpt', 'value': 'FR-II'}]}
    >>> len(validate_conversations([record]))
    1
    >>> validate_conversations([dict(record, conversations=record['conversations'][:1])],
    ...                        where='t.json')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    radioassist.exceptions.InputError: t.json: record 0 (id 'a'): 'conversations' must hold human/gpt pairs...
    """
    if not isinstance(content, list):
        msg = f"{where} must be a JSON list of conversation records, got {type(content).__name__}"
        raise InputError(msg)
    records = [_check_record(record, i, where) for i, record in enumerate(content)]
    if unique_ids:
        seen = {}
        for i, record in enumerate(records):
            key = str(record["id"])
            if key in seen:
                msg = f"{where}: record {i} repeats the id {record['id']!r} of record {seen[key]}"
                raise InputError(msg)
            seen[key] = i
    return records


def read_conversations(path, *, check_images=False, resolve_paths=False, unique_ids=True):
    """Read LLaVA conversation records (instruction-tuning data) from a JSON file.

    Parameters
    ----------
    path : str or path-like
        The JSON file (a list of records).
    check_images : bool, optional
        Raise if an image file does not exist (relative names are looked up
        next to the JSON file).
    resolve_paths : bool, optional
        Make relative ``image`` paths absolute, relative to the JSON file's folder.
    unique_ids : bool, optional
        Record ids must be unique.

    Returns
    -------
    records : list of dict
        One dict per record (``image`` made absolute with ``resolve_paths``).

    Raises
    ------
    InputError
        Unreadable file or invalid structure (file, record index, turn and problem).
    """
    path = Path(path)
    content = _read_json(path, "conversation file")
    records = validate_conversations(content, where=str(path), unique_ids=unique_ids)
    if check_images or resolve_paths:
        for i, record in enumerate(records):
            images = _images_of(record, f"{path}: record {i}")
            resolved = [str(f if Path(f).is_absolute() else path.parent / f) for f in images]
            if check_images:
                for name, full in zip(images, resolved):
                    if not Path(full).is_file():
                        msg = (f"{path}: record {i} (id {record['id']!r}): image {name} does not exist "
                               f"(looked for {full})")
                        raise InputError(msg)
            if resolve_paths and images:
                record["image"] = resolved[0] if _is_text(record["image"]) else resolved
    return records


def write_conversations(records, path, *, overwrite=False):
    """Write LLaVA conversation records to a JSON file (validated first).

    Parameters
    ----------
    records : list of dict
        As made by :func:`conversation_record`.
    path : str or path-like
        Output JSON file, a list of records (its folder is created).
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : pathlib.Path
        The file written.
    """
    checked = validate_conversations(list(records), where=f"conversations for {path}")
    return _write_json(checked, path, overwrite=overwrite, what="conversation file")


def conversation_record(id, image, turns, **extra):
    """One LLaVA conversation record: ``turns`` are (question, answer) pairs about one image.

    ``<image>\\n`` is put before the first question when no question has it.

    Examples
    --------
    >>> from radioassist.training.formats import conversation_record
    >>> conversation_record('s1', 'images/s1.png', [('Is it FR-I or FR-II?', 'FR-II')])['conversations'][0]
    {'from': 'human', 'value': '<image>\\nIs it FR-I or FR-II?'}
    """
    turns = list(turns)
    if not turns:
        msg = f"conversation record {id!r} needs at least one (question, answer) pair"
        raise InputError(msg)
    conversations = []
    has_token = any(IMAGE_TOKEN in str(q) for q, _ in turns)
    for k, (question, answer) in enumerate(turns):
        question = str(question)
        if k == 0 and image is not None and not has_token:
            question = f"{IMAGE_TOKEN}\n{question}"
        conversations.append({"from": "human", "value": question})
        conversations.append({"from": "gpt", "value": str(answer)})
    record = {"id": id}
    if image is not None:
        record["image"] = str(image) if not isinstance(image, list) else [str(v) for v in image]
    record["conversations"] = conversations
    record.update(extra)
    return record
