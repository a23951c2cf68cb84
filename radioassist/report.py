"""A browsable, self-contained HTML report of a classification run.

:func:`write_report` turns a labelled catalogue (the output of
:func:`radioassist.classify`) into one HTML file that opens offline from disk:
a header with the run's provenance and counts, a sortable, filterable and
searchable table of every source (most uncertain first) with the thumbnail
the model saw, a gallery strip per label, a sky map of the mosaic footprint
with the sources coloured by label, the probability histogram of each class
and, when the catalogue has a truth column, a confusion matrix.

Thumbnails are cut again from the mosaic(s) with the cutout size and render
preset recorded in the table's provenance and packed into JPEG sprite sheets
of 100 thumbnails, embedded as data URIs (default) or written to a folder
beside the report.  The page's script only decodes the sheets of the rows on
screen and shows the table a page at a time, so that a report of 20,000
sources stays quick to open.  Nothing is fetched from the network.
"""
import base64
import html
import io
import json
import math
import time
from importlib import resources
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from .exceptions import InputError
from ._frames import plain_icrs
from .colours import NO_LABEL_COLOUR, hex_colour, label_colours
from .logger import log
from .version import __version__

__all__ = ["write_report", "THUMBNAIL_MODES"]

#: Where :func:`write_report` puts thumbnails: inside the HTML, in a folder beside it, or nowhere.
THUMBNAIL_MODES = ("embed", "folder", "none")

_SHEET_SIDE = 10  # thumbnails per sprite-sheet row (and column): 100 per sheet
_GALLERY_N = 8  # most / least confident examples per label
_NO_LABEL = hex_colour(NO_LABEL_COLOUR)
# flags that mean there is nothing of the source to show: no thumbnail is cut for them
_NO_PIXELS = ("outside", "bad_position", "no_tile")


def _label_colours(task_id, labels, extra=()):
    """Label -> colour: the task's fixed colours (:mod:`radioassist.colours`, as in galleries and region files)."""
    from .tasks import get_task

    try:
        task = get_task(task_id)
    except InputError:  # a task of another session, not registered here: the labels the table records
        task = None
    if task is not None and not set(labels) <= set(task.labels):
        task = None
    colours = label_colours(task, extra=list(labels if task is None else ()) + list(extra))
    return {lab: hex_colour(rgb) for lab, rgb in colours.items()}


def _first_label(text):
    return text.split(",")[0] if text else ""


# ------------------------------------------------------------------------------------------------
# reading the table
# ------------------------------------------------------------------------------------------------

def _load_table(table):
    from .output import _format_for, read_provenance

    if isinstance(table, Table):
        return table, None
    path = Path(table)
    if not path.exists():
        msg = f"labelled table {path} not found"
        raise InputError(msg)
    fmt = _format_for(path)
    try:
        out = Table.read(path, format=fmt)
    except Exception as exc:  # astropy raises many types for unreadable files
        msg = f"cannot read the labelled table {path} ({fmt}): {exc}"
        raise InputError(msg) from exc
    if fmt != "ascii.ecsv":
        out.meta["radioassist"] = read_provenance(path)
    return out, path


def _find_task(table, prov, task):
    """Task id and label list, from the argument, the provenance or the column names."""
    if task is not None:
        task_id = getattr(task, "id", str(task))
    elif prov.get("task"):
        task_id = str(prov["task"])
    else:
        cands = [c[:-len("_label")] for c in table.colnames
                 if c.endswith("_label") and f"{c[:-len('_label')]}_flag" in table.colnames]
        if len(cands) != 1:
            msg = ("cannot tell which task's labels to report: the table has no radioassist provenance and "
                   f"{'no' if not cands else 'several'} <task>_label/<task>_flag column pairs "
                   f"({', '.join(cands) or 'none'}); pass task=")
            raise InputError(msg)
        task_id = cands[0]
    for col in (f"{task_id}_label", f"{task_id}_flag"):
        if col not in table.colnames:
            msg = f"the table has no column {col!r}: is it the output of 'radioassist classify -t {task_id}'?"
            raise InputError(msg)
    prefix = f"{task_id}_prob_"
    labels = list(prov.get("labels") or []) if str(prov.get("task", task_id)) == task_id else []
    if not labels:
        labels = [c[len(prefix):] for c in table.colnames if c.startswith(prefix)]
    multilabel = False
    try:
        from .tasks import get_task
        multilabel = bool(get_task(task_id).multilabel)
    except Exception:  # an unregistered task (read back from a file): treat as single-label
        pass
    return task_id, [str(lab) for lab in labels], multilabel


