"""Task B2 without a model: the components-peaks label of each source, from the source structure.

:func:`classify_structure` is what :func:`radioassist.classify` runs for task
B2 with ``backend='structure'`` (the default for B2: no shipped B2 model
exists).  It finds the structure of the whole image once
(:func:`radioassist.structure.find_structure`), finds for each catalogue row
the radio source at its position (the island under it, else the nearest one
within ``match_radius`` beams) and labels it ``{C}C-{P}P`` with the counts
of that source, capped at 3 as Radio Galaxy Zoo's catalogue is.  The rule
has no trained part: the probability of the label given is 1 (the card of
the method, ``radioassist models``, gives its measured accuracy on RGZ).
"""
import warnings

import numpy as np
from astropy import units as u
from astropy.table import Column, Table

from .exceptions import InputError
from .flags import FLAG_BLANK, FLAG_OK, FLAG_OUTSIDE, FLAG_POSITION, flag_counts
from .logger import log

__all__ = ["classify_structure", "STRUCTURE_BACKEND", "FLAG_NO_ISLAND"]

#: The name that selects this route in :func:`radioassist.classify` (``backend='structure'``).
STRUCTURE_BACKEND = "structure"
#: Flag of a row on the image with no island within the match radius.
FLAG_NO_ISLAND = "no_island"
#: Structure parameters of task B2 (any of them may be overridden with ``detect_options``): RGZ's contours,
#: the lowest at 3 sqrt(3) times the RMS and each next one sqrt(3) times higher (Banfield et al. 2015; the
#: Radio-Galaxy-Zoo ``make_contours.py``), so that a component is one outermost contour and a peak one
#: innermost contour, as the volunteers saw them; the islands and the regions of each level 4-connected, as
#: the contour lines RGZ traced (marching squares) separate regions touching at a corner; the lobes of a double each
#: compact, round or elongated within 45 degrees of the line joining them (``align_angle``); islands below
#: 1/100 of a bright island's peak around it dropped as its sidelobes rather than joined to it
#: (``dynamic_range``, ``satellite_range``).  The connectivity, the angle and the sidelobe rule were chosen
#: on the RGZ sources of the even RA bands (``tools/measure_structure.py --grid``).
B2_STRUCTURE = {"thresh_isl": 3 * np.sqrt(3), "thresh_pix": 3 * np.sqrt(3), "peak_method": "contours",
                "contour_ratio": np.sqrt(3), "peak_connectivity": 4, "island_connectivity": 4, "align_angle": 45.0,
                "dynamic_range": 100.0, "satellite_range": None}


def uses_structure(task, backend, model):
    """True when :func:`radioassist.classify` answers ``task`` from the source structure."""
    if getattr(task, "id", None) != "B2" or not isinstance(backend, str):
        return False
    name = backend.strip().lower()
    return name == STRUCTURE_BACKEND or (name == "vision" and model is None)


