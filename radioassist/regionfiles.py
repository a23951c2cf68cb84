"""Read DS9 and CRTF (CASA/CARTA) region files into a table of positions and extents.

Used by :func:`radioassist.catalog.read_catalog`; each shape becomes one row with
its centre and its angular extent (circle: diameter; ellipse: major axis;
box: longest side; polygon: largest vertex separation; annulus: outer
diameter; point: NaN).  Lines, text labels and excluded (``-``) shapes are
skipped with a warning, and an unparsable line is skipped with a warning
naming it instead of failing the whole file.
"""
import re
import warnings

import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table

from .exceptions import CatalogError, RadioassistWarning
from .logger import log

__all__ = ["read_region_file", "regions_to_table", "sniff_region_format", "as_celestial_wcs"]

_DS9_FRAMES = ("fk5", "fk4", "icrs", "galactic", "ecliptic", "image", "physical",
               "j2000", "b1950", "linear", "amplifier", "detector", "wcs", "wcsa")
_SHAPE_RE = re.compile(
    r"^\s*[-+]?\s*(circle|ellipse|box|polygon|point|annulus|line|text|vector|"
    r"projection|segment|panda|epanda|bpanda|composite|ruler|compass|"
    r"x\s*point|rotbox|centerbox|symbol|poly|rectangle)\s*\(", re.IGNORECASE)
_SHOW_LINES = 5


def sniff_region_format(text, *, filename=""):
    """Return ``'ds9'``, ``'crtf'``, ``'ciao'`` or ``None`` for a text's first lines."""
    head = [ln.strip() for ln in text.splitlines()[:30] if ln.strip()]
    if not head:
        return None
    first = head[0].lower()
    if first.startswith("#crtf"):
        return "crtf"
    m = re.match(r"#\s*region file format\s*:\s*(\w+)", first)
    if m:
        kind = m.group(1).lower()
        return {"ds9": "ds9", "ciao": "ciao", "crtf": "crtf"}.get(kind, kind)
    if str(filename).lower().endswith(".crtf"):
        return "crtf"
    for ln in head:
        low = ln.lower()
        if low.startswith("global ") or low.split(";")[0].strip() in _DS9_FRAMES:
            return "ds9"
        if _SHAPE_RE.match(ln):
            if re.search(r"\[\s*\[", ln):
                return "crtf"
            return "ds9"
    return None


