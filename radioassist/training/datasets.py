"""Labelled image sets for training and evaluating classifiers.

Every source is turned into a :class:`LabelledImages`: rendered 8-bit grey
images of one size, the class of each, and its split (train/valid/test) when
the data says so.  Sources:

* a radio-llava benchmark datalist (JSON ``{"data": [{"filepaths": [...], "label": ...}]}``);
* a folder of FITS/PNG images labelled by sub-folder (``CLASS/``, or
  ``train|valid|test/CLASS/``), by a CSV manifest (file, label and split
  columns) or by a regular expression on the file names;
* a mosaic and a labelled catalogue (cutouts with `radioassist.cutouts.extract_cutouts`).

FITS images are rendered with the ``radio-llava`` preset (min-max scaling to
0..255, `radioassist.render.render`); 8-bit PNG/JPEG images are read as grey
and min-max scaled the same way (a no-op for an image that spans 0..255).
"""

import csv
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u

from ..exceptions import InputError, RadioassistWarning
from ..logger import log
from ..tasks import get_task
from .formats import _SPLIT_ALIASES, _split_name, read_datalist

__all__ = [
    "LabelledImages",
    "load_dataset",
    "load_datalist",
    "load_image_folder",
    "load_catalog_cutouts",
    "parse_label_map",
    "render_grey",
    "IMAGE_SUFFIXES",
]

#: File suffixes read as images.
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
IMAGE_SUFFIXES = FITS_SUFFIXES + PICTURE_SUFFIXES
_FILE_COLUMNS = ("file", "path", "filename", "filepath", "file_path", "image", "image_path", "fits")
_LABEL_COLUMNS = ("label_name", "label", "class", "class_name", "category", "target")


@dataclass
class LabelledImages:
    """Rendered, labelled images ready for training.

    Attributes
    ----------
    images : `numpy.ndarray`
        ``(N, S, S)`` uint8 grey images (rendered; replicate to RGB for a backend).
    targets : `numpy.ndarray`
        ``(N,)`` class indices into ``task.labels`` (single-label tasks) or
        ``(N, n_classes)`` booleans (multi-label tasks).
    splits : `numpy.ndarray`
        ``(N,)`` str: ``'train'``, ``'valid'``, ``'test'`` or ``''`` (no split given).
    files : list of str
        Where each image came from.
    task : `~radioassist.tasks.Task`
    source : str
        Human-readable description of the data (recorded in model cards).
    pixel_scale_arcsec, beam_arcsec : float or None
        Pixel scale and beam FWHM of the images, when known.
    cutout_size_pix : int
        Side of the images in pixels of the original data (after any crop).
    render_preset : str
        How the images were rendered.
    confidence : `numpy.ndarray` or None
        ``(N,)`` probability given to the labelled class in training (soft
        labels, single-label tasks): 1 for a confident label, e.g. 0.75 for
        an uncertain one.  None: all labels are certain.
    """

    images: np.ndarray
    targets: np.ndarray
    splits: np.ndarray
    files: list
    task: object
    source: str = ""
    pixel_scale_arcsec: float = None
    beam_arcsec: float = None
    cutout_size_pix: int = None
    render_preset: str = "radio-llava"
    notes: list = field(default_factory=list)
    confidence: np.ndarray = None

    def __len__(self):
        return len(self.images)

    def subset(self, selection):
        """A new `LabelledImages` with the images selected by a boolean mask or index array."""
        selection = np.asarray(selection)
        index = np.flatnonzero(selection) if selection.dtype == bool else selection
        return LabelledImages(
            self.images[index],
            self.targets[index],
            self.splits[index],
            [self.files[i] for i in index],
            self.task,
            self.source,
            self.pixel_scale_arcsec,
            self.beam_arcsec,
            self.cutout_size_pix,
            self.render_preset,
            list(self.notes),
            None if self.confidence is None else np.asarray(self.confidence)[index],
        )

    def counts(self):
        """Number of images per label."""
        if self.task.multilabel:
            return {label: int(self.targets[:, j].sum()) for j, label in enumerate(self.task.labels)}
        return {label: int((self.targets == j).sum()) for j, label in enumerate(self.task.labels)}

    def rgb(self):
        """The images as ``(N, S, S, 3)`` uint8 RGB, as a backend takes them."""
        return np.repeat(self.images[..., None], 3, axis=-1)