def classify_structure(image, catalog=None, *, task, detect_options=None, catalog_options=None, hdu=None,
                       plane=None, backend_options=None, match_radius=3.0, gap_fraction=0.5, report_counts=True):
    """Label each source of ``catalog`` (or each source found) with its B2 class from the image's structure.

    Parameters
    ----------
    image : path, HDU, NDData, (array, WCS) or `~radioassist.RadioImage`
        One image (:func:`radioassist.classify` calls this once per image of a list).
    catalog : str, path, `~astropy.table.Table` or None
        The sources (anything :func:`~radioassist.read_catalog` accepts);
        None: the radio sources found in the image.
    task : `~radioassist.tasks.Task`
        Task B2.
    detect_options : dict, optional
        Parameters of :func:`radioassist.structure.find_structure` (or of
        :func:`~radioassist.detect.find_sources`: ``snr``, ``island_snr``,
        ``components``), over `B2_STRUCTURE` (RGZ's contour levels).
    catalog_options : dict, optional
        Keyword arguments of :func:`~radioassist.read_catalog`.
    hdu, plane : optional
        As for :func:`~radioassist.load_image`.
    backend_options : dict, optional
        ``match_radius`` (beams) and ``gap_fraction`` may be given here too.
    match_radius : float, optional
        A catalogue position that falls on no island takes the source of the
        nearest island within this many beam FWHMs (default 3).
    gap_fraction : float, optional
        A catalogue position more than a beam from every island, within
        ``gap_fraction`` times half their separation of the midpoint of two
        islands of similar flux (ratio at most ``pair_ratio``) that the
        association left in two sources, takes both sources: the catalogue
        places the source in the gap between its lobes, so they are one
        source (default 0.5, chosen on the even RA bands of the RGZ sources;
        0: never).
    report_counts : bool, optional
        Log how many rows could not be classified (default True; a run over
        several images counts once for all of them).

    Returns
    -------
    `~astropy.table.Table`
        The catalogue with ``B2_label``, ``B2_prob_<label>``, ``B2_flag``,
        ``B2_n_components``, ``B2_n_peaks``, ``B2_component_ra``,
        ``B2_component_dec``, ``B2_flux`` (Jy) and ``B2_extent`` (arcsec) of the
        matched radio source; ``meta['radioassist']`` records the method
        and every structure parameter.
    """
    from ._provenance import __version__
    from .catalog import read_catalog
    from .image import load_image
    from .structure import b2_label, find_structure

    if isinstance(image, list):
        msg = ("classify_structure takes one image; radioassist.classify(images, ..., task='B2') takes a list "
               "(each image's own sources, or each catalogue row in the image it lies on)")
        raise InputError(msg)
    options = dict(backend_options or {})
    match_radius = float(options.pop("match_radius", match_radius))
    gap_fraction = float(options.pop("gap_fraction", gap_fraction))
    if options:
        msg = (f"unknown option(s) {', '.join(sorted(options))} for backend 'structure'; it accepts match_radius "
               f"and gap_fraction")
        raise InputError(msg)
    if not np.isfinite(gap_fraction) or gap_fraction < 0:
        msg = f"gap_fraction must be a non-negative number, got {gap_fraction}"
        raise InputError(msg)
    if not np.isfinite(match_radius) or match_radius < 0:
        msg = f"match_radius must be a non-negative number of beams, got {match_radius}"
        raise InputError(msg)
    img = load_image(image, hdu=hdu, plane=plane)
    components = bool((detect_options or {}).get("components", False))
    params = _structure_params(detect_options)
    structure = find_structure(img, **params)
    if catalog is None:  # the radio sources found (or their components, each labelled as its source)
        found = structure.islands if components else structure.sources
        found = Table(found, copy=True)
        found.remove_columns([c for c in ("a_pix", "b_pix", "theta") if c in found.colnames])
        source_label = f"radio {'components' if components else 'sources'} found in {img.label}"
        table = read_catalog(found, **(catalog_options or {}))
    else:
        source_label = str(catalog) if not isinstance(catalog, Table) else "<Table>"
        table = read_catalog(catalog, **(catalog_options or {}))
    table = Table(table, copy=False)
    n = len(table)
    flags = np.full(n, FLAG_OK, dtype=object)
    ok = np.asarray(table["position_ok"], dtype=bool) if "position_ok" in table.colnames else np.ones(n, bool)
    flags[~ok] = FLAG_POSITION
    xy = np.full((n, 2), np.nan)
    if ok.any():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, y = img.wcs.world_to_pixel(table["skycoord"][ok])
        xy[ok] = np.column_stack([np.ravel(x), np.ravel(y)])
    ny, nx = img.shape
    ix, iy = np.round(xy[:, 0]), np.round(xy[:, 1])
    inside = ok & np.isfinite(ix) & (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
    flags[ok & ~inside] = FLAG_OUTSIDE
    data = img.data
    blank = np.zeros(n, bool)
    blank[inside] = ~np.isfinite(np.asarray(data[iy[inside].astype(int), ix[inside].astype(int)], dtype=float))
    flags[blank] = FLAG_BLANK
    look = np.flatnonzero(flags == FLAG_OK)
    beam = float(structure.parameters["beam_fwhm_pix"][0])
    which = np.full(n, -1)
    which[look] = structure.source_at(xy[look], radius=match_radius * beam)
    flags[look[which[look] < 0]] = FLAG_NO_ISLAND
    src = structure.sources
    members = [[int(w)] if w >= 0 else [] for w in which]  # the sources (rows of src) of each catalogue row
    if catalog is not None and gap_fraction > 0:
        for k, pair in _between_islands(structure, xy[look], beam, gap_fraction).items():
            members[look[k]] = pair
    got = np.array([len(m) > 0 for m in members], dtype=bool)
    flags[got & (flags == FLAG_NO_ISLAND)] = FLAG_OK
    c = np.array([int(np.sum(np.asarray(src["n_components"])[m])) for m in members], dtype=int)
    p = np.array([int(np.sum(np.asarray(src["n_peaks"])[m])) for m in members], dtype=int)
    labels = np.full(n, "", dtype=object)
    if got.any():
        labels[got] = b2_label(c[got], p[got])
    out = table.copy(copy_data=False)
    prefix = task.id
    out[f"{prefix}_label"] = Column(labels.astype(str), description=f"{task.name}: label from the source structure")
    for lab in task.labels:
        prob = np.where(got, (labels == lab).astype(np.float32), np.nan).astype(np.float32)
        out[f"{prefix}_prob_{lab}"] = Column(prob, description=f"probability of {lab} (rule: 0 or 1)")
    out[f"{prefix}_flag"] = Column(flags.astype(str), description="why the row was not classified (empty: ok)")
    out[f"{prefix}_n_components"] = Column(c, description="islands of the matched radio source (0: none)")
    out[f"{prefix}_n_peaks"] = Column(p, description="peaks in the matched radio source's islands (0: none)")
    lon, lat = ("glon", "glat") if "glon" in src.colnames else ("ra", "dec")
    for name, col in ((f"{prefix}_component_{lon}", f"component_{lon}"),
                      (f"{prefix}_component_{lat}", f"component_{lat}")):
        vals = np.array([";".join(str(v) for v in np.asarray(src[col])[m]) for m in members], dtype=object)
        out[name] = Column(vals.astype(str), description="positions (deg) of the matched source's islands")
    flux = np.array([float(np.sum(np.asarray(src["flux"])[m])) if m else np.nan for m in members])
    out[f"{prefix}_flux"] = Column(flux, unit=src["flux"].unit, description="integrated flux density of the source")
    extent = np.array([_extent(structure, m) if m else np.nan for m in members])
    out[f"{prefix}_extent"] = Column(extent, unit=u.arcsec, description="largest angular size of the source")
    counts = flag_counts(flags.astype(str))
    n_bad = int(np.sum(flags != FLAG_OK))
    if n_bad and report_counts:
        log.warning("%d of %d sources could not be classified (%s; see column %s_flag)", n_bad, n,
                    ", ".join(f"{k} {v}" for k, v in counts.items()), prefix)
    out.meta["radioassist"] = {
        "radioassist_version": __version__, "task": task.id, "backend": STRUCTURE_BACKEND,
        "model": "rule: components and peaks of the radio source (radioassist.structure)",
        "source": source_label, "image": img.label, "n_sources": n, "n_unclassified": n_bad,
        "n_flagged": counts, "n_unparsed": 0, "n_errors": 0,
        "match_radius_beams": match_radius, "gap_fraction": gap_fraction, "structure": structure.parameters,
    }
    return out


def _between_islands(structure, xy, beam, fraction):
    """``{row: [source, source]}`` for the positions in the gap between two islands of two sources.

    A position more than a beam from every island pixel, within ``fraction`` times half their separation of
    the midpoint of two islands of different sources whose flux ratio is at most the structure's
    ``pair_ratio`` (the nearest such midpoint)."""
    islands = structure.islands
    out = {}
    if len(islands) < 2:
        return out
    yy, xx = np.nonzero(structure.island_map)
    x = np.asarray(islands["x"], dtype=float)
    y = np.asarray(islands["y"], dtype=float)
    flux = np.maximum(np.asarray(islands["flux"], dtype=float), 1e-12)
    sid = np.asarray(islands["source_id"])
    row_of = {s: k for k, s in enumerate(np.asarray(structure.sources["source_id"]))}
    pair_ratio = float(structure.parameters.get("pair_ratio", 10.0))
    i, j = np.triu_indices(len(islands), 1)
    keep = (sid[i] != sid[j]) & (np.maximum(flux[i], flux[j]) <= pair_ratio * np.minimum(flux[i], flux[j]))
    i, j = i[keep], j[keep]
    if len(i) == 0:
        return out
    mx, my = 0.5 * (x[i] + x[j]), 0.5 * (y[i] + y[j])
    half = 0.5 * np.hypot(x[i] - x[j], y[i] - y[j])
    for k, (px, py) in enumerate(xy):
        if not (np.isfinite(px) and np.isfinite(py)) or np.min(np.hypot(xx - px, yy - py)) <= beam:
            continue
        d = np.hypot(mx - px, my - py)
        ok = np.flatnonzero(d <= fraction * half)
        if len(ok):
            b = ok[np.argmin(d[ok])]
            out[k] = [row_of[sid[i[b]]], row_of[sid[j[b]]]]
    return out


def _extent(structure, rows):
    """Largest angular size (arcsec) of the islands of the sources ``rows`` together."""
    from .structure import _hull_diameter

    src = structure.sources
    if len(rows) == 1:
        return float(src["extent"][rows[0]])
    ids = set(np.asarray(src["source_id"])[rows])
    labels = np.flatnonzero(np.isin(np.asarray(structure.islands["source_id"]), list(ids))) + 1
    yy, xx = np.nonzero(np.isin(structure.island_map, labels))
    return _hull_diameter(xx, yy) * float(structure.parameters["pixel_arcsec"])


def _structure_params(detect_options):
    """find_structure parameters from ``detect_options`` (find_sources' names accepted too)."""
    options = dict(detect_options or {})
    for key in ("snr", "island_snr"):
        if key in options:
            options[{"snr": "thresh_pix", "island_snr": "thresh_isl"}[key]] = options.pop(key)
    options.pop("components", None)
    merged = {**B2_STRUCTURE, **options}
    if "thresh_isl" in options and "thresh_pix" not in options:
        merged["thresh_pix"] = max(float(options["thresh_isl"]), B2_STRUCTURE["thresh_pix"])
    merged["thresh_pix"] = max(float(merged["thresh_pix"]), float(merged["thresh_isl"]))
    return merged
