"""Read source catalogues and region files: positions (``SkyCoord``) and sizes.

:func:`read_catalog` accepts what survey pipelines write (VOTable, FITS,
ECSV, CSV and ASCII tables from PyBDSF, Selavy, Aegean, FIRST/NVSS, LoTSS,
VizieR exports) or DS9/CRTF region files, finds the position and source-size
columns (by UCD, then by name), interprets their units (including odd
spellings and sexagesimal strings) and returns the table with a ``skycoord``
column and, when a size is known, a ``source_size`` column in arcsec.
"""
import os
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from . import _catalog_columns as cc
from .exceptions import CatalogError, RadioassistWarning
from .logger import log

__all__ = ["read_catalog"]

_REGION_EXT = (".reg", ".crtf", ".ds9", ".region", ".regions")
_VOTABLE_EXT = (".xml", ".vot", ".votable", ".vo")
_FITS_EXT = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fz")
_ECSV_EXT = (".ecsv",)
_CSV_EXT = (".csv", ".csv.gz")
_REGION_FORMATS = ("ds9", "crtf", "region", "regions")
#: largest angular distance (arcsec) between two equally good position columns
#: for them to count as the same positions
_AGREE_ARCSEC = 1.0
_SHOW_ROWS = 10


def read_catalog(source, *, ra=None, dec=None, size=None, size_unit=None, frame=None,
                 wcs=None, format=None):
    """Read a source catalogue or a region file and locate positions and sizes.

    Parameters
    ----------
    source : str, path-like, `~astropy.table.Table` or `~regions.Regions`
        A VOTable (``.xml``/``.vot``), FITS table, ECSV, CSV or ASCII table
        (PyBDSF ``.srl``, Selavy ``.txt``, VizieR exports...), a DS9 or CRTF
        region file, or a table already in memory.
    ra, dec : str, optional
        Names of the longitude / latitude columns (RA/Dec, or Galactic l/b),
        overriding the detection.
    size : str or bool, optional
        Name of the angular source-size column; ``False`` ignores sizes;
        ``None`` (default) detects one (largest angular size, fitted major
        axis...; never a beam/PSF or error column); ``True`` detects one and
        raises `CatalogError` when there is none.
    size_unit : str or `~astropy.units.Unit`, optional
        Unit of the size column, for files that do not give one (or give a
        wrong one).
    frame : str or coordinate frame, optional
        Celestial frame of the positions when the file does not say
        (default ``'icrs'``).  VOTable COOSYS, FITS RADESYS and column names
        (``RAJ2000``: FK5 J2000; ``GLON``: Galactic) take precedence.
    wcs : `~astropy.wcs.WCS`, optional
        WCS of the image, needed only for region files in pixel
        ('image') coordinates, or sizes given in pixels.
    format : str, optional
        File format (``'votable'``, ``'fits'``, ``'ecsv'``, ``'csv'``,
        ``'ascii'``, ``'ds9'``, ``'crtf'`` or any `astropy.table.Table.read`
        format); guessed from the extension and the content when omitted.

    Returns
    -------
    table : `~astropy.table.Table`
        Every original column and row, in order, plus ``skycoord``
        (`~astropy.coordinates.SkyCoord`), ``position_ok`` (bool) and, when
        a size is known, ``source_size`` (arcsec).  ``table.meta
        ['radioassist_catalog']`` records the source, the columns used, the
        size unit, the frame and the format.

    Raises
    ------
    CatalogError
        When no position columns can be recognised (or the choice is
        ambiguous), no row has a valid position, a size column has no unit,
        or the file cannot be read.

    Warns
    -----
    RadioassistWarning
        For rows without a valid position, and skipped region lines/shapes.

    Examples
    --------
    >>> from astropy.table import Table
    >>> from radioassist.catalog import read_catalog
    >>> t = Table({'RA': ['12:30:49.4', '13:25:27.6'], 'DEC': ['+12:23:28', '-43:01:09'],
    ...            'Maj': [5.0, 20.0]})
    >>> t['Maj'].unit = 'arcsec'
    >>> cat = read_catalog(t)
    >>> cat['skycoord'][0].to_string('decimal', precision=4)
    '187.7058 12.3911'
    >>> cat['source_size'].quantity[1]
    <Quantity 20. arcsec>
    >>> cat.meta['radioassist_catalog']['ra_column']
    'RA'
    """
    if (isinstance(source, Table) and "radioassist_catalog" in source.meta and "skycoord" in source.colnames
            and "position_ok" in source.colnames and len(source)
            and all(v is None for v in (ra, dec, size, size_unit, frame, wcs, format))):
        return source.copy(copy_data=False)  # already read: positions and sizes are known
    if size is True:
        size_required = True
        size = None
    else:
        size_required = False
    for name, value in (("ra", ra), ("dec", dec)):
        if value is not None and not isinstance(value, str):
            msg = f"{name}= must be a column name (str), got {value!r}"
            raise CatalogError(msg)
    if size is not None and size is not False and not isinstance(size, str):
        msg = f"size= must be a column name, False or None, got {size!r}"
        raise CatalogError(msg)

    table, info = _load(source, format=format, wcs=wcs)
    if len(table) == 0:
        msg = f"{info['source']} has no rows"
        raise CatalogError(msg)

    if info.get("region_frame") is not None:
        # region files: positions and extents are ours, with known names and units
        names = table.colnames
        ra, dec = names[2], names[3]
        frame = info["region_frame"]
        size = "extent" if size is not False else False
        info["force_frame"] = True

    out = table.copy(copy_data=False)
    coord, ra_name, dec_name = _positions(out, ra=ra, dec=dec, frame=frame, info=info)
    ok = np.isfinite(coord.spherical.lon.deg) & np.isfinite(coord.spherical.lat.deg)

    size_name, sizes, used_unit = _sizes(out, size=size, size_unit=size_unit, wcs=wcs,
                                         info=info, required=size_required)

    written = ["skycoord", "position_ok"] + (["source_size"] if sizes is not None else [])
    for extra in written:
        if extra in out.colnames and extra not in (ra_name, dec_name, size_name):
            warnings.warn(f"{info['source']}: replacing the existing column {extra!r} with "
                          "the one computed by radioassist", RadioassistWarning)
    out["skycoord"] = coord
    out["position_ok"] = ok
    if sizes is not None:
        out["source_size"] = sizes

    out.meta["radioassist_catalog"] = dict(
        source=info["source"], ra_column=ra_name, dec_column=dec_name,
        size_column=size_name, size_unit=used_unit, frame=coord.frame.name,
        format=info["format"], family=info.get("family"))
    log.info("%s: %d rows; positions from columns %s/%s (%s); %s", info["source"],
             len(out), ra_name, dec_name, coord.frame.name,
             f"source sizes from column {size_name} [{used_unit}]" if size_name
             else ("source sizes not used" if size is False else "no source-size column"))
    return out


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------