def read_region_file(path, *, format=None, wcs=None):
    """Read a DS9 or CRTF region file into a table of centres and extents.

    Parameters
    ----------
    path : str or path-like
        The region file.
    format : {'ds9', 'crtf'}, optional
        Region format; guessed from the header / extension when omitted.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS used to convert pixel ('image') regions to the sky.

    Returns
    -------
    table : `~astropy.table.Table`
        See :func:`regions_to_table`.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError as exc:
        msg = f"cannot read region file {path}: {exc}"
        raise CatalogError(msg) from exc
    sniffed = sniff_region_format(text, filename=path)
    if format is None:
        format = sniffed or ("crtf" if str(path).lower().endswith(".crtf") else "ds9")
    format = format.lower()
    if sniffed == "ciao" or format == "ciao":
        msg = (f"{path} is a CIAO region file ('# Region file format: CIAO'), which is not "
               "supported: only DS9 and CRTF (CASA/CARTA) region files can be read. Save the "
               "regions in DS9 format (e.g. from ds9: Region > Save, format ds9, coordinate "
               "system fk5 or icrs) or give a catalogue table instead.")
        raise CatalogError(msg)
    if format not in ("ds9", "crtf"):
        msg = f"unknown region format {format!r} for {path}: use 'ds9' or 'crtf'"
        raise CatalogError(msg)
    regions, problems = _parse_regions(text, format)
    if problems:
        shown = "; ".join(problems[:_SHOW_LINES])
        more = f" (and {len(problems) - _SHOW_LINES} more)" if len(problems) > _SHOW_LINES else ""
        warnings.warn(f"{path}: skipped {len(problems)} unreadable region line(s): "
                      f"{shown}{more}", RadioassistWarning)
    if not regions:
        msg = (f"no region could be read from {path} (read as {format.upper()}): it is not "
               "a DS9/CRTF region file with a coordinate system line (fk5, icrs, galactic, "
               "image) and shapes such as circle(...); check the file, or give a catalogue "
               "table instead")
        raise CatalogError(msg)
    table = regions_to_table(regions, wcs=wcs, source=str(path))
    table.meta["region_format"] = format
    return table


def _split_warnings(caught):
    """Turn warnings from ``regions`` into (problems, debug messages)."""
    problems = []
    for w in caught:
        text = str(w.message)
        if "meta" in text and "unsupported" in text:
            log.debug("regions: %s", text)
        elif "skipping" in text or "unable to parse" in text or "not found" in text \
                or "not supported" in text or "unsupported" in text:
            problems.append(text)
        else:
            log.debug("regions: %s", text)
    return problems


def _parse_regions(text, format):
    from regions import Regions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            regions = list(Regions.parse(text, format=format))
        except Exception as exc:  # regions raises ValueError, its own errors, IndexError...
            log.debug("regions could not parse the whole file (%s); parsing line by line", exc)
            regions = None
    if regions is not None:
        return regions, _split_warnings(caught)
    return _parse_line_by_line(text, format)


def _parse_line_by_line(text, format):
    """Parse a region file one line at a time, keeping the coordinate-system context."""
    from regions import Regions

    regions, problems = [], []
    header = "#CRTFv0\n" if format == "crtf" else "# Region file format: DS9 version 4.1\n"
    global_line = ""
    frame_line = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        low = line.lower()
        if format == "crtf" and low.startswith("#crtf"):
            continue
        if format == "ds9":
            if low.startswith("# region file format"):
                continue
            if low.startswith("global"):
                global_line = line
                continue
            if low in _DS9_FRAMES:
                frame_line = line
                continue
            if line.startswith("#") and not re.match(r"#\s*(text|composite|vector|ruler|"
                                                     r"compass|projection)", low):
                continue
            first = low.split(";")[0].strip()
            if first in _DS9_FRAMES:
                frame_line = first
        else:
            if line.startswith("#"):
                continue
            if low.startswith("global"):
                global_line = line
                continue
        chunk = "\n".join(x for x in (header.rstrip("\n"), global_line, frame_line, line) if x)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                parsed = list(Regions.parse(chunk + "\n", format=format))
            except Exception as exc:
                problems.append(f"line {lineno} {_clip(line)!r} ({exc})")
                continue
        issues = _split_warnings(caught)
        if issues and not parsed:
            problems.append(f"line {lineno} {_clip(line)!r} ({issues[0]})")
            continue
        regions.extend(parsed)
    return regions, problems


def _clip(text, n=60):
    return text if len(text) <= n else text[: n - 3] + "..."


def as_celestial_wcs(obj):
    """A celestial `~astropy.wcs.WCS` from a WCS, a FITS header or an object with ``.wcs``."""
    from astropy.io.fits import Header
    from astropy.wcs import WCS

    if isinstance(obj, WCS):
        return obj.celestial
    inner = getattr(obj, "wcs", None)
    if isinstance(inner, WCS):
        return inner.celestial
    if isinstance(obj, Header):
        return WCS(obj).celestial
    msg = f"wcs= must be an astropy WCS (or a FITS header / RadioImage), got {type(obj).__name__}"
    raise CatalogError(msg)


def _shape_name(region):
    name = type(region).__name__
    return re.sub(r"(Sky|Pixel)Region$", "", name).lower()


def _polygon_centre_extent(vertices):
    """Mean direction and largest pairwise separation (deg) of polygon vertices."""
    sph = vertices.represent_as("unitspherical")
    lon = sph.lon.rad
    lat = sph.lat.rad
    xyz = np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)
    mean = xyz.mean(axis=0)
    norm = np.linalg.norm(mean)
    if norm == 0:
        mean = xyz[0]
        norm = 1.0
    mean = mean / norm
    clon = np.degrees(np.arctan2(mean[1], mean[0])) % 360.0
    clat = np.degrees(np.arcsin(np.clip(mean[2], -1, 1)))
    dots = np.clip(xyz @ xyz.T, -1.0, 1.0)
    extent = np.degrees(np.arccos(dots.min())) if len(xyz) > 1 else 0.0
    return clon, clat, extent


def _centre_and_extent(region):
    """(SkyCoord centre, extent Quantity or NaN) for a sky region; None to skip."""
    from regions import (CircleAnnulusSkyRegion, CircleSkyRegion,
                         EllipseAnnulusSkyRegion, EllipseSkyRegion, PointSkyRegion,
                         PolygonSkyRegion, RectangleAnnulusSkyRegion, RectangleSkyRegion,
                         TextSkyRegion)

    if isinstance(region, TextSkyRegion):  # a subclass of PointSkyRegion: a label only
        return None
    if isinstance(region, CircleSkyRegion):
        return region.center, 2 * region.radius
    if isinstance(region, (EllipseSkyRegion, RectangleSkyRegion)):
        return region.center, max(region.width, region.height)
    if isinstance(region, CircleAnnulusSkyRegion):
        return region.center, 2 * region.outer_radius
    if isinstance(region, (EllipseAnnulusSkyRegion, RectangleAnnulusSkyRegion)):
        return region.center, max(region.outer_width, region.outer_height)
    if isinstance(region, PointSkyRegion):
        return region.center, np.nan * u.deg
    if isinstance(region, PolygonSkyRegion):
        verts = region.vertices
        clon, clat, extent = _polygon_centre_extent(verts)
        centre = SkyCoord(clon * u.deg, clat * u.deg, frame=verts.frame)
        return centre, extent * u.deg
    return None


def regions_to_table(regions, *, wcs=None, source="<regions>"):
    """Convert a sequence of `regions` objects into a table.

    Returns a `~astropy.table.Table` with columns ``shape``, ``label`` (the
    region's ``text``), the centre in degrees (``ra``/``dec``, or
    ``glon``/``glat`` for Galactic regions) and ``extent`` (arcsec, NaN for
    points); ``meta['region_frame']`` names the celestial frame.
    """
    from regions import PixelRegion, SkyRegion

    rows = []
    excluded, skipped = [], []
    for region in regions:
        shape = _shape_name(region)
        label = str(region.meta.get("text", "") or region.meta.get("label", "") or "")
        desc = f"{shape}" + (f" {label!r}" if label else "")
        include = region.meta.get("include", True)
        if include in (0, False, "0"):
            excluded.append(desc)
            continue
        if isinstance(region, PixelRegion):
            if wcs is None:
                msg = (f"{source} holds regions in pixel ('image') coordinates; pass wcs= "
                       "(the image's WCS, e.g. load_image(path).wcs) or use --image on the "
                       "command line so they can be placed on the sky")
                raise CatalogError(msg)
            try:
                region = region.to_sky(as_celestial_wcs(wcs))
            except Exception as exc:
                skipped.append(f"{desc} (cannot convert to sky: {exc})")
                continue
        if not isinstance(region, SkyRegion):
            skipped.append(desc)
            continue
        result = _centre_and_extent(region)
        if result is None:
            skipped.append(desc)
            continue
        centre, extent = result
        rows.append((shape, label, centre, extent.to_value(u.arcsec)))
    if excluded:
        warnings.warn(f"{source}: skipped {len(excluded)} excluded region(s) (leading '-'): "
                      f"{', '.join(excluded[:10])}", RadioassistWarning)
    if skipped:
        warnings.warn(f"{source}: skipped {len(skipped)} region(s) that do not mark a source "
                      f"(lines, text labels, other shapes): {', '.join(skipped[:10])}",
                      RadioassistWarning)
    if not rows:
        msg = f"{source} holds no source-like region (circle, ellipse, box, polygon, point, annulus)"
        raise CatalogError(msg)
    centres = [r[2] for r in rows]
    first = centres[0].frame
    if not all(c.frame.is_equivalent_frame(first) for c in centres):
        log.info("%s mixes coordinate frames; all centres are converted to ICRS", source)
        centres = [c.transform_to("icrs") for c in centres]
    coords = SkyCoord(centres)
    sph = coords.represent_as("unitspherical")
    if coords.frame.name == "galactic":
        lon_name, lat_name = "glon", "glat"
    else:
        lon_name, lat_name = "ra", "dec"
    table = Table()
    table["shape"] = [r[0] for r in rows]
    table["label"] = [r[1] for r in rows]
    table[lon_name] = sph.lon.to(u.deg)
    table[lat_name] = sph.lat.to(u.deg)
    table["extent"] = np.array([r[3] for r in rows], dtype=float) * u.arcsec
    table.meta["region_frame"] = coords.frame
    return table
