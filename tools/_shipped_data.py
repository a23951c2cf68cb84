"""Read every labelled FIRST image in ``../shared/data`` once, as float FITS arrays and rendered uint8.

Used by ``tools/train_shipped_models.py``; the arrays are cached in a ``.npz`` file.
"""

import csv

import warnings
from pathlib import Path

import numpy as np

SIZE = 150


def _fits_array(path):
    from astropy.io import fits

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = np.asarray(fits.getdata(path), dtype=np.float32)
    data = np.squeeze(data)
    data = np.where(np.isfinite(data), data, 0).astype(np.float32)
    h, w = data.shape
    if (h, w) != (SIZE, SIZE):
        top, left = (h - SIZE) // 2, (w - SIZE) // 2
        if top < 0 or left < 0:
            raise ValueError(f"{path}: {h}x{w} is smaller than {SIZE}")
        data = data[top : top + SIZE, left : left + SIZE]
    return data


def _png_array(path):
    from PIL import Image

    with Image.open(path) as pic:
        grey = np.asarray(pic.convert("L"), dtype=np.float32)
    h, w = grey.shape
    top, left = (h - SIZE) // 2, (w - SIZE) // 2
    return grey[top : top + SIZE, left : left + SIZE]


def load_all(data_dir, cache=None):
    """A dict of arrays: ``fits`` (float32 N,150,150), ``sample``, ``label``, ``confident``, ``ra``, ``dec``, ``path``.

    ``sample`` is ``mirabest``, ``frdeep`` or ``rgd``; ``label`` is the upstream class name
    (``FR-I``/``FR-II`` for MiraBest and FR-DEEP, ``FRI``/``FRII``/``Bent``/``Compact`` for RGD).
    RGD images are 8-bit PNGs (already sigma-clipped upstream), stored as float.
    """
    if cache is not None and Path(cache).is_file():
        with np.load(cache, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    data_dir = Path(data_dir)
    rows = []
    with open(data_dir / "mirabest_first" / "manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(
                ("mirabest", data_dir / "mirabest_first" / "FITS" / r["file"], r["fr_class"],
                 int(r["confident"]), float(r["ra_deg"]), float(r["dec_deg"]), r["morphology"])
            )
    with open(data_dir / "frdeep_v2" / "frdeep_v2_manifest.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            label = "FR-I" if r["fr_label_from_filename"] == "I" else "FR-II"
            rows.append(("frdeep", data_dir / "frdeep_v2" / r["file_first"], label, 1,
                         float(r["ra_deg"]), float(r["dec_deg"]), r["split"]))
    with open(data_dir / "first_rgd_png" / "labels.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            rows.append(("rgd", data_dir / "first_rgd_png" / r["path"], r["label_name"], 1,
                         float(r["ra_deg"]), float(r["dec_deg"]), r["split"]))
    arrays = np.empty((len(rows), SIZE, SIZE), dtype=np.float32)
    for i, row in enumerate(rows):
        path = row[1]
        arrays[i] = _fits_array(path) if str(path).endswith(".fits") else _png_array(path)
    out = {
        "fits": arrays,
        "sample": np.array([r[0] for r in rows]),
        "path": np.array([str(Path(r[1]).relative_to(data_dir)) for r in rows]),
        "label": np.array([r[2] for r in rows]),
        "confident": np.array([r[3] for r in rows], dtype=np.int8),
        "ra": np.array([r[4] for r in rows]),
        "dec": np.array([r[5] for r in rows]),
        "extra": np.array([r[6] for r in rows]),
    }
    if cache is not None:
        np.savez(cache, **out)
    return out


def lotss_check_sources(data_dir):
    """The LoTSS DR1 single-Gaussian compact sources (S_Code S, Maj <= 9 arcsec) inside the two mosaics."""
    from astropy.table import Table

    data_dir = Path(data_dir) / "lotss_dr1_hetdex"
    inside = Table.read(data_dir / "catalog_sources_in_images.csv")
    inside = inside[[str(n).endswith("-mosaic.fits") for n in inside["image"]]]
    keep = (np.asarray(inside["S_Code"]).astype(str) == "S") & (np.asarray(inside["Maj"], float) <= 9.0)
    return inside[keep]
