"""Partial results of long classification runs, so that an interrupted run can be resumed.

A run is cut into partitions (a tile, or a chunk of a tile's catalogue rows);
as each partition finishes, its results are written to a folder next to the
output (``out.vot.partial/`` for ``out.vot``) as one small file
``part-<partition>.npz``, written under a temporary name, flushed to disk
and renamed: a file is either complete or absent, whenever the run is
killed.  ``run.json`` records the parameters of the run (task, backend,
model and a hash of its files, cutout size, render preset, catalogue length
and a hash of its positions, the tiles, the partitioning) so that a resumed
run refuses to mix results made differently.

:func:`radioassist.classify` takes ``checkpoint=`` (the folder) and
``resume=``; the ``radioassist classify`` command always writes one next to
its output, continues it with ``--resume`` and removes it once the output
is written.
"""
import hashlib
import json
import os
import shutil
import warnings
import zipfile
from pathlib import Path

import numpy as np

from .backends._checkpoint import file_sha256
from .exceptions import InputError, RadioassistWarning
from .logger import log
from .version import __version__

__all__ = ["PartialResults", "partial_path", "catalog_fingerprint", "model_fingerprint", "PARTIAL_SUFFIX"]

#: Suffix of the partial-results folder added to the output path.
PARTIAL_SUFFIX = ".partial"
_RUN_FILE = "run.json"
_FORMAT = 1
# weight files hashed in full up to this total size; beyond it, size + first and last MiB of each
_FULL_HASH_BYTES = 1 << 30
# parameters that may differ between the interrupted and the resumed run
_INFORMATIVE = ("radioassist_version", "format", "created")


def partial_path(output):
    """The partial-results folder of an output file: ``<output>.partial``.

    Examples
    --------
    >>> from radioassist.resume import partial_path
    >>> partial_path('labels.vot').name
    'labels.vot.partial'
    """
    return Path(str(output) + PARTIAL_SUFFIX)