# ------------------------------------------------------------------------------------------ labels
def parse_label_map(text):
    """Parse ``'I=FR-I,II=FR-II'`` (or a dict) into a dict of raw label -> task label.

    Examples
    --------
    >>> parse_label_map('Compact=NO, FRI=YES,FRII=YES')
    {'Compact': 'NO', 'FRI': 'YES', 'FRII': 'YES'}
    """
    if text is None or isinstance(text, dict):
        return dict(text or {})
    mapping = {}
    for item in str(text).split(","):
        if not item.strip():
            continue
        if "=" not in item:
            msg = (
                f"label map entries look like RAW=LABEL separated by commas, got {item.strip()!r} in {text!r}"
            )
            raise InputError(msg)
        raw, label = item.split("=", 1)
        mapping[raw.strip()] = label.strip()
    return mapping


class _Labeller:
    """Turns raw labels (strings, ints, lists) into task targets, collecting unknown values."""

    def __init__(self, task, label_map):
        self.task = task
        self.map = {str(k): str(v) for k, v in (label_map or {}).items()}
        self.map_upper = {k.upper(): v for k, v in self.map.items()}
        self.unknown = {}

    def _one(self, raw):
        key = str(raw).strip()
        mapped = self.map.get(key, self.map_upper.get(key.upper(), key))
        try:
            return self.task.label_index(mapped)
        except InputError:
            if self.task.multilabel and mapped.upper() == self.task.none_label.upper():
                return None
            self.unknown[key] = self.unknown.get(key, 0) + 1
            return -1

    def __call__(self, raw):
        if self.task.multilabel:
            values = raw if isinstance(raw, (list, tuple)) else [v for v in str(raw).split(",") if v.strip()]
            target = np.zeros(self.task.n_classes, dtype=bool)
            ok = True
            for value in values:
                j = self._one(value)
                if j == -1:
                    ok = False
                elif j is not None:
                    target[j] = True
            return target if ok else None
        if isinstance(raw, (list, tuple)):
            if len(raw) != 1:
                msg = f"task {self.task.id} is single-label but an entry has several labels: {raw!r}"
                raise InputError(msg)
            raw = raw[0]
        j = self._one(raw)
        return None if j in (-1, None) else j

    def check(self, where):
        if self.unknown:
            found = ", ".join(f"{k!r} ({n})" for k, n in sorted(self.unknown.items()))
            msg = (
                f"labels in {where} that are not labels of task {self.task.id} "
                f"({', '.join(self.task.labels)}): "
                f"{found}; map them with a label map, e.g. --label-map "
                f"{next(iter(self.unknown))}={self.task.labels[0]}"
            )
            raise InputError(msg)


# ------------------------------------------------------------------------------------------ images
def _is_fits(path):
    return str(path).lower().endswith(FITS_SUFFIXES)


def _is_image_file(path):
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def _center_crop(array, size):
    if size is None:
        return array
    h, w = array.shape
    if size > h or size > w:
        msg = f"crop size {size} is larger than an image of {h}x{w} pixels"
        raise InputError(msg)
    top, left = (h - size) // 2, (w - size) // 2
    return array[top : top + size, left : left + size]


def render_grey(array):
    """Render a 2-D float image as 8-bit grey with the ``radio-llava`` preset (None when blank)."""
    from ..render import blank_mask, render

    array = np.asarray(array)
    if blank_mask(array[None])[0]:
        return None
    return render(array[None], preset="radio-llava")[0, :, :, 0]


