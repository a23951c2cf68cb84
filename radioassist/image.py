"""Load radio images (mosaics) as a 2-D data view with a celestial WCS.

:func:`load_image` is the one normaliser every radioassist function uses: it
accepts a path, an ``HDUList``, an image HDU, an ``NDData`` or an
``(array, WCS | Header)`` pair and returns a :class:`RadioImage` whose
``.data`` is 2-D (memory-mapped when the FITS file allows it) and whose
``.wcs`` is celestial.  Degenerate FREQ/STOKES axes are dropped; a cube with a
non-degenerate extra axis needs ``plane=``.
"""
import functools
import mmap
import os
import re
import warnings
import weakref
from collections import namedtuple
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from .exceptions import ImageError, RadioassistWarning
from .logger import log

__all__ = ["RadioImage", "Beam", "load_image"]

#: Restoring beam: FWHM of the major and minor axes and position angle (Quantities).
Beam = namedtuple("Beam", ["major", "minor", "pa"])

# Header keywords carried over to the 2-D header of a RadioImage.
_KEEP_KEYWORDS = ("BUNIT", "BMAJ", "BMIN", "BPA", "TELESCOP", "INSTRUME", "OBJECT", "DATE-OBS", "MJD-OBS",
                  "RESTFRQ", "RESTFREQ", "EQUINOX", "RADESYS", "ORIGIN", "OBSERVER")
_AIPS_BEAM = re.compile(r"BMAJ\s*=\s*([-+0-9.EeDd]+)\s+BMIN\s*=\s*([-+0-9.EeDd]+)\s+BPA\s*=\s*([-+0-9.EeDd]+)")


class RadioImage:
    """A 2-D radio image with its celestial WCS, beam and units.

    Do not build one directly; use :func:`load_image`.

    Attributes
    ----------
    data : `numpy.ndarray`
        2-D image, ``(ny, nx)``; a memory-mapped view of the file where FITS
        allows it (no BSCALE/BZERO scaling, no tile compression).
    wcs : `astropy.wcs.WCS`
        The 2-D celestial WCS of ``data``.
    header : `astropy.io.fits.Header`
        A 2-D header (celestial WCS plus BUNIT, beam and observation keywords).
    beam : `Beam` or None
        Restoring beam (BMAJ/BMIN/BPA, or AIPS ``CLEAN BMAJ=`` history), if known.
    unit : `astropy.units.Unit` or None
        Brightness unit from BUNIT (e.g. Jy/beam).
    frequency : `~astropy.units.Quantity` or None
        Observing frequency from a FREQ axis or RESTFRQ, if known.
    filename : str or None
        Path of the file the image was read from.
    """

    def __init__(self, data, wcs, header, *, beam=None, unit=None, frequency=None, filename=None,
                 hdulist=None, plane=None, memmapped=False):
        self.data = data
        self.wcs = wcs
        self.header = header
        self.beam = beam
        self.unit = unit
        self.frequency = frequency
        self.filename = filename
        self.plane = plane
        self.memmapped = memmapped
        self._hdulist = hdulist
        # close a file we opened ourselves once the image is garbage-collected
        self._finalizer = weakref.finalize(self, hdulist.close) if hdulist is not None else None

    @property
    def shape(self):
        """Shape ``(ny, nx)`` of the 2-D data."""
        return self.data.shape

    @property
    def pixel_scales(self):
        """Pixel size along the two image axes, as an angular `~astropy.units.Quantity`."""
        return (proj_plane_pixel_scales(self.wcs) * u.deg).to(u.arcsec)

    @property
    def pixel_scale(self):
        """Mean pixel size (arcsec per pixel), as an angular `~astropy.units.Quantity`."""
        return self.pixel_scales.mean()

    @property
    def frame(self):
        """Name of the celestial frame of the WCS (e.g. ``'icrs'``, ``'fk5'``, ``'galactic'``)."""
        from astropy.wcs.utils import wcs_to_celestial_frame
        return wcs_to_celestial_frame(self.wcs).name

    @property
    def beam_area_pixels(self):
        """Area of the Gaussian beam in pixels, or None when the beam is unknown."""
        if self.beam is None:
            return None
        area = np.pi / (4 * np.log(2)) * self.beam.major * self.beam.minor
        return float((area / self.pixel_scale ** 2).decompose())

    @property
    def label(self):
        """A short human-readable name (the file name, or ``'<array>'``)."""
        return os.path.basename(self.filename) if self.filename else "<in-memory image>"

    def close(self):
        """Close the underlying FITS file (the data is unusable afterwards if memory-mapped)."""
        if self._finalizer is not None:
            self._finalizer()
            self._hdulist = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        beam = "unknown" if self.beam is None else f"{self.beam.major.to_value(u.arcsec):.3g}\"x{self.beam.minor.to_value(u.arcsec):.3g}\""
        return (f"<RadioImage {self.label}: {self.shape[1]}x{self.shape[0]} px, "
                f"{self.pixel_scale.to_value(u.arcsec):.3g}\"/px, {self.wcs.wcs.ctype[0]}/{self.wcs.wcs.ctype[1]}, "
                f"beam {beam}, unit {self.unit}>")


