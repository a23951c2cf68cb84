"""Checks and hashes of local model checkpoint folders, shared by every backend and trainer.

One place decides what a safe, complete transformers checkpoint folder is
(``config.json`` plus safetensors weights; pickle ``.bin`` weights only when the
user allows them), how weights are hashed for provenance, whether a model
argument names a local path or a hub id, and how a failed ``from_pretrained``
is reported (:func:`loading_model`).
"""
import contextlib
import hashlib
import re
from pathlib import Path

from ..exceptions import ModelError

__all__ = ["SAFE_WEIGHTS", "PICKLE_WEIGHTS", "file_sha256", "files_sha256", "weights_sha256",
           "check_checkpoint_folder", "looks_like_path", "clean_error", "loading_model"]

SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")


def file_sha256(path, *, limit=None):
    """SHA-256 of a file's bytes; above ``2 * limit`` bytes, of its size, head and tail only."""
    path = Path(path)
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as fh:
        if limit is None or size <= 2 * limit:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        else:
            h.update(str(size).encode())
            h.update(fh.read(limit))
            fh.seek(size - limit)
            h.update(fh.read(limit))
    return h.hexdigest()


def files_sha256(files):
    """One hash for a set of files: the file's own hash for one file, else that of the sorted
    ``name:hash`` lines (weight shards).  ``None`` for no file."""
    digests = [(Path(path).name, file_sha256(path)) for path in sorted(files)]
    if not digests:
        return None
    if len(digests) == 1:
        return digests[0][1]
    return hashlib.sha256("\n".join(f"{n}:{d}" for n, d in digests).encode()).hexdigest()


def weights_sha256(folder):
    """SHA-256 of the weight files of a checkpoint folder (safetensors, else pickle ``.bin``), or None."""
    folder = Path(folder)
    return files_sha256(sorted(folder.glob("*.safetensors")) or sorted(folder.glob("pytorch_model*.bin")))


def check_checkpoint_folder(path, *, allow_pickle=False, label=None):
    """Raise `~radioassist.ModelError` unless ``path`` is a complete checkpoint folder it is safe to load.

    Returns
    -------
    bool
        True when the folder has safetensors weights (load with ``use_safetensors=True``).
    """
    path = Path(path)
    label = label or str(path)
    if not path.is_dir():
        msg = f"model {label} is a file; pass the checkpoint folder that holds config.json and the weights"
        raise ModelError(msg)
    if not (path / "config.json").is_file():
        msg = f"model folder {label} has no config.json; it is not a transformers checkpoint"
        raise ModelError(msg)
    has_safe = any((path / name).is_file() for name in SAFE_WEIGHTS)
    has_pickle = any((path / name).is_file() for name in PICKLE_WEIGHTS)
    if not has_safe and not has_pickle:
        msg = (f"model folder {label} has no weight file (model.safetensors or pytorch_model.bin); "
               "the checkpoint is incomplete")
        raise ModelError(msg)
    if not has_safe and not allow_pickle:
        msg = (f"model folder {label} only has pickle weights (pytorch_model.bin), which can run arbitrary code "
               "when loaded. Convert them to safetensors, or pass allow_pickle=True (--allow-pickle) if you "
               "trust the file")
        raise ModelError(msg)
    return has_safe


def looks_like_path(text):
    """True when a model argument is meant as a local path (so a missing one is an error, not a hub id).

    Examples
    --------
    >>> from radioassist.backends._checkpoint import looks_like_path
    >>> looks_like_path('./models/b6'), looks_like_path('Qwen/Qwen2-VL-2B-Instruct')
    (True, False)
    """
    text = str(text)
    return (
        text.startswith(("/", "./", "../", "~", "\\"))
        or text.count("/") > 1
        or text.endswith("/")
        or re.match(r"^[A-Za-z]:[\\/]", text) is not None
    )


def clean_error(exc, limit=500):
    """The message of an exception on one line, at most ``limit`` characters (for error messages)."""
    return " ".join(str(exc).split())[:limit]


@contextlib.contextmanager
def loading_model(what):
    """Context for ``from_pretrained`` calls: transformers' progress bars off, failures as `ModelError`.

    Any exception but a `~radioassist.exceptions.ModelError` raised inside
    becomes a ModelError ``could not load <what>: <type>: <message>``; the
    progress bars are restored afterwards.

    Parameters
    ----------
    what : str
        What is loaded, for the message (e.g. ``'image-classification model /m/b6'``).
    """
    from transformers.utils import logging as hf_logging

    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    except ModelError:
        raise
    except Exception as exc:  # OSError, ValueError, SafetensorError, RuntimeError, ...
        msg = f"could not load {what}: {type(exc).__name__}: {clean_error(exc)}"
        raise ModelError(msg) from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()
