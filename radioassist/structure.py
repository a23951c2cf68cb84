"""Source structure in a radio image: islands, the peaks inside them, and islands grouped into radio sources.

The recipe follows the radio source finders (PyBDSF, Aegean) and Radio Galaxy
Zoo (RGZ), step by step, each with its parameters recorded in the provenance
(``meta['radioassist_structure']`` of every table made here):

1. **Noise.** A sigma-clipped background and RMS map (photutils
   ``Background2D``, median background, MAD-std RMS) on a mesh of about
   fifteen beams; blank (NaN) areas are a coverage mask.  This step and the
   next are photutils' recipes computed by ``radioassist._noise`` (the same
   numbers, tested against photutils) so that a catalogue-free run does not
   pay photutils' one-second import.
2. **Islands** (``thresh_isl``, ``thresh_pix``, ``n_pixels``): connected
   pixels above ``thresh_isl`` times the local RMS (photutils
   ``detect_sources``, 8-connected), kept when their brightest pixel reaches
   ``thresh_pix`` times the RMS: PyBDSF's convention (3 and 5).  An island is
   one *component* in RGZ's sense (one outermost contour).
3. **Peaks** (``peak_method``, ``contour_ratio``): the local maxima of each
   island that stand out of it, as RGZ counted them: the innermost contours
   of a contour tree with levels ``thresh_isl`` x RMS x ``contour_ratio**k``
   (sqrt(3) apart, as RGZ's contours); or (``peak_method='deblend'``) the
   branches of photutils' multi-threshold deblending (``deblend_sources``,
   ``peak_levels`` exponentially spaced levels, a branch holding at least
   ``peak_contrast`` of the island's flux).
4. **Association** (``link_factor``, ``pair_ratio``, ``pair_flux``,
   ``max_pair_sep``, ``core_radius``, ``align_angle``, ``satellite_range``), written here (no library
   does it):
   islands are linked (friends of friends) when they are close compared with
   their own sizes, Aegean's normalised distance ``d / (r_i + r_j) <=
   link_factor`` with ``r`` the island's radius along the line joining them;
   two islands of similar flux (ratio <= ``pair_ratio``) farther apart are
   linked as the two lobes of a double when they are bright enough for their
   separation, ``S_i + S_j >= pair_flux * (d / 100 arcsec)**2`` (the LoTSS
   DR1 double-source rule, scaled to 1.4 GHz), compact, round or elongated
   within ``align_angle`` of the line joining them (90 degrees, the default:
   any orientation), mutual best partners and no more than ``max_pair_sep``
   apart; an island within ``core_radius`` times half the separation of a
   linked pair's midpoint (default: anywhere inside the circle the pair spans)
   joins it as the core; and two islands of similar flux with an island
   near their midpoint link with it when the three together are bright
   enough for the separation, whatever the lobes' orientation (a core between
   two lobes: the lobes of FR-Is are faint, those of FR-IIs often wider across
   the jet axis than along it), each island the lobe of at most one such
   triple (mutual best partners, the triple brightest for its separation:
   a crowded field does not chain into one source); an island near a much brighter one
   (``satellite_range``, ``artefact_radius``) joins it (its faint lobes, jets or
   sidelobes).  Before all this, islands near a far brighter one
   (``dynamic_range``) are dropped as its sidelobes.

The result, :class:`SourceStructure`, holds a table of islands (one row per
component, with its peaks) and a table of radio sources (one row per group
of islands, with ``n_components``, ``n_peaks``, component positions,
integrated flux density in Jy and the largest angular size).
"""
import warnings

import numpy as np
from astropy import units as u
from astropy.table import Table

from .exceptions import ImageError, InputError, RadioassistWarning
from .image import load_image
from .logger import log

__all__ = ["find_structure", "SourceStructure", "StructureWarning", "b2_label", "STRUCTURE_DEFAULTS"]


class StructureWarning(RadioassistWarning):
    """Something the source structure depends on was guessed (e.g. the beam of an image that records none)."""


_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))

#: Default parameters of :func:`find_structure` (recorded in the provenance).
STRUCTURE_DEFAULTS = {
    "thresh_isl": 3.0,
    "thresh_pix": 5.0,
    "n_pixels": None,
    "box_size": None,
    "peak_levels": 32,
    "peak_contrast": 0.001,
    "group": True,
    "link_factor": 1.5,
    "pair_ratio": 10.0,
    "pair_flux": 0.01,
    "max_pair_sep": 300.0,
    "core_radius": 1.0,
    "beam": None,
    "peak_method": "contours",
    "contour_ratio": float(np.sqrt(3)),
    "dynamic_range": 500.0,
    "artefact_radius": 30.0,
    "peak_connectivity": 8,
    "align_angle": 90.0,
    "island_connectivity": 8,
    "satellite_range": 100.0,
}


