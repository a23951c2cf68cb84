"""Find radio sources in a mosaic when no catalogue is given.

The sources are found by :func:`radioassist.structure.find_structure`: a
sigma-clipped background and RMS map, islands of connected pixels above
``island_snr`` times the local RMS kept when their peak reaches ``snr`` times
the RMS (as in PyBDSF), the peaks inside each island, and the islands that
belong to one radio source (the lobes and core of a double) grouped into one
row.  ``components=True`` gives one row per island instead.  Blank (NaN)
mosaic areas are a coverage mask, not bad data.
"""
import numpy as np
from astropy.table import Table

from .exceptions import InputError
from .logger import log

__all__ = ["find_sources"]


def find_sources(image, *, snr=5.0, island_snr=3.0, n_pixels=None, box_size=None, components=False,
                 **structure_options):
    """Detect radio sources and return a catalogue that :func:`radioassist.read_catalog` accepts.

    Parameters
    ----------
    image : path, HDU, NDData, (array, WCS) or `~radioassist.RadioImage`
        The mosaic (anything :func:`~radioassist.load_image` accepts).
    snr : float, optional
        An island is kept when its peak reaches ``snr`` times the local RMS
        (PyBDSF ``thresh_pix``, default 5).
    island_snr : float, optional
        Islands are the connected pixels above ``island_snr`` times the
        local RMS (PyBDSF ``thresh_isl``, default 3).
    n_pixels : int, optional
        Least pixels of an island (default: half a beam, at least 5).
    box_size : int, optional
        Mesh size in pixels of the background and RMS maps (default: about 15
        beams, at least 32 pixels, at most a quarter of the image).
    components : bool, optional
        One row per island (component) instead of one per radio source.
    **structure_options
        Peak finding and association parameters of
        :func:`radioassist.structure.find_structure` (``peak_contrast``,
        ``link_factor``, ``pair_ratio``, ``pair_flux``, ``max_pair_sep``,
        ``core_radius``, ``group``...).

    Returns
    -------
    catalog : `~astropy.table.Table`
        One row per radio source: ``source_id``, ``ra``, ``dec`` (deg; for a
        Galactic mosaic ``glon``, ``glat``), ``x``, ``y`` (pixels),
        ``n_components``, ``n_peaks``, ``component_ra``, ``component_dec``,
        ``peak_flux`` (image unit), ``flux`` and ``flux_err`` (Jy: pixel sums
        over the beam area in pixels), ``snr``, ``extent`` and ``size``
        (arcsec) and ``area`` (pixels).  With ``components=True`` one row per
        island, with its ``source_id`` and ``n_peaks``.  ``meta`` records
        every parameter (``radioassist_structure``) and
        ``radioassist_detection`` (the thresholds, for older readers).
    """
    from .structure import find_structure

    if snr is None or not np.isfinite(float(snr)) or float(snr) <= 0:
        msg = f"snr must be positive, got {snr}"
        raise InputError(msg)
    unknown = sorted(set(structure_options) - _STRUCTURE_KEYS)
    if unknown:
        msg = (f"unknown source-finding option(s) {', '.join(unknown)}; the options are snr, island_snr, "
               f"n_pixels, box_size, components and {', '.join(sorted(_STRUCTURE_KEYS))}")
        raise InputError(msg)
    structure = find_structure(image, thresh_isl=island_snr, thresh_pix=max(float(snr), float(island_snr)),
                               n_pixels=n_pixels, box_size=box_size, **structure_options)
    table = structure.islands if components else structure.sources
    table = Table(table, copy=False)
    if components:
        table.remove_columns([c for c in ("a_pix", "b_pix", "theta") if c in table.colnames])
    params = structure.parameters
    table.meta["radioassist_detection"] = {"image": params["image"], "snr": float(snr),
                                           "island_snr": float(island_snr), "n_pixels": params["n_pixels"],
                                           "box_size": params["box_size"],
                                           "rows": "components" if components else "radio sources"}
    log.info("found %d %s in %s", len(table), "components" if components else "radio sources", params["image"])
    return table


_STRUCTURE_KEYS = {"peak_levels", "peak_contrast", "group", "link_factor", "pair_ratio", "pair_flux",
                   "max_pair_sep", "core_radius", "beam", "peak_method", "contour_ratio",
                   "dynamic_range", "artefact_radius", "peak_connectivity", "align_angle",
                   "island_connectivity", "satellite_range"}
