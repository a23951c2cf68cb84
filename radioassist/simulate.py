"""A deterministic synthetic radio sky with a truth catalogue.

:func:`simulate_sky` paints point sources, FR-I and FR-II radio galaxies,
diffuse blobs and ring artefacts around bright sources onto beam-correlated
Gaussian noise, and returns the image (a `~radioassist.image.RadioImage`)
together with a truth catalogue that carries the answer of every task whose
truth is known (B1, B3, B4, B5, B6).  The defaults mimic VLA FIRST
(1.4 GHz, 1.8"/px, 5.4" beam, 0.15 mJy/beam rms), so that classifiers trained
on real FIRST cutouts recognise the simulated radio galaxies.

Every source is a sum of Gaussian components analytically convolved with the
Gaussian restoring beam (covariances add), so the image is in Jy/beam and a
point source of flux density S peaks at S Jy/beam.  The image is built in
horizontal strips, each source being painted only in its own small bounding
box, so that a 12000 x 12000 mosaic with 20000 sources can be streamed to a
FITS file with bounded memory.  The same parameters always give the same
bytes.
"""
import math
import os
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS, FITSFixedWarning

from .exceptions import InputError, RadioassistWarning
from .image import Beam, load_image
from .logger import log
from .version import __version__

__all__ = ["SimulatedSky", "simulate_sky", "SOURCE_KINDS", "DEFAULT_MIX"]

#: The kinds of simulated sources, in the order used by ``mix``.
SOURCE_KINDS = ("point", "FR-I", "FR-II", "diffuse")

#: Default fractions of each source kind.
DEFAULT_MIX = {"point": 0.55, "FR-I": 0.15, "FR-II": 0.15, "diffuse": 0.15}

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_DEFAULT_NOISE = 1.5e-4  # Jy/beam; flux scale of a noiseless sky
_DIFFUSE_LARGE_FRACTION = 0.35
# largest angular size ranges (arcsec), drawn log-uniformly
_LAS_RANGE = {"FR-I": (20.0, 120.0), "FR-II": (30.0, 200.0),
              "DIFFUSE": (30.0, 80.0), "DIFFUSE-LARGE": (90.0, 300.0)}
# peak signal-to-noise: (minimum, maximum, index of the cumulative power law N(>S) ~ S^-index)
_SNR_LAW = {"point": (5.0, 20000.0, 0.9), "FR-I": (15.0, 5000.0, 0.8), "FR-II": (15.0, 8000.0, 0.75),
            "diffuse": (5.0, 40.0, 1.0)}
_NOISE_BLOCK = 64  # rows of white noise drawn from one seed: the noise does not depend on the strip height
_STRIP_PIXELS = 2 ** 22  # pixels per strip (the image does not depend on it)
_FRAMES = {"icrs": ("RA--", "DEC-"), "fk5": ("RA--", "DEC-"), "galactic": ("GLON", "GLAT")}
_CATALOG_FORMATS = {".ecsv": "ascii.ecsv", ".vot": "votable", ".votable": "votable", ".xml": "votable",
                    ".fits": "fits", ".fit": "fits", ".fts": "fits", ".csv": "ascii.csv"}


class SimulatedSky:
    """A simulated radio mosaic and its truth catalogue (returned by :func:`simulate_sky`).

    Attributes
    ----------
    image : `~radioassist.image.RadioImage`
        The 2-D image (memory-mapped from the FITS file when ``output=`` was given).
    header : `~astropy.io.fits.Header`
        The full FITS header as written (4-D when ``four_d=True``).
    catalog : `~astropy.table.Table`
        One row per source: ``name``, ``ra``, ``dec`` (ICRS, deg; plus ``glon``/``glat`` for a
        Galactic sky), ``x``, ``y`` (true 0-based pixel position of the source centre: the point
        source, the FR-I core, the midpoint between the FR-II hotspots, the centre of a diffuse
        blob), ``kind``, ``peak_flux`` (Jy/beam, noiseless), ``total_flux`` (Jy), ``size``
        (largest angular size, arcsec; the beam FWHM for point sources), ``pa`` (deg, east of
        north), ``has_artefact`` and the truth columns ``B1_true``, ``B3_true``, ``B4_true``,
        ``B5_true``, ``B6_true``.  ``meta`` holds the simulation parameters.
    """

    def __init__(self, image, header, catalog):
        self.image = image
        self.header = header
        self.catalog = catalog

    @property
    def data(self):
        """The 2-D image array (``image.data``)."""
        return self.image.data

    @property
    def filename(self):
        """Path of the FITS file holding the image, or None for an in-memory sky."""
        return self.image.filename

    def write(self, path, *, overwrite=False):
        """Write the mosaic to a FITS file (the same bytes as ``simulate_sky(output=path)``).

        Parameters
        ----------
        path : str or `~pathlib.Path`
            Output FITS file.
        overwrite : bool, optional
            Replace an existing file.
        """
        path = Path(path)
        _check_output_path(path, overwrite=overwrite, what="mosaic")
        if self.filename is not None and path.exists() and os.path.samefile(path, self.filename):
            return path  # already there, byte for byte
        data = self.image.data
        rows = _strip_rows(data.shape[1])

        def strips():
            for y0 in range(0, data.shape[0], rows):
                yield np.asarray(data[y0:y0 + rows])

        _write_fits_stream(path, self.header, strips(), data.dtype)
        log.debug("wrote the simulated mosaic to %s", path)
        return path

    def write_catalog(self, path, *, overwrite=False):
        """Write the truth catalogue; the format follows the extension.

        Parameters
        ----------
        path : str or `~pathlib.Path`
            ``.ecsv`` (keeps units and metadata), ``.vot``/``.votable``/``.xml`` (VOTable),
            ``.fits``/``.fit``/``.fts`` or ``.csv``.
        overwrite : bool, optional
            Replace an existing file.
        """
        path = Path(path)
        fmt = _CATALOG_FORMATS.get(path.suffix.lower())
        if fmt is None:
            msg = (f"cannot tell the catalogue format of {path} from its extension {path.suffix!r}: "
                   f"use one of {', '.join(sorted(_CATALOG_FORMATS))}")
            raise InputError(msg)
        _check_output_path(path, overwrite=overwrite, what="truth catalogue")
        with warnings.catch_warnings():
            # long meta keys become HIERARCH cards in FITS: harmless
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            self.catalog.write(path, format=fmt, overwrite=overwrite)
        log.debug("wrote the truth catalogue (%d sources) to %s", len(self.catalog), path)
        return path

    def close(self):
        """Close the memory-mapped FITS file, if any."""
        self.image.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        kinds = ", ".join(f"{k}: {int(np.sum(self.catalog['kind'] == k))}" for k in SOURCE_KINDS)
        where = self.filename or "in memory"
        ny, nx = self.image.shape
        return f"<SimulatedSky {nx}x{ny} px, {len(self.catalog)} sources ({kinds}); {where}>"