def _positions(table):
    """SkyCoord of every row and the source size in arcsec (NaN where unknown)."""
    if "skycoord" in table.colnames:
        coords = table["skycoord"]
        sizes = table["source_size"] if "source_size" in table.colnames else None
    else:
        import warnings

        from .catalog import read_catalog

        plain = Table(table, copy=False)
        if "source_size" in plain.colnames:
            plain = plain.copy(copy_data=False)
            plain.remove_column("source_size")  # read_catalog adds it again from the catalogue's own column
        found = dict(table.meta.get("radioassist_catalog") or {})  # the columns classify used, when recorded
        names = {k: found.get(f"{k}_column") for k in ("ra", "dec")}
        names = {k: v for k, v in names.items() if v in plain.colnames} if all(names.values()) else {}
        if len(names) != 2:
            names = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the catalogue was already checked (and warned about) by classify
            try:
                located = read_catalog(plain, **names)
            except InputError as exc:  # e.g. a size column without unit (CSV): positions are what matter here
                log.warning("source sizes not shown: %s", exc)
                located = read_catalog(plain, size=False, **names)
        coords = located["skycoord"]
        sizes = located["source_size"] if "source_size" in located.colnames else None
    coords = plain_icrs(coords)  # every frame (FK5 equinox, FK4, Galactic) becomes plain ICRS here, once
    if sizes is None:
        size_arcsec = np.full(len(table), np.nan)
    else:
        size_arcsec = np.asarray(u.Quantity(sizes).to_value(u.arcsec), dtype=float)
    return coords, size_arcsec


def _confidence(probs, multilabel):
    """Confidence of each prediction: top-class probability, or (multi-label) the least decided class."""
    with np.errstate(invalid="ignore"):
        if probs.shape[1] == 0:
            return np.full(len(probs), np.nan)
        if multilabel:
            return np.min(np.maximum(probs, 1 - probs), axis=1)
        return np.max(probs, axis=1)


def _entropy(probs, multilabel):
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.clip(probs, 1e-12, 1.0)
        if multilabel:
            q = np.clip(1 - probs, 1e-12, 1.0)
            return -np.sum(p * np.log2(p) + q * np.log2(q), axis=1)
        return -np.sum(p * np.log2(p), axis=1)


# ------------------------------------------------------------------------------------------------
# thumbnails
# ------------------------------------------------------------------------------------------------

def _cut_spec(prov):
    """Cutout size and size rule as classify used them (from the provenance)."""
    size = prov.get("cutout_size", 64)
    if isinstance(size, (list, tuple)):  # tiles of different pixel scales: the model's field of view as an angle
        scale, npix = prov.get("model_pixel_scale_arcsec"), prov.get("model_cutout_size_pix")
        size = (float(scale) * float(npix) * u.arcsec) if scale and npix else size[0]
    if not isinstance(size, u.Quantity):
        text = str(size).strip()
        if text.isdigit():
            size = int(text)
        else:
            try:
                size = u.Quantity(text)
            except (TypeError, ValueError):
                log.warning("cannot read cutout_size %r from the provenance: thumbnails use 64 pixels", text)
                size = 64
    from ._parameters import as_size_rule
    rule = as_size_rule(**{key: value for key, value in dict(prov.get("size_rule") or {}).items()
                           if value not in (None, "None")})
    return size, rule


def _tile_sources(images, table, task_id, n):
    """Which image each row's thumbnail comes from: index into ``images`` (-1: none)."""
    which = np.zeros(n, dtype=int)
    if len(images) == 1:
        return which
    tile_col = f"{task_id}_tile"
    if tile_col not in table.colnames:
        msg = (f"several images were given but the table has no {tile_col!r} column telling which row lies in "
               "which: give the one mosaic the table was classified in")
        raise InputError(msg)
    names = {}
    for k, img in enumerate(images):
        if isinstance(img, (str, Path)):
            names.setdefault(Path(img).name, k)
            names.setdefault(str(Path(img).resolve()), k)
            names.setdefault(str(img), k)
        else:
            for key in (getattr(img, "label", None), getattr(img, "filename", None)):
                if key:
                    names.setdefault(str(key), k)
                    names.setdefault(Path(str(key)).name, k)
    tiles = np.asarray(table[tile_col], dtype=str)
    for i, t in enumerate(tiles):
        which[i] = names.get(t, names.get(Path(t).name, -1)) if t else -1
    return which