#: ``Table.meta`` key naming where an in-memory catalogue came from, for messages (e.g. "sources found in X").
TABLE_LABEL_KEY = "radioassist_source_label"


def _load(source, *, format, wcs):
    """Return ``(table, info)`` for any accepted input."""
    info = {"format": None, "source": None, "preamble": "", "coosys": {},
            "coosys_default": None, "region_frame": None}
    if isinstance(source, Table):
        info.update(source=str(source.meta.get(TABLE_LABEL_KEY) or "the given table"), format="table")
        return source, _with_family(source, info)
    if "regions" in sys.modules:  # region objects need regions imported (~0.8 s, with matplotlib): else none
        from regions import Region, Regions
    else:
        Region = Regions = ()
    if isinstance(source, Regions) or (isinstance(source, (list, tuple)) and source
                                       and all(isinstance(r, Region) for r in source)):
        from .regionfiles import regions_to_table
        table = regions_to_table(list(source), wcs=wcs, source="<Regions>")
        info.update(source="<Regions>", format="regions", region_frame=table.meta["region_frame"])
        return table, info
    if not isinstance(source, (str, os.PathLike)):
        msg = (f"cannot read a catalogue from a {type(source).__name__}: give a file path, "
               "an astropy Table or a regions.Regions object")
        raise CatalogError(msg)
    path = Path(source).expanduser()
    info["source"] = str(source)
    if not path.exists():
        msg = f"catalogue file not found: {source}"
        raise CatalogError(msg)
    if path.is_dir():
        msg = f"{source} is a directory, not a catalogue file"
        raise CatalogError(msg)

    fmt = _guess_format(path, format)
    info["format"] = fmt
    if fmt in _REGION_FORMATS:
        from .regionfiles import read_region_file
        table = read_region_file(path, format=None if fmt in ("region", "regions") else fmt,
                                 wcs=wcs)
        info["region_frame"] = table.meta["region_frame"]
        info["format"] = table.meta.get("region_format", fmt)
        return table, info
    try:
        if fmt == "votable":
            table = _read_votable(path, info)
        elif fmt == "fits":
            table = _read_quietly(path, format="fits")
        elif fmt == "ecsv":
            table = _read_quietly(path, format="ascii.ecsv")
        elif fmt in ("csv", "ascii"):
            table = _read_ascii(path, info, csv=(fmt == "csv"))
        else:
            table = _read_quietly(path, format=fmt)
    except CatalogError:
        raise
    except Exception as exc:
        msg = (f"cannot read {source} as a {fmt} table ({type(exc).__name__}: {exc}); "
               "pass format= if the format was guessed wrongly")
        raise CatalogError(msg) from exc
    if not isinstance(table, Table):  # pragma: no cover - defensive
        msg = f"{source} did not give a table"
        raise CatalogError(msg)
    return table, _with_family(table, info)