def simulate_sky(*, shape=(2048, 2048), n_sources=300, pixel_scale=1.8 * u.arcsec, beam=5.4 * u.arcsec,
                 noise=1.5e-4, center=None, projection="SIN", frame="icrs", mix=None, artefact_fraction=0.05,
                 blank_border=0, four_d=False, frequency=1.4 * u.GHz, dtype=np.float32, seed=0, output=None,
                 overwrite=False):
    """Simulate a radio mosaic with a known truth catalogue.

    Parameters
    ----------
    shape : int or tuple of int, optional
        Image shape ``(ny, nx)`` in pixels (an int gives a square image).
    n_sources : int, optional
        Number of sources.
    pixel_scale : `~astropy.units.Quantity` or float, optional
        Pixel size (a float is in arcsec).
    beam : `~astropy.units.Quantity`, float, `~radioassist.image.Beam` or tuple, optional
        Restoring beam: a FWHM (circular beam; a float is in arcsec) or ``(major, minor, pa)``.
    noise : float or `~astropy.units.Quantity`, optional
        rms of the noise in Jy/beam.  The noise is white noise convolved with a Gaussian whose
        autocorrelation is the beam, renormalised to this rms.  With 0 the image is noiseless
        (source fluxes are then drawn as for the default 1.5e-4 Jy/beam).
    center : `~astropy.coordinates.SkyCoord`, optional
        Sky position of the image centre (default RA 150, Dec +30 ICRS).
    projection : str, optional
        Three-letter FITS projection code, e.g. ``'SIN'`` or ``'TAN'``.
    frame : {'icrs', 'fk5', 'galactic'}, optional
        Celestial frame of the image axes (``RA/DEC`` or ``GLON/GLAT``).
    mix : dict, optional
        Fractions of ``'point'``, ``'FR-I'``, ``'FR-II'`` and ``'diffuse'`` sources (missing
        kinds get 0; normalised to sum 1).  Default `DEFAULT_MIX`.  About a third of the diffuse
        sources are large (``DIFFUSE-LARGE``).
    artefact_fraction : float, optional
        Fraction of the sources, the brightest ones, that get ring artefacts (concentric rings of
        alternating sign with a six-fold sidelobe modulation).
    blank_border : int, optional
        Width in pixels of a NaN border (blanked mosaic edges); sources stay inside.
    four_d : bool, optional
        Write a ``(1, 1, ny, nx)`` cube with degenerate FREQ and STOKES axes.
    frequency : `~astropy.units.Quantity` or float, optional
        Observing frequency (a float is in Hz), written as RESTFRQ and on the FREQ axis.
    dtype : dtype, optional
        ``numpy.float32`` or ``numpy.float64``.
    seed : int, optional
        Random seed: the same parameters and seed give identical bytes.
    output : str or `~pathlib.Path`, optional
        Write the FITS file strip by strip to this path and return a memory-mapped image
        (bounded memory: use it for large mosaics).  Default: build the image in memory.
    overwrite : bool, optional
        Replace ``output`` if it exists.

    Returns
    -------
    sky : `SimulatedSky`
        ``.image`` (a `~radioassist.image.RadioImage`), ``.header``, ``.catalog`` (the truth).

    Raises
    ------
    radioassist.InputError
        For an invalid parameter (the message names it).
    FileExistsError
        If ``output`` exists and ``overwrite`` is False.

    Notes
    -----
    Point sources have the shape of the beam.  FR-I sources (largest angular size 20-120") have
    a bright core and two-sided jets whose brightness declines outward while they widen into
    plumes, often mildly bent.  FR-II sources (30-200") have a faint core or none, and two lobes
    ending in bright compact hotspots at their outer edges.  Diffuse sources are irregular sums
    of wide, faint Gaussians: small (30-80", truth ``DIFFUSE``) or large (90-300",
    ``DIFFUSE-LARGE``).  Peak signal-to-noise ratios follow truncated power laws (point sources
    5-20000, FR-I 12-5000, FR-II 15-8000, diffuse 5-40).  Sizes are capped to fit small images.
    Position angles are measured from north (+y at the reference pixel) through east (-x).

    Examples
    --------
    >>> from radioassist.simulate import simulate_sky
    >>> sky = simulate_sky(shape=(256, 256), n_sources=8, seed=1)
    >>> sky.image.shape
    (256, 256)
    >>> len(sky.catalog)
    8
    >>> int((sky.catalog['B3_true'] == 'YES').sum())  # the FR-I and FR-II sources
    2
    """
    p = _Params(shape=shape, n_sources=n_sources, pixel_scale=pixel_scale, beam=beam, noise=noise,
                center=center, projection=projection, frame=frame, mix=mix,
                artefact_fraction=artefact_fraction, blank_border=blank_border, four_d=four_d,
                frequency=frequency, dtype=dtype, seed=seed)
    if output is not None:
        output = Path(output)
        if output.suffix.lower() in (".gz", ".bz2", ".fz", ".zip", ".xz"):
            msg = (f"output={str(output)!r}: compressed FITS cannot be written strip by strip; "
                   "use a plain .fits name")
            raise InputError(msg)
        _check_output_path(output, overwrite=overwrite, what="mosaic")
    header, wcs = _make_header(p)
    sources = _make_sources(p)
    renderer = _Renderer(p, sources)
    shape_out = (1, 1, p.ny, p.nx) if p.four_d else (p.ny, p.nx)
    log.info("simulating a %dx%d sky with %d sources (seed %d)", p.nx, p.ny, p.n_sources, p.seed)
    if output is None:
        cube = np.empty(shape_out, dtype=p.dtype)
        plane = cube.reshape(p.ny, p.nx)
        for y0, strip in renderer.strips():
            plane[y0:y0 + strip.shape[0]] = strip
        image = load_image((cube, header))
    else:
        _write_fits_stream(output, header, (strip for _, strip in renderer.strips()), p.dtype)
        image = load_image(output)
        log.debug("wrote the simulated mosaic to %s", output)
    catalog = _make_catalog(p, sources, renderer, wcs)
    return SimulatedSky(image, header, catalog)


# ----------------------------------------------------------------------------------------------
# parameters