def _thumbnails(images, rows_by_image, coords, size_arcsec, *, size, rule, preset, thumb, hdu, plane, prov,
                chunk=512):
    """Rendered thumbnails (uint8 (n, thumb, thumb, 3)) of the given rows; None where nothing could be cut."""
    from PIL import Image

    from .domain import cutouts_as_classified
    from .image import load_image
    from .render import render

    out = {}
    for k, rows in rows_by_image.items():
        if not len(rows):
            continue
        with load_image(images[k], hdu=hdu, plane=plane) as img:
            for start in range(0, len(rows), chunk):
                part = rows[start:start + chunk]
                where = coords[part]
                if rule:  # the size rule is applied again to the catalogue sizes
                    where = Table({"skycoord": where, "source_size": size_arcsec[part] * u.arcsec})
                stack = cutouts_as_classified(img, where, prov, size=size)
                keep = np.flatnonzero(np.asarray(stack.nan_fraction) < 1)
                if not len(keep):
                    continue
                rendered = render(stack.data[keep], preset=preset)
                for j, r in enumerate(part[keep]):
                    im = Image.fromarray(rendered[j])
                    if im.size != (thumb, thumb):
                        im = im.resize((thumb, thumb), Image.Resampling.BILINEAR, reducing_gap=2.0)
                    out[int(r)] = im
    return out