def _with_family(table, info):
    info["family"] = cc.detect_family(table.colnames, info.get("preamble", ""))
    return info


def _guess_format(path, format):
    if format is not None:
        fmt = str(format).lower()
        aliases = {"vot": "votable", "xml": "votable", "fits": "fits", "fit": "fits",
                   "ascii.ecsv": "ecsv", "ascii.csv": "csv", "srl": "ascii",
                   "pybdsf": "ascii", "selavy": "ascii", "txt": "ascii"}
        return aliases.get(fmt, fmt)
    name = path.name.lower()
    if name.endswith(_FITS_EXT):
        return "fits"
    if name.endswith(_VOTABLE_EXT):
        return "votable"
    if name.endswith(_ECSV_EXT):
        return "ecsv"
    head = _head_bytes(path)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    text = head.decode("utf-8", "replace")
    stripped = text.lstrip()
    if stripped.startswith("<?xml") or stripped[:200].upper().find("<VOTABLE") >= 0:
        return "votable"
    if stripped.startswith("# %ECSV"):
        return "ecsv"
    if name.endswith(_REGION_EXT):
        return "region"
    from .regionfiles import sniff_region_format
    if sniff_region_format(text, filename=name) is not None:
        return "region"
    if name.endswith(_CSV_EXT):
        return "csv"
    return "ascii"


def _read_bytes(path, n=-1):
    """Bytes of a file (the first ``n`` when ``n >= 0``), decompressing gzip/bzip2/xz."""
    from astropy.utils.data import get_readable_fileobj
    try:
        with get_readable_fileobj(str(path), encoding="binary") as fh:
            return fh.read(n)
    except (OSError, EOFError, ValueError) as exc:
        msg = f"cannot read {path}: {exc}"
        raise CatalogError(msg) from exc


def _head_bytes(path, n=8192):
    return _read_bytes(path, n)


def _read_quietly(path, **kwargs):
    """``Table.read`` with unit/VO warnings sent to the debug log."""
    if isinstance(path, Path):
        path = str(path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        table = Table.read(path, **kwargs)
    for w in caught:
        log.debug("catalogue reader: %s", w.message)
    return table


def _read_votable(path, info):
    from astropy.io import votable

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        vot = votable.parse(str(path), verify="ignore")
        tables = [t for t in vot.iter_tables()]
        if not tables:
            msg = f"{path} is a VOTable without any TABLE"
            raise CatalogError(msg)
        vtab = next((t for t in tables if t.array is not None and len(t.array)), tables[0])
        if len(tables) > 1:
            log.info("%s holds %d tables; reading the first one with rows", path, len(tables))
        try:
            table = vtab.to_table(use_names_over_ids=True)
        except Exception:  # duplicate names: fall back to the unique IDs
            table = vtab.to_table()
    for w in caught:
        log.debug("%s: %s", path, w.message)
    coosys = {c.ID: c for c in vot.iter_coosys()}
    if len(coosys) == 1:
        info["coosys_default"] = next(iter(coosys.values()))
    for fld in vtab.fields:
        ref = getattr(fld, "ref", None)
        if ref and ref in coosys:
            for key in (fld.ID, fld.name):
                if key:
                    info["coosys"][key] = coosys[ref]
    return table


# --- ASCII -----------------------------------------------------------------

_UNITS_TOKEN = re.compile(r"^(\[.*\]|\(.*\)|-+|--)$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eEdD][+-]?\d+)?$")
_DASHES = re.compile(r"^[\s\-+|=;,\t]*-[\s\-+|=;,\t]*$")


def _read_ascii(path, info, *, csv=False):
    """Read CSV/ASCII tables, including commented headers (PyBDSF ``.srl``),
    a commented units line (Selavy ``.txt``) and VizieR TSV units/dash lines."""
    lines = _read_bytes(path).decode("utf-8", "replace").splitlines()
    comments, i0 = [], None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s.startswith("#"):
            comments.append(s.lstrip("#").strip())
            continue
        i0 = i
        break
    info["preamble"] = "\n".join(comments)
    if i0 is None:
        msg = f"{path} holds no data rows"
        raise CatalogError(msg)
    first = lines[i0]
    delim = "," if (csv or "," in first) else ("\t" if "\t" in first else
                                               ("|" if first.count("|") >= 2 else None))

    # 1. names (and units) in the last comment lines: PyBDSF .srl, Selavy .txt
    named = [ln for ln in lines[:i0] if ln.strip().startswith("#") and ln.strip("# \t")]
    if named:
        units = None
        last = named[-1].replace("#", " ", 1)
        if len(named) >= 2 and _is_units_line(last, delim):
            header = named[-2].replace("#", " ", 1)
            names = _split(header, delim)
            units = _split(last, delim)
            if len(units) != len(names) and delim is None:
                units = _align_units(header, last)
        else:
            names = _split(last, delim)
        nfirst = len(_split(first, delim))
        names = _dedupe(names)
        if (len(names) >= 2
                and all(re.match(r"^[A-Za-z_][\w.()\-\[\]/]*$", n) for n in names)
                and (nfirst == len(names) or (delim is None and len(names) - 2 <= nfirst < len(names)))
                and _has_number(first, delim)
                and not (units is not None and len(units) != len(names))):
            data = [ln for ln in lines[i0:] if ln.strip() and not ln.lstrip().startswith("#")]
            table = _table_from_rows(data, names, delim, path)
            if units is not None:
                _apply_units(table, units)
            return table

    # 2. VizieR ASU/TSV: header line, optional units line, dashes line
    for k in (1, 2):
        if i0 + k < len(lines) and _DASHES.match(lines[i0 + k]) and "-" in lines[i0 + k]:
            names = _split(first, delim)
            units = _split(lines[i0 + 1], delim) if k == 2 else None
            data = [ln for ln in lines[i0 + k + 1:]
                    if ln.strip() and not ln.lstrip().startswith("#")]
            table = _table_from_rows(data, names, delim, path)
            if units is not None and len(units) == len(names):
                _apply_units(table, units)
            return table

    # 3. ordinary tables: astropy (comment lines skipped)
    text = "\n".join(lines)
    if delim == ",":
        return _read_quietly(text, format="ascii.csv", comment="#")
    try:
        return _read_quietly(text, format="ascii", comment="#", guess=True)
    except Exception:
        return _read_quietly(text, format="ascii.basic", comment="#", delimiter=delim)


def _dedupe(names):
    seen, out = {}, []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}_{seen[n]}")
        else:
            seen[n] = 1
            out.append(n)
    return out


