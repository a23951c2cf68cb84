"""Read and write JSON files with errors that name the file and what it is (datalists, sets, checkpoints)."""
import json
import os
from pathlib import Path

from .exceptions import InputError

__all__ = ["read_json", "write_json"]


def read_json(path, what):
    """The content of a JSON file; an `~radioassist.InputError` naming ``what`` and ``path`` if it cannot be read.

    Parameters
    ----------
    path : str or path
        The file.
    what : str
        What the file is, for the message (e.g. ``'datalist'``).
    """
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        msg = f"{what} {path} does not exist"
        raise InputError(msg) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        msg = f"{what} {path} is not valid JSON: {exc}"
        raise InputError(msg) from None
    except OSError as exc:
        msg = f"cannot read {what} {path}: {exc}"
        raise InputError(msg) from None


def write_json(content, path, *, overwrite, what):
    """Write ``content`` as JSON atomically (a temporary file, then a rename); returns the path.

    Parameters
    ----------
    content : dict or list
        JSON-serialisable content.
    path : str or path
        The file.
    overwrite : bool
        Replace an existing file; otherwise an existing file is an error.
    what : str
        What the file is, for the message.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        msg = f"{what} {path} already exists; pass overwrite=True (--overwrite) to replace it"
        raise InputError(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(content, fh, indent=1, ensure_ascii=False)
        fh.write("\n")
    os.replace(tmp, path)
    return path