class _Params:
    """Validated simulation parameters, as plain floats in pixels/arcsec/Jy."""

    def __init__(self, *, shape, n_sources, pixel_scale, beam, noise, center, projection, frame, mix,
                 artefact_fraction, blank_border, four_d, frequency, dtype, seed):
        self.ny, self.nx = _parse_shape(shape)
        self.n_sources = _nonneg_int(n_sources, "n_sources")
        self.pixel_scale = _to_arcsec(pixel_scale, "pixel_scale")  # arcsec / px
        self.bmaj, self.bmin, self.bpa = _parse_beam(beam)  # arcsec, arcsec, deg
        if self.bmin / self.pixel_scale < 1.5:
            warnings.warn(f"beam minor axis {self.bmin:.3g}\" spans only {self.bmin / self.pixel_scale:.2g} "
                          f"pixels of {self.pixel_scale:.3g}\": the image is undersampled",
                          RadioassistWarning)
        self.noise = _parse_noise(noise)
        self.flux_scale = self.noise if self.noise > 0 else _DEFAULT_NOISE
        frame_name = str(frame).lower()
        if frame_name not in _FRAMES:
            msg = f"frame={frame!r} is not supported: use one of {', '.join(repr(f) for f in _FRAMES)}"
            raise InputError(msg)
        self.frame = frame_name
        if center is None:
            center = SkyCoord(150.0 * u.deg, 30.0 * u.deg, frame="icrs")
        if not isinstance(center, SkyCoord) or not center.isscalar:
            msg = f"center must be a scalar SkyCoord, got {type(center).__name__}"
            raise InputError(msg)
        c = center.transform_to("fk5" if self.frame == "fk5" else self.frame)
        self.center = c
        self.lon0 = float(c.spherical.lon.to_value(u.deg))
        self.lat0 = float(c.spherical.lat.to_value(u.deg))
        proj = str(projection).upper()
        if len(proj) != 3 or not proj.isalpha():
            msg = (f"projection={projection!r} is not a three-letter FITS projection code "
                   "such as 'SIN' or 'TAN'")
            raise InputError(msg)
        self.projection = proj
        self.mix = _parse_mix(mix)
        if not 0.0 <= float(artefact_fraction) <= 1.0:
            msg = f"artefact_fraction must be between 0 and 1, got {artefact_fraction}"
            raise InputError(msg)
        self.artefact_fraction = float(artefact_fraction)
        self.blank_border = _nonneg_int(blank_border, "blank_border")
        if 2 * self.blank_border + 16 > min(self.nx, self.ny):
            msg = (f"blank_border={blank_border} leaves less than 16 unblanked pixels of the "
                   f"{self.nx}x{self.ny} image; use a smaller border or a larger shape")
            raise InputError(msg)
        self.four_d = bool(four_d)
        self.frequency = _parse_frequency(frequency)  # Hz
        dt = np.dtype(dtype)
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            msg = f"dtype must be float32 or float64, got {dt}"
            raise InputError(msg)
        self.dtype = dt
        if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or seed < 0:
            msg = f"seed must be a non-negative integer, got {seed!r}"
            raise InputError(msg)
        self.seed = int(seed)
        # beam covariance in pixels (x to the west... i.e. +x = decreasing RA, +y = north)
        smaj = self.bmaj * _FWHM_TO_SIGMA / self.pixel_scale
        smin = self.bmin * _FWHM_TO_SIGMA / self.pixel_scale
        self.beam_cov = _cov(smaj, smin, math.radians(self.bpa))
        self.beam_det = float(self.beam_cov[0] * self.beam_cov[2] - self.beam_cov[1] ** 2)
        self.beam_sigma = math.sqrt(smaj * smin)  # geometric-mean sigma, px
        self.beam_fwhm_px = self.bmaj / self.pixel_scale

    def describe(self):
        """Flat dict of the parameters (for table meta and FITS HISTORY)."""
        return {
            "simulator": "radioassist.simulate.simulate_sky",
            "radioassist_version": __version__,
            "seed": self.seed,
            "shape": f"{self.ny}x{self.nx}",
            "n_sources": self.n_sources,
            "pixel_scale_arcsec": self.pixel_scale,
            "beam_major_arcsec": self.bmaj,
            "beam_minor_arcsec": self.bmin,
            "beam_pa_deg": self.bpa,
            "noise_jy_beam": self.noise,
            "center": f"{self.frame} {self.lon0:.6f} {self.lat0:+.6f}",
            "projection": self.projection,
            "frame": self.frame,
            "mix": ",".join(f"{k}={v:.4g}" for k, v in self.mix.items()),
            "artefact_fraction": self.artefact_fraction,
            "blank_border": self.blank_border,
            "four_d": self.four_d,
            "frequency_hz": self.frequency,
            "dtype": self.dtype.name,
        }


def _parse_shape(shape):
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, (bool, np.bool_)):
        shape = (shape, shape)
    try:
        ny, nx = (int(s) for s in shape)
        ok = all(float(s) == int(s) for s in shape)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        msg = f"shape must be an int or a pair of ints (ny, nx), got {shape!r}"
        raise InputError(msg)
    if ny < 32 or nx < 32:
        msg = f"shape={shape!r} is too small: both sides need at least 32 pixels"
        raise InputError(msg)
    return ny, nx


def _nonneg_int(value, name):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)) or value < 0:
        msg = f"{name} must be a non-negative integer, got {value!r}"
        raise InputError(msg)
    return int(value)


def _to_arcsec(value, name, *, allow_zero=False):
    try:
        if isinstance(value, u.Quantity):
            val = float(value.to_value(u.arcsec))
        else:
            val = float(value)
    except (TypeError, ValueError, u.UnitsError) as exc:
        msg = f"{name} must be an angle (Quantity) or a number of arcsec, got {value!r}"
        raise InputError(msg) from exc
    if not np.isfinite(val) or val < 0 or (val == 0 and not allow_zero):
        msg = f"{name} must be a positive angle, got {value!r}"
        raise InputError(msg)
    return val


def _parse_beam(beam):
    if isinstance(beam, (tuple, list, Beam)):
        if len(beam) not in (2, 3):
            msg = f"beam must be a FWHM or a (major, minor[, pa]) tuple, got {beam!r}"
            raise InputError(msg)
        bmaj = _to_arcsec(beam[0], "beam major axis")
        bmin = _to_arcsec(beam[1], "beam minor axis")
        pa = beam[2] if len(beam) == 3 else 0.0
        try:
            bpa = float(pa.to_value(u.deg)) if isinstance(pa, u.Quantity) else float(pa)
        except (TypeError, ValueError, u.UnitsError) as exc:
            msg = f"beam position angle must be an angle or a number of degrees, got {pa!r}"
            raise InputError(msg) from exc
        if bmin > bmaj:
            msg = f"beam minor axis ({bmin}\") is larger than the major axis ({bmaj}\")"
            raise InputError(msg)
        return bmaj, bmin, bpa
    fwhm = _to_arcsec(beam, "beam")
    return fwhm, fwhm, 0.0