def _split(line, delim):
    if delim is None:
        return line.split()
    if delim == ",":
        import csv as _csv
        return [p.strip() for p in next(_csv.reader([line]))]
    return [p.strip() for p in line.split(delim)]


def _align_units(header, units_line):
    """Units of a fixed-width commented header whose units line leaves blanks:
    each unit goes to the overlapping column name whose end is nearest."""
    spans = [(m.start(), m.end()) for m in re.finditer(r"\S+", header)]
    out = [""] * len(spans)
    for m in re.finditer(r"\S+", units_line):
        a, b = m.start(), m.end()
        overlapping = [i for i, (s, e) in enumerate(spans) if s < b and a < e]
        pool = overlapping or range(len(spans))
        best = min(pool, key=lambda i: abs(spans[i][1] - b))
        out[best] = m.group()
    return out


def _is_units_line(line, delim):
    toks = _split(line, delim)
    return bool(toks) and all(_UNITS_TOKEN.match(t) for t in toks)


def _has_number(line, delim):
    return any(_NUMBER.match(t) for t in _split(line, delim))


def _table_from_rows(data, names, delim, path):
    n = len(names)
    if delim is None:
        rows = [ln.split(None, n - 1) for ln in data]
    else:
        rows = [_split(ln, delim) for ln in data]
    bad = [i for i, r in enumerate(rows) if len(r) > n]
    if bad:
        msg = (f"{path}: data line {bad[0] + 1} has {len(rows[bad[0]])} fields but the "
               f"header names {n} columns")
        raise CatalogError(msg)
    cols = [[] for _ in range(n)]
    for r in rows:
        if len(r) < n:
            r = list(r) + [""] * (n - len(r))
        for j, v in enumerate(r):
            cols[j].append(v.strip())
    table = Table()
    for name, vals in zip(names, cols):
        table[name] = _infer_column(vals)
    return table


def _infer_column(vals):
    from astropy.table import MaskedColumn

    missing = np.array([v == "" or v.lower() in ("nan", "null", "none", "--") for v in vals])
    present = [v for v, m in zip(vals, missing) if not m]
    if present and all(re.match(r"^[+-]?\d+$", v) for v in present) and not missing.any():
        try:
            return np.array([int(v) for v in vals], dtype=np.int64)
        except OverflowError:
            pass
    if present and all(_NUMBER.match(v) or v.lower() in ("inf", "-inf", "+inf") for v in present):
        arr = np.array([float(v.replace("D", "E").replace("d", "e")) if not m else np.nan
                        for v, m in zip(vals, missing)], dtype=np.float64)
        if missing.any() and not all(v.lower() == "nan" for v, m in zip(vals, missing) if m):
            return MaskedColumn(arr, mask=missing)
        return arr
    return np.array(vals, dtype=str)


def _apply_units(table, units):
    for name, unit in zip(table.colnames, units):
        text = unit.strip().strip("[]()")
        if not text or set(text) <= {"-"}:
            continue
        table[name].unit = u.Unit(text, parse_strict="silent")


# ---------------------------------------------------------------------------
# positions
# ---------------------------------------------------------------------------

def _seen(table):
    names = ", ".join(repr(c) for c in table.colnames[:40])
    more = f" ... ({len(table.colnames)} in all)" if len(table.colnames) > 40 else ""
    return names + more