def load_image(source, *, hdu=None, plane=None):
    """Load a radio image as a 2-D array with a celestial WCS.

    Parameters
    ----------
    source : str, `~pathlib.Path`, `~astropy.io.fits.HDUList`, image HDU, `~astropy.nddata.NDData`, tuple or `RadioImage`
        The image: a FITS file path, an open ``HDUList``, a single image HDU,
        an ``NDData`` with a WCS, or an ``(array, WCS)`` / ``(array, Header)`` pair.
    hdu : int or str, optional
        Which HDU of a file or ``HDUList`` holds the image (index or EXTNAME).
        Default: the first HDU with at least two data axes.
    plane : int or dict, optional
        For cubes whose extra axes (FREQ, STOKES...) have more than one plane:
        the index along the single non-degenerate extra axis, or a dict such
        as ``{'FREQ': 3, 'STOKES': 0}``.  Degenerate (length-1) axes never need it.

    Returns
    -------
    image : `RadioImage`
        2-D image with ``.data``, ``.wcs``, ``.beam``, ``.pixel_scale`` and ``.unit``.

    Raises
    ------
    FileNotFoundError
        If a path does not exist.
    radioassist.ImageError
        If the file is not FITS, has no image, no celestial WCS, or is a cube
        without ``plane=``; the message says what to do.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.wcs import WCS
    >>> from radioassist import load_image
    >>> w = WCS(naxis=2)
    >>> w.wcs.ctype = ['RA---SIN', 'DEC--SIN']
    >>> w.wcs.cdelt = [-1.5 / 3600, 1.5 / 3600]
    >>> image = load_image((np.zeros((100, 120), dtype=np.float32), w))
    >>> image.shape
    (100, 120)
    >>> round(image.pixel_scale.to_value('arcsec'), 3)
    1.5
    """
    if isinstance(source, RadioImage):
        if hdu is not None or plane is not None:
            raise ImageError("hdu= and plane= cannot be applied to an already loaded RadioImage")
        return source
    if isinstance(source, (str, os.PathLike)):
        return _from_path(Path(source), hdu=hdu, plane=plane)
    if isinstance(source, fits.HDUList):
        return _from_hdulist(source, hdu=hdu, plane=plane, filename=source.filename(), owned=False)
    if isinstance(source, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)):
        if hdu is not None:
            raise ImageError("hdu= only applies to a file or HDUList; a single HDU was given")
        return _from_hdu(source, plane=plane, filename=None, hdulist=None)
    if isinstance(source, NDData):
        if source.wcs is None:
            raise ImageError("the NDData has no WCS: pass NDData(data, wcs=WCS(...)) or an (array, header) pair")
        wcs = source.wcs
        if not isinstance(wcs, WCS):
            raise ImageError(f"only astropy.wcs.WCS is supported as the NDData's wcs, got {type(wcs).__name__}")
        unit = source.unit
        header = fits.Header(source.meta) if isinstance(source.meta, (dict, fits.Header)) and _is_headerish(source.meta) else None
        return _from_array(np.asarray(source.data), wcs, header=header, plane=plane, unit=unit)
    if isinstance(source, tuple) and len(source) == 2:
        array, meta = source
        if isinstance(meta, fits.Header):
            wcs = _parse_wcs(meta, "the header")
            return _from_array(np.asarray(array), wcs, header=meta, plane=plane)
        if isinstance(meta, WCS):
            return _from_array(np.asarray(array), meta, header=None, plane=plane)
        raise ImageError(f"the second element of an (array, ...) pair must be a WCS or a FITS Header, "
                         f"got {type(meta).__name__}")
    raise ImageError(f"cannot load an image from {type(source).__name__}: pass a FITS path, HDUList, image HDU, "
                     "NDData or an (array, WCS|Header) pair")