def _as_positive(name, value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        value = np.nan
    if not np.isfinite(value) or value <= 0:
        msg = f"{name} must be a positive number, got {value!r}"
        raise InputError(msg)
    return value


class SourceStructure:
    """Islands, peaks and radio sources of one image (made by :func:`find_structure`).

    Attributes
    ----------
    islands : `~astropy.table.Table`
        One row per island (component): ``island_id``, ``source_id``, ``ra``,
        ``dec`` (deg, flux-weighted centroid), ``x``, ``y``, ``peak_flux``,
        ``flux`` (Jy), ``flux_err``, ``snr`` (peak / local RMS), ``n_peaks``,
        ``area`` (pixels), ``size`` (arcsec: largest extent).
    peaks : `~astropy.table.Table`
        One row per peak: ``island_id``, ``x``, ``y``, ``ra``, ``dec``, ``value``.
    sources : `~astropy.table.Table`
        One row per radio source (see :func:`find_structure`).
    island_map : `numpy.ndarray`
        Integer island label of each pixel (0: none).
    parameters : dict
        Everything the result depends on (also in each table's ``meta``).
    """

    def __init__(self, islands, peaks, sources, island_map, parameters, rms):
        self.islands = islands
        self.peaks = peaks
        self.sources = sources
        self.island_map = island_map
        self.parameters = parameters
        self.rms = rms

    def __repr__(self):
        return (f"<SourceStructure {len(self.sources)} sources, {len(self.islands)} islands, "
                f"{len(self.peaks)} peaks>")

    def source_at(self, xy, *, radius):
        """The row index in :attr:`sources` of the source at each pixel position (-1: none).

        The island under the position, else the island with a pixel nearest
        the position within ``radius`` pixels, else the source of several
        islands whose centroid lies nearest the position within half its
        extent (a catalogue may place a double at its centre, in the gap
        between its lobes).

        Parameters
        ----------
        xy : array-like, shape (N, 2)
            Pixel positions (x, y).
        radius : float
            Search radius in pixels around positions that fall on no island.

        Returns
        -------
        `numpy.ndarray` of int
        """
        xy = np.atleast_2d(np.asarray(xy, dtype=float))
        out = np.full(len(xy), -1, dtype=int)
        if len(self.islands) == 0:
            return out
        ny, nx = self.island_map.shape
        island_to_source = dict(zip(np.asarray(self.islands["island_id"]),
                                    np.searchsorted(np.asarray(self.sources["source_id"]),
                                                    np.asarray(self.islands["source_id"]))))
        r = max(1, int(np.ceil(radius)))
        pixel = self.parameters.get("pixel_arcsec", 1.0)
        sx = np.asarray(self.sources["x"], dtype=float)
        sy = np.asarray(self.sources["y"], dtype=float)
        reach = np.where(np.asarray(self.sources["n_components"]) > 1,
                         0.5 * np.asarray(self.sources["extent"], dtype=float) / pixel, -1.0)
        for k, (x, y) in enumerate(xy):
            if not (np.isfinite(x) and np.isfinite(y)):
                continue
            d = np.hypot(sx - x, sy - y)
            inside = np.flatnonzero(d <= reach)
            if len(inside):
                out[k] = inside[np.argmin(d[inside])]
            ix, iy = int(round(x)), int(round(y))
            x0, x1, y0, y1 = max(0, ix - r), min(nx, ix + r + 1), max(0, iy - r), min(ny, iy + r + 1)
            if x0 >= x1 or y0 >= y1:
                continue
            box = self.island_map[y0:y1, x0:x1]
            if not box.any():
                continue
            yy, xx = np.nonzero(box)
            d = np.hypot(xx + x0 - x, yy + y0 - y)
            j = int(np.argmin(d))
            if d[j] <= max(radius, 0.71):  # the pixel under the position, whatever the radius
                out[k] = island_to_source[int(box[yy[j], xx[j]])]
        return out


def b2_label(n_components, n_peaks):
    """The task-B2 label (``'1C-1P'`` ... ``'3C-3P'``) of component and peak counts, RGZ's way.

    Counts are capped at 3 (as in the RGZ DR1 catalogue of Wu et al. 2019)
    and a source has at least one peak per component.

    Parameters
    ----------
    n_components, n_peaks : int or array-like of int

    Returns
    -------
    str or `numpy.ndarray` of str
    """
    c = np.clip(np.asarray(n_components, dtype=int), 1, 3)
    p = np.clip(np.maximum(np.asarray(n_peaks, dtype=int), c), 1, 3)
    labels = np.char.add(np.char.add(c.astype(str), "C-"), np.char.add(p.astype(str), "P"))
    return str(labels) if labels.ndim == 0 else labels


def find_structure(image, *, thresh_isl=3.0, thresh_pix=5.0, n_pixels=None, box_size=None, peak_levels=32,
                   peak_contrast=0.001, group=True, link_factor=1.5, pair_ratio=10.0, pair_flux=0.01,
                   max_pair_sep=300.0, core_radius=1.0, beam=None, peak_method="contours",
                   contour_ratio=np.sqrt(3), dynamic_range=500.0, artefact_radius=30.0, peak_connectivity=8,
                   align_angle=90.0, island_connectivity=8, satellite_range=100.0):
    """Islands, peaks and radio sources of a radio image.

    Parameters
    ----------
    image : path, HDU, NDData, (array, WCS) or `~radioassist.RadioImage`
        The image (anything :func:`~radioassist.load_image` accepts).
    thresh_isl : float, optional
        Island threshold in units of the local RMS (PyBDSF ``thresh_isl``, default 3).
    thresh_pix : float, optional
        An island is kept when its peak reaches ``thresh_pix`` times the
        local RMS (PyBDSF ``thresh_pix``, default 5).
    n_pixels : int, optional
        Least pixels of an island and of a peak's branch (default: half a
        beam, at least 5).
    box_size : int, optional
        Mesh of the background and RMS maps in pixels (default: about 15
        beams, at least 32 pixels, at most a quarter of the image).
    peak_levels : int, optional
        Levels of photutils' multi-threshold deblending used to find peaks (default 32).
    peak_contrast : float, optional
        Least fraction of its island's flux a branch holds to count as a peak (default 0.001).
    group : bool, optional
        Associate islands into radio sources (default True); False makes
        each island a source of its own.
    link_factor : float, optional
        Islands link when their separation is at most ``link_factor`` times
        the sum of their radii along the line joining them (default 1.5).
    pair_ratio : float, optional
        Most flux ratio of two islands linked as the lobes of a double (default 10).
    pair_flux : float, optional
        Jy: two islands ``d`` apart link as a double when their summed flux
        density reaches ``pair_flux * (d / 100 arcsec)**2`` (default 0.01 Jy,
        the LoTSS DR1 rule's 50 mJy at 144 MHz scaled to 1.4 GHz with a
        spectral index of -0.7).
    max_pair_sep : float, optional
        Most separation of a double in arcsec (default 300).
    core_radius : float, optional
        An island within ``core_radius`` times half the separation of a
        linked double's midpoint joins it as its core, and two islands of
        similar flux with an island that close to their midpoint are linked
        with it (default 1: inside the circle the pair spans; chosen on the
        even RA bands of the MiraBest and FR-DEEP FIRST cutouts, see
        ``tools/measure_structure.py --grid``).
    align_angle : float, optional
        Degrees: the two lobes of a double (the pair rule) must each be
        compact, round (axis ratio above 0.7) or elongated within this angle
        of the line joining them (default 90: any orientation; task B2 uses
        45, chosen on the even RA bands of the RGZ sources).
    peak_method : {'contours', 'deblend'}, optional
        How peaks are found: ``'contours'`` (default), RGZ's way: the
        innermost contours of a contour tree with levels ``thresh_isl * rms *
        contour_ratio**k`` (one peak per leaf of the tree); ``'deblend'``,
        photutils' multi-threshold deblending (``peak_levels``,
        ``peak_contrast``; slower).
    contour_ratio : float, optional
        Ratio of successive contour levels for ``peak_method='contours'``
        (default sqrt(3), as RGZ's contours).
    island_connectivity : {8, 4}, optional
        8 (default): islands as photutils finds them; 4: an island is split
        where its pixels touch only at a corner (pieces of at least
        ``n_pixels`` kept), as RGZ's outermost contour lines split it (task B2).
    peak_connectivity : {8, 4}, optional
        Connectivity of the regions of each contour level for
        ``peak_method='contours'`` (default 8, as the islands); 4 splits
        regions that touch only at a pixel corner, as the contour lines RGZ
        traced (marching squares) do.
    dynamic_range : float or None, optional
        An island within ``artefact_radius`` beams of a brighter island's
        peak whose own peak is below that peak over ``dynamic_range`` is taken
        for an imaging artefact (the sidelobes around a bright source) and
        dropped (default 500, about the dynamic range of FIRST snapshots);
        None keeps every island.  A lower value also drops the faint lobes
        of FR-Is with a bright core: ``satellite_range`` groups them instead.
    satellite_range : float or None, optional
        An island within ``artefact_radius`` beams of a brighter island whose
        peak is below that peak over ``satellite_range`` joins its source
        (default 100): the faint lobes and jets of a bright source, or its
        sidelobes above 1/``dynamic_range`` (chosen on the even RA bands of the
        MiraBest and FR-DEEP FIRST cutouts, where the faint islands around
        bright FR-DEEP sources were otherwise rows of their own; 50 scored a
        little higher but grouped one more pair of distinct RGZ sources, see
        ``tools/measure_structure.py --grid``); None: no such link.
    artefact_radius : float, optional
        Beams around a bright island where the dynamic-range rule applies (default 30).
    beam : `~astropy.units.Quantity`, optional
        Beam FWHM (one angle, or major and minor) when the image header has
        none (FIRST cutouts from SkyView: 5.4 arcsec).  Without either, 3
        pixels are assumed with a `StructureWarning`: flux densities then
        depend on that guess.

    Returns
    -------
    `SourceStructure`
        ``.sources`` has one row per radio source: ``source_id``, ``ra``,
        ``dec`` (deg, flux-weighted centroid of its islands), ``x``, ``y``,
        ``n_components``, ``n_peaks``, ``component_ra``, ``component_dec``
        (';'-separated degrees, brightest first), ``peak_flux`` (image unit),
        ``flux`` (Jy: the island pixel sums over the beam area in pixels),
        ``flux_err`` (Jy: RMS x sqrt(pixels / beam pixels)), ``snr``,
        ``extent`` (arcsec: largest angular size, from pixel edge to pixel
        edge), ``size`` (arcsec: the extent, at least the beam) and
        ``area`` (pixels).

    Raises
    ------
    radioassist.ImageError
        If the image has no finite pixel.
    radioassist.InputError
        For a bad parameter (the message names it).
    """
    from ._noise import background_and_rms, detect_islands

    image = load_image(image)
    thresh_isl = _as_positive("thresh_isl", thresh_isl)
    thresh_pix = _as_positive("thresh_pix", thresh_pix)
    if thresh_pix < thresh_isl:
        msg = f"thresh_pix ({thresh_pix}) must be at least thresh_isl ({thresh_isl})"
        raise InputError(msg)
    if dynamic_range is not None:
        _as_positive("dynamic_range", dynamic_range)
    if satellite_range is not None:
        _as_positive("satellite_range", satellite_range)
    for name, value in (("artefact_radius", artefact_radius), ("link_factor", link_factor),
                        ("pair_ratio", pair_ratio), ("pair_flux", pair_flux),
                        ("max_pair_sep", max_pair_sep), ("core_radius", core_radius),
                        ("peak_contrast", peak_contrast), ("align_angle", align_angle)):
        _as_positive(name, value)
    if peak_method not in ("deblend", "contours"):
        msg = f"peak_method must be 'deblend' or 'contours', got {peak_method!r}"
        raise InputError(msg)
    if island_connectivity not in (4, 8):
        msg = f"island_connectivity must be 4 or 8, got {island_connectivity!r}"
        raise InputError(msg)
    if peak_connectivity not in (4, 8):
        msg = f"peak_connectivity must be 4 or 8, got {peak_connectivity!r}"
        raise InputError(msg)
    if float(contour_ratio) <= 1:
        msg = f"contour_ratio must be above 1, got {contour_ratio}"
        raise InputError(msg)
    peak_levels = int(peak_levels)
    if peak_levels < 1:
        msg = f"peak_levels must be a positive integer, got {peak_levels}"
        raise InputError(msg)
    data = np.asarray(image.data, dtype=np.float32)
    coverage = ~np.isfinite(data)
    if coverage.all():
        msg = f"{image.label} contains no finite pixels (all NaN/blank): nothing to detect"
        raise ImageError(msg)
    ny, nx = data.shape
    pixel_arcsec = float(image.pixel_scale.to_value(u.arcsec))
    if beam is not None:
        try:
            fwhm = np.atleast_1d(u.Quantity(beam).to_value(u.arcsec))
        except (TypeError, ValueError, u.UnitsError) as exc:
            msg = f"beam must be an angle (the FWHM, or major and minor FWHM), got {beam!r}"
            raise InputError(msg) from exc
        if fwhm.size not in (1, 2) or not np.all(np.isfinite(fwhm) & (fwhm > 0)):
            msg = f"beam must be one or two positive angles (FWHM), got {beam!r}"
            raise InputError(msg)
        bmaj_pix, bmin_pix = float(fwhm[0]) / pixel_arcsec, float(fwhm[-1]) / pixel_arcsec
        beam_note = f"given: {fwhm[0]:.3g} x {fwhm[-1]:.3g} arcsec"
    elif image.beam is not None:
        bmaj_pix = float((image.beam.major / image.pixel_scale).decompose())
        bmin_pix = float((image.beam.minor / image.pixel_scale).decompose())
        beam_note = "image header"
    else:
        bmaj_pix = bmin_pix = 3.0
        beam_note = "unknown: 3 pixels assumed"
        msg = (f"{image.label} records no beam (BMAJ/BMIN): 3 pixels assumed for the beam area, the flux "
               f"densities and the association; pass beam= (e.g. 5.4 arcsec for FIRST)")
        warnings.warn(msg, StructureWarning, stacklevel=2)
    beam_fwhm_pix = float(np.sqrt(bmaj_pix * bmin_pix))
    beam_area_pix = float(np.pi / (4 * np.log(2)) * bmaj_pix * bmin_pix)
    if box_size is None:
        box_size = int(np.clip(15 * beam_fwhm_pix, 32, max(8, min(nx, ny) // 4)))
    box_size = int(box_size)
    if n_pixels is None:
        n_pixels = max(5, int(round(beam_area_pix / 2)))
    n_pixels = int(n_pixels)

    filled = np.where(coverage, 0.0, data).astype(np.float32)
    try:  # photutils' Background2D (median, MAD-std RMS), computed without importing photutils (_noise.py)
        background, rms = background_and_rms(filled, box_size, coverage_mask=coverage, filter_size=(3, 3))
    except ValueError as exc:
        msg = (f"the background and RMS maps of {image.label} ({ny} x {nx} pixels) cannot be made with "
               f"box_size={box_size}: {exc}. Choose a box_size that divides the image into boxes of data "
               f"(default: about 15 beams)")
        raise InputError(msg) from exc
    residual = (filled - background).astype(np.float32)
    residual[coverage] = 0.0
    rms = np.asarray(rms, dtype=np.float32)
    finite_rms = rms[np.isfinite(rms) & (rms > 0)]
    fill = float(np.max(finite_rms)) if finite_rms.size else 1.0
    rms = np.where(np.isfinite(rms) & (rms > 0), rms, fill).astype(np.float32)
    snr_map = residual / rms

    parameters = {
        "image": image.label, "pixel_arcsec": round(pixel_arcsec, 6), "thresh_isl": thresh_isl,
        "thresh_pix": thresh_pix, "n_pixels": n_pixels, "connectivity": 8, "box_size": box_size,
        "noise": ("photutils Background2D's recipe (radioassist._noise): sigma-clipped median background and "
                  "MAD-std RMS, 3x3 filter"),
        "beam_fwhm_pix": [round(bmaj_pix, 4), round(bmin_pix, 4)], "beam": beam_note,
        "beam_area_pix": round(beam_area_pix, 4),
        "peaks": ("photutils deblend_sources (exponential levels) inside each island" if peak_method == "deblend"
                  else "leaves of a contour tree inside each island (RGZ)"),
        "peak_method": peak_method, "peak_levels": peak_levels, "peak_contrast": float(peak_contrast),
        "contour_ratio": float(contour_ratio), "peak_connectivity": int(peak_connectivity),
        "island_connectivity": int(island_connectivity),
        "dynamic_range": None if dynamic_range is None else float(dynamic_range),
        "artefact_radius_beams": float(artefact_radius),
        "satellite_range": None if satellite_range is None else float(satellite_range),
        "group": bool(group), "link_factor": float(link_factor), "pair_ratio": float(pair_ratio),
        "pair_flux_jy": float(pair_flux), "max_pair_sep_arcsec": float(max_pair_sep),
        "core_radius": float(core_radius), "align_angle_deg": float(align_angle),
    }

    segm = detect_islands(snr_map, thresh_isl, n_pixels, mask=coverage, connectivity=8)  # photutils detect_sources
    n_artefacts = 0
    if segm is not None and island_connectivity == 4:
        segm = _four_connected(segm, n_pixels)
    if segm is not None:
        segm, n_artefacts = _keep_islands(segm, residual, snr_map, thresh_pix=thresh_pix,
                                          dynamic_range=dynamic_range,
                                          radius=artefact_radius * beam_fwhm_pix)
    parameters["n_artefact_candidates"] = n_artefacts
    if segm is None:
        log.info("no island above %.1f sigma with a peak above %.1f sigma in %s", thresh_isl, thresh_pix,
                 image.label)
        return _empty_structure(parameters, (ny, nx), rms)
    island_map = np.asarray(segm.data)

    islands, peaks = _islands_and_peaks(residual, snr_map, rms, segm, image, n_pixels=n_pixels,
                                        peak_levels=peak_levels, peak_contrast=peak_contrast,
                                        beam_area_pix=beam_area_pix, pixel_arcsec=pixel_arcsec,
                                        peak_method=peak_method, thresh_isl=thresh_isl,
                                        contour_ratio=float(contour_ratio), peak_connectivity=int(peak_connectivity))
    jy = islands["flux"].unit == u.Jy
    parameters["pair_rule"] = ("applied" if jy else
                               "not applied: the image unit is not Jy/beam, so flux densities are not in Jy")
    if group and len(islands) > 1:
        groups = _associate(islands, beam_fwhm_pix=beam_fwhm_pix, pixel_arcsec=pixel_arcsec,
                            link_factor=link_factor, pair_ratio=pair_ratio, pair_flux=pair_flux if jy else None,
                            max_pair_sep=max_pair_sep, core_radius=core_radius, align_angle=float(align_angle),
                            satellite_range=satellite_range, satellite_radius=artefact_radius * beam_fwhm_pix)
    else:
        groups = np.arange(len(islands))
    sources = _sources(islands, groups, island_map, image, pixel_arcsec=pixel_arcsec, beam_fwhm_pix=beam_fwhm_pix)
    for table in (islands, peaks, sources):
        table.meta["radioassist_structure"] = parameters
    log.info("%s: %d islands, %d peaks, %d radio sources", image.label, len(islands), len(peaks), len(sources))
    return SourceStructure(islands, peaks, sources, island_map, parameters, rms)


def _four_connected(segm, n_pixels):
    """The islands split where their pixels touch only at a corner (4-connected), pieces of at least
    ``n_pixels`` kept (None when none is left)."""
    from photutils.segmentation import SegmentationImage
    from scipy import ndimage

    cross = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    pieces, n = ndimage.label(np.asarray(segm.data) > 0, structure=cross)
    if n == 0:
        return None
    sizes = np.bincount(pieces.ravel(), minlength=n + 1)
    small = sizes < n_pixels
    small[0] = True
    pieces[small[pieces]] = 0
    if not pieces.any():
        return None
    _, pieces = np.unique(pieces, return_inverse=True)
    return SegmentationImage(pieces.reshape(segm.data.shape).astype(np.int32))


def _keep_islands(segm, residual, snr_map, *, thresh_pix, dynamic_range, radius):
    """PyBDSF's rule (an island is kept when its peak reaches ``thresh_pix`` x rms) and the dynamic-range
    rule (an island within ``radius`` pixels of a brighter island's peak, with a peak below that peak over
    ``dynamic_range``, is an imaging artefact candidate and dropped).  ``(segm or None, artefacts dropped)``."""
    from scipy.spatial import cKDTree

    island_map = np.asarray(segm.data)
    labels = np.asarray(segm.labels)
    peak_snr = np.zeros(len(labels))
    peak = np.zeros(len(labels))
    where = np.zeros((len(labels), 2))
    for k, (label, sl) in enumerate(zip(labels, segm.slices)):
        mask = island_map[sl] == label
        box = np.where(mask, residual[sl], -np.inf)
        iy, ix = np.unravel_index(int(np.argmax(box)), box.shape)
        peak[k] = box[iy, ix]
        where[k] = (ix + sl[1].start, iy + sl[0].start)
        peak_snr[k] = float(np.max(snr_map[sl][mask]))
    drop = peak_snr < thresh_pix
    n_artefacts = 0
    if dynamic_range is not None and len(labels) > 1:
        tree = cKDTree(where)
        artefact = np.zeros(len(labels), dtype=bool)
        for b in np.flatnonzero(peak_snr >= thresh_pix * dynamic_range / 100.0):  # bright enough to matter
            near = np.asarray(tree.query_ball_point(where[b], radius), dtype=int)
            artefact[near[peak[near] < peak[b] / dynamic_range]] = True
        n_artefacts = int(np.sum(artefact & ~drop))
        drop |= artefact
    if drop.any():
        segm.remove_labels(labels[drop], relabel=True)
    if segm.n_labels == 0:
        return None, n_artefacts
    return segm, n_artefacts


def _islands_and_peaks(residual, snr_map, rms, segm, image, *, n_pixels, peak_levels, peak_contrast,
                       beam_area_pix, pixel_arcsec, peak_method="deblend", thresh_isl=3.0, contour_ratio=np.sqrt(3),
                       peak_connectivity=8):
    """The island table and the peak table (contour tree or photutils deblending finds the peaks)."""
    from scipy import ndimage

    island_map = np.asarray(segm.data)
    n = len(segm.labels)
    idx = np.arange(1, n + 1)  # relabelled consecutively
    # one pass over the islands' bounding boxes (whole-image ndimage reductions sort the image per call)
    stats = np.zeros((n, 12))
    for k, sl in enumerate(ndimage.find_objects(island_map, max_label=n)):
        stats[k] = _island_stats(island_map[sl] == k + 1, residual[sl], snr_map[sl], rms[sl], sl)
    pixsum, npix, cx, cy, peak, peak_snr, rms_mean, sxx, syy, sxy, extent, _ = stats.T
    half = 0.5 * (sxx + syy)
    diff = np.sqrt(np.maximum(0.25 * (sxx - syy) ** 2 + sxy ** 2, 0.0))
    a_sig = np.sqrt(np.maximum(half + diff, 1e-6))
    b_sig = np.sqrt(np.maximum(half - diff, 1e-6))
    theta = 0.5 * np.arctan2(2 * sxy, sxx - syy)

    if peak_method == "contours":
        px, py, pval, parent = _contour_peaks(residual, snr_map, island_map, thresh_isl, contour_ratio,
                                              peak_connectivity)
    else:
        px, py, pval, parent = _deblend_peaks(residual, segm, island_map, n_pixels, peak_levels, peak_contrast)
    n_peaks = np.bincount(parent, minlength=n + 1)[1:]
    n_peaks = np.maximum(n_peaks, 1)

    unit = image.unit or u.dimensionless_unscaled
    flux_unit = u.Jy if unit == u.Jy / u.beam else unit * u.beam
    sky = image.wcs.pixel_to_world(cx, cy)
    islands = Table()
    islands["island_id"] = idx
    islands["source_id"] = idx
    _put_sky(islands, sky)
    islands["x"] = cx
    islands["y"] = cy
    islands["peak_flux"] = peak * unit
    islands["flux"] = pixsum / beam_area_pix * flux_unit
    islands["flux_err"] = rms_mean * np.sqrt(npix / beam_area_pix) * flux_unit
    islands["snr"] = peak_snr
    islands["n_peaks"] = n_peaks
    islands["area"] = npix
    islands["size"] = extent * pixel_arcsec * u.arcsec
    islands["a_pix"] = a_sig * _FWHM / 2  # half-width at half maximum of the island's ellipse
    islands["b_pix"] = b_sig * _FWHM / 2
    islands["theta"] = theta * u.rad
    order = np.lexsort((-pval, parent))
    peaks = Table()
    peaks["island_id"] = parent[order].astype(int)
    peaks["x"] = px[order]
    peaks["y"] = py[order]
    _put_sky(peaks, image.wcs.pixel_to_world(px[order], py[order]))
    peaks["value"] = pval[order] * unit
    return islands, peaks


def _island_stats(mask, values, snr, rms, sl):
    """Pixel sum, pixels, centroid, peak, peak SNR, mean RMS, second moments and extent of one island."""
    yy, xx = np.nonzero(mask)
    v = values[yy, xx].astype(float)
    w = np.maximum(v, 0.0)
    tw = w.sum()
    if tw <= 0:
        w, tw = np.ones_like(v), float(len(v))
    x = xx + sl[1].start
    y = yy + sl[0].start
    cx, cy = np.sum(w * x) / tw, np.sum(w * y) / tw
    sxx = np.sum(w * (x - cx) ** 2) / tw
    syy = np.sum(w * (y - cy) ** 2) / tw
    sxy = np.sum(w * (x - cx) * (y - cy)) / tw
    return (v.sum(), len(v), cx, cy, v.max(), float(snr[yy, xx].max()), float(rms[yy, xx].mean()), sxx, syy, sxy,
            _hull_diameter(x, y), 0.0)


def _deblend_peaks(residual, segm, island_map, n_pixels, peak_levels, peak_contrast):
    """Peaks as the segments of photutils' multi-threshold deblending: ``(x, y, value, island)``."""
    from photutils.segmentation import deblend_sources

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # photutils warns when an island cannot be deblended
        deb = deblend_sources(residual, segm.to_photutils(), n_pixels, n_levels=peak_levels, contrast=peak_contrast,
                              mode="exponential", connectivity=8, progress_bar=False)
    deb_map = np.asarray(deb.data)
    xs, ys, vals = [], [], []
    for label, sl in zip(deb.labels, deb.slices):
        box = np.where(deb_map[sl] == label, residual[sl], -np.inf)
        iy, ix = np.unravel_index(int(np.argmax(box)), box.shape)
        xs.append(ix + sl[1].start)
        ys.append(iy + sl[0].start)
        vals.append(float(box[iy, ix]))
    px, py = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    return px, py, np.asarray(vals, dtype=float), island_map[py.astype(int), px.astype(int)]


def _contour_peaks(residual, snr_map, island_map, thresh_isl, ratio, connectivity=8):
    """Peaks as the leaves of each island's contour tree (RGZ): ``(x, y, value, island)``.

    The regions of each level are ``connectivity``-connected (4: pixels touching at a corner only are two
    regions, as two contour lines traced around them by marching squares)."""
    from scipy import ndimage

    xs, ys, vals, parents = [], [], [], []
    eight = np.ones((3, 3), dtype=bool) if connectivity == 8 else np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], bool)
    for k, sl in enumerate(ndimage.find_objects(island_map)):
        if sl is None:
            continue
        mask = island_map[sl] == k + 1
        snr = np.where(mask, snr_map[sl], -np.inf)
        top = float(snr.max())
        level = thresh_isl
        regions, n_reg = ndimage.label(snr >= level, structure=eight)
        while True:
            nxt = level * ratio
            if nxt > top:
                leaves = range(1, n_reg + 1)
                break
            sub, n_sub = ndimage.label(snr >= nxt, structure=eight)
            # a region of this level with no region of the next inside it is a leaf: its peak is final
            has_child = np.zeros(n_reg + 1, dtype=bool)
            if n_sub:
                has_child[np.unique(regions[sub > 0])] = True
            for r in np.flatnonzero(~has_child[1:]) + 1:
                _add_peak(r, regions, snr, residual[sl], sl, k + 1, xs, ys, vals, parents)
            regions, n_reg, level = sub, n_sub, nxt
        for r in leaves:
            _add_peak(r, regions, snr, residual[sl], sl, k + 1, xs, ys, vals, parents)
    return (np.asarray(xs, dtype=float), np.asarray(ys, dtype=float), np.asarray(vals, dtype=float),
            np.asarray(parents, dtype=int))


def _add_peak(region, regions, snr, values, sl, island, xs, ys, vals, parents):
    inside = np.where(regions == region, snr, -np.inf)
    iy, ix = np.unravel_index(int(np.argmax(inside)), inside.shape)
    xs.append(ix + sl[1].start)
    ys.append(iy + sl[0].start)
    vals.append(float(values[iy, ix]))
    parents.append(island)


def _hull_diameter(x, y):
    pts = np.concatenate([np.column_stack([x + dx, y + dy]) for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])
    pts = np.unique(pts, axis=0)
    if len(pts) > 8:
        from scipy.spatial import ConvexHull, QhullError
        try:
            pts = pts[ConvexHull(pts).vertices]
        except QhullError:
            pass
    d = np.hypot(pts[:, None, 0] - pts[None, :, 0], pts[:, None, 1] - pts[None, :, 1])
    return float(d.max())


def _radius_towards(a, b, theta, phi):
    """Radius of the ellipse (semi-axes a, b, angle theta) in the direction phi (Aegean's norm_dist)."""
    t = phi - theta
    return a * b / np.sqrt(np.maximum((b * np.cos(t)) ** 2 + (a * np.sin(t)) ** 2, 1e-12))


def _associate(islands, *, beam_fwhm_pix, pixel_arcsec, link_factor, pair_ratio, pair_flux, max_pair_sep,
               core_radius, align_angle=90.0, satellite_range=None, satellite_radius=0.0):
    """Group index of each island: friends of friends over the links described in the module docstring."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = np.asarray(islands["x"], dtype=float)
    y = np.asarray(islands["y"], dtype=float)
    flux = np.maximum(np.asarray(islands["flux"].value, dtype=float), 1e-12)
    a = np.maximum(np.asarray(islands["a_pix"], dtype=float), beam_fwhm_pix / 2)
    b = np.maximum(np.asarray(islands["b_pix"], dtype=float), beam_fwhm_pix / 2)
    theta = np.asarray(islands["theta"], dtype=float)
    half_extent = 0.5 * np.asarray(islands["size"], dtype=float) / pixel_arcsec
    n = len(x)
    from scipy.spatial import cKDTree
    reach = max(max_pair_sep / pixel_arcsec, link_factor * 2 * float(np.max(np.maximum(a, half_extent))))
    tree = cKDTree(np.column_stack([x, y]))
    pairs = tree.query_pairs(reach, output_type="ndarray")
    if len(pairs) == 0:
        return np.arange(n)
    i, j = pairs[:, 0], pairs[:, 1]
    dx, dy = x[j] - x[i], y[j] - y[i]
    d = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    # 1. close compared with their sizes: radius along the joining line, at least half the island's extent
    # projected (a bent lobe reaches farther than its ellipse)
    ri = np.maximum(_radius_towards(a[i], b[i], theta[i], phi), 0.5 * half_extent[i])
    rj = np.maximum(_radius_towards(a[j], b[j], theta[j], phi), 0.5 * half_extent[j])
    near = d <= link_factor * (ri + rj)
    # 2. lobes of a double: similar flux, bright enough for their separation, not too far apart, and each
    # either compact or elongated along the joining line
    d_arcsec = d * pixel_arcsec
    ratio = np.maximum(flux[i], flux[j]) / np.minimum(flux[i], flux[j])
    bright = flux[i] + flux[j] >= (np.inf if pair_flux is None else pair_flux) * (d_arcsec / 100.0) ** 2
    aligned_i = _aligned(a[i], b[i], theta[i], phi, beam_fwhm_pix, align_angle)
    aligned_j = _aligned(a[j], b[j], theta[j], phi, beam_fwhm_pix, align_angle)
    pair = (ratio <= pair_ratio) & bright & (d_arcsec <= max_pair_sep) & aligned_i & aligned_j
    if pair_flux is None:  # flux densities not in Jy: no double rule
        pair[:] = False
    # a pair is kept only between mutual best partners (each one's brightest candidate), so that a field of
    # compact sources does not chain into one
    pi, pj = i[pair], j[pair]
    if len(pi):
        score = flux[pi] + flux[pj]
        best = np.full(n, -1)
        best_score = np.zeros(n)
        for a_, b_, s in zip(pi, pj, score):
            for u_, v_ in ((a_, b_), (b_, a_)):
                if s > best_score[u_]:
                    best_score[u_], best[u_] = s, v_
        mutual = (best[pi] == pj) & (best[pj] == pi)
        pi, pj = pi[mutual], pj[mutual]
    links_i = list(i[near]) + list(pi)
    links_j = list(j[near]) + list(pj)
    # 3. a core: an island near the midpoint of a double joins it
    for p, q in zip(pi, pj):
        mx, my = 0.5 * (x[p] + x[q]), 0.5 * (y[p] + y[q])
        sep = np.hypot(x[p] - x[q], y[p] - y[q])
        close = np.hypot(x - mx, y - my) <= core_radius * 0.5 * sep
        for c in np.flatnonzero(close):
            if c not in (p, q):
                links_i.append(p)
                links_j.append(c)
    # 4. two islands of similar flux on both sides of a core: linked with it when the three together are
    # bright enough for their separation (a bright core with faint lobes: many FR-Is), whatever the lobes'
    # orientation (lobes are often wider across the jet axis than along it; the core is the evidence)
    # Each island is a lobe of at most one such triple, chosen as for doubles (mutual best partners, the
    # triple brightest for its separation), so that a crowded field does not chain into one source through
    # the islands that happen to lie between two others.
    if pair_flux is not None:
        faint = (ratio <= pair_ratio) & (d_arcsec <= max_pair_sep)
        triples = []
        for p, q, sep in zip(i[faint], j[faint], d[faint]):
            mid = (0.5 * (x[p] + x[q]), 0.5 * (y[p] + y[q]))
            need = pair_flux * (sep * pixel_arcsec / 100.0) ** 2
            cores = [c for c in tree.query_ball_point(mid, core_radius * 0.5 * sep)
                     if c not in (p, q) and flux[p] + flux[q] + flux[c] >= need]
            if cores:
                triples.append((p, q, cores, max(flux[p] + flux[q] + flux[c] for c in cores) / need))
        best = np.full(n, -1)
        best_score = np.zeros(n)
        for p, q, _, score in triples:
            for u_, v_ in ((p, q), (q, p)):
                if score > best_score[u_]:
                    best_score[u_], best[u_] = score, v_
        for p, q, cores, _ in triples:
            if best[p] == q and best[q] == p:
                for c in cores:
                    links_i += [p, q]
                    links_j += [c, c]
    # 5. faint islands around a bright one (peak below its peak over satellite_range, within satellite_radius
    # pixels of it): its faint lobes or jets, or the sidelobes the dynamic-range rule left; they join it
    if satellite_range is not None:
        peak = np.asarray(islands["peak_flux"], dtype=float)
        for b_ in np.argsort(-peak):
            if peak[b_] <= 0:
                break
            for c in tree.query_ball_point((x[b_], y[b_]), satellite_radius):
                if peak[c] * satellite_range <= peak[b_]:
                    links_i.append(b_)
                    links_j.append(c)
    graph = coo_matrix((np.ones(len(links_i)), (links_i, links_j)), shape=(n, n))
    _, groups = connected_components(graph, directed=False)
    return groups


def _aligned(a, b, theta, phi, beam_fwhm_pix, align_angle=90.0):
    """An island compact (about a beam), round, or elongated within ``align_angle`` degrees of the direction phi
    (90: any island)."""
    compact = a <= 1.5 * beam_fwhm_pix / 2 * 1.5
    t = np.abs(np.angle(np.exp(2j * (phi - theta)))) / 2  # angle between axis and line, 0..pi/2
    return compact | (b / a > 0.7) | (t <= np.radians(align_angle))


def _sources(islands, groups, island_map, image, *, pixel_arcsec, beam_fwhm_pix):
    """One row per group of islands (a radio source)."""
    from scipy import ndimage

    # sources numbered by their brightest island's order in the image (stable for a given image)
    flux = np.asarray(islands["flux"].value, dtype=float)
    uniq = np.unique(groups)
    order = sorted(uniq, key=lambda g: np.min(np.flatnonzero(groups == g)))
    gid = {g: k + 1 for k, g in enumerate(order)}
    source_id = np.array([gid[g] for g in groups])
    islands["source_id"] = source_id
    slices = ndimage.find_objects(island_map, max_label=len(islands))
    rows = []
    unit = islands["peak_flux"].unit
    flux_unit = islands["flux"].unit
    weights = np.maximum(flux, 0.0)
    for sid in range(1, len(order) + 1):
        members = np.flatnonzero(source_id == sid)
        members = members[np.argsort(-flux[members])]
        w = weights[members] if weights[members].sum() > 0 else np.ones(len(members))
        x = float(np.sum(w * islands["x"][members]) / w.sum())
        y = float(np.sum(w * islands["y"][members]) / w.sum())
        if len(members) == 1:
            extent = float(islands["size"][members[0]]) / pixel_arcsec
        else:
            xs, ys = [], []
            for m in members:
                sl = slices[m]
                yy, xx = np.nonzero(island_map[sl] == m + 1)
                xs.append(xx + sl[1].start)
                ys.append(yy + sl[0].start)
            extent = _hull_diameter(np.concatenate(xs), np.concatenate(ys))
        rows.append((sid, x, y, len(members), int(np.sum(islands["n_peaks"][members])),
                     ";".join(f"{v:.6f}" for v in _lon(islands)[members]),
                     ";".join(f"{v:.6f}" for v in _lat(islands)[members]),
                     float(np.max(islands["peak_flux"][members].value)),
                     float(np.sum(flux[members])),
                     float(np.sqrt(np.sum(islands["flux_err"][members].value ** 2))),
                     float(np.max(islands["snr"][members])), extent,
                     float(np.sum(islands["area"][members]))))
    cols = list(zip(*rows))
    out = Table()
    out["source_id"] = np.asarray(cols[0], dtype=int)
    x, y = np.asarray(cols[1]), np.asarray(cols[2])
    _put_sky(out, image.wcs.pixel_to_world(x, y))
    out["x"] = x
    out["y"] = y
    out["n_components"] = np.asarray(cols[3], dtype=int)
    out["n_peaks"] = np.asarray(cols[4], dtype=int)
    lon, lat = _sky_names(islands)
    out[f"component_{lon}"] = np.asarray(cols[5], dtype=str)
    out[f"component_{lat}"] = np.asarray(cols[6], dtype=str)
    out["peak_flux"] = np.asarray(cols[7]) * unit
    out["flux"] = np.asarray(cols[8]) * flux_unit
    out["flux_err"] = np.asarray(cols[9]) * flux_unit
    out["snr"] = np.asarray(cols[10])
    extent = np.asarray(cols[11]) * pixel_arcsec
    out["extent"] = extent * u.arcsec
    out["size"] = np.maximum(extent, beam_fwhm_pix * pixel_arcsec) * u.arcsec
    out["area"] = np.asarray(cols[12])
    for name, text in (("flux", "integrated flux density: island pixel sums over the beam area in pixels"),
                       ("flux_err", "error of flux: rms x sqrt(pixels / beam pixels)"),
                       ("extent", "largest angular size of the source's islands"),
                       ("n_components", "islands associated into the source"),
                       ("n_peaks", "peaks inside the source's islands")):
        out[name].description = text
    return out


def _sky_names(table):
    return ("glon", "glat") if "glon" in table.colnames else ("ra", "dec")


def _lon(table):
    return np.asarray(table[_sky_names(table)[0]], dtype=float)


def _lat(table):
    return np.asarray(table[_sky_names(table)[1]], dtype=float)


def _put_sky(table, sky):
    if sky.frame.name == "galactic":
        table["glon"] = np.atleast_1d(sky.l.deg) * u.deg
        table["glat"] = np.atleast_1d(sky.b.deg) * u.deg
    else:
        icrs = sky.icrs
        table["ra"] = np.atleast_1d(icrs.ra.deg) * u.deg
        table["dec"] = np.atleast_1d(icrs.dec.deg) * u.deg


def _empty_structure(parameters, shape, rms):
    islands = Table(names=("island_id", "source_id", "ra", "dec", "x", "y", "peak_flux", "flux", "flux_err",
                           "snr", "n_peaks", "area", "size"),
                    dtype=(int, int, float, float, float, float, float, float, float, float, int, float, float))
    peaks = Table(names=("island_id", "x", "y", "ra", "dec", "value"), dtype=(int, float, float, float, float, float))
    sources = Table(names=("source_id", "ra", "dec", "x", "y", "n_components", "n_peaks", "component_ra",
                           "component_dec", "peak_flux", "flux", "flux_err", "snr", "extent", "size", "area"),
                    dtype=(int, float, float, float, float, int, int, str, str, float, float, float, float, float,
                           float, float))
    for t in (islands, peaks, sources):
        for name in ("ra", "dec"):
            t[name].unit = u.deg
        t.meta["radioassist_structure"] = parameters
    for t in (islands, sources):
        t["flux"].unit = t["flux_err"].unit = u.Jy
        t["size"].unit = u.arcsec
    sources["extent"].unit = u.arcsec
    return SourceStructure(islands, peaks, sources, np.zeros(shape, dtype=np.int32), parameters, rms)