def _positions(table, *, ra, dec, frame, info):
    """Return ``(SkyCoord, ra_name, dec_name)``; flags and warns about bad rows."""
    source = info["source"]
    for name, value in (("ra", ra), ("dec", dec)):
        if value is not None and value not in table.colnames:
            msg = (f"{name}={value!r} is not a column of {source}; the columns are: "
                   f"{_seen(table)}")
            raise CatalogError(msg)

    if ra is not None and isinstance(table[ra], SkyCoord):
        coord = table[ra]
        return _finish(coord, coord.spherical.lon.deg, coord.spherical.lat.deg, ra, ra,
                       source), ra, ra
    if ra is None and dec is None:
        skycols = [c for c in table.colnames if isinstance(table[c], SkyCoord)]
        if len(skycols) == 1 or "skycoord" in skycols:
            name = "skycoord" if "skycoord" in skycols else skycols[0]
            coord = table[name]
            lon = coord.spherical.lon.deg
            lat = coord.spherical.lat.deg
            return _finish(coord, lon, lat, name, name, source), name, name

    if ra is not None and dec is not None:
        lo = _explicit_candidate(table, ra, "lon")
        la = _explicit_candidate(table, dec, "lat")
        chosen = [(lo, la)]
    else:
        chosen = _choose_pairs(table, ra=ra, dec=dec, info=info)

    errors = []
    for lo, la in chosen:
        try:
            lon, lat = _pair_degrees(table, lo, la, info)
        except CatalogError as exc:
            if len(chosen) == 1:
                raise
            errors.append(str(exc))
            continue
        if len(chosen) > 1 and not _valid(lon, lat).any():
            errors.append(f"columns {lo.name!r}/{la.name!r} hold no valid position")
            continue
        if errors:
            warnings.warn(f"{source}: better-ranked position columns could not be used ("
                          + "; ".join(errors) + f"); using {lo.name!r}/{la.name!r} instead",
                          RadioassistWarning)
        coord = _make_coord(lon, lat, lo, la, frame, info, table)
        return _finish(coord, lon, lat, lo.name, la.name, source), lo.name, la.name
    msg = (f"no usable position columns in {source}: " + "; ".join(errors)
           + f". Columns seen: {_seen(table)}. Pass ra= and dec= to name them")
    raise CatalogError(msg)


def _explicit_candidate(table, name, axis):
    cands, _ = cc.name_candidates(table)
    for c in cands:
        if c.name == name:
            c.axis = axis
            return c
    info = cc.ucd_position(table[name])
    system = info[1] if info else "unknown"
    return cc.Candidate(name=name, axis=axis, system=system, key=(), rank=0,
                        is_string=cc.is_string_column(table[name]), order=0)


def _choose_pairs(table, *, ra, dec, info):
    """Ordered (lon, lat) candidate pairs to try; raises when none or ambiguous."""
    source = info["source"]
    ucd = cc.ucd_candidates(table)
    names, split = cc.name_candidates(table)
    pairs = cc.pair_candidates(ucd)
    if not pairs:
        pairs = cc.pair_candidates(names)
    if ra is not None or dec is not None:
        given, axis = (ra, "lon") if ra is not None else (dec, "lat")
        fixed = _explicit_candidate(table, given, axis)
        other = "lat" if axis == "lon" else "lon"
        options = [c for c in ucd + names if c.axis == other and c.name != given
                   and (fixed.system == "unknown" or c.system == fixed.system)]
        options.sort(key=lambda c: (c.rank, c.is_string, c.order))
        if not options:
            missing = "dec" if ra is not None else "ra"
            msg = (f"found no column to pair with {given!r} in {source}; pass {missing}= "
                   f"as well. Columns seen: {_seen(table)}")
            raise CatalogError(msg)
        best = options[0]
        return [(fixed, best) if axis == "lon" else (best, fixed)]
    if not pairs:
        if split:
            return [(cc.Candidate(name="__split__", axis="lon", system="equatorial", key=(),
                                  rank=0, is_string=True, order=0, frame_hint="fk5"),
                     cc.Candidate(name="__split__", axis="lat", system="equatorial", key=(),
                                  rank=0, is_string=True, order=0))]
        msg = (f"could not recognise position columns in {source}. Columns seen: "
               f"{_seen(table)}. Pass ra= and dec= with the names of the right ascension "
               "and declination (or Galactic l/b) columns")
        raise CatalogError(msg)
    best_key = pairs[0][0]
    tied = [p for p in pairs if p[0] == best_key]
    if len(tied) > 1:
        _check_agreement(table, tied, info)
    return [(p[2], p[3]) for p in pairs]