def _non_negative(value, name, *, number, meaning, shown=None):
    """``float(value)``, finite and >= 0; else an `InputError` saying ``name`` must be ``number``/``meaning``.

    ``shown`` is what the message quotes (``value`` by default).
    """
    shown = value if shown is None else shown
    try:
        val = float(value)
    except (TypeError, ValueError) as exc:
        msg = f"{name} must be {number}, got {shown!r}"
        raise InputError(msg) from exc
    if not np.isfinite(val) or val < 0:
        msg = f"{name} must be a non-negative {meaning}, got {shown!r}"
        raise InputError(msg)
    return val


def _parse_noise(noise):
    value = noise
    if isinstance(noise, u.Quantity):
        try:
            value = noise.to_value(u.Jy / u.beam)
        except u.UnitsError:
            try:
                value = noise.to_value(u.Jy)
            except u.UnitsError as exc:
                msg = f"noise must be in Jy/beam (or a plain float), got unit {noise.unit}"
                raise InputError(msg) from exc
    return _non_negative(value, "noise", number="a number of Jy/beam", meaning="rms in Jy/beam", shown=noise)


def _parse_frequency(frequency):
    try:
        if isinstance(frequency, u.Quantity):
            val = float(frequency.to_value(u.Hz, equivalencies=u.spectral()))
        else:
            val = float(frequency)
    except (TypeError, ValueError, u.UnitsError) as exc:
        msg = f"frequency must be a Quantity (e.g. 1.4 * u.GHz) or a number of Hz, got {frequency!r}"
        raise InputError(msg) from exc
    if not np.isfinite(val) or val <= 0:
        msg = f"frequency must be positive, got {frequency!r}"
        raise InputError(msg)
    return val


def _parse_mix(mix):
    if mix is None:
        return dict(DEFAULT_MIX)
    if not isinstance(mix, dict):
        msg = f"mix must be a dict of fractions such as {DEFAULT_MIX}, got {type(mix).__name__}"
        raise InputError(msg)
    lookup = {k.upper().replace("_", "-"): k for k in SOURCE_KINDS}
    lookup.update({"FRI": "FR-I", "FRII": "FR-II", "FR1": "FR-I", "FR2": "FR-II"})
    out = {k: 0.0 for k in SOURCE_KINDS}
    for key, value in mix.items():
        kind = lookup.get(str(key).upper().replace("_", "-"))
        if kind is None:
            msg = f"unknown source kind {key!r} in mix: use {', '.join(repr(k) for k in SOURCE_KINDS)}"
            raise InputError(msg)
        out[kind] += _non_negative(value, f"mix[{key!r}]", number="a number", meaning="fraction")
    total = sum(out.values())
    if total <= 0:
        msg = f"mix={mix!r} has no positive fraction"
        raise InputError(msg)
    return {k: v / total for k, v in out.items()}


def _check_output_path(path, *, overwrite, what):
    if path.is_dir():
        msg = f"{path} is a folder: give a file name for the {what}"
        raise IsADirectoryError(msg)
    if path.exists() and not overwrite:
        msg = f"{path} already exists: pass overwrite=True (--overwrite on the command line) to replace it"
        raise FileExistsError(msg)
    if not path.parent.exists():
        msg = f"cannot write the {what} to {path}: folder {path.parent} does not exist"
        raise FileNotFoundError(msg)


# ----------------------------------------------------------------------------------------------
# header