def _sheets(thumbs, order, thumb, quality):
    """Pack thumbnails into JPEG sprite sheets; returns (list of JPEG bytes, row -> (sheet, slot))."""
    from PIL import Image

    per_sheet = _SHEET_SIDE * _SHEET_SIDE
    rows = [r for r in order if r in thumbs]
    sheets, where = [], {}
    for s in range(0, len(rows), per_sheet):
        part = rows[s:s + per_sheet]
        grey = all(_is_grey(thumbs[r]) for r in part)
        ncols = min(_SHEET_SIDE, len(part))
        nrows = math.ceil(len(part) / _SHEET_SIDE)
        sheet = Image.new("L" if grey else "RGB", (ncols * thumb, nrows * thumb), 0)
        for slot, r in enumerate(part):
            im = thumbs[r].convert("L") if grey else thumbs[r]
            sheet.paste(im, ((slot % _SHEET_SIDE) * thumb, (slot // _SHEET_SIDE) * thumb))
            where[r] = (len(sheets), slot)
        buf = io.BytesIO()
        sheet.save(buf, format="JPEG", quality=quality, optimize=True)
        sheets.append(buf.getvalue())
    return sheets, where


def _is_grey(im):
    a = np.asarray(im)
    return a.ndim == 2 or (np.array_equal(a[..., 0], a[..., 1]) and np.array_equal(a[..., 0], a[..., 2]))


# ------------------------------------------------------------------------------------------------
# figures (inline SVG written by hand: no matplotlib needed)
# ------------------------------------------------------------------------------------------------

def _footprints(images, hdu, plane):
    from ._frames import image_outline
    from .image import load_image

    out = []
    for img in images:
        with load_image(img, hdu=hdu, plane=plane) as im:
            out.append((str(getattr(im, "label", "") or ""), image_outline(im)))
    return out


def _sky_map(coords, labels, flags, colours, footprints, *, width=560):
    """Inline SVG: footprint outline(s) and sources (offsets from the centre, east to the left).

    ``coords`` and the footprints are plain ICRS (`radioassist._frames.plain_icrs`), whatever frame the
    catalogue and the images state.
    """
    icrs = coords
    ok = np.isfinite(icrs.ra.deg) & np.isfinite(icrs.dec.deg)
    if footprints:
        allsky = SkyCoord(np.concatenate([fp.ra.deg for _, fp in footprints]),
                          np.concatenate([fp.dec.deg for _, fp in footprints]), unit="deg")
    elif ok.any():
        allsky = icrs[ok]
    else:
        return "<p>No valid positions to map.</p>", 0
    # centre: mean unit vector
    xyz = allsky.cartesian.xyz.value.reshape(3, -1).mean(axis=1)
    centre = SkyCoord(x=xyz[0], y=xyz[1], z=xyz[2], representation_type="cartesian").spherical
    centre = SkyCoord(centre.lon, centre.lat, frame="icrs")

    def offsets(sky):
        dlon, dlat = centre.spherical_offsets_to(sky)
        return -dlon.to_value(u.arcmin), dlat.to_value(u.arcmin)  # east left

    fx, fy = offsets(allsky)
    xmin, xmax, ymin, ymax = np.nanmin(fx), np.nanmax(fx), np.nanmax(fy), np.nanmin(fy)
    xmin, xmax, ymax, ymin = float(xmin), float(xmax), float(ymin), float(ymax)
    span = max(xmax - xmin, ymax - ymin, 1e-3)
    pad = 0.06 * span
    xmin, xmax, ymin, ymax = xmin - pad, xmax + pad, ymin - pad, ymax + pad
    scale = (width - 60) / max(xmax - xmin, ymax - ymin)
    w = (xmax - xmin) * scale + 60
    h = (ymax - ymin) * scale + 50

    def px(x, y):
        return 45 + (x - xmin) * scale, 10 + (ymax - y) * scale

    parts = [f'<svg class="skymap" width="{w:.0f}" height="{h:.0f}" '
             f'viewBox="0 0 {w:.0f} {h:.0f}" role="img" aria-label="sky map">',
             f'<rect x="45" y="10" width="{w - 60:.1f}" height="{h - 50:.1f}" fill="#111" stroke="#555"/>']
    for name, fp in footprints:
        x, y = offsets(fp)
        pts = " ".join("%.1f,%.1f" % px(a, b) for a, b in zip(x, y))
        parts.append(f'<polygon points="{pts}" fill="#1e2a38" stroke="#9ab" stroke-width="1">'
                     f'<title>{html.escape(name)}</title></polygon>')
    sx = np.full(len(icrs), np.nan)
    sy = np.full(len(icrs), np.nan)
    if ok.any():
        sx[ok], sy[ok] = offsets(icrs[ok])
    inside = ok & (sx >= xmin) & (sx <= xmax) & (sy >= ymin) & (sy <= ymax)
    first = np.asarray([_first_label(lab) for lab in labels], dtype=object)
    groups = [("", _NO_LABEL, inside & (first == ""))]
    groups += [(lab, col, inside & (first == lab)) for lab, col in colours.items()]
    for lab, col, sel in groups:
        if not sel.any():
            continue
        X, Y = px(sx[sel], sy[sel])
        d = "".join("M%.1f %.1fh0" % (a, b) for a, b in zip(X, Y))
        sw = 2.5 if lab == "" else 4.5
        parts.append(f'<path d="{d}" stroke="{col}" stroke-width="{sw}" stroke-linecap="round" fill="none">'
                     f'<title>{html.escape(lab or "not classified")}: {int(sel.sum())}</title></path>')
    # axes: ticks in arcmin offsets
    step = _nice_step((xmax - xmin) / 5)
    for t in np.arange(math.ceil(xmin / step) * step, xmax, step):
        X, _ = px(t, ymin)
        parts.append(f'<text x="{X:.1f}" y="{h - 26:.1f}" class="tick" text-anchor="middle">{t:g}</text>')
    for t in np.arange(math.ceil(ymin / step) * step, ymax, step):
        _, Y = px(xmin, t)
        parts.append(f'<text x="40" y="{Y + 4:.1f}" class="tick" text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{w / 2:.0f}" y="{h - 8:.0f}" class="axis" text-anchor="middle">'
                 f'&#916;RA cos Dec (arcmin, east left) from {centre.ra.deg:.4f} {centre.dec.deg:+.4f}</text>')
    parts.append(f'<text x="12" y="{h / 2:.0f}" class="axis" text-anchor="middle" '
                 f'transform="rotate(-90 12 {h / 2:.0f})">&#916;Dec (arcmin)</text>')
    parts.append("</svg>")
    return "".join(parts), int(np.sum(ok & ~inside))


def _nice_step(x):
    if not x > 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(x))
    for m in (1, 2, 5, 10):
        if x <= m * mag:
            return m * mag
    return 10 * mag


def _histogram(values, colour, label, *, bins=20, width=260, height=120):
    counts, edges = np.histogram(values[np.isfinite(values)], bins=bins, range=(0, 1))
    top = max(int(counts.max()) if counts.size else 0, 1)
    bw = (width - 40) / bins
    parts = [f'<svg class="hist" width="{width}" height="{height + 36}" '
             f'viewBox="0 0 {width} {height + 36}" role="img" aria-label="histogram of P({html.escape(label)})">',
             f'<text x="{width / 2:.0f}" y="12" class="axis" text-anchor="middle">P({html.escape(label)}), '
             f'{int(np.isfinite(values).sum())} sources</text>']
    for i, c in enumerate(counts):
        bh = (height - 20) * c / top
        parts.append(f'<rect x="{30 + i * bw:.1f}" y="{height - bh:.1f}" width="{bw - 1:.1f}" height="{bh:.1f}" '
                     f'fill="{colour}"><title>{edges[i]:.2f}-{edges[i + 1]:.2f}: {int(c)}</title></rect>')
    parts.append(f'<line x1="30" y1="{height}" x2="{width - 10}" y2="{height}" stroke="#888"/>')
    for t in (0, 0.5, 1):
        parts.append(f'<text x="{30 + t * (width - 40):.1f}" y="{height + 14}" class="tick" '
                     f'text-anchor="middle">{t:g}</text>')
    parts.append(f'<text x="26" y="{height - (height - 20) + 4}" class="tick" text-anchor="end">{top}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _confusion(truth, pred, classified):
    """HTML confusion matrix (rows: truth, columns: predicted) of the classified rows with a truth value."""
    sel = classified & (truth != "")
    if not sel.any():
        return "<p>No classified source has a truth value.</p>", 0, 0
    t, p = truth[sel], pred[sel]
    names = sorted(set(t) | set(p))
    m = {(a, b): int(np.sum((t == a) & (p == b))) for a in names for b in names}
    top = max(m.values()) or 1
    head = "".join(f"<th>{html.escape(b)}</th>" for b in names)
    body = []
    for a in names:
        cells = []
        for b in names:
            v = m[(a, b)]
            alpha = 0.15 + 0.75 * v / top if v else 0
            cls = "diag" if a == b else "off"
            cells.append(f'<td class="{cls}" style="--a:{alpha:.2f}">{v}</td>')
        body.append(f"<tr><th>{html.escape(a)}</th>{''.join(cells)}</tr>")
    n, agree = int(sel.sum()), int(np.sum(t == p))
    table = (f'<table class="confusion"><thead><tr><th>truth \\ predicted</th>{head}</tr></thead>'
             f"<tbody>{''.join(body)}</tbody></table>")
    return table, n, agree


# ------------------------------------------------------------------------------------------------
# the report
# ------------------------------------------------------------------------------------------------

def _asset(name):
    return resources.files("radioassist").joinpath("data", name).read_text(encoding="utf-8")


def _json_script(obj, element_id):
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def _num(x, nd):
    return None if not np.isfinite(x) else round(float(x), nd)


def _images_given(image):
    return image is not None and not (isinstance(image, (list, tuple)) and not image)


def _image_list(image):
    if image is None:
        return []
    if isinstance(image, (list, tuple)):
        return list(image)
    return [image]


def _image_name(image):
    if isinstance(image, (str, Path)):
        return Path(image).name
    filename = getattr(image, "filename", None)
    if filename:
        return Path(filename).name
    return str(getattr(image, "label", None) or "in-memory image")


def _describe_images(images, prov):
    if images:
        return [_image_name(i) for i in images]
    img = prov.get("image")
    return [str(i) for i in img] if isinstance(img, list) else ([str(img)] if img else [])


def write_report(table, image=None, path=None, *, task=None, truth_column=None, thumbnails="embed",
                 thumbnail_size=64, quality=80, hdu=None, plane=None, title=None, table_path=None,
                 overwrite=False):
    """Write a self-contained HTML report of a classification run.

    Parameters
    ----------
    table : `~astropy.table.Table`, str or path
        The labelled catalogue: the output of :func:`radioassist.classify`,
        or a file written by ``radioassist classify`` (its provenance is read
        back: task, labels, model, render preset, cutout size).
    image : str, path, HDU, (array, WCS), `~radioassist.RadioImage`, list, or None
        The mosaic the table was classified in, or the list of mosaics of a
        survey run (rows are matched to them by the ``<task>_tile`` column).
        Thumbnails are cut from it with the cutout size and render preset
        recorded in the provenance, so they show what the model saw.  None:
        no thumbnails and no footprint on the sky map.
    path : str or path
        The HTML file to write.
    task : str or `~radioassist.tasks.Task`, optional
        The task whose labels to report.  Default: the one in the provenance
        (or the only ``<task>_label`` column).
    truth_column : str, optional
        A column of true labels: the report then shows a confusion matrix and
        lists the disagreements first.
    thumbnails : {'embed', 'folder', 'none'}, optional
        ``'embed'`` (default): JPEG sprite sheets inside the HTML as data
        URIs (one file to share); ``'folder'``: sheets written to
        ``<report stem>_files/`` beside the report (smaller HTML, the folder
        must travel with it); ``'none'``: no thumbnails.
    thumbnail_size : int, optional
        Side of each thumbnail in pixels (default 64).
    quality : int, optional
        JPEG quality of the sprite sheets (default 80).
    hdu, plane : optional
        Image HDU and cube plane (see :func:`radioassist.load_image`).
    title : str, optional
        Page title.  Default: ``'radioassist <task>: <image>'``.
    table_path : str or path, optional
        Where an in-memory ``table`` was written (shown in the header);
        default: the file ``table`` was read from, if any.
    overwrite : bool, optional
        Replace an existing report (default False: an existing file is an error).

    Returns
    -------
    path : `~pathlib.Path`
        The report written.

    Raises
    ------
    radioassist.InputError
        For a table without labels of the task, an unknown truth column, a
        bad option or an output that cannot be written.

    Examples
    --------
    >>> import radioassist as ra
    >>> sky = ra.simulate_sky(shape=(256, 256), n_sources=12, seed=3)
    >>> table = ra.classify(sky.image, sky.catalog, task="B6")  # doctest: +SKIP
    >>> ra.write_report(table, sky.image, "run.html")  # doctest: +SKIP
    PosixPath('run.html')
    """
    from .output import check_writable, source_names

    t0 = time.perf_counter()
    if path is None:
        msg = "write_report needs the path of the HTML file to write (path=)"
        raise InputError(msg)
    path = Path(path)
    if thumbnails not in THUMBNAIL_MODES:
        msg = f"thumbnails must be one of {', '.join(THUMBNAIL_MODES)}, got {thumbnails!r}"
        raise InputError(msg)
    if isinstance(thumbnail_size, bool) or not isinstance(thumbnail_size, (int, np.integer)) \
            or not 8 <= thumbnail_size <= 512:
        msg = f"thumbnail_size must be an integer number of pixels from 8 to 512, got {thumbnail_size!r}"
        raise InputError(msg)
    if not 1 <= int(quality) <= 100:
        msg = f"quality must be a JPEG quality from 1 to 100, got {quality!r}"
        raise InputError(msg)
    check_writable(path, overwrite=overwrite)
    table, read_from = _load_table(table)
    table_path = Path(table_path) if table_path is not None else read_from
    prov = dict(table.meta.get("radioassist") or {})
    task_id, labels, multilabel = _find_task(table, prov, task)
    if not prov and _images_given(image):
        log.warning("the table records no radioassist provenance (a CSV file?): thumbnails use the "
                    "'radio-llava' preset and 64-pixel cutouts, which may differ from what the model saw")
    if truth_column is not None and truth_column not in table.colnames:
        msg = (f"truth column {truth_column!r} is not in the table; its columns are: "
               f"{', '.join(table.colnames)}")
        raise InputError(msg)
    images = _image_list(image)
    n = len(table)

    pred = np.asarray([str(v) for v in table[f"{task_id}_label"]], dtype=object)
    pred[pred == "--"] = ""
    flags = np.asarray([str(v).strip() for v in table[f"{task_id}_flag"]], dtype=object)
    flags[flags == "--"] = ""
    probs = np.full((n, len(labels)), np.nan)
    for j, lab in enumerate(labels):
        col = f"{task_id}_prob_{lab}"
        if col in table.colnames:
            probs[:, j] = np.ma.filled(np.ma.asarray(table[col], dtype=float), np.nan)
    classified = flags == ""
    probs[~classified] = np.nan
    conf = _confidence(probs, multilabel)
    ent = _entropy(probs, multilabel)
    truth = None
    if truth_column is not None:
        col = table[truth_column]
        mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else np.zeros(n, bool)
        truth = np.asarray(["" if mask[i] else str(v).strip() for i, v in enumerate(col)], dtype=object)
    coords, size_arcsec = _positions(table)
    names, name_col = source_names(table)

    # default order: disagreements first (with a truth column), then the least confident; unclassified last
    disagree = (classified & (truth != "") & (truth != pred)) if truth is not None else np.zeros(n, bool)
    conf_key = np.where(np.isfinite(conf), conf, 2.0)
    order = np.lexsort((np.arange(n), conf_key, ~classified, ~disagree))
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(1, n + 1)

    # thumbnails of the rows the model could see
    preset = prov.get("render_preset") or "radio-llava"
    if isinstance(preset, list):
        preset = preset[0]
    size, rule = _cut_spec(prov)
    sheets, where = [], {}
    t_thumb = time.perf_counter()
    if images and thumbnails != "none":
        which = _tile_sources(images, table, task_id, n)
        pos_ok = np.isfinite(coords.ra.deg) & np.isfinite(coords.dec.deg)
        want = pos_ok & (which >= 0) & ~np.isin(flags, _NO_PIXELS)
        by_image = {k: np.flatnonzero(want & (which == k)) for k in range(len(images))}
        thumbs = _thumbnails(images, by_image, coords, size_arcsec, size=size, rule=rule, preset=preset,
                             thumb=int(thumbnail_size), hdu=hdu, plane=plane, prov=prov)
        sheets, where = _sheets(thumbs, order, int(thumbnail_size), int(quality))
    t_thumb = time.perf_counter() - t_thumb

    colours = _label_colours(task_id, labels, [lab for lab in sorted(set(_first_label(p) for p in pred))
                                               if lab and lab not in labels])
    ra_deg = coords.ra.deg
    dec_deg = coords.dec.deg
    finite = np.isfinite(ra_deg) & np.isfinite(dec_deg)
    ra_hms = np.full(n, "", dtype=object)
    dec_dms = np.full(n, "", dtype=object)
    if finite.any():
        good = coords[finite]
        ra_hms[finite] = good.ra.to_string(unit=u.hourangle, sep=":", precision=2, pad=True)
        dec_dms[finite] = good.dec.to_string(unit=u.deg, sep=":", precision=1, alwayssign=True, pad=True)

    tile_col = f"{task_id}_tile"
    tiles = (np.asarray([str(v) for v in table[tile_col]], dtype=object) if tile_col in table.colnames
             else np.full(n, "", dtype=object))
    rows = []
    for i in range(n):
        s, slot = where.get(i, (-1, -1))
        rows.append([
            int(rank[i]), names[i], _num(ra_deg[i], 6), _num(dec_deg[i], 6), ra_hms[i], dec_dms[i],
            _num(size_arcsec[i], 2), pred[i], [_num(p, 4) for p in probs[i]], _num(conf[i], 4), _num(ent[i], 4),
            flags[i], "" if truth is None else truth[i], s, slot, tiles[i],
        ])

    # per-class gallery strip: most and least confident rows of each label that have a thumbnail
    gallery = {}
    first = np.asarray([_first_label(p) for p in pred], dtype=object)
    for lab in colours:
        sel = np.flatnonzero(classified & (first == lab) & np.isin(np.arange(n), list(where)))
        if not len(sel):
            continue
        j = labels.index(lab) if lab in labels else None
        key = probs[sel, j] if j is not None and not multilabel else conf[sel]
        srt = sel[np.argsort(-key, kind="stable")]
        gallery[lab] = {"most": [int(r) for r in srt[:_GALLERY_N]],
                        "least": [int(r) for r in srt[::-1][:_GALLERY_N]]}

    # counts
    label_counts = {}
    for p in pred[classified]:
        for lab in (p.split(",") if p else ["(none)"]):
            label_counts[lab] = label_counts.get(lab, 0) + 1
    flag_counts = {}
    for f in flags:
        key = f or "ok (classified)"
        flag_counts[key] = flag_counts.get(key, 0) + 1

    footprints = _footprints(images, hdu, plane) if images else []
    skymap, n_off_map = _sky_map(coords, pred, flags, colours, footprints)
    hists = "".join(_histogram(probs[:, j], colours.get(lab, _NO_LABEL), lab) for j, lab in enumerate(labels))
    confusion_html = ""
    if truth is not None:
        cm, n_truth, n_agree = _confusion(truth, pred, classified)
        frac = f" ({100 * n_agree / n_truth:.1f} %)" if n_truth else ""
        confusion_html = (f'<section id="confusion"><h2>Truth ({html.escape(truth_column)}) vs predicted</h2>'
                          f"<p>{n_agree} of {n_truth} classified sources with a truth value agree{frac}; "
                          f"{int(disagree.sum())} disagreements are listed first in the table.</p>{cm}</section>")

    # sheets: embedded data URIs, or files in a folder beside the report
    if thumbnails == "folder" and sheets:
        folder = path.with_name(f"{path.stem}_files")
        folder.mkdir(exist_ok=True)
        sheet_urls = []
        for k, data in enumerate(sheets):
            name = f"sheet_{k:05d}.jpg"
            (folder / name).write_bytes(data)
            sheet_urls.append(f"{folder.name}/{name}")
    else:
        sheet_urls = ["data:image/jpeg;base64," + base64.b64encode(d).decode("ascii") for d in sheets]

    image_names = _describe_images(images, prov)
    model = prov.get("model")
    sha = prov.get("model_sha256")
    header = [
        ("Mosaic" + ("s" if len(image_names) > 1 else ""), ", ".join(image_names) or "not given"),
        ("Catalogue", str(prov.get("catalog") or (table_path.name if table_path else "in memory"))),
        ("Labelled table", str(table_path) if table_path else "in memory"),
        ("Task", f"{task_id}" + (f" ({prov['task_name']})" if prov.get("task_name") else "")
         + f"; labels: {', '.join(labels)}" + (" (multi-label)" if multilabel else "")),
        ("Backend / model", f"{prov.get('backend', '?')} / {model or '?'}"
         + (f" (sha256 {sha[:16]}...)" if sha else "")),
        ("Render preset", str(preset)),
        ("Cutout size", f"{prov.get('cutout_size', '?')}" + (" px" if str(size).isdigit() else "")
         + (f" ({prov['cutout_size_note']})" if prov.get("cutout_size_note") else "")),
        ("Pixel scale", f"{prov.get('pixel_scale_arcsec', '?')} arcsec"),
        ("radioassist version", f"{prov.get('radioassist_version', '?')} (report by {__version__})"),
        ("Run date", str(prov.get("created", "?"))),
        ("Report date", time.strftime("%Y-%m-%dT%H:%M:%S%z")),
        ("Sources", f"{n} ({int(classified.sum())} classified, {n - int(classified.sum())} not; the table "
                    "opens on the classified rows: Flag 'all' shows every row)"),
    ]
    gate = prov.get("gate")
    if isinstance(gate, dict) and gate:
        header.insert(4, ("Gate", f"{gate.get('task', '?')} {gate.get('label', '')} "
                                  f"(P >= {gate.get('threshold', '?')}): the task applies to "
                                  f"{gate.get('applies_to', '?')}; {gate.get('n_not_applicable', '?')} of "
                                  f"{gate.get('n_seen', '?')} sources flagged not_applicable; model "
                                  f"{gate.get('model', '?')}"))
    meta = {
        "task": task_id, "labels": labels, "multilabel": multilabel, "colours": colours,
        "no_label_colour": _NO_LABEL, "truth": truth_column, "name_column": name_col, "thumb": int(thumbnail_size),
        "sheet_side": _SHEET_SIDE, "n": n, "gallery": gallery, "page_size": 100,
        "columns": ["rank", "name", "ra", "dec", "ra_hms", "dec_dms", "size", "label", "probs", "confidence",
                    "entropy", "flag", "truth", "sheet", "slot", "tile"],
        "has_tile": tile_col in table.colnames,
    }
    title = title or f"radioassist {task_id}: {', '.join(image_names) or 'report'}"
    page = _asset("report.html")
    header_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in header)
    if sha:
        header_html = header_html.replace(html.escape(f"(sha256 {sha[:16]}...)"),
                                          f'<span title="{sha}">(sha256 {sha[:16]}&#8230;)</span>')

    def chips(counts, colour_of):
        return "".join(f'<span class="chip" style="--c:{colour_of(k)}">{html.escape(k)}: {v}</span>'
                       for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))

    counts_html = (f'<p><b>Labels</b> {chips(label_counts, lambda k: colours.get(k, _NO_LABEL))}</p>'
                   f'<p><b>Flags</b> {chips(flag_counts, lambda k: "#3a7" if k.startswith("ok") else "#a63")}</p>')
    off = f" {n_off_map} sources lie outside the map and are not drawn." if n_off_map else ""
    legend = "".join(f'<span class="chip" style="--c:{c}">{html.escape(k)}</span>' for k, c in colours.items())
    legend += f'<span class="chip" style="--c:{_NO_LABEL}">not classified</span>'
    replacements = {
        "{{TITLE}}": html.escape(title),
        "{{CSS}}": _asset("report.css"),
        "{{JS}}": _asset("report.js"),
        "{{HEADER}}": header_html,
        "{{COUNTS}}": counts_html,
        "{{SKYMAP}}": skymap,
        "{{SKYMAP_NOTE}}": html.escape(off) + f"<br>{legend}",
        "{{HISTOGRAMS}}": hists,
        "{{CONFUSION}}": confusion_html,
        "{{DATA}}": _json_script(meta, "ra-meta") + _json_script(rows, "ra-rows")
        + _json_script(sheet_urls, "ra-sheets"),
    }
    for key, value in replacements.items():
        page = page.replace(key, value)
    path.write_text(page, encoding="utf-8")
    log.debug("wrote report of %d sources (%d thumbnails in %d sheets, %.1f MB) to %s in %.1f s "
             "(thumbnails %.1f s)", n, len(where), len(sheets), path.stat().st_size / 1e6, path,
             time.perf_counter() - t0, t_thumb)
    return path