def _folder_digest(folder):
    """SHA-256 over the files of a checkpoint folder (weights in full unless they are huge)."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    total = sum(p.stat().st_size for p in files)
    partial = total > _FULL_HASH_BYTES
    lines = []
    for path in files:
        digest = file_sha256(path, limit=(1 << 20) if partial else None)
        lines.append(f"{path.name}:{digest}")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return digest, ("files sha256" if not partial else "file sizes + first/last MiB sha256")


def model_fingerprint(backend, model=None, *, task=None, options=None):
    """What identifies the model of a run: backend, model path/id, a hash of a local model's files, options.

    Parameters
    ----------
    backend : str or `~radioassist.backends.Backend`
        Backend name or instance.
    model : str or path, optional
        Model folder or id (``None``: the backend's default for ``task``).
    task : `~radioassist.tasks.Task` or str, optional
        Needed to find the default model of the ``vision`` backend.
    options : dict, optional
        Backend options (they change the answers: prompts, thresholds...).

    Returns
    -------
    dict
        JSON-serialisable; never holds an API key (keys only live in the environment).
    """
    if isinstance(backend, str):
        name = backend.strip().lower()
    else:
        name = getattr(backend, "name", None) or type(backend).__name__
        model = getattr(backend, "model", model) if model is None else model
        options = dict(getattr(backend, "options", {}) or {}) if options is None else options
    source = model
    if source is None and name == "vision" and task is not None:
        try:
            from .models import default_model
            source = default_model(task)
        except Exception:  # reported when the backend loads it
            source = None
    out = {"backend": name, "model": None if source is None else str(source)}
    if source is not None:
        path = Path(str(source)).expanduser()
        if path.is_dir():
            out["model"] = str(path.resolve())
            out["model_files_sha256"], out["model_hash_kind"] = _folder_digest(path)
    if options:
        out["options"] = json.loads(json.dumps(options, sort_keys=True, default=repr))
    return out


def catalog_fingerprint(table):
    """Length and SHA-256 of the positions (and sizes) of a catalogue read by `~radioassist.read_catalog`."""
    h = hashlib.sha256()
    n = len(table)
    h.update(str(n).encode())
    if "skycoord" in table.colnames:
        coord = table["skycoord"]
        h.update(coord.frame.name.encode())
        sph = coord.spherical
        h.update(np.ascontiguousarray(np.asarray(sph.lon.deg, dtype=np.float64)).tobytes())
        h.update(np.ascontiguousarray(np.asarray(sph.lat.deg, dtype=np.float64)).tobytes())
    if "position_ok" in table.colnames:
        h.update(np.ascontiguousarray(np.asarray(table["position_ok"], dtype=bool)).tobytes())
    if "source_size" in table.colnames:
        col = table["source_size"]
        values = np.ma.filled(np.ma.asarray(getattr(col, "value", col), dtype=float), np.nan)
        h.update(np.ascontiguousarray(values).tobytes())
    return {"n_rows": int(n), "positions_sha256": h.hexdigest()}


def _atomic_write_bytes(path, writer):
    tmp = path.with_name("." + path.name + ".tmp")
    with open(tmp, "wb") as fh:
        writer(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:  # pragma: no cover - not supported everywhere
        pass


def _describe_mismatch(saved, params):
    diffs = []
    for key in sorted(set(saved) | set(params)):
        if key in _INFORMATIVE:
            continue
        a, b = saved.get(key), params.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for inner in sorted(set(a) | set(b)):
                if a.get(inner) != b.get(inner):
                    diffs.append(f"{key}.{inner}: {_short(a.get(inner))} then, {_short(b.get(inner))} now")
        else:
            diffs.append(f"{key}: {_short(a)} then, {_short(b)} now")
    return diffs


def _short(value):
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:28] + "..." + text[-28:]


class PartialResults:
    """The partial-results folder of one run: ``run.json`` and one ``part-<id>.npz`` per finished partition.

    Use :meth:`open` to create or continue one.

    Parameters
    ----------
    folder : str or path
        The folder (e.g. ``partial_path(output)``).
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.params = None
        self.n_saved = 0
        self.created = False

    def __repr__(self):
        return f"<PartialResults {self.folder}>"

    @classmethod
    def open(cls, folder, params, *, resume=False):
        """Create the folder for a new run, or check that it belongs to the same run when resuming.

        Parameters
        ----------
        folder : str or path
            Partial-results folder.
        params : dict
            JSON-serialisable parameters of the run.
        resume : bool, optional
            Continue the results found in ``folder``.  Without it an existing
            folder is an error (delete it, or resume).

        Raises
        ------
        radioassist.InputError
            ``folder`` exists without ``resume``, is not a partial-results
            folder, or was made with other parameters (the message lists them).
        """
        self = cls(folder)
        params = json.loads(json.dumps(dict(params), default=str))
        params.setdefault("format", _FORMAT)
        params.setdefault("radioassist_version", __version__)
        run_file = self.folder / _RUN_FILE
        if self.folder.exists():
            if not resume:
                msg = (f"partial results of an interrupted run exist in {self.folder}: pass --resume (resume=True) "
                       "to continue it, or delete that folder (or pass --overwrite) to start again")
                raise InputError(msg)
            if not self.folder.is_dir():
                msg = f"{self.folder} is a file, not a radioassist partial-results folder; move it away or delete it"
                raise InputError(msg)
            if not run_file.is_file():
                if any(p.name.startswith("part-") for p in self.folder.iterdir()):
                    msg = (f"{self.folder} is not a radioassist partial-results folder (no {_RUN_FILE}); "
                           "move it away or delete it")
                    raise InputError(msg)
                # killed between creating the folder and writing run.json: nothing to resume
                for stray in self.folder.glob(".*.tmp"):
                    stray.unlink(missing_ok=True)
                return self._start(params)
            try:
                saved = json.loads(run_file.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                msg = f"cannot read {run_file} ({exc}); delete {self.folder} to start again"
                raise InputError(msg) from None
            diffs = _describe_mismatch(saved, params)
            if diffs:
                msg = (f"cannot resume from {self.folder}: it was made with other run parameters ("
                       + "; ".join(diffs[:4]) + (f"; and {len(diffs) - 4} more" if len(diffs) > 4 else "")
                       + "). Rerun with the same parameters, or delete that folder (or pass --overwrite without "
                       "--resume) to start again")
                raise InputError(msg)
            if saved.get("radioassist_version") != __version__:
                warnings.warn(f"resuming results made by radioassist {saved.get('radioassist_version')} with "
                              f"{__version__}", RadioassistWarning)
            for stray in self.folder.glob(".*.tmp"):  # a write cut short by the interruption
                stray.unlink(missing_ok=True)
            self.params = saved
            return self
        if resume:
            log.warning("no partial results in %s: starting from the beginning", self.folder)
        try:
            self.folder.mkdir(parents=False)
        except FileNotFoundError:
            msg = f"cannot create {self.folder}: folder {self.folder.parent} does not exist"
            raise InputError(msg) from None
        except OSError as exc:
            msg = f"cannot create the partial-results folder {self.folder}: {exc}"
            raise InputError(msg) from None
        self.created = True
        return self._start(params)

    def _start(self, params):
        text = json.dumps(params, indent=1, sort_keys=True).encode("utf-8")
        _atomic_write_bytes(self.folder / _RUN_FILE, lambda fh: fh.write(text))
        self.params = params
        return self

    def _path(self, pid):
        return self.folder / f"part-{pid}.npz"

    def save(self, pid, result):
        """Write the result of one partition (atomically: the file is complete or absent).

        Parameters
        ----------
        pid : str
            Partition id (letters, digits and ``-``).
        result : dict
            ``rows``, ``labels``, ``probs``, ``flags``, optional ``answers`` arrays and an ``info`` dict.
        """
        arrays = {"rows": np.asarray(result["rows"], dtype=np.int64),
                  "labels": np.asarray(result["labels"], dtype=str),
                  "probs": np.asarray(result["probs"], dtype=np.float32),
                  "flags": np.asarray(result["flags"], dtype=str),
                  "info": np.asarray(json.dumps(result.get("info", {}), default=str))}
        if result.get("answers") is not None:
            arrays["answers"] = np.asarray(result["answers"], dtype=str)
        _atomic_write_bytes(self._path(pid), lambda fh: np.savez(fh, **arrays))
        self.n_saved += 1

    def load(self, expected):
        """Read the finished partitions.

        Parameters
        ----------
        expected : dict
            Partition id -> the catalogue rows it covers in this run.

        Returns
        -------
        dict
            Partition id -> result dict (as given to :meth:`save`) for the partitions found.

        Raises
        ------
        radioassist.InputError
            If a saved partition covers other rows than expected (a different run).
        """
        done = {}
        for path in sorted(self.folder.glob("part-*.npz")):
            pid = path.name[len("part-"):-len(".npz")]
            if pid not in expected:
                msg = (f"{path} belongs to a partition that this run does not have: the partial results were "
                       f"made differently; delete {self.folder} to start again")
                raise InputError(msg)
            try:
                with np.load(path, allow_pickle=False) as npz:
                    result = {key: npz[key] for key in npz.files}
                result["info"] = json.loads(str(result["info"]))
                result.setdefault("answers", None)
                n = len(result["rows"])
                if any(len(result[k]) != n for k in ("labels", "probs", "flags")):
                    raise ValueError("arrays of different lengths")
            except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
                warnings.warn(f"ignoring unreadable partial result {path} ({exc}); it will be recomputed",
                              RadioassistWarning)
                path.unlink(missing_ok=True)
                continue
            if not np.array_equal(result["rows"], np.asarray(expected[pid])):
                msg = (f"{path} covers other catalogue rows than this run's partition {pid}: the partial results "
                       f"were made differently; delete {self.folder} to start again")
                raise InputError(msg)
            done[pid] = result
        if done:
            log.info("resuming: %d partitions (%d rows) already done in %s", len(done),
                     sum(len(r["rows"]) for r in done.values()), self.folder)
        return done

    def remove(self):
        """Delete the folder (once the final output is safely written)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def discard_if_empty(self):
        """Delete the folder if this run created it and saved nothing (a run that failed at once)."""
        if self.created and self.n_saved == 0:
            self.remove()