def _parse_wcs(header, label):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            return WCS(header)
        except Exception as exc:
            msg = f"{label}: the header's WCS cannot be parsed ({' '.join(str(exc).split())}); fix its CTYPE/CUNIT keywords"
            raise ImageError(msg) from exc


def _is_headerish(meta):
    return any(str(k).upper().startswith(("CTYPE", "BUNIT", "BMAJ")) for k in meta.keys())


def _from_path(path, *, hdu, plane):
    if not path.exists():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.is_dir():
        raise ImageError(f"{path} is a folder, not a FITS image")
    try:
        with open(path, "rb") as fh:
            magic = fh.read(30)
    except OSError as exc:
        raise ImageError(f"cannot read image file {path}: {exc}") from exc
    if not magic.startswith(b"SIMPLE  ="):
        raise ImageError(f"{path} is not a FITS file (it does not start with a SIMPLE card); "
                         "radioassist reads FITS images")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", fits.verify.VerifyWarning)
            hdulist = fits.open(path, memmap=True, lazy_load_hdus=True)
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError for broken files
        raise ImageError(f"cannot open FITS file {path}: {exc}") from exc
    try:
        return _from_hdulist(hdulist, hdu=hdu, plane=plane, filename=str(path), owned=True)
    except BaseException:
        hdulist.close()
        raise


def _from_hdulist(hdulist, *, hdu, plane, filename, owned):
    label = filename or "the HDUList"
    try:
        if hdu is None:
            chosen = None
            for candidate in hdulist:
                if isinstance(candidate, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) \
                        and candidate.header.get("NAXIS", 0) >= 2:
                    chosen = candidate
                    break
            if chosen is None:
                raise ImageError(f"{label} contains no image HDU with at least two axes")
        else:
            try:
                chosen = hdulist[hdu]
            except (IndexError, KeyError) as exc:
                names = [f"{i}: {h.name} ({type(h).__name__}, NAXIS={h.header.get('NAXIS', 0)})"
                         for i, h in enumerate(hdulist)]
                raise ImageError(f"{label} has no HDU {hdu!r}; it has " + "; ".join(names)
                                 + ". Pass hdu= one of those") from exc
            if not isinstance(chosen, (fits.PrimaryHDU, fits.ImageHDU, fits.CompImageHDU)) \
                    or chosen.header.get("NAXIS", 0) < 2:
                raise ImageError(f"HDU {hdu!r} of {label} is not an image with at least two axes "
                                 f"({type(chosen).__name__}, NAXIS={chosen.header.get('NAXIS', 0)})")
    except ImageError:
        raise
    except Exception as exc:
        raise ImageError(f"cannot read the HDUs of {label} (truncated or corrupted file?): {exc}") from exc
    return _from_hdu(chosen, plane=plane, filename=filename, hdulist=hdulist if owned else None,
                     index=hdulist.index(chosen))


def _from_hdu(hdu, *, plane, filename, hdulist, index=None):
    # FIRST/NVSS headers have TAB characters in COMMENT cards: harmless, but astropy warns on every access
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", fits.verify.VerifyWarning)
        return _from_hdu_quiet(hdu, plane=plane, filename=filename, hdulist=hdulist, index=index)