def _read_one(path, crop):
    """Rendered uint8 grey image of a FITS or picture file, plus (pixel scale, beam) when known."""
    if _is_fits(path):
        from ..image import load_image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=Warning)
            image = load_image(path)
            try:
                data = np.array(image.data, dtype=np.float32)
                scale = float(image.pixel_scale.to_value("arcsec"))
                beam = None if image.beam is None else float(image.beam.major.to_value("arcsec"))
            finally:
                image.close()
        return render_grey(_center_crop(data, crop)), scale, beam
    from PIL import Image

    with Image.open(path) as pic:
        grey = np.asarray(pic.convert("L"), dtype=np.float32)
    return render_grey(_center_crop(grey, crop)), None, None


def _resize_uint8(image, size):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(image.astype(np.float32))[None, None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return x[0, 0].clamp(0, 255).round().to(torch.uint8).numpy()


def _assemble(task, entries, *, crop, source, pixel_scale, beam, progress, labeller_where):
    """Read ``entries`` (path, target, split) into a LabelledImages."""
    images, targets, splits, files = [], [], [], []
    scales, beams, skipped = [], [], []
    iterator = entries
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(entries, desc="reading images", unit="img", leave=False)
    for path, target, split in iterator:
        try:
            grey, scale, bmaj = _read_one(path, crop)
        except InputError:
            raise
        except Exception as exc:
            msg = f"cannot read image {path}: {exc}"
            raise InputError(msg) from exc
        if grey is None:
            skipped.append(str(path))
            continue
        images.append(grey)
        targets.append(target)
        splits.append(split)
        files.append(str(path))
        if scale is not None:
            scales.append(scale)
        if bmaj is not None:
            beams.append(bmaj)
    if skipped:
        warnings.warn(
            f"skipped {len(skipped)} blank image(s) (all zero or constant), e.g. {skipped[0]}",
            RadioassistWarning,
        )
    if not images:
        msg = f"no usable image found in {labeller_where}"
        raise InputError(msg)
    shapes = {}
    for im in images:
        shapes[im.shape] = shapes.get(im.shape, 0) + 1
    common = max(shapes, key=shapes.get)
    if len(shapes) > 1:
        side = max(common)
        log.info("images have %d different sizes; resizing all to %dx%d", len(shapes), side, side)
        images = [im if im.shape == (side, side) else _resize_uint8(im, side) for im in images]
    elif common[0] != common[1]:
        side = max(common)
        images = [_resize_uint8(im, side) for im in images]
    stack = np.stack(images)
    if pixel_scale is None and scales:
        pixel_scale = float(np.median(scales))
        if np.ptp(scales) > 0.01 * pixel_scale:
            warnings.warn(
                f"the images of {labeller_where} have different pixel scales "
                f"({min(scales):.3g}-{max(scales):.3g} arcsec)",
                RadioassistWarning,
            )
    if beam is None and beams:
        beam = float(np.median(beams))
    dtype = bool if task.multilabel else np.int64
    data = LabelledImages(
        stack,
        np.asarray(targets, dtype=dtype),
        np.asarray(splits, dtype="<U5"),
        files,
        task,
        source=source,
        pixel_scale_arcsec=pixel_scale,
        beam_arcsec=beam,
        cutout_size_pix=crop if crop is not None else int(common[0]),
    )
    if skipped:
        data.notes.append(f"{len(skipped)} blank image(s) skipped")
    log.info(
        "read %d images (%s) from %s",
        len(data),
        ", ".join(f"{k}: {v}" for k, v in data.counts().items()),
        labeller_where,
    )
    return data


# ------------------------------------------------------------------------------------------ sources
def load_datalist(
    path, *, task, label_map=None, cutout_size=None, pixel_scale=None, beam=None, progress=False
):
    """Read a radio-llava benchmark datalist (JSON) of labelled images.

    Parameters
    ----------
    path : str or path-like
        JSON file ``{"data": [{"filepaths": ["img.fits"], "label": "FR-II", ...}, ...]}``,
        checked by `radioassist.training.read_datalist`; relative file paths
        are relative to the JSON file.  An optional ``"split"`` key per entry
        gives train/valid/test.
    task : `~radioassist.tasks.Task` or str
    label_map : dict or str, optional
        Raw label -> task label (``'I=FR-I,II=FR-II'``).
    cutout_size : int, optional
        Centre-crop every image to this many pixels before rendering.
    pixel_scale, beam : float, optional
        Pixel scale and beam FWHM (arcsec) to record when the files do not say.
    progress : bool, optional
        Show a progress bar.
    """
    task = get_task(task)
    path = Path(path)
    labeller = _Labeller(task, parse_label_map(label_map))
    entries = []
    for item in read_datalist(path, resolve_paths=True):
        target = labeller(item["label"])
        if target is None:
            continue
        entries.append((Path(item["filepaths"][0]), target, _split_name(item.get("split", ""), path)))
    labeller.check(path)
    missing = [str(f) for f, _, _ in entries if not f.is_file()]
    if missing:
        msg = f"{len(missing)} image file(s) of datalist {path} do not exist, e.g. {missing[0]}"
        raise InputError(msg)
    return _assemble(
        task,
        entries,
        crop=cutout_size,
        source=f"datalist {path.name}",
        pixel_scale=pixel_scale,
        beam=beam,
        progress=progress,
        labeller_where=str(path),
    )


def _read_manifest(manifest):
    try:
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        msg = f"cannot read CSV manifest {manifest}: {exc}"
        raise InputError(msg) from exc
    if not rows:
        msg = f"CSV manifest {manifest} has no rows"
        raise InputError(msg)
    return rows


def _pick_column(columns, wanted, candidates, what, manifest):
    lower = {c.lower(): c for c in columns}
    if wanted is not None:
        if wanted in columns:
            return wanted
        if wanted.lower() in lower:
            return lower[wanted.lower()]
        msg = f"column {wanted!r} ({what}) is not in {manifest}; columns: {', '.join(columns)}"
        raise InputError(msg)
    for candidate in candidates:
        if candidate in lower:
            return lower[candidate]
    return None


def load_image_folder(
    path,
    *,
    task,
    manifest=None,
    label_from_filename=None,
    label_map=None,
    file_column=None,
    label_column=None,
    split_column=None,
    cutout_size=None,
    pixel_scale=None,
    beam=None,
    progress=False,
):
    """Read a folder of labelled FITS/PNG images.

    Labels come from (first that applies): a CSV ``manifest``; a regular
    expression ``label_from_filename`` searched in every file name (its named
    group ``label``, else its first group, else the whole match); the
    sub-folder names (``CLASS/*.fits``, or ``train|valid|test/CLASS/*.png``,
    which also gives the split).

    Parameters
    ----------
    path : str or path-like
        The folder.  Relative paths in the manifest are resolved against it
        (then against the manifest's own folder).
    task : `~radioassist.tasks.Task` or str
    manifest : str or path-like, optional
        CSV file with one row per image.
    label_from_filename : str, optional
        Regular expression, e.g. ``r'_(I|II)\\.fits$'`` for FR-DEEP.
    label_map : dict or str, optional
        Raw label -> task label, e.g. ``{'I': 'FR-I', 'II': 'FR-II'}`` or
        ``'Compact=NO,FRI=YES,FRII=YES,Bent=YES'``.
    file_column, label_column, split_column : str, optional
        Manifest columns; found by name when not given (``file``/``path``...,
        ``label_name``/``label``/``class``..., ``split``).  The file column
        otherwise defaults to the first column whose first value is an
        existing file.  Without a label column, ``label_from_filename`` is
        applied to the file column.
    cutout_size : int, optional
        Centre-crop every image to this many pixels before rendering.
    pixel_scale, beam : float, optional
        Pixel scale and beam FWHM (arcsec) to record when the files do not say.
    progress : bool, optional
        Show a progress bar.
    """
    task = get_task(task)
    root = Path(path)
    if not root.is_dir():
        msg = f"image folder {root} does not exist or is not a folder"
        raise InputError(msg)
    labeller = _Labeller(task, parse_label_map(label_map))
    regex = None
    if label_from_filename:
        try:
            regex = re.compile(label_from_filename)
        except re.error as exc:
            msg = f"invalid regular expression for labels from file names {label_from_filename!r}: {exc}"
            raise InputError(msg) from exc

    def from_name(name):
        match = regex.search(name)
        if match is None:
            return None
        if "label" in regex.groupindex:
            return match.group("label")
        return match.group(1) if regex.groups else match.group(0)

    entries, unmatched = [], []
    if manifest is not None:
        manifest = Path(manifest)
        if not manifest.is_absolute() and not manifest.is_file():
            manifest = root / manifest
        rows = _read_manifest(manifest)
        columns = list(rows[0])
        fcol = _pick_column(columns, file_column, _FILE_COLUMNS, "files", manifest)
        if fcol is None:
            for column in columns:
                value = rows[0][column] or ""
                if _is_image_file(value) and (
                    (root / value).is_file() or (manifest.parent / value).is_file()
                ):
                    fcol = column
                    break
        if fcol is None:
            msg = f"cannot tell which column of {manifest} holds the image files; pass the file column"
            raise InputError(msg)
        lcol = (
            None
            if (regex is not None and label_column is None)
            else _pick_column(columns, label_column, _LABEL_COLUMNS, "labels", manifest)
        )
        if lcol is None and regex is None:
            msg = (
                f"cannot tell which column of {manifest} holds the labels (columns: {', '.join(columns)}); "
                "pass the label column or a regular expression for labels from file names"
            )
            raise InputError(msg)
        scol = _pick_column(columns, split_column, ("split", "subset", "set"), "splits", manifest)
        for row in rows:
            name = (row.get(fcol) or "").strip()
            if not name:
                continue
            file = Path(name)
            if not file.is_absolute():
                file = root / name if (root / name).exists() else manifest.parent / name
            raw = row[lcol] if lcol is not None else from_name(Path(name).name)
            if raw is None:
                unmatched.append(name)
                continue
            target = labeller(raw)
            if target is None:
                continue
            entries.append((file, target, _split_name(row.get(scol, ""), manifest) if scol else ""))
        where = str(manifest)
    elif regex is not None:
        files = sorted(p for p in root.rglob("*") if p.is_file() and _is_image_file(p))
        for file in files:
            raw = from_name(file.name)
            if raw is None:
                unmatched.append(file.name)
                continue
            target = labeller(raw)
            if target is not None:
                entries.append((file, target, ""))
        where = str(root)
    else:
        subdirs = sorted(p for p in root.iterdir() if p.is_dir())
        split_dirs = [p for p in subdirs if p.name.lower() in _SPLIT_ALIASES and p.name]
        layout = [(p, _SPLIT_ALIASES[p.name.lower()]) for p in split_dirs] if split_dirs else [(root, "")]
        for folder, split in layout:
            for class_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
                for file in sorted(class_dir.rglob("*")):
                    if file.is_file() and _is_image_file(file):
                        target = labeller(class_dir.name)
                        if target is not None:
                            entries.append((file, target, split))
        where = str(root)
        if not entries and not labeller.unknown:
            msg = (
                f"no labelled image found in {root}: expected one sub-folder per class (CLASS/ or "
                "train/CLASS/...), a CSV manifest, or a regular expression for labels from file names"
            )
            raise InputError(msg)
    labeller.check(where)
    if unmatched:
        if not entries:
            msg = (
                f"the regular expression {label_from_filename!r} matches none of the {len(unmatched)} file "
                f"names in {where} (e.g. {unmatched[0]!r})"
            )
            raise InputError(msg)
        warnings.warn(
            f"{len(unmatched)} file name(s) in {where} do not match {label_from_filename!r} and were "
            f"skipped (e.g. {unmatched[0]!r})",
            RadioassistWarning,
        )
    missing = [str(f) for f, _, _ in entries if not Path(f).is_file()]
    if missing:
        msg = f"{len(missing)} image file(s) listed in {where} do not exist, e.g. {missing[0]}"
        raise InputError(msg)
    source = f"{root.name}/" + (f" (manifest {Path(manifest).name})" if manifest is not None else "")
    return _assemble(
        task,
        entries,
        crop=cutout_size,
        source=source,
        pixel_scale=pixel_scale,
        beam=beam,
        progress=progress,
        labeller_where=where,
    )


class _GridStack:
    """Cutouts on a model's grid with the attributes `load_catalog_cutouts` reads of a CutoutStack."""

    def __init__(self, cut, *, image, grid):
        self.data = np.asarray(cut.data)
        self.valid = np.asarray(cut.nan_fraction) < 1.0
        self.pixel_scale = grid.pixel_scale * u.arcsec
        self.beam = image.beam
        self.size = grid.size
        self.parent = image.label

    def __len__(self):
        return len(self.data)


def _catalog_stack(image, positions, *, size, resample_to, progress):
    """Native cutouts, or cutouts brought to ``resample_to`` exactly as classify brings them to a model's grid."""
    from ..cutouts import extract_cutouts

    if resample_to is None:
        return extract_cutouts(image, positions, size=size, off_image="keep", progress=progress)
    from ..domain import model_grid, to_model_grid
    from ..image import load_image

    scale = u.Quantity(resample_to)
    if scale.unit.physical_type != "angle" or not scale.value > 0:
        msg = f"resample_to must be a positive angle per pixel (e.g. 1.8 arcsec), got {resample_to!r}"
        raise InputError(msg)
    img = load_image(image)
    grid = model_grid(img, {"pixel_scale_arcsec": float(scale.to_value(u.arcsec)), "cutout_size_pix": int(size)})
    return _GridStack(to_model_grid(img, positions, grid), image=img, grid=grid)


def load_catalog_cutouts(
    image,
    catalog,
    *,
    task,
    label_column,
    size=150,
    label_map=None,
    split_column=None,
    resample_to=None,
    progress=False,
):
    """Labelled cutouts of a mosaic around the sources of a catalogue.

    Parameters
    ----------
    image : str, path-like or anything `radioassist.load_image` accepts
        The mosaic.
    catalog : str, path-like or `~astropy.table.Table`
        The catalogue, with positions (read by `radioassist.catalog.read_catalog`)
        and a label column.
    task : `~radioassist.tasks.Task` or str
    label_column : str
        Column with the class of each source.
    size : int, optional
        Cutout side in pixels.
    label_map : dict or str, optional
        Raw label -> task label.
    split_column : str, optional
        Column with train/valid/test.
    resample_to : `~astropy.units.Quantity`, optional
        Resample cutouts to this pixel scale, with the function ``radioassist
        classify`` uses to bring cutouts to a model's grid
        (`radioassist.domain.to_model_grid`): ``size`` pixels at this scale.
    progress : bool, optional
        Show a progress bar.
    """
    from astropy.table import Table

    from ..catalog import read_catalog

    task = get_task(task)
    where = "the catalogue table" if isinstance(catalog, Table) else str(catalog)
    table = read_catalog(catalog)
    if label_column not in table.colnames:
        msg = f"label column {label_column!r} is not in {where}; columns: {', '.join(table.colnames)}"
        raise InputError(msg)
    if split_column is not None and split_column not in table.colnames:
        msg = f"split column {split_column!r} is not in {where}; columns: {', '.join(table.colnames)}"
        raise InputError(msg)
    labeller = _Labeller(task, parse_label_map(label_map))
    targets = [labeller(value) for value in table[label_column]]
    labeller.check(where)
    keep = np.array([t is not None for t in targets])
    if "position_ok" in table.colnames:
        keep &= np.asarray(table["position_ok"], dtype=bool)
    if not keep.any():
        msg = f"no source of {where} has both a usable position and a label"
        raise InputError(msg)
    stack = _catalog_stack(image, table["skycoord"][keep], size=size, resample_to=resample_to, progress=progress)
    splits_all = [_split_name(v, where) for v in table[split_column]] if split_column else [""] * len(table)
    targets = [t for t, k in zip(targets, keep) if k]
    splits_all = [s for s, k in zip(splits_all, keep) if k]
    rows = np.flatnonzero(keep)
    images, kept_targets, splits, files = [], [], [], []
    for i in range(len(stack)):
        if not stack.valid[i]:
            continue
        grey = render_grey(stack.data[i])
        if grey is None:
            continue
        images.append(grey)
        kept_targets.append(targets[i])
        splits.append(splits_all[i])
        files.append(f"{where} row {rows[i]}")
    n_dropped = len(stack) - len(images)
    if n_dropped:
        warnings.warn(
            f"{n_dropped} source(s) of {where} have no usable cutout (outside the image or blank)",
            RadioassistWarning,
        )
    if not images:
        msg = f"no usable cutout for the sources of {where}"
        raise InputError(msg)
    scale = stack.pixel_scale
    scale = float(np.median(np.atleast_1d(scale.to_value("arcsec"))))
    beam = None if stack.beam is None else float(stack.beam.major.to_value("arcsec"))
    dtype = bool if task.multilabel else np.int64
    return LabelledImages(
        np.stack(images),
        np.asarray(kept_targets, dtype=dtype),
        np.asarray(splits, dtype="<U5"),
        files,
        task,
        source=f"cutouts of {stack.parent or 'a mosaic'} at the sources of {where}",
        pixel_scale_arcsec=scale,
        beam_arcsec=beam,
        cutout_size_pix=int(stack.size),
    )


def load_dataset(
    data,
    *,
    task,
    manifest=None,
    label_from_filename=None,
    label_map=None,
    file_column=None,
    label_column=None,
    split_column=None,
    catalog=None,
    cutout_size=None,
    pixel_scale=None,
    beam=None,
    progress=False,
):
    """Read labelled images from any supported source (see the module docstring).

    ``data`` is a `LabelledImages` (returned as is), a datalist ``.json``, a CSV
    manifest, a folder of images, or a mosaic (with ``catalog=`` and
    ``label_column=``).  The other parameters are those of
    :func:`load_datalist`, :func:`load_image_folder` and :func:`load_catalog_cutouts`.
    """
    if isinstance(data, LabelledImages):
        return data
    task = get_task(task)
    path = Path(data)
    if catalog is not None:
        if label_column is None:
            msg = "training from a mosaic and a catalogue needs the catalogue's label column"
            raise InputError(msg)
        return load_catalog_cutouts(
            path,
            catalog,
            task=task,
            label_column=label_column,
            size=cutout_size or 150,
            label_map=label_map,
            split_column=split_column,
            progress=progress,
        )
    if not path.exists():
        msg = f"training data {path} does not exist"
        raise InputError(msg)
    if path.is_file() and path.suffix.lower() == ".json":
        return load_datalist(
            path,
            task=task,
            label_map=label_map,
            cutout_size=cutout_size,
            pixel_scale=pixel_scale,
            beam=beam,
            progress=progress,
        )
    if path.is_file() and path.suffix.lower() == ".csv":
        manifest, path = path, path.parent
    if path.is_dir():
        return load_image_folder(
            path,
            task=task,
            manifest=manifest,
            label_from_filename=label_from_filename,
            label_map=label_map,
            file_column=file_column,
            label_column=label_column,
            split_column=split_column,
            cutout_size=cutout_size,
            pixel_scale=pixel_scale,
            beam=beam,
            progress=progress,
        )
    if _is_fits(path):
        msg = f"{path} is a single image: to train on a mosaic, give its labelled catalogue too (catalog=)"
        raise InputError(msg)
    msg = f"cannot train on {path}: expected a folder of images, a CSV manifest or a datalist .json"
    raise InputError(msg)