def _check_agreement(table, tied, info):
    """Equally good pairs must give the same positions, or the choice is ambiguous."""
    ref = None
    for _, _, lo, la in tied:
        try:
            lon, lat = _pair_degrees(table, lo, la, info)
        except CatalogError:
            continue
        if ref is None:
            ref = (lo, la, lon, lat)
            continue
        both = _valid(lon, lat) & _valid(ref[2], ref[3])
        if not both.any():
            continue
        sep = _separation_deg(lon[both], lat[both], ref[2][both], ref[3][both])
        worst = float(np.max(sep)) * 3600.0
        if worst > _AGREE_ARCSEC:
            names = ", ".join(f"{p[2].name!r}/{p[3].name!r}" for p in tied)
            msg = (f"ambiguous positions in {info['source']}: columns {names} all look like "
                   f"the source position but differ by up to {worst:.1f} arcsec. Pass ra= "
                   f"and dec= to choose. Columns seen: {_seen(table)}")
            raise CatalogError(msg)
    if ref is not None:
        log.debug("%s: equivalent position columns %s; using %s/%s", info["source"],
                  [(p[2].name, p[3].name) for p in tied], ref[0].name, ref[1].name)


def _separation_deg(lon1, lat1, lon2, lat2):
    lon1, lat1, lon2, lat2 = (np.radians(x) for x in (lon1, lat1, lon2, lat2))
    s = (np.sin((lat2 - lat1) / 2) ** 2
         + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2)
    return np.degrees(2 * np.arcsin(np.sqrt(np.clip(s, 0, 1))))


def _valid(lon, lat):
    return (np.isfinite(lon) & np.isfinite(lat) & (np.abs(lat) <= 90.0)
            & (lon >= -360.0) & (lon <= 360.0))


def _pair_degrees(table, lo, la, info):
    if lo.name == "__split__":
        return _split_degrees(table)
    lon = _column_degrees(table, lo, info)
    lat = _column_degrees(table, la, info)
    return lon, lat


def _split_degrees(table):
    parts = cc._split_sexagesimal_parts(table.colnames)

    def num(key):
        if key not in parts:
            return np.zeros(len(table))
        return cc.numeric_values(table[parts[key]])

    ra = (num("rah") + num("ram") / 60 + num("ras") / 3600) * 15.0
    dec = num("ded") + num("dem") / 60 + num("des") / 3600
    if "sign" in parts:
        signs = np.array([s.strip().startswith("-") for s in cc.string_values(table[parts["sign"]])])
        dec = np.where(signs, -dec, dec)
    return ra, dec


def _column_degrees(table, cand, info):
    """Values of a position column in degrees (NaN where unreadable)."""
    col = table[cand.name]
    source = info["source"]
    if getattr(col, "ndim", 1) != 1:
        msg = f"column {cand.name!r} of {source} is not one-dimensional"
        raise CatalogError(msg)
    unit = cc.parse_unit(getattr(col, "unit", None))
    hours_axis = cand.axis == "lon" and cand.system in ("equatorial", "unknown")
    if cc.is_string_column(col):
        vals = cc.string_values(col)
        n_listed = sum(";" in v for v in vals)
        if n_listed:  # one value per component (Radio Galaxy Zoo's cpnts_ras): the first is the position
            log.info("%s: column %r holds ';'-separated lists (one position per component) in %d rows; the "
                     "first of each list is the row's position", source, cand.name, n_listed)
            vals = [v.split(";", 1)[0].strip() for v in vals]
        parsed = [cc.parse_sexagesimal(text) for text in vals]
        numbers = np.array([p[0] for p in parsed], dtype=float)
        markers = np.array([p[1] or "" for p in parsed])
        plain = (markers == "") & np.isfinite(numbers)
        hours_plain = hours_axis and unit != cc.SEXA_DEGREES
        if hours_plain and plain.any() and np.mean(numbers[plain] >= 24.0) > 0.5:
            # '150:30:00' is not an hour angle: most values are >= 24, so these are degrees
            warnings.warn(f"{source}: sexagesimal column {cand.name!r} holds values >= 24 "
                          "in most rows, so it is read as degrees, not hours",
                          RadioassistWarning)
            hours_plain = False
        out = numbers.copy()
        decimal = markers == "decimal"
        if unit is not None and cc.is_angle_unit(unit):
            out[decimal] = (numbers[decimal] * unit).to_value(u.deg)
        elif unit == cc.SEXA_HOURS:
            out[decimal] *= 15.0
        hours = markers == "h"
        out[hours] = numbers[hours] * 15.0 if hours_axis else np.nan
        if hours_plain:
            out[plain] = np.where(numbers[plain] < 24.0, numbers[plain] * 15.0, np.nan)
        return out
    if col.dtype.kind == "b":
        msg = f"column {cand.name!r} of {source} is boolean, not a position"
        raise CatalogError(msg)
    vals = cc.numeric_values(col)
    if unit is None:
        if hours_axis and cand.tokens and set(cand.tokens) & {"h", "hr", "hrs", "hours", "hour"} \
                and not set(cand.tokens) & {"deg", "degs", "degree", "degrees"}:
            return vals * 15.0
        return vals
    # compare the markers as strings: ``Unit == str`` parses the string as a unit (and an unknown one
    # costs ~20 ms of 'did you mean' suggestions)
    if isinstance(unit, str) and unit == cc.SEXA_HOURS:
        return vals * 15.0
    if isinstance(unit, str) and unit == cc.SEXA_DEGREES:
        return vals
    if cc.is_angle_unit(unit):
        return (vals * unit).to_value(u.deg)
    msg = (f"column {cand.name!r} of {source} has unit {getattr(col, 'unit', unit)!s}, which is "
           "not an angle; pass ra= and dec= naming the sky-coordinate columns")
    raise CatalogError(msg)