def _from_hdu_quiet(hdu, *, plane, filename, hdulist, index):
    header = hdu.header
    label = filename or "the image HDU"
    scaled = isinstance(hdu, fits.CompImageHDU) or any(
        k in header and header[k] not in (0, 1) for k in ("BSCALE", "BZERO")) or (
        "BZERO" in header and header["BZERO"] != 0)
    if scaled:
        warnings.warn(f"{label}: BSCALE/BZERO scaling or tile compression forces a full read of the image "
                      "into memory (no memory mapping)", RadioassistWarning)
    wcs = _parse_wcs(header, label)
    try:
        try:
            data = hdu.data
        except ValueError as exc:
            if not (scaled and filename and index is not None and "memory-mapped" in str(exc)):
                raise
            data = fits.getdata(filename, ext=index, memmap=False)  # scaled data: a full read is unavoidable
    except Exception as exc:
        raise ImageError(f"cannot read the pixel data of {label} (truncated or corrupted file?): {exc}") from exc
    if data is None:
        raise ImageError(f"{label} has no pixel data")
    expected = tuple(header.get(f"NAXIS{i}", 0) for i in range(header.get("NAXIS", 0), 0, -1))
    if data.shape != expected:
        raise ImageError(f"{label}: the pixel data has shape {data.shape} but the header says {expected} "
                         "(truncated file?)")
    return _from_array(data, wcs, header=header, plane=plane, filename=filename, hdulist=hdulist,
                       memmapped=_is_memmapped(data))


def _is_memmapped(array):
    base = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def _from_array(data, wcs, *, header=None, plane=None, unit=None, filename=None, hdulist=None, memmapped=False):
    label = filename or "the image"
    if data.ndim < 2:
        raise ImageError(f"{label} has {data.ndim} data axis; an image needs two celestial axes")
    if not wcs.has_celestial:
        raise ImageError(f"{label} has no celestial WCS (CTYPE = {list(wcs.wcs.ctype)}): radioassist needs "
                         "RA/Dec or Galactic axes to place catalogue sources; fix the header's CTYPE/CRVAL/CDELT")
    ndim = data.ndim
    lng, lat = wcs.wcs.lng, wcs.wcs.lat  # FITS (WCS) axis indices, 0-based
    if lng >= ndim or lat >= ndim:
        raise ImageError(f"{label}: the celestial WCS axes ({lng + 1}, {lat + 1}) are not data axes "
                         f"(the data has {ndim} axes)")
    # numpy axis k <-> WCS axis ndim-1-k
    index = []
    chosen = {}
    extra_axes = [(ndim - 1 - k, data.shape[k]) for k in range(ndim) if (ndim - 1 - k) not in (lng, lat)]
    nondegenerate = [(ax, n) for ax, n in extra_axes if n > 1]
    ctypes = list(wcs.wcs.ctype) + [""] * max(0, ndim - wcs.naxis)
    names = {ax: (ctypes[ax].split("-")[0] or f"AXIS{ax + 1}") for ax, _ in extra_axes}
    if nondegenerate:
        if plane is None:
            desc = ", ".join(f"axis {ax + 1} ({names[ax]}) has {n} planes" for ax, n in nondegenerate)
            raise ImageError(f"{label} is a cube: {desc}. Choose one with plane= (an index, or a dict such as "
                             f"{{'{names[nondegenerate[0][0]]}': 0}}); on the command line use --plane")
        if isinstance(plane, dict):
            wanted = {str(k).upper(): v for k, v in plane.items()}
            for ax, n in nondegenerate:
                if names[ax].upper() not in wanted:
                    raise ImageError(f"plane= does not choose a plane for axis {ax + 1} ({names[ax]}, {n} planes)")
                chosen[ax] = int(wanted[names[ax].upper()])
        else:
            if len(nondegenerate) > 1:
                raise ImageError(f"{label} has {len(nondegenerate)} non-degenerate extra axes "
                                 f"({', '.join(names[a] for a, _ in nondegenerate)}): pass plane= as a dict")
            chosen[nondegenerate[0][0]] = int(plane)
        for ax, n in nondegenerate:
            if not 0 <= chosen[ax] < n:
                raise ImageError(f"plane {chosen[ax]} is out of range for axis {ax + 1} ({names[ax]}) "
                                 f"with {n} planes")
    elif plane is not None and plane not in (0, {}):
        raise ImageError(f"plane={plane!r} was given but {label} has no extra axis with more than one plane")
    for k in range(ndim):
        ax = ndim - 1 - k
        index.append(slice(None) if ax in (lng, lat) else chosen.get(ax, 0))
    data2d = data[tuple(index)]
    celestial = wcs.celestial
    if celestial.wcs.lng == 1:  # latitude first in the file: nothing to do, world_to_pixel handles the order
        log.debug("%s stores latitude before longitude", label)

    # frequency from a spectral axis, else header keywords
    frequency = None
    for ax in range(wcs.naxis):
        if ctypes[ax].upper().startswith("FREQ"):
            pix = chosen.get(ax, 0)
            try:
                freq = wcs.wcs.crval[ax] + (pix + 1 - wcs.wcs.crpix[ax]) * wcs.wcs.cdelt[ax]
                frequency = (freq * u.Unit(wcs.wcs.cunit[ax] or "Hz")).to(u.Hz)
            except Exception:  # pragma: no cover - exotic spectral axes
                frequency = None
    if frequency is None and header is not None:
        for key in ("RESTFRQ", "RESTFREQ", "FREQ", "CRVAL3"):
            if key in header and (key != "CRVAL3" or str(header.get("CTYPE3", "")).upper().startswith("FREQ")):
                try:
                    frequency = float(header[key]) * u.Hz
                    break
                except (TypeError, ValueError):
                    pass

    hdr2d = celestial.to_header(relax=True)
    if header is not None:
        for key in _KEEP_KEYWORDS:
            if key in header and key not in hdr2d:
                hdr2d[key] = header[key]
    beam = _beam_from_header(header) if header is not None else None
    if beam is not None and "BMAJ" not in hdr2d:
        hdr2d["BMAJ"] = beam.major.to_value(u.deg)
        hdr2d["BMIN"] = beam.minor.to_value(u.deg)
        hdr2d["BPA"] = beam.pa.to_value(u.deg)
    if unit is None and header is not None and "BUNIT" in header:
        unit = _parse_bunit(header["BUNIT"])
    return RadioImage(data2d, celestial, hdr2d, beam=beam, unit=unit, frequency=frequency, filename=filename,
                      hdulist=hdulist, plane=chosen or None, memmapped=memmapped)


