"""Write labelled catalogues (VOTable, FITS, ECSV, CSV) with their provenance, and DS9 region files.

The provenance dictionary in ``table.meta['radioassist']`` survives every
format: ECSV keeps it as YAML, FITS as ``HIERARCH RADIOASSIST ...`` header
cards, VOTable as ``INFO`` elements.
"""
import json
import os
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table

from .exceptions import InputError
from .logger import log

__all__ = ["write_table", "read_provenance", "write_regions", "source_names", "FORMATS"]

_NAME_HINTS = ("source_name", "name", "source_id", "id", "objname", "object", "island_name", "component_name")

#: File extension -> astropy format name.
FORMATS = {".vot": "votable", ".xml": "votable", ".votable": "votable", ".fits": "fits", ".fit": "fits",
           ".ecsv": "ascii.ecsv", ".csv": "ascii.csv"}

# columns added by read_catalog that are not plain data (mixins), dropped or flattened on output
_INTERNAL = ("skycoord",)


def _format_for(path, format=None):
    if format:
        return format
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise InputError(f"cannot tell the output format of {path}: use one of the extensions "
                         f"{', '.join(sorted(FORMATS))}")
    return FORMATS[suffix]


def check_writable(path, *, overwrite=False):
    """Raise a clear error if ``path`` exists (without ``overwrite``) or its folder cannot be written."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"{path} already exists: pass overwrite=True (--overwrite) to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not parent.is_dir():
        raise InputError(f"cannot write {path}: {parent} is a file, not a folder")
    if not parent.is_dir():
        raise InputError(f"cannot write {path}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise InputError(f"cannot write {path}: folder {parent} is not writable")


def _plain_table(table):
    out = Table(table, copy=False)
    for name in _INTERNAL:
        if name in out.colnames:
            out.remove_column(name)
    for name in out.colnames:
        col = out[name]
        if col.dtype == object:
            out[name] = np.asarray([str(v) for v in col], dtype=str)
    return out


def write_table(table, path, *, overwrite=False, format=None):
    """Write a labelled catalogue; the format follows the extension (.vot/.xml, .fits, .ecsv, .csv).

    Parameters
    ----------
    table : `~astropy.table.Table`
        Output of :func:`radioassist.classify` (or any table).
    path : str or path
        Output file.
    overwrite : bool, optional
        Replace an existing file (default False: an existing file is an error).
    format : str, optional
        astropy format name, overriding the extension.
    """
    fmt = _format_for(path, format)
    check_writable(path, overwrite=overwrite)
    out = _plain_table(table)
    provenance = dict(out.meta.get("radioassist", {}))
    tmp = Path(str(path) + ".part")
    if fmt == "fits":
        meta = {k: v for k, v in out.meta.items() if k != "radioassist" and _fits_ok(k, v)}
        out.meta.clear()
        out.meta.update(meta)
        hdu = fits.table_to_hdu(out)
        for key, value in provenance.items():
            hdu.header[f"HIERARCH RADIOASSIST {key.upper()}"] = _fits_value(value)
        hdu.header["EXTNAME"] = "CATALOG"
        fits.HDUList([fits.PrimaryHDU(), hdu]).writeto(tmp, overwrite=True)
    elif fmt == "votable":
        from astropy.io.votable import from_table
        from astropy.io.votable.tree import Info
        out.meta = {k: v for k, v in out.meta.items() if k != "radioassist" and isinstance(v, str)}
        vot = from_table(out)
        resource = vot.resources[0]
        for key, value in provenance.items():
            resource.infos.append(Info(name=f"radioassist_{key}", value=_text(value)))
        vot.to_xml(str(tmp))
    elif fmt == "ascii.csv":
        out.meta.clear()  # CSV keeps no metadata: say so
        out.write(tmp, format=fmt, overwrite=True)
        log.warning("CSV output keeps no provenance; use .ecsv, .fits or .vot to record how it was made")
    else:
        out.meta = {k: v for k, v in out.meta.items()}
        out.meta["radioassist"] = provenance
        out.write(tmp, format=fmt, overwrite=True)
    os.replace(tmp, path)  # never leave a half-written catalogue under the final name
    log.debug("wrote %d rows to %s", len(out), path)
    return Path(path)


def read_provenance(path):
    """Read back ``meta['radioassist']`` from a file written by :func:`write_table`."""
    fmt = _format_for(path)
    if fmt == "fits":
        header = fits.getheader(path, 1)
        out = {}
        for card in header.cards:
            if card.keyword.startswith("RADIOASSIST "):
                key = card.keyword[len("RADIOASSIST "):].lower()
                out[key] = _unjson(card.value)
        return out
    if fmt == "votable":
        from astropy.io.votable import parse
        vot = parse(str(path))
        return {info.name[len("radioassist_"):]: _unjson(info.value)
                for info in vot.resources[0].infos if info.name.startswith("radioassist_")}
    return dict(Table.read(path, format=fmt).meta.get("radioassist", {}))


def _fits_ok(key, value):
    return isinstance(value, (str, int, float, bool)) and len(str(key)) <= 60


def _fits_value(value):
    if isinstance(value, (int, float, bool)) or value is None:
        return value if value is not None else ""
    return _text(value)  # long values (JSON lists and dicts) continue on CONTINUE cards, whole


def _text(value):
    if isinstance(value, str):
        return value
    return json.dumps(value)


def _unjson(value):
    if isinstance(value, str) and value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def write_regions(table, path, *, task, radius=None, unclassified=False, overwrite=False):
    """Write a DS9 region file with one circle per classified source, coloured and labelled by its class.

    Each label has the fixed colour of :func:`radioassist.colours.label_colours`
    (the same in galleries and reports, whatever the run found).

    Parameters
    ----------
    table : `~astropy.table.Table`
        A classified catalogue (with ``skycoord`` or ``ra``/``dec`` and ``<task>_label``).
    path : str or path
        Output ``.reg`` file.
    task : `~radioassist.tasks.Task`
        The task whose labels colour the regions.
    radius : `~astropy.units.Quantity`, optional
        Circle radius; default: half the catalogue size when known, else 10 arcsec.
    unclassified : bool, optional
        Also draw the rows on the image that were not classified (grey, with
        their flag as text).  Rows off the image (flags ``outside``,
        ``no_tile``, ``bad_position``) are never drawn.  Default False: only
        classified rows.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    `~pathlib.Path`
        The file written.
    """
    from regions import CircleSkyRegion, Regions

    from .colours import NO_LABEL_COLOUR, NOT_APPLICABLE_COLOUR, hex_colour, label_colours
    from .flags import FLAG_NOT_APPLICABLE, OFF_IMAGE_FLAGS

    check_writable(path, overwrite=overwrite)
    if "skycoord" in table.colnames:
        coords = table["skycoord"]
    else:
        coords = SkyCoord(table["ra"], table["dec"], unit="deg")
    colours = {lab: hex_colour(rgb) for lab, rgb in label_colours(task).items()}
    label_col = table[f"{task.id}_label"]
    flag_col = table[f"{task.id}_flag"] if f"{task.id}_flag" in table.colnames else None
    sizes = table["source_size"] if "source_size" in table.colnames else None
    regs = []
    for i in range(len(table)):
        flag = str(flag_col[i]).strip() if flag_col is not None else ""
        if flag and (not unclassified or flag.split(":")[0] in OFF_IMAGE_FLAGS):
            continue
        coord = coords[i]
        if not np.isfinite(coord.spherical.lon.deg) or not np.isfinite(coord.spherical.lat.deg):
            continue
        rad = radius
        if rad is None:
            rad = 10 * u.arcsec
            if sizes is not None:
                value = u.Quantity(sizes[i], u.arcsec)
                if np.isfinite(value.value) and value.value > 0:
                    rad = max(value / 2, 3 * u.arcsec)
        label = str(label_col[i])
        if flag:
            text = f"not classified: {flag}"
            colour = hex_colour(NOT_APPLICABLE_COLOUR if flag == FLAG_NOT_APPLICABLE else NO_LABEL_COLOUR)
        else:
            text = label
            colour = colours.get(label.split(",")[0], hex_colour(NO_LABEL_COLOUR))
        regs.append(CircleSkyRegion(coord, rad, meta={"text": text}, visual={"color": colour}))
    tmp = str(path) + ".part"
    Regions(regs).write(tmp, format="ds9", overwrite=True)
    os.replace(tmp, path)
    return Path(path)


def source_names(table):
    """Each row's name for people: the catalogue's source-name column, else ``'row <i>'``.

    Parameters
    ----------
    table : `~astropy.table.Table`

    Returns
    -------
    names : list of str
    column : str or None
        The column the names came from.
    """
    lower = {c.lower(): c for c in table.colnames}
    for hint in _NAME_HINTS:
        if hint in lower:
            col = table[lower[hint]]
            if np.issubdtype(np.asarray(col).dtype, np.number):  # numbers alone say little: 'source_id 12'
                return [f"{lower[hint]} {v}" for v in col], lower[hint]
            return [str(v).strip() for v in col], lower[hint]
    return [f"row {i}" for i in range(len(table))], None