def _frame_from_coosys(coosys):
    system = (coosys.system or "").lower()
    equinox = getattr(coosys, "equinox", None)
    if system in ("icrs",):
        return "icrs", None
    if system in ("eq_fk5", "fk5"):
        return "fk5", equinox or "J2000"
    if system in ("eq_fk4", "fk4"):
        return "fk4", equinox or "B1950"
    if system in ("galactic", "galactic_iau"):
        return "galactic", None
    if system in ("supergalactic",):
        return "supergalactic", None
    return None, None


def _file_frame(lo, la, info, table):
    """(frame name, equinox) that the file itself states for these columns, or (None, None)."""
    for name in (lo.name, la.name):
        if name in info["coosys"]:
            return _frame_from_coosys(info["coosys"][name])
    if lo.system == "galactic":
        return "galactic", None
    if lo.system == "lonlat" and info.get("family") == "aegean":
        return "galactic", None  # Aegean names Galactic columns lon/lat
    if info["coosys_default"] is not None:
        return _frame_from_coosys(info["coosys_default"])
    meta = {str(k).upper(): v for k, v in table.meta.items()} if table.meta else {}
    radesys = str(meta.get("RADESYS", meta.get("RADECSYS", "")) or "").strip().lower()
    if radesys in ("icrs", "fk5", "fk4"):
        equinox = meta.get("EQUINOX")
        if radesys == "icrs":
            return "icrs", None
        eq = f"{'J' if radesys == 'fk5' else 'B'}{float(equinox):.1f}" if equinox else None
        return radesys, eq
    hint = lo.frame_hint or la.frame_hint
    if hint == "fk5":
        return "fk5", "J2000"
    if hint == "fk4":
        return "fk4", "B1950"
    if hint:
        return hint, None
    return None, None


def _make_coord(lon, lat, lo, la, frame, info, table):
    ok = _valid(lon, lat)
    lon = np.where(ok, np.mod(lon, 360.0), np.nan)
    lat = np.where(ok, lat, np.nan)
    if info.get("force_frame"):
        return SkyCoord(lon * u.deg, lat * u.deg, frame=frame)
    fname, equinox = _file_frame(lo, la, info, table)
    if frame is not None:
        user = frame if isinstance(frame, str) else getattr(frame, "name", None)
        user_l = str(user).lower() if user else None
        if fname is None:
            if lo.system == "equatorial" and user_l in ("galactic", "supergalactic"):
                msg = (f"frame={user!r} conflicts with the equatorial columns "
                       f"{lo.name!r}/{la.name!r} of {info['source']}")
                raise CatalogError(msg)
            try:
                return SkyCoord(lon * u.deg, lat * u.deg, frame=frame)
            except Exception as exc:
                msg = f"invalid frame={frame!r}: {exc}"
                raise CatalogError(msg) from exc
        if user_l != fname:
            if {user_l, fname} & {"galactic", "supergalactic"}:
                msg = (f"frame={user!r} conflicts with {info['source']}, whose columns "
                       f"{lo.name!r}/{la.name!r} are in the {fname} frame")
                raise CatalogError(msg)
            log.info("%s states the %s frame for %s/%s; frame=%r is not used",
                     info["source"], fname, lo.name, la.name, user)
    if fname is None:
        fname = "icrs"
    kwargs = {"equinox": equinox} if equinox and fname in ("fk5", "fk4") else {}
    return SkyCoord(lon * u.deg, lat * u.deg, frame=fname, **kwargs)


def _finish(coord, lon, lat, ra_name, dec_name, source):
    ok = _valid(lon, lat)
    bad = np.flatnonzero(~ok)
    if len(bad) == len(ok):
        msg = (f"no row of {source} has a valid position in columns {ra_name!r}/{dec_name!r} "
               "(all NaN/masked, |Dec| > 90 deg or unreadable); pass ra= and dec= to choose "
               "other columns")
        raise CatalogError(msg)
    if len(bad):
        rows = ", ".join(str(i) for i in bad[:_SHOW_ROWS])
        more = f" ... ({len(bad)} in all)" if len(bad) > _SHOW_ROWS else ""
        warnings.warn(
            f"{source}: {len(bad)} of {len(ok)} rows have no valid position in "
            f"{ra_name!r}/{dec_name!r} (missing, NaN, |Dec| > 90 deg or RA out of range): "
            f"rows {rows}{more} (0-based); they are kept with position_ok=False",
            RadioassistWarning)
    return coord