def _make_header(p):
    lon, lat = _FRAMES[p.frame]
    h = fits.Header()
    h["SIMPLE"] = (True, "conforms to FITS standard")
    h["BITPIX"] = (-32 if p.dtype == np.float32 else -64, "array data type")
    h["NAXIS"] = 4 if p.four_d else 2
    h["NAXIS1"] = p.nx
    h["NAXIS2"] = p.ny
    if p.four_d:
        h["NAXIS3"] = 1
        h["NAXIS4"] = 1
    h["EXTEND"] = True
    h["BUNIT"] = ("JY/BEAM", "brightness unit")
    h["BTYPE"] = "Intensity"
    h["BMAJ"] = (p.bmaj / 3600.0, "[deg] restoring beam major axis FWHM")
    h["BMIN"] = (p.bmin / 3600.0, "[deg] restoring beam minor axis FWHM")
    h["BPA"] = (p.bpa, "[deg] restoring beam position angle")
    h["CTYPE1"] = (lon + "-" * (5 - len(lon)) + p.projection)[:8]
    h["CRVAL1"] = p.lon0
    h["CDELT1"] = -p.pixel_scale / 3600.0
    h["CRPIX1"] = (p.nx + 1) / 2.0
    h["CUNIT1"] = "deg"
    h["CTYPE2"] = (lat + "-" * (5 - len(lat)) + p.projection)[:8]
    h["CRVAL2"] = p.lat0
    h["CDELT2"] = p.pixel_scale / 3600.0
    h["CRPIX2"] = (p.ny + 1) / 2.0
    h["CUNIT2"] = "deg"
    if p.four_d:
        h["CTYPE3"] = "FREQ"
        h["CRVAL3"] = p.frequency
        h["CDELT3"] = p.frequency * 0.02
        h["CRPIX3"] = 1.0
        h["CUNIT3"] = "Hz"
        h["CTYPE4"] = "STOKES"
        h["CRVAL4"] = 1.0
        h["CDELT4"] = 1.0
        h["CRPIX4"] = 1.0
        h["CUNIT4"] = ""
    if p.frame == "icrs":
        h["RADESYS"] = "ICRS"
    elif p.frame == "fk5":
        h["RADESYS"] = "FK5"
        h["EQUINOX"] = 2000.0
    h["RESTFRQ"] = (p.frequency, "[Hz] observing frequency")
    h["TELESCOP"] = "radioassist-sim"
    h["OBJECT"] = "simulated radio sky"
    h["ORIGIN"] = f"radioassist {__version__}"
    for key, value in p.describe().items():
        h.add_history(f"{key} = {value}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            wcs = WCS(h).celestial
        except Exception as exc:
            msg = f"projection={p.projection!r} is not a projection that WCSLIB knows ({exc})"
            raise InputError(msg) from exc
    corners_x = np.array([0, p.nx - 1, 0, p.nx - 1, (p.nx - 1) / 2.0])
    corners_y = np.array([0, 0, p.ny - 1, p.ny - 1, (p.ny - 1) / 2.0])
    with np.errstate(invalid="ignore"):
        lon_c, lat_c = wcs.all_pix2world(corners_x, corners_y, 0)
    if not (np.all(np.isfinite(lon_c)) and np.all(np.isfinite(lat_c))):
        msg = (f"a {p.nx}x{p.ny} image of {p.pixel_scale:g}\" pixels does not fit in a {p.projection} "
               "projection: use smaller pixels, a smaller shape or another projection")
        raise InputError(msg)
    return h, wcs


# ----------------------------------------------------------------------------------------------
# sources


def _cov(sig_along, sig_perp, theta):
    """Covariance [cxx, cxy, cyy] of a Gaussian elongated along position angle ``theta`` (rad)."""
    ex, ey = -math.sin(theta), math.cos(theta)   # along (PA from +y towards -x)
    nx_, ny_ = math.cos(theta), math.sin(theta)  # perpendicular
    a2, p2 = sig_along * sig_along, sig_perp * sig_perp
    return np.array([a2 * ex * ex + p2 * nx_ * nx_,
                     a2 * ex * ey + p2 * nx_ * ny_,
                     a2 * ey * ey + p2 * ny_ * ny_])


def _unit(theta):
    return np.array([-math.sin(theta), math.cos(theta)]), np.array([math.cos(theta), math.sin(theta)])


class _Source:
    __slots__ = ("kind", "label", "las", "pa", "snr", "comps", "radius", "x", "y", "ring", "scale",
                 "peak", "total", "amp", "inv", "half", "box")


def _draw_snr(rng, kind):
    lo, hi, index = _SNR_LAW[kind]
    # inverse transform of a truncated power law N(>S) ~ S^-index
    q = rng.random()
    a, b = lo ** -index, hi ** -index
    return (a - q * (a - b)) ** (-1.0 / index)


def _loguniform(rng, lo, hi):
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _element_flux(brightness, cov, p):
    """Flux of a component whose own convolved peak is ``brightness``."""
    cxx, cxy, cyy = cov + p.beam_cov
    return brightness * math.sqrt((cxx * cyy - cxy * cxy) / p.beam_det)


def _build_point(rng, p):
    return np.array([[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]])


def _build_fr1(rng, p, las, theta):
    sb = p.beam_sigma
    lh = las / 2.0
    e, n = _unit(theta)
    comps = [[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]]  # the core
    f_jet = rng.uniform(0.35, 0.9)          # ridge brightness at the jet base, relative to the core
    tau = rng.uniform(0.3, 0.8)             # e-folding of the ridge brightness, in units of the jet length
    floor = rng.uniform(0.08, 0.25)         # plume brightness floor
    plume = max(rng.uniform(0.10, 0.22) * lh, 0.6 * sb)
    sig0 = 0.25 * sb
    bend = rng.uniform(-0.45, 0.45) if rng.random() < 0.6 else rng.uniform(-0.08, 0.08)
    wiggle, wphase = rng.uniform(0.0, 0.05), rng.uniform(0, 2 * math.pi)
    counter = rng.uniform(0.35, 1.0)        # counter-jet brightness ratio
    nel = int(min(max(math.ceil(lh / (0.7 * sb)), 4), 48))
    step = lh / nel
    for side, gain in ((1.0, 1.0), (-1.0, counter)):
        for k in range(nel):
            t = (k + 1.0) / nel
            lateral = (bend * t * t + wiggle * math.sin(3 * math.pi * t + wphase)) * lh
            pos = side * lh * t * e + lateral * n
            # local direction of the jet
            dlat = (2 * bend * t + wiggle * 3 * math.pi * math.cos(3 * math.pi * t + wphase))
            tangent = side * e + dlat * n
            tangent /= math.hypot(tangent[0], tangent[1])
            ang = math.atan2(-tangent[0], tangent[1])
            sig_perp = sig0 + (plume - sig0) * t ** 1.5
            sig_along = max(0.9 * step, 0.3 * sb)
            cov = _cov(sig_along, sig_perp, ang)
            ridge = gain * f_jet * ((1.0 - floor) * math.exp(-t / tau) + floor)
            if t > 0.85:  # the plume fades out at its end
                ridge *= 1.0 - 0.6 * (t - 0.85) / 0.15
            # a chain of overlapping elements: per-element peak = ridge * step / (sqrt(2 pi) sigma_along_conv)
            cxx, cxy, cyy = cov + p.beam_cov
            tx, ty = tangent
            sig_a_conv = math.sqrt(max(cxx * tx * tx + 2 * cxy * tx * ty + cyy * ty * ty, 1e-12))
            peak_el = ridge * step / (math.sqrt(2 * math.pi) * sig_a_conv)
            comps.append([pos[0], pos[1], _element_flux(peak_el, cov, p), *cov])
    return np.array(comps)


def _build_fr2(rng, p, las, theta):
    sb = p.beam_sigma
    ratio = rng.uniform(0.7, 1.0)  # arm-length ratio
    arm1 = las / (1.0 + ratio)
    arms = [arm1, ratio * arm1]
    if rng.random() < 0.5:
        arms.reverse()
    misalign = math.radians(rng.uniform(-12.0, 12.0))
    comps = []
    for arm, ang, gain in ((arms[0], theta, 1.0), (arms[1], theta + math.pi + misalign, rng.uniform(0.4, 1.0))):
        e, n = _unit(ang)
        hs_sig = rng.uniform(0.0, 0.6) * sb
        hs_cov = _cov(hs_sig, hs_sig * rng.uniform(0.6, 1.0), ang)
        hs = arm * e
        comps.append([hs[0], hs[1], _element_flux(gain, hs_cov, p), *hs_cov])
        # a secondary, fainter compact knot just behind the hotspot in some lobes
        if rng.random() < 0.35:
            pos = (arm - rng.uniform(1.0, 2.0) * sb) * e + rng.uniform(-1, 1) * sb * n
            comps.append([pos[0], pos[1], _element_flux(gain * rng.uniform(0.2, 0.5), hs_cov, p), *hs_cov])
        n_lobe = int(rng.integers(2, 5))
        lobe_level = rng.uniform(0.08, 0.3)
        width = rng.uniform(0.08, 0.18) * arm
        for _ in range(n_lobe):
            back = rng.uniform(0.08, 0.55)
            pos = arm * (1.0 - back) * e + rng.uniform(-0.08, 0.08) * arm * n
            sig_along = max(rng.uniform(0.12, 0.25) * arm, 0.5 * sb)
            sig_perp = max(width * rng.uniform(0.8, 1.2), 0.5 * sb)
            cov = _cov(sig_along, sig_perp, ang + rng.uniform(-0.2, 0.2))
            level = gain * lobe_level * rng.uniform(0.6, 1.0) * (1.0 - 0.5 * back)
            comps.append([pos[0], pos[1], _element_flux(level, cov, p), *cov])
    if rng.random() < 0.65:
        comps.append([0.0, 0.0, rng.uniform(0.02, 0.25), 0.0, 0.0, 0.0])
    return np.array(comps)


def _build_diffuse(rng, p, las, large):
    sb = p.beam_sigma
    n_comp = int(rng.integers(4, 11)) if large else int(rng.integers(2, 5))
    smin, smax = (0.08, 0.2) if large else (0.15, 0.3)
    comps = []
    for k in range(n_comp):
        r = rng.uniform(0.0, 0.3) * las if k else rng.uniform(0.0, 0.08) * las
        phi = rng.uniform(0, 2 * math.pi)
        sig = max(rng.uniform(smin, smax) * las, sb)
        cov = _cov(sig, sig * rng.uniform(0.5, 1.0), rng.uniform(0, math.pi))
        flux = _element_flux(rng.uniform(0.4, 1.0), cov, p)
        comps.append([r * math.cos(phi), r * math.sin(phi), flux, *cov])
    return np.array(comps)


def _component_geometry(comps, p):
    """Convolved peak amplitudes, inverse covariances and sigmas of the components (unit scale)."""
    cxx = comps[:, 3] + p.beam_cov[0]
    cxy = comps[:, 4] + p.beam_cov[1]
    cyy = comps[:, 5] + p.beam_cov[2]
    det = cxx * cyy - cxy * cxy
    amp = comps[:, 2] * np.sqrt(p.beam_det / det)
    inv = np.stack([cyy / det, -cxy / det, cxx / det], axis=1)
    return amp, inv, np.sqrt(cxx), np.sqrt(cyy)


def _model_at(points, comps, amp, inv):
    """Sum of the convolved components at ``points`` (m, 2), offsets relative to the source centre."""
    dx = points[:, None, 0] - comps[None, :, 0]
    dy = points[:, None, 1] - comps[None, :, 1]
    q = inv[None, :, 0] * dx * dx + 2 * inv[None, :, 1] * dx * dy + inv[None, :, 2] * dy * dy
    return np.exp(-0.5 * q) @ amp


def _make_sources(p):
    rng = np.random.default_rng(p.seed)
    n = p.n_sources
    # exact counts per kind (largest remainder), in a random order
    fracs = np.array([p.mix[k] for k in SOURCE_KINDS])
    raw = fracs * n
    counts = np.floor(raw).astype(int)
    order = np.argsort(-(raw - counts), kind="stable")
    counts[order[:n - counts.sum()]] += 1
    kinds = np.repeat(np.arange(len(SOURCE_KINDS)), counts)
    rng.shuffle(kinds)

    avail = min(p.nx, p.ny) - 2 * p.blank_border  # pixels
    las_cap = 0.6 * avail * p.pixel_scale  # arcsec
    fwhm_px = p.beam_fwhm_px
    sources = []
    for kind_index in kinds:
        s = _Source()
        s.kind = SOURCE_KINDS[kind_index]
        s.pa = rng.uniform(0.0, 180.0)
        theta = math.radians(s.pa)
        s.snr = _draw_snr(rng, s.kind)
        if s.kind == "point":
            s.pa = p.bpa % 180.0  # the beam's orientation
            s.label = "NONE"
            s.las = p.bmaj
            s.comps = _build_point(rng, p)
        else:
            if s.kind == "diffuse":
                large = rng.random() < _DIFFUSE_LARGE_FRACTION
                s.label = "DIFFUSE-LARGE" if large else "DIFFUSE"
                lo, hi = _LAS_RANGE[s.label]
            else:
                s.label = "EXTENDED"
                lo, hi = _LAS_RANGE[s.kind]
            hi_c = min(hi, las_cap)
            lo_c = min(lo, hi_c)
            s.las = _loguniform(rng, lo_c, hi_c) if hi_c > lo_c else hi_c
            las_px = s.las / p.pixel_scale
            if s.kind == "FR-I":
                s.comps = _build_fr1(rng, p, las_px, theta)
            elif s.kind == "FR-II":
                s.comps = _build_fr2(rng, p, las_px, theta)
            else:
                s.comps = _build_diffuse(rng, p, las_px, s.label == "DIFFUSE-LARGE")
        amp, inv, sx, sy = _component_geometry(s.comps, p)
        centres = s.comps[:, :2]
        peak0 = float(np.max(_model_at(centres, s.comps, amp, inv)))
        s.scale = s.snr * p.flux_scale / peak0
        s.amp, s.inv = amp * s.scale, inv
        s.half = np.stack([sx, sy], axis=1)  # convolved sigma along x, y
        extent = np.hypot(centres[:, 0], centres[:, 1]) + 3.0 * np.maximum(sx, sy)
        s.radius = max(float(np.max(extent)), fwhm_px)
        s.peak = s.snr * p.flux_scale
        s.total = float(np.sum(s.comps[:, 2])) * s.scale
        s.ring = None
        sources.append(s)

    _place(rng, p, sources)

    # ring artefacts around the brightest sources
    n_art = int(math.ceil(p.artefact_fraction * n - 1e-9)) if n else 0
    if n_art:
        peaks = np.array([s.peak for s in sources])
        brightest = np.argsort(-peaks, kind="stable")[:n_art]
        for i in sorted(brightest):
            s = sources[i]
            vals = _model_at(s.comps[:, :2], s.comps, s.amp, s.inv)
            k = int(np.argmax(vals))
            r_in = rng.uniform(1.5, 2.5) * fwhm_px
            lam = rng.uniform(1.6, 2.6) * fwhm_px
            r_out = r_in + int(rng.integers(3, 7)) * lam
            amp_ring = min(max(rng.uniform(0.015, 0.05) * s.peak, 5.0 * p.flux_scale), 0.1 * s.peak)
            s.ring = (float(s.comps[k, 0]), float(s.comps[k, 1]), amp_ring, r_in, lam, r_out,
                      int(rng.choice([4, 6, 6, 8])), rng.uniform(0.2, 0.6), rng.uniform(0, 2 * math.pi))
    return sources


def _place(rng, p, sources):
    """Random positions inside the unblanked area, avoiding heavy overlaps (largest sources first)."""
    if not sources:
        return
    b = p.blank_border
    radii = np.array([s.radius for s in sources])
    order = np.argsort(-radii, kind="stable")
    cell = max(2.0 * float(radii.max()), 8.0)
    grid = {}
    placed_x, placed_y, placed_r = np.zeros(len(sources)), np.zeros(len(sources)), np.zeros(len(sources))
    n_placed = 0
    crowded = 0
    for i in order:
        s = sources[i]
        r = radii[i]
        lox, hix = b + r, p.nx - 1 - b - r
        loy, hiy = b + r, p.ny - 1 - b - r
        if lox > hix:
            lox = hix = (p.nx - 1) / 2.0
        if loy > hiy:
            loy = hiy = (p.ny - 1) / 2.0
        best, best_score = None, -1.0
        for _ in range(40):
            x, y = rng.uniform(lox, hix), rng.uniform(loy, hiy)
            cx, cy = int(x // cell), int(y // cell)
            neigh = [j for gx in (cx - 1, cx, cx + 1) for gy in (cy - 1, cy, cy + 1)
                     for j in grid.get((gx, gy), ())]
            if neigh:
                idx = np.array(neigh)
                d = np.hypot(placed_x[idx] - x, placed_y[idx] - y)
                score = float(np.min(d / (placed_r[idx] + r)))
            else:
                score = np.inf
            if score > best_score:
                best, best_score = (x, y), score
            if score >= 0.9:
                break
        if best_score < 0.5:
            crowded += 1
        s.x, s.y = best
        grid.setdefault((int(s.x // cell), int(s.y // cell)), []).append(n_placed)
        placed_x[n_placed], placed_y[n_placed], placed_r[n_placed] = s.x, s.y, r
        n_placed += 1
    if crowded:
        warnings.warn(f"{crowded} of {len(sources)} simulated sources overlap a neighbour heavily: the field "
                      "is crowded; use a larger shape or fewer sources", RadioassistWarning)


# ----------------------------------------------------------------------------------------------
# rendering


def _strip_rows(nx):
    return int(min(max(_STRIP_PIXELS // max(nx, 1), 16), 1024))


class _Renderer:
    """Paints sources and noise strip by strip; records the noiseless peak of every source."""

    def __init__(self, p, sources):
        self.p = p
        self.sources = sources
        self.cut = 0.01 * p.flux_scale  # components are painted down to 1% of the noise
        boxes = [self._bbox(s) for s in sources]
        self.boxes = boxes
        self.order = sorted(range(len(sources)), key=lambda i: (boxes[i][0], i))
        self.peaks = np.array([s.peak for s in sources], dtype=float)
        # noise kernel: a Gaussian with half the beam covariance, so the noise autocorrelation is the beam
        k = p.beam_cov / 2.0
        self.kernel_cov = k
        self.halo = int(math.ceil(4.0 * math.sqrt(max(k[0], k[2])))) + 1
        self.separable = abs(k[1]) < 1e-12 * max(k[0], k[2])

    def _bbox(self, s):
        p = self.p
        amp = np.abs(s.amp)
        r = np.sqrt(2.0 * np.log(np.maximum(amp / self.cut, math.exp(4.5))))  # at least 3 sigma
        cx = s.x + s.comps[:, 0]
        cy = s.y + s.comps[:, 1]
        x0 = np.floor(cx - r * s.half[:, 0]).astype(int)
        x1 = np.ceil(cx + r * s.half[:, 0]).astype(int) + 1
        y0 = np.floor(cy - r * s.half[:, 1]).astype(int)
        y1 = np.ceil(cy + r * s.half[:, 1]).astype(int) + 1
        s.box = np.stack([y0, y1, x0, x1], axis=1)
        by0, by1, bx0, bx1 = y0.min(), y1.max(), x0.min(), x1.max()
        if s.ring is not None:
            rx, ry, _, _, lam, r_out = s.ring[:6]
            ext = r_out + 2 * lam
            by0 = min(by0, int(math.floor(s.y + ry - ext)))
            by1 = max(by1, int(math.ceil(s.y + ry + ext)) + 1)
            bx0 = min(bx0, int(math.floor(s.x + rx - ext)))
            bx1 = max(bx1, int(math.ceil(s.x + rx + ext)) + 1)
        return (max(by0, 0), min(by1, p.ny), max(bx0, 0), min(bx1, p.nx))

    def _stamp(self, i):
        s = self.sources[i]
        y0, y1, x0, x1 = self.boxes[i]
        stamp = np.zeros((y1 - y0, x1 - x0))
        for k in range(len(s.comps)):
            by0, by1, bx0, bx1 = s.box[k]
            by0, by1, bx0, bx1 = max(by0, y0), min(by1, y1), max(bx0, x0), min(bx1, x1)
            if by0 >= by1 or bx0 >= bx1:
                continue
            dx = np.arange(bx0, bx1) - (s.x + s.comps[k, 0])
            dy = (np.arange(by0, by1) - (s.y + s.comps[k, 1]))[:, None]
            ixx, ixy, iyy = s.inv[k]
            q = (ixx * dx * dx)[None, :] + (2.0 * ixy * dx)[None, :] * dy + iyy * dy * dy
            stamp[by0 - y0:by1 - y0, bx0 - x0:bx1 - x0] += s.amp[k] * np.exp(-0.5 * q)
        if stamp.size:
            self.peaks[i] = max(self.peaks[i], float(stamp.max()))
        if s.ring is not None:
            rx, ry, amp, r_in, lam, r_out, n_spokes, mod, phase = s.ring
            dx = np.arange(x0, x1) - (s.x + rx)
            dy = (np.arange(y0, y1) - (s.y + ry))[:, None]
            r = np.hypot(dx[None, :], dy)
            phi = np.arctan2(dy, dx[None, :])
            inner = -np.expm1(-(r / r_in) ** 6)
            outer = np.exp(-0.5 * (np.maximum(r - r_in, 0.0) / (0.45 * (r_out - r_in))) ** 2)
            spokes = (1.0 + mod * np.cos(n_spokes * phi + phase)) / (1.0 + mod)
            stamp += amp * np.cos(2 * np.pi * (r - r_in) / lam) * inner * outer * spokes
        return stamp

    def _white_block(self, b, width):
        rng = np.random.default_rng([self.p.seed, 0x5EED, b + 1_000_000])
        return rng.standard_normal((_NOISE_BLOCK, width), dtype=np.float32)

    def _noise(self, y0, y1, cache):
        """Beam-correlated noise for rows [y0, y1), unit rms, from per-block white noise."""
        p, h = self.p, self.halo
        width = p.nx + 2 * h
        g0, g1 = y0 - h, y1 + h
        parts = []
        for b in range(g0 // _NOISE_BLOCK, (g1 - 1) // _NOISE_BLOCK + 1):
            if b not in cache:
                cache[b] = self._white_block(b, width)
            block = cache[b]
            lo = max(g0, b * _NOISE_BLOCK) - b * _NOISE_BLOCK
            hi = min(g1, (b + 1) * _NOISE_BLOCK) - b * _NOISE_BLOCK
            parts.append(block[lo:hi])
        for b in [b for b in cache if (b + 1) * _NOISE_BLOCK <= y1 - h]:
            del cache[b]  # never needed again: strips only move down
        white = np.concatenate(parts, axis=0)
        kxx, kxy, kyy = self.kernel_cov
        offs = np.arange(-h, h + 1, dtype=float)
        if self.separable:
            from scipy.ndimage import correlate1d
            gx = np.exp(-0.5 * offs ** 2 / kxx)
            gy = np.exp(-0.5 * offs ** 2 / kyy)
            norm = math.sqrt(float(np.sum(gx ** 2) * np.sum(gy ** 2)))
            gx /= norm
            out = correlate1d(white, gx.astype(np.float32), axis=1, mode="constant")
            out = correlate1d(out, gy.astype(np.float32), axis=0, mode="constant")
            return out[h:-h, h:-h]
        from scipy.signal import fftconvolve
        det = kxx * kyy - kxy * kxy
        X, Y = np.meshgrid(offs, offs)
        kern = np.exp(-0.5 * (kyy * X * X - 2 * kxy * X * Y + kxx * Y * Y) / det)
        kern /= math.sqrt(float(np.sum(kern ** 2)))
        return fftconvolve(white, kern.astype(np.float32), mode="valid")

    def strips(self):
        """Yield ``(y0, strip)`` with the final pixel values (``dtype``), top to bottom."""
        p = self.p
        rows = _strip_rows(p.nx)
        active = []  # (index, stamp) of sources whose box reaches the current strip
        nxt = 0
        cache = {}
        b = p.blank_border
        for y0 in range(0, p.ny, rows):
            y1 = min(y0 + rows, p.ny)
            while nxt < len(self.order) and self.boxes[self.order[nxt]][0] < y1:
                i = self.order[nxt]
                active.append((i, self._stamp(i)))
                nxt += 1
            buf = np.zeros((y1 - y0, p.nx))
            keep = []
            for i, stamp in active:
                sy0, sy1, sx0, sx1 = self.boxes[i]
                a, c = max(sy0, y0), min(sy1, y1)
                if a < c:
                    buf[a - y0:c - y0, sx0:sx1] += stamp[a - sy0:c - sy0]
                if sy1 > y1:
                    keep.append((i, stamp))
            active = keep
            if p.noise > 0:
                buf += p.noise * self._noise(y0, y1, cache)
            if b:
                buf[:, :b] = np.nan
                buf[:, p.nx - b:] = np.nan
                buf[:max(0, b - y0), :] = np.nan
                top = p.ny - b
                if y1 > top:
                    buf[max(top - y0, 0):, :] = np.nan
            log.debug("simulated rows %d-%d of %d", y0, y1, p.ny)
            yield y0, buf.astype(p.dtype)


def _write_fits_stream(path, header, strips, dtype):
    """Write a primary HDU from its header and data strips, atomically (temporary file, then rename)."""
    be = np.dtype(dtype).newbyteorder(">")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")  # same folder: os.replace is atomic
    try:
        with open(tmp, "wb") as fh:
            fh.write(header.tostring(sep="", endcard=True, padding=True).encode("ascii"))
            nbytes = 0
            for strip in strips:
                chunk = np.ascontiguousarray(strip, dtype=be)
                fh.write(chunk.tobytes())
                nbytes += chunk.nbytes
            pad = (-nbytes) % 2880
            if pad:
                fh.write(b"\0" * pad)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ----------------------------------------------------------------------------------------------
# catalogue


def _make_catalog(p, sources, renderer, wcs):
    n = len(sources)
    x = np.array([s.x for s in sources], dtype=float)
    y = np.array([s.y for s in sources], dtype=float)
    if n:
        lon, lat = wcs.all_pix2world(x, y, 0)
    else:
        lon = lat = np.zeros(0)
    frame = "fk5" if p.frame == "fk5" else p.frame
    coords = SkyCoord(lon * u.deg, lat * u.deg, frame=frame)
    icrs = coords.icrs
    kinds = np.array([s.kind for s in sources], dtype="U7")
    labels = np.array([s.label for s in sources], dtype="U13")
    artefact = np.array([s.ring is not None for s in sources], dtype=bool)
    width = max(len(str(n)), 5)
    t = Table(meta=p.describe())
    t["name"] = np.array([f"SIM-{i:0{width}d}" for i in range(1, n + 1)], dtype=f"U{width + 4}")
    t["ra"] = icrs.ra.to(u.deg)
    t["dec"] = icrs.dec.to(u.deg)
    t["ra"].info.format = ".6f"
    t["dec"].info.format = ".6f"
    if p.frame == "galactic":
        t["glon"] = coords.l.to(u.deg)
        t["glat"] = coords.b.to(u.deg)
    t["x"] = x
    t["y"] = y
    t["kind"] = kinds
    t["peak_flux"] = renderer.peaks * (u.Jy / u.beam)
    t["total_flux"] = np.array([s.total for s in sources], dtype=float) * u.Jy
    t["size"] = np.array([s.las for s in sources], dtype=float) * u.arcsec
    t["pa"] = np.array([s.pa for s in sources], dtype=float) * u.deg
    t["has_artefact"] = artefact
    radio_galaxy = (kinds == "FR-I") | (kinds == "FR-II")
    t["B1_true"] = labels
    t["B3_true"] = np.where(radio_galaxy, "YES", "NO").astype("U3")
    t["B4_true"] = np.where(artefact, "YES", "NO").astype("U3")
    t["B5_true"] = np.where(kinds == "point", "ORDINARY", "COMPLEX").astype("U8")
    t["B6_true"] = np.where(radio_galaxy, kinds, "").astype("U5")
    for col in ("peak_flux", "total_flux", "size", "pa", "x", "y"):
        t[col].info.format = ".6g"
    t["x"].description = "true 0-based pixel x of the source centre"
    t["y"].description = "true 0-based pixel y of the source centre"
    t["peak_flux"].description = "noiseless peak brightness"
    t["total_flux"].description = "integrated flux density"
    t["size"].description = "largest angular size (beam FWHM for point sources)"
    t["pa"].description = "position angle of the source axis, east of north"
    return t