def _beam_from_header(header):
    try:
        if "BMAJ" in header and "BMIN" in header:
            bmaj, bmin = float(header["BMAJ"]), float(header["BMIN"])
            bpa = float(header.get("BPA", 0.0) or 0.0)
            if bmaj > 0 and bmin > 0:
                return Beam(bmaj * u.deg, bmin * u.deg, bpa * u.deg)
    except (TypeError, ValueError):
        pass
    # AIPS writes the beam in HISTORY cards: "AIPS   CLEAN BMAJ=  1.6667E-03 BMIN=  1.6667E-03 BPA=   0.00"
    for card in reversed(header.get("HISTORY", [])):
        m = _AIPS_BEAM.search(str(card))
        if m:
            bmaj, bmin, bpa = (float(v.replace("D", "E").replace("d", "e")) for v in m.groups())
            if bmaj > 0 and bmin > 0:
                return Beam(bmaj * u.deg, bmin * u.deg, bpa * u.deg)
    return None


#: Brightness units of radio images, keyed by the BUNIT text upper-cased without blanks: parsed without
#: astropy's (slow) failure path, which computes "did you mean" suggestions for FITS-style ``JY/BEAM``.
_RADIO_UNITS = {
    "JY/BEAM": u.Jy / u.beam,
    "JYBEAM-1": u.Jy / u.beam,
    "JY/PIXEL": u.Jy / u.pix,
    "JY/PIX": u.Jy / u.pix,
    "JYPIXEL-1": u.Jy / u.pix,
    "JY": u.Jy,
}


def _parse_bunit(value):
    """The `~astropy.units.Unit` of a BUNIT value (an ``UnrecognizedUnit`` if astropy cannot parse it)."""
    return _parse_bunit_text(str(value).strip())


@functools.lru_cache(maxsize=256)
def _parse_bunit_text(text):
    if not text:
        return None
    known = _RADIO_UNITS.get("".join(text.split()).upper())
    if known is not None:
        return known
    for candidate in (text, text.lower(), text.replace("JY", "Jy").replace("BEAM", "beam")):
        for fmt in ("fits", None):
            try:
                return u.Unit(candidate, format=fmt) if fmt else u.Unit(candidate)
            except ValueError:
                continue
    log.debug("unrecognised BUNIT %r", text)
    return u.Unit(text, parse_strict="silent")