# ---------------------------------------------------------------------------
# sizes
# ---------------------------------------------------------------------------

def _sizes(table, *, size, size_unit, wcs, info, required):
    """Return ``(column name, Quantity arcsec, unit string)`` or ``(None, None, None)``."""
    source = info["source"]
    if size is False:
        return None, None, None
    forced_unit = None
    if size_unit is not None:
        forced_unit = cc.parse_unit(size_unit)
        if not (cc.is_angle_unit(forced_unit) or forced_unit == u.pix):
            msg = f"size_unit={size_unit!r} is not an angular unit (e.g. 'arcsec', 'deg')"
            raise CatalogError(msg)
    if isinstance(size, str):
        if size not in table.colnames:
            msg = f"size={size!r} is not a column of {source}; the columns are: {_seen(table)}"
            raise CatalogError(msg)
        return _size_values(table, size, forced_unit, wcs, info, explicit=True)

    candidates = cc.size_candidates(table, family=info.get("family"))
    if not candidates:
        if required:
            msg = (f"found no source-size column in {source}; pass size= (--size-col) with its name. "
                   f"Columns seen: {_seen(table)}")
            raise CatalogError(msg)
        log.info("%s: no source-size column found", source)
        return None, None, None
    first_error = None
    for cand in candidates:
        try:
            return _size_values(table, cand.name, forced_unit, wcs, info, explicit=False)
        except _NotAngular as exc:
            log.info("%s", exc)
            first_error = first_error or exc
            continue
    if required and first_error is not None:
        raise CatalogError(str(first_error))
    return None, None, None


class _NotAngular(Exception):
    pass


class _SizeError(CatalogError):
    """The catalogue's source sizes cannot be read (no unit, not an angle...): positions may still be fine."""


def _size_values(table, name, forced_unit, wcs, info, *, explicit):
    source = info["source"]
    col = table[name]
    if cc.is_string_column(col):
        vals = np.array([cc.parse_sexagesimal(v)[0] if v.strip() else np.nan
                         for v in cc.string_values(col)], dtype=float)
    elif col.dtype.kind == "b":
        msg = f"size column {name!r} of {source} is boolean, not a size"
        raise _SizeError(msg)
    else:
        vals = cc.numeric_values(col)
    col_unit = cc.parse_unit(getattr(col, "unit", None))
    family = info.get("family")
    if forced_unit is not None:
        unit = forced_unit
        if col_unit is not None and col_unit != forced_unit:
            log.info("%s: column %r has unit %s; using size_unit=%s instead", source, name,
                     getattr(col, "unit", col_unit), forced_unit)
    elif col_unit is None:
        convention = cc.family_size_unit(family, name)
        if convention is None:
            msg = (f"the source-size column {name!r} of {source} has no unit; pass "
                   f"size_unit= (--size-unit, e.g. 'arcsec' or 'deg'), or size=False to ignore sizes")
            raise _SizeError(msg)
        unit, largest = convention
        finite = vals[np.isfinite(vals) & (vals > 0)]
        if largest is not None and finite.size and np.median(finite) > largest:
            msg = (f"the source-size column {name!r} of {source} has no unit and its values "
                   f"(median {np.median(finite):.3g}) are too large for the {family} "
                   f"convention ({unit}); pass size_unit= (--size-unit, e.g. 'arcsec'), or size=False to ignore sizes")
            raise _SizeError(msg)
        log.info("%s: column %r has no unit; using the %s convention (%s)", source, name,
                 family, unit)
    else:
        unit = col_unit
    if unit == u.pix:
        if wcs is None:
            msg = (f"the source-size column {name!r} of {source} is in pixels; pass wcs= "
                   "(the image WCS) or size_unit=")
            if explicit:
                raise _SizeError(msg)
            raise _NotAngular(msg)
        from astropy.wcs.utils import proj_plane_pixel_scales
        from .regionfiles import as_celestial_wcs
        w = as_celestial_wcs(wcs)
        scale = float(np.mean(proj_plane_pixel_scales(w))) * u.Unit(w.wcs.cunit[0] or "deg")
        quantity = (vals * scale).to(u.arcsec)
    elif not cc.is_angle_unit(unit):
        msg = (f"the size column {name!r} of {source} has unit {getattr(col, 'unit', unit)!s}, "
               "not an angle; pass size_unit= (--size-unit) or size=False to ignore sizes")
        if explicit:
            raise _SizeError(msg)
        raise _NotAngular(msg)
    else:
        quantity = (vals * unit).to(u.arcsec)
    values = quantity.value.copy()
    values[~np.isfinite(values) | (values < 0)] = np.nan
    return name, values * u.arcsec, unit.to_string()
