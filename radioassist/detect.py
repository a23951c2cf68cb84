"""Find sources in a radio mosaic when no catalogue is given (photutils segmentation).

The recipe is the usual one for radio images (as in PyBDSF): a sigma-clipped
background and RMS map on a mesh of about fifteen beams, islands of connected
pixels above ``island_snr`` times the local RMS, deblending of blended
islands, and sources kept when their peak reaches ``snr`` times the RMS.  Blank (NaN) mosaic areas are a coverage mask, not bad data.
"""
import warnings

import numpy as np
from astropy import units as u
from astropy.stats import SigmaClip
from astropy.table import Table

from .exceptions import ImageError, InputError
from .image import load_image
from .logger import log

__all__ = ["find_sources"]

_FWHM = 2.0 * np.sqrt(2.0 * np.log(2.0))


def find_sources(image, *, snr=5.0, island_snr=3.0, n_pixels=None, box_size=None, deblend=True, contrast=0.005):
    """Detect sources with photutils and return a catalogue that :func:`radioassist.read_catalog` accepts.

    Parameters
    ----------
    image : path, HDU, NDData, (array, WCS) or `~radioassist.RadioImage`
        The mosaic (anything :func:`~radioassist.load_image` accepts).
    snr : float, optional
        A source is kept when its peak reaches ``snr`` times the local RMS (default 5).
    island_snr : float, optional
        Islands (segments) are the connected pixels above ``island_snr`` times
        the local RMS (default 3), as in PyBDSF.
    n_pixels : int, optional
        Minimum number of connected pixels above the threshold (default: the
        number of pixels in half a beam, at least 5).
    box_size : int, optional
        Mesh size in pixels of the background and RMS maps (default: about 15
        beams, at least 32 pixels, at most a quarter of the image).
    deblend : bool, optional
        Split blended islands into components (default True).
    contrast : float, optional
        Deblending contrast (photutils ``deblend_sources``).

    Returns
    -------
    catalog : `~astropy.table.Table`
        Columns ``source_id``, ``ra``, ``dec`` (deg), ``x``, ``y`` (pixels),
        ``peak_flux``, ``segment_flux`` (image units), ``snr``, ``size``
        (arcsec: twice the segment's equivalent radius or the Gaussian FWHM of
        the major axis, whichever is larger) and ``area`` (pixels).
    """
    from photutils.background import Background2D, MADStdBackgroundRMS, MedianBackground
    from photutils.segmentation import SourceCatalog, deblend_sources, detect_sources

    image = load_image(image)
    if snr <= 0:
        raise InputError(f"snr must be positive, got {snr}")
    data = np.asarray(image.data, dtype=np.float32)
    coverage = ~np.isfinite(data)
    if coverage.all():
        raise ImageError(f"{image.label} contains no finite pixels (all NaN/blank): nothing to detect")
    ny, nx = data.shape
    beam_fwhm_pix = 3.0
    if image.beam is not None:
        beam_fwhm_pix = float((np.sqrt(image.beam.major * image.beam.minor) / image.pixel_scale).decompose())
    if box_size is None:
        box_size = int(np.clip(15 * beam_fwhm_pix, 32, max(8, min(nx, ny) // 4)))
    if n_pixels is None:
        beam_area = np.pi / (4 * np.log(2)) * beam_fwhm_pix ** 2
        n_pixels = max(5, int(round(beam_area / 2)))

    filled = np.where(coverage, 0.0, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # photutils warns about meshes fully inside blank areas
        bkg = Background2D(filled, box_size, coverage_mask=coverage, sigma_clip=SigmaClip(sigma=3.0),
                           bkg_estimator=MedianBackground(), bkg_rms_estimator=MADStdBackgroundRMS(),
                           filter_size=(3, 3))
    residual = filled - bkg.background
    residual[coverage] = 0.0
    rms = bkg.background_rms
    rms = np.where(rms > 0, rms, np.nanmax(rms))
    # as PyBDSF does: islands above island_snr, kept when their peak reaches snr (radio images are already
    # beam-convolved, so no further smoothing: it would lower the peak SNR of point sources)
    segm = detect_sources(residual, island_snr * rms, n_pixels, mask=coverage)
    if segm is None:
        log.warning("no sources above %.1f sigma in %s", snr, image.label)
        return _empty_catalog()
    if deblend and segm.n_labels > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            segm = deblend_sources(residual, segm, n_pixels, contrast=contrast, progress_bar=False)
    cat = SourceCatalog(residual, segm, wcs=image.wcs, background=bkg.background)
    x = np.asarray(cat.x_centroid, dtype=float)
    y = np.asarray(cat.y_centroid, dtype=float)
    # radio peaks: use the brightest pixel where the centroid falls off the emission (e.g. curved sources)
    sky = image.wcs.pixel_to_world(x, y)
    peak = np.asarray(cat.max_value, dtype=float)
    local_rms = bkg.background_rms[np.clip(np.round(y).astype(int), 0, ny - 1),
                                   np.clip(np.round(x).astype(int), 0, nx - 1)]
    major_fwhm = np.asarray(cat.semimajor_axis.value if hasattr(cat.semimajor_axis, "value")
                            else cat.semimajor_axis, dtype=float) * _FWHM
    extent = 2.0 * np.asarray(cat.equivalent_radius.value if hasattr(cat.equivalent_radius, "value")
                              else cat.equivalent_radius, dtype=float)
    size_pix = np.maximum(major_fwhm, extent)
    snr_peak = peak / np.where(local_rms > 0, local_rms, np.nan)
    keep = snr_peak >= snr
    x, y, sky, peak, snr_peak, size_pix = x[keep], y[keep], sky[keep], peak[keep], snr_peak[keep], size_pix[keep]
    seg_flux = np.asarray(cat.segment_flux, dtype=float)[keep]
    area = np.asarray(cat.area.value if hasattr(cat.area, "value") else cat.area, dtype=float)[keep]
    table = Table()
    table["source_id"] = np.arange(1, len(x) + 1)
    frame = sky.frame.name
    if frame == "galactic":
        table["glon"] = sky.l.deg * u.deg
        table["glat"] = sky.b.deg * u.deg
    else:
        icrs = sky.icrs
        table["ra"] = icrs.ra.deg * u.deg
        table["dec"] = icrs.dec.deg * u.deg
    table["x"] = x
    table["y"] = y
    table["peak_flux"] = peak * (image.unit or u.dimensionless_unscaled)
    table["segment_flux"] = seg_flux
    table["snr"] = snr_peak
    table["size"] = size_pix * image.pixel_scale.to(u.arcsec)
    table["area"] = area
    table.meta["radioassist_detection"] = {"image": image.label, "snr": float(snr), "n_pixels": int(n_pixels),
                                           "box_size": int(box_size), "deblend": bool(deblend)}
    log.info("found %d sources above %.1f sigma in %s", len(table), snr, image.label)
    return table


def _empty_catalog():
    table = Table(names=("source_id", "ra", "dec", "x", "y", "peak_flux", "segment_flux", "snr", "size", "area"),
                  dtype=(int, float, float, float, float, float, float, float, float, float))
    table["ra"].unit = table["dec"].unit = u.deg
    table["size"].unit = u.arcsec
    return table
