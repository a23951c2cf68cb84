"""Fast batched cutouts of catalogue sources from radio mosaics.

:func:`extract_cutouts` cuts ``N`` square cutouts out of a (possibly huge,
memory-mapped, 4-D) mosaic in one pass and returns a :class:`CutoutStack`:
a float32 ``(N, S, S)`` array plus, per cutout, the pixel position of the
source in the parent image, the integer offset of the cutout, partial/outside
flags and the fraction of NaN pixels.  A WCS for each cutout is built only
when asked for (:meth:`CutoutStack.wcs`).

How it is fast
--------------
All positions are converted to pixels in one call; cutouts are processed in
row order, each one a single array copy from the 2-D (memory-mapped) view of
the mosaic straight into a preallocated output; edges are handled by copying
clipped slices into a NaN-filled destination.  For a memory-mapped mosaic,
the pages of rows already done are handed back to the operating system as
the extraction moves down the image (the file stays in the page cache), so
the memory used does not grow with the size of the mosaic.  Pages that were
modified in memory (copy-on-write) are never dropped.

Centre convention
-----------------
Without resampling, cutout ``i`` covers parent pixels
``origin[i] ... origin[i] + size - 1`` along each axis, with
``origin = ceil(xy - size / 2)`` (0-based pixels; the same convention as
`astropy.nddata.Cutout2D`, so the pixels are identical).  The requested
position therefore lies within half a pixel of the geometric centre of the
cutout, ``((size - 1) / 2, (size - 1) / 2)``: for an odd ``size`` it falls in
the central pixel ``size // 2``; for an even ``size`` it lies between
pixels ``size / 2 - 1`` and ``size / 2`` (its offset from the geometric
centre is in ``(-0.5, 0.5]`` pixel).  Positions that a world -> pixel
conversion puts within 1e-6 pixel of such a boundary are treated as lying
exactly on it (so ``x = 50.0000000001`` behaves as ``x = 50``).  Resampled
cutouts (``resample_to`` or ``size_factor``) are centred exactly: the source
is at the geometric centre.
"""
import math
import mmap
import os
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.table import QTable, Table
from astropy.wcs import WCS, Sip

from ._parameters import MAX_CUTOUT_SIZE, as_angle, as_size_rule, check_size_choice, size_in_pixels
from .exceptions import ImageError, InputError, RadioassistWarning
from .flags import on_image
from .image import _KEEP_KEYWORDS, Beam, load_image
from .logger import log

__all__ = ["CutoutStack", "extract_cutouts", "MAX_CUTOUT_SIZE"]

# Cutouts are processed in chunks of this many (in row order): the page release and the
# progress bar are updated between chunks.
_CHUNK = 64
# Tolerance (pixels) for positions on a pixel boundary, see _extract_direct.
_EPS_PIX = 1e-6
# Hand pages of finished rows back to the OS once at least this many bytes can be released.
_RELEASE_BYTES = 4 * 2 ** 20


# ----------------------------------------------------------------------------------------------
# The result
# ----------------------------------------------------------------------------------------------

class CutoutStack:
    """A stack of ``N`` square cutouts of one parent image, with their geometry.

    Made by :func:`extract_cutouts` (or read back with :meth:`read`); not
    meant to be built directly.  The per-cutout arrays are read-only.

    Attributes
    ----------
    data : `numpy.ndarray`
        ``(N, S, S)`` float32 pixel values (NaN outside the parent image and
        where the parent is blank).
    positions : `~astropy.coordinates.SkyCoord`
        The ``N`` requested positions.
    xy : `numpy.ndarray`
        ``(N, 2)`` float pixel position ``(x, y)`` of each source in the
        parent image (0-based; NaN when the position cannot be projected).
    origin : `numpy.ndarray`
        ``(N, 2)`` int ``(x0, y0)``: the parent pixel of each cutout's
        ``[0, 0]`` pixel (may be negative for partial cutouts).  For
        resampled cutouts, the corner of the parent region they were
        resampled from.
    partial : `numpy.ndarray`
        ``(N,)`` bool, the cutout extends beyond the parent image (padded).
    outside : `numpy.ndarray`
        ``(N,)`` bool, the cutout does not overlap the parent image at all.
    nan_fraction : `numpy.ndarray`
        ``(N,)`` float, fraction of pixels without data: padding outside the
        parent image plus blank (NaN) pixels of the parent, whatever
        ``fill_value`` was used for the padding.
    size : int
        Side ``S`` of the cutouts in pixels.
    pixel_scale : `~astropy.units.Quantity`
        Pixel scale of the cutouts (arcsec); an ``(N,)`` array when each
        cutout has its own scale (``size_factor``).
    resampled : bool
        Whether the cutouts were resampled onto their own WCS.
    unit : `~astropy.units.Unit` or None
        Brightness unit of the parent image.
    beam : `radioassist.Beam` or None
        Restoring beam of the parent image.
    parent : str
        Short name of the parent image.
    rows : `numpy.ndarray`
        ``(N,)`` int: the index of each cutout's position among the
        positions given to :func:`extract_cutouts` (the catalogue row).
    n_input : int
        How many positions were given; ``n_input - N`` of them lay off the
        image and got no cutout (``n_skipped``).
    """

    def __init__(self, data, positions, xy, origin, *, partial, outside, nan_fraction, size, pixel_scale,
                 parent_wcs, target=None, unit=None, beam=None, meta_header=None, parent="", rows=None,
                 n_input=None):
        self._data = data
        n = data.shape[0]
        self._rows = _readonly(np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64))
        self._n_input = int(n if n_input is None else n_input)
        self._positions = positions
        self._xy = _readonly(np.asarray(xy, dtype=float).reshape(-1, 2))
        self._origin = _readonly(np.asarray(origin, dtype=np.int64).reshape(-1, 2))
        self._partial = _readonly(np.asarray(partial, dtype=bool))
        self._outside = _readonly(np.asarray(outside, dtype=bool))
        self._nan_fraction = _readonly(np.asarray(nan_fraction, dtype=float))
        self._size = int(size)
        self._pixel_scale = pixel_scale
        self._parent_wcs = parent_wcs
        # resampled cutouts: dict with 'lon', 'lat' (deg, parent frame), 'scale' (deg/px) arrays, 'ctype'
        self._target = target
        self.unit = unit
        self.beam = beam
        self._meta_header = meta_header if meta_header is not None else fits.Header()
        self.parent = parent

    # --- read-only views -------------------------------------------------------------------
    data = property(lambda self: self._data, doc="``(N, S, S)`` float32 cutouts.")
    positions = property(lambda self: self._positions, doc="The requested positions (`SkyCoord`).")
    xy = property(lambda self: self._xy, doc="``(N, 2)`` pixel positions of the sources in the parent.")
    origin = property(lambda self: self._origin,
                      doc="``(N, 2)`` parent pixel ``(x0, y0)`` of each cutout's [0, 0].")
    partial = property(lambda self: self._partial, doc="``(N,)`` bool: the cutout is padded.")
    outside = property(lambda self: self._outside, doc="``(N,)`` bool: the cutout misses the parent image.")
    nan_fraction = property(lambda self: self._nan_fraction, doc="``(N,)`` fraction of pixels without data.")
    size = property(lambda self: self._size, doc="Cutout side in pixels.")
    pixel_scale = property(lambda self: self._pixel_scale, doc="Cutout pixel scale (arcsec Quantity).")
    resampled = property(lambda self: self._target is not None, doc="Whether the cutouts were resampled.")
    parent_wcs = property(lambda self: self._parent_wcs.deepcopy(), doc="Celestial WCS of the parent image.")
    rows = property(lambda self: self._rows,
                    doc="``(N,)`` index of each cutout's position among the positions given (catalogue row).")
    n_input = property(lambda self: self._n_input, doc="Number of positions given to :func:`extract_cutouts`.")
    n_skipped = property(lambda self: self._n_input - len(self._rows),
                         doc="Positions given that lay off the image and got no cutout.")

    @property
    def valid(self):
        """``(N,)`` bool: the cutout overlaps the image and has at least one pixel with data."""
        return ~self._outside & (self._nan_fraction < 1)

    def __len__(self):
        return self._data.shape[0]

    def __repr__(self):
        scale = self._pixel_scale
        arcsec = scale.to_value(u.arcsec)
        scale = (f"{arcsec:.3g}\"/px" if scale.isscalar
                 else f"{np.nanmin(arcsec):.3g}-{np.nanmax(arcsec):.3g}\"/px")
        skipped = f", {self.n_skipped} off the image skipped" if self.n_skipped else ""
        return (f"<CutoutStack {len(self)} x {self._size}x{self._size} px, {scale}"
                f"{', resampled' if self.resampled else ''}, {int(self._partial.sum())} partial, "
                f"{int(self._outside.sum())} outside{skipped}, parent {self.parent or '?'}>")

    def __getitem__(self, index):
        """An int gives the 2-D cutout; a slice, bool mask or int array gives a sub-stack."""
        if isinstance(index, (int, np.integer)):
            return self._data[index]
        if isinstance(index, slice):
            idx = index
        else:
            idx = np.asarray(index)
            if idx.dtype == bool:
                if idx.shape != (len(self),):
                    msg = f"a boolean index must have shape ({len(self)},), got {idx.shape}"
                    raise IndexError(msg)
            elif not np.issubdtype(idx.dtype, np.integer):
                msg = f"CutoutStack indices must be int, slice, bool mask or int array, got {idx.dtype}"
                raise IndexError(msg)
        target = None
        if self._target is not None:
            target = {k: (v[idx] if isinstance(v, np.ndarray) else v) for k, v in self._target.items()}
        scale = self._pixel_scale
        if not scale.isscalar:
            scale = scale[idx]
        return CutoutStack(self._data[idx], self._positions[idx], self._xy[idx], self._origin[idx],
                           partial=self._partial[idx], outside=self._outside[idx],
                           nan_fraction=self._nan_fraction[idx], size=self._size, pixel_scale=scale,
                           parent_wcs=self._parent_wcs, target=target, unit=self.unit, beam=self.beam,
                           meta_header=self._meta_header, parent=self.parent, rows=self._rows[idx],
                           n_input=self._n_input)

    def _index(self, i):
        n = len(self)
        if not isinstance(i, (int, np.integer)) or not -n <= i < n:
            msg = f"cutout index {i!r} is out of range for a stack of {n}"
            raise IndexError(msg)
        return int(i) % n

    def pixel_scale_of(self, i):
        """Pixel scale of cutout ``i`` (arcsec Quantity)."""
        i = self._index(i)
        return self._pixel_scale if self._pixel_scale.isscalar else self._pixel_scale[i]

    # --- WCS -------------------------------------------------------------------------------
    def wcs(self, i):
        """The 2-D celestial WCS of cutout ``i``, built on request.

        Without resampling it is the parent WCS with CRPIX shifted by the
        cutout's origin; for resampled cutouts the target WCS (a TAN
        projection centred on the source, north up).

        Parameters
        ----------
        i : int
            Index of the cutout.

        Returns
        -------
        `~astropy.wcs.WCS`
        """
        i = self._index(i)
        size = self._size
        if self._target is None:
            w = self._parent_wcs.deepcopy()
            shift = self._origin[i].astype(float)
            w.wcs.crpix = w.wcs.crpix - shift
            if w.sip is not None:
                w.sip = Sip(w.sip.a, w.sip.b, w.sip.ap, w.sip.bp, w.sip.crpix - shift)
            w.wcs.set()
        else:
            t = self._target
            w = _make_target_wcs(self._parent_wcs, t["lon"][i], t["lat"][i], t["scale"][i], size)
        w.array_shape = (size, size)
        return w

    # --- tables and FITS -------------------------------------------------------------------
    def to_table(self):
        """A table with one row per cutout: position, geometry and validity.

        Returns
        -------
        `~astropy.table.QTable`
            Columns ``ra``, ``dec`` (ICRS, deg), ``x``, ``y`` (pixel position
            in the parent, 0-based), ``x0``, ``y0`` (the cutout origin in the
            parent), ``partial``, ``outside``, ``valid``, ``nan_fraction``;
            for resampled stacks also ``pixel_scale`` (arcsec) and
            ``wcs_lon``, ``wcs_lat`` (the centre of each cutout's WCS, deg,
            in the parent's frame).
        """
        t = QTable()
        t["row"] = self._rows
        icrs = self._positions.icrs
        t["ra"] = icrs.ra.to(u.deg)
        t["dec"] = icrs.dec.to(u.deg)
        t["x"] = self._xy[:, 0]
        t["y"] = self._xy[:, 1]
        t["x0"] = self._origin[:, 0]
        t["y0"] = self._origin[:, 1]
        t["partial"] = self._partial
        t["outside"] = self._outside
        t["valid"] = self.valid
        t["nan_fraction"] = self._nan_fraction
        if self._target is not None:
            t["pixel_scale"] = (self._target["scale"] * u.deg).to(u.arcsec)
            t["wcs_lon"] = self._target["lon"] * u.deg
            t["wcs_lat"] = self._target["lat"] * u.deg
        descriptions = {"row": "index of the position among those given (catalogue row)",
                        "x": "source x in the parent image (0-based pixels)",
                        "y": "source y in the parent image (0-based pixels)",
                        "x0": "parent x of the cutout's [0, 0] pixel",
                        "y0": "parent y of the cutout's [0, 0] pixel",
                        "partial": "cutout padded beyond the parent image",
                        "outside": "cutout does not overlap the parent image",
                        "valid": "not outside and has data",
                        "nan_fraction": "fraction of pixels without data"}
        for name, text in descriptions.items():
            t[name].info.description = text
        t.meta["cutout_size"] = self._size
        t.meta["parent"] = self.parent
        t.meta["n_input"] = self._n_input
        t.meta["resampled"] = self.resampled
        if self._pixel_scale.isscalar:
            t.meta["pixel_scale_arcsec"] = float(self._pixel_scale.to_value(u.arcsec))
        return t

    def _common_header(self, header):
        for key in _KEEP_KEYWORDS:
            if key in self._meta_header and key not in header:
                header[key] = self._meta_header[key]
        if self.unit is not None and "BUNIT" not in header:
            header["BUNIT"] = self.unit.to_string(format="fits")
        if self.beam is not None:
            header["BMAJ"] = (self.beam.major.to_value(u.deg), "[deg] beam major axis FWHM")
            header["BMIN"] = (self.beam.minor.to_value(u.deg), "[deg] beam minor axis FWHM")
            header["BPA"] = (self.beam.pa.to_value(u.deg), "[deg] beam position angle")
        if self.parent:
            header["PARENT"] = (self.parent[-68:], "image the cutout was cut from")
        return header

    def header(self, i):
        """A complete 2-D FITS header for cutout ``i`` (WCS, BUNIT, beam, source geometry)."""
        i = self._index(i)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            header = self.wcs(i).to_header(relax=True)
        header = self._common_header(header)
        icrs = self._positions[i].icrs
        header["SRC_RA"] = (float(icrs.ra.deg), "[deg] requested position, ICRS")
        header["SRC_DEC"] = (float(icrs.dec.deg), "[deg] requested position, ICRS")
        header["SRC_X"] = (float(self._xy[i, 0]), "source x in the parent (0-based)")
        header["SRC_Y"] = (float(self._xy[i, 1]), "source y in the parent (0-based)")
        header["CUT_X0"] = (int(self._origin[i, 0]), "parent x of pixel [0, 0] (0-based)")
        header["CUT_Y0"] = (int(self._origin[i, 1]), "parent y of pixel [0, 0] (0-based)")
        header["PARTIAL"] = (bool(self._partial[i]), "cutout padded beyond the parent")
        header["NANFRAC"] = (float(self._nan_fraction[i]), "fraction of pixels without data")
        return header

    def to_hdu(self, i):
        """Cutout ``i`` as a `~astropy.io.fits.PrimaryHDU` with a complete 2-D header."""
        i = self._index(i)
        return fits.PrimaryHDU(np.ascontiguousarray(self._data[i], dtype=np.float32), header=self.header(i))

    def write(self, path, *, overwrite=False):
        """Write the stack to one FITS file: the cube plus a table of the geometry.

        HDU 0 holds the ``(N, S, S)`` cube (with BUNIT and the beam); HDU 1
        (``CUTOUTS``) the :meth:`to_table` rows, with the parent's celestial
        WCS and the cutout size in its header, so :meth:`read` can rebuild
        every cutout's WCS.

        Parameters
        ----------
        path : str or `~pathlib.Path`
            Output file (``.fits``).
        overwrite : bool, optional
            Replace an existing file.  Default False (an existing file is an error).
        """
        path = Path(path)
        if path.exists() and not overwrite:
            msg = f"{path} exists: pass overwrite=True (--overwrite) to replace it"
            raise FileExistsError(msg)
        primary = fits.PrimaryHDU(np.ascontiguousarray(self._data, dtype=np.float32))
        self._common_header(primary.header)
        primary.header["CUTSIZE"] = (self._size, "cutout side in pixels")
        primary.header["NCUTOUT"] = (len(self), "number of cutouts")
        primary.header["NINPUT"] = (self._n_input, "positions given (the others lay off the image)")
        primary.header["RESAMPLD"] = (self.resampled, "cutouts resampled onto their own WCS")
        if self._pixel_scale.isscalar:
            primary.header["PIXSCALE"] = (float(self._pixel_scale.to_value(u.arcsec)),
                                          "[arcsec] cutout pixel size")
        primary.header["COMMENT"] = "radioassist cutout stack: axes (cutout, y, x); geometry in HDU CUTOUTS"
        rows = Table(self.to_table())
        rows.meta.clear()  # the same facts are written as proper FITS keywords below
        table = fits.table_to_hdu(rows)
        table.name = "CUTOUTS"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wcs_header = self._parent_wcs.to_header(relax=True)
        for card in wcs_header.cards:
            if card.keyword not in ("COMMENT", "HISTORY", ""):
                table.header[card.keyword] = (card.value, card.comment)
        table.header["CUTSIZE"] = (self._size, "cutout side in pixels")
        table.header["RESAMPLD"] = (self.resampled, "cutouts resampled onto their own WCS")
        if self._target is not None:
            table.header["TGTCTYP1"] = (self._target["ctype"][0], "CTYPE1 of the resampled cutouts")
            table.header["TGTCTYP2"] = (self._target["ctype"][1], "CTYPE2 of the resampled cutouts")
        hdul = fits.HDUList([primary, table])
        hdul.writeto(path, overwrite=overwrite)
        log.debug("wrote %d cutouts to %s", len(self), path)

    @classmethod
    def read(cls, path):
        """Read a stack written by :meth:`write`.

        Parameters
        ----------
        path : str or `~pathlib.Path`

        Returns
        -------
        `CutoutStack`
        """
        path = Path(path)
        if not path.exists():
            msg = f"cutout file not found: {path}"
            raise FileNotFoundError(msg)
        with fits.open(path, memmap=False) as hdul:
            if len(hdul) < 2 or "CUTOUTS" not in hdul or hdul[0].data is None or hdul[0].data.ndim != 3:
                msg = f"{path} is not a radioassist cutout stack (expected a cube and a CUTOUTS table)"
                raise ImageError(msg)
            data = np.asarray(hdul[0].data, dtype=np.float32)
            primary = hdul[0].header
            theader = hdul["CUTOUTS"].header
            table = Table.read(hdul["CUTOUTS"])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                wcs_header = fits.Header([c for c in theader.cards if c.keyword not in
                                          ("XTENSION", "BITPIX", "PCOUNT", "GCOUNT", "TFIELDS", "EXTNAME")
                                          and not c.keyword.startswith(("TTYPE", "TFORM", "TUNIT", "TDIM",
                                                                        "TCOMM", "TNULL", "TDISP", "NAXIS"))])
                parent_wcs = WCS(wcs_header).celestial
        size = int(primary["CUTSIZE"])
        unit = None
        if "BUNIT" in primary:
            from .image import _parse_bunit
            unit = _parse_bunit(primary["BUNIT"])
        beam = None
        if "BMAJ" in primary and "BMIN" in primary:
            beam = Beam(primary["BMAJ"] * u.deg, primary["BMIN"] * u.deg, primary.get("BPA", 0.0) * u.deg)
        meta_header = fits.Header([c for c in primary.cards if c.keyword in _KEEP_KEYWORDS])
        positions = SkyCoord(np.asarray(table["ra"], dtype=float), np.asarray(table["dec"], dtype=float),
                             unit="deg", frame="icrs")
        target = None
        if primary.get("RESAMPLD", False):
            target = {"lon": np.asarray(table["wcs_lon"], dtype=float),
                      "lat": np.asarray(table["wcs_lat"], dtype=float),
                      "scale": np.asarray(table["pixel_scale"], dtype=float) / 3600.0,
                      "ctype": (theader.get("TGTCTYP1", "RA---TAN"), theader.get("TGTCTYP2", "DEC--TAN"))}
            pixel_scale = (primary["PIXSCALE"] * u.arcsec if "PIXSCALE" in primary
                           else target["scale"] * 3600.0 * u.arcsec)
        else:
            pixel_scale = primary.get("PIXSCALE", np.nan) * u.arcsec
        xy = np.column_stack([np.asarray(table["x"], dtype=float), np.asarray(table["y"], dtype=float)])
        origin = np.column_stack([np.asarray(table["x0"]), np.asarray(table["y0"])])
        rows = np.asarray(table["row"]) if "row" in table.colnames else None
        return cls(data, positions, xy, origin, partial=np.asarray(table["partial"]),
                   outside=np.asarray(table["outside"]), nan_fraction=np.asarray(table["nan_fraction"]),
                   size=size, pixel_scale=pixel_scale, parent_wcs=parent_wcs, target=target, unit=unit,
                   beam=beam, meta_header=meta_header, parent=primary.get("PARENT", ""), rows=rows,
                   n_input=primary.get("NINPUT"))

    def write_folder(self, folder, *, names=None, overwrite=False, progress=False):
        """Write one 2-D FITS file per cutout (valid WCS, BUNIT and beam; opens in ds9).

        Parameters
        ----------
        folder : str or `~pathlib.Path`
            Output folder (created if needed).
        names : sequence of str, optional
            File names, one per cutout (``.fits`` is appended when missing).
            Default ``cutout_00000.fits``, ``cutout_00001.fits``...
        overwrite : bool, optional
            Replace existing files.  Default False: if any file exists,
            nothing is written and `FileExistsError` is raised.
        progress : bool, optional
            Show a progress bar.  Default False.

        Returns
        -------
        list of `~pathlib.Path`
            The files written.
        """
        folder = Path(folder)
        paths = self._folder_paths(folder, names, suffix=".fits", overwrite=overwrite)
        folder.mkdir(parents=True, exist_ok=True)
        bar = _progress_bar(len(paths), "writing cutouts", progress)
        try:
            for i, path in enumerate(paths):
                self.to_hdu(i).writeto(path, overwrite=overwrite)
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        log.debug("wrote %d cutout files to %s", len(paths), folder)
        return paths

    def _folder_paths(self, folder, names, *, suffix, overwrite):
        n = len(self)
        width = max(5, len(str(max(n - 1, 0))))
        names = [f"cutout_{i:0{width}d}" for i in range(n)] if names is None else [str(name) for name in names]
        if len(names) != n:
            msg = f"names has {len(names)} entries but the stack has {n} cutouts"
            raise InputError(msg)
        bad = [name for name in names if name in ("", ".", "..") or "/" in name or "\\" in name]
        if bad:
            msg = f"bad cutout file name {bad[0]!r}: names must be plain file names without folders"
            raise InputError(msg)
        suffixes = (suffix, ".fit", ".fits.gz") if suffix == ".fits" else (suffix,)
        paths = [folder / (name if name.lower().endswith(suffixes) else name + suffix) for name in names]
        if len(set(paths)) != len(paths):
            dupes = sorted({p.name for p in paths if paths.count(p) > 1})[:5]
            msg = f"names must be unique; repeated: {', '.join(dupes)}"
            raise InputError(msg)
        if not overwrite and folder.exists():
            existing = [p for p in paths if p.exists()]
            if existing:
                msg = (f"{len(existing)} output file(s) exist already (e.g. {existing[0]}): "
                       "pass overwrite=True (--overwrite) to replace them")
                raise FileExistsError(msg)
        return paths


# ----------------------------------------------------------------------------------------------
# Extraction
# ----------------------------------------------------------------------------------------------

def extract_cutouts(image, positions, *, size=64, size_factor=None, min_size=None, max_size=None,
                    resample_to=None, fill_value=np.nan, off_image="skip", out=None, progress=False):
    """Cut square cutouts around many positions out of a radio image, fast.

    Parameters
    ----------
    image : str, `~pathlib.Path`, HDU, HDUList, NDData, ``(array, WCS)`` or `radioassist.RadioImage`
        The parent image, anything :func:`radioassist.load_image` accepts.
        When a path is given the file is opened (memory-mapped), read only
        where cutouts need it, and closed again.
    positions : `~astropy.coordinates.SkyCoord` or `~astropy.table.Table`
        The cutout centres: a (scalar or array) SkyCoord, or a table with a
        SkyCoord column ``skycoord`` and optionally an angular Quantity column
        ``source_size`` (as made by ``radioassist.catalog.read_catalog``); a
        table with ``ra``/``dec`` columns (degrees) also works.
    size : int or `~astropy.units.Quantity`, optional
        Output side in pixels, or an angle (converted with the image pixel
        scale, or with ``resample_to`` when given).  Default 64.
    size_factor : float, optional
        Size rule: each source's angular extent is
        ``clip(size_factor * source_size, min_size, max_size)`` and that
        region is resampled onto ``size`` x ``size`` pixels (so the output
        shape is fixed; the pixel scale varies per source).  Sources without
        a size use ``min_size``.  Default None (no rule: native pixels).
    min_size, max_size : `~astropy.units.Quantity` or int, optional
        Limits of the size rule, as angles or in native pixels (only with
        ``size_factor``).  Default: ``min_size`` is ``size`` native pixels,
        no ``max_size``.
    resample_to : `~astropy.units.Quantity`, optional
        Target pixel scale (angle per pixel): each cutout is resampled with
        `reproject.reproject_interp` (bilinear) onto a TAN WCS centred on
        the source, north up, ``size`` x ``size`` pixels.  Default None.
    fill_value : float, optional
        Value of pixels outside the parent image.  Default NaN.
    off_image : {'skip', 'keep'}, optional
        Positions off the image (pixel position beyond ``-0.5 ... n - 0.5``
        on either axis, or not projectable): ``'skip'`` (default) cuts
        nothing for them, so memory is sized to the image, not to the
        catalogue (a survey catalogue of 10^5 rows on one mosaic); the
        stack's ``rows`` maps each cutout to its position and ``n_skipped``
        counts the others.  ``'keep'``: one cutout per position, in order,
        those off the image filled with ``fill_value`` (and flagged
        ``outside`` when they miss the image entirely).
    out : `numpy.ndarray`, optional
        A float32 ``(N, size, size)`` array to write the cutouts into
        (becomes the stack's ``data``); ``N`` counts the positions kept.
        Default: a new array.
    progress : bool, optional
        Show a progress bar (tqdm).  Default False.

    Returns
    -------
    `CutoutStack`
        The cutouts in the order of ``positions`` (those on the image only,
        unless ``off_image='keep'``; see ``CutoutStack.rows``).

    Raises
    ------
    radioassist.InputError
        Bad ``size``, ``size_factor``, ``min_size``/``max_size``,
        ``resample_to``, ``out`` or ``positions``.

    Notes
    -----
    Sources whose cutout misses the image are flagged (``outside``), not an
    error; partial cutouts are padded with ``fill_value``.  See the module
    documentation for the centre convention (identical to
    `astropy.nddata.Cutout2D` without resampling).  Resampling
    (``resample_to``/``size_factor``) costs a few milliseconds per cutout;
    plain cutouts cost microseconds.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.wcs import WCS
    >>> from radioassist.cutouts import extract_cutouts
    >>> w = WCS({'CTYPE1': 'RA---SIN', 'CRVAL1': 150.0, 'CRPIX1': 50.5, 'CDELT1': -2 / 3600,
    ...          'CTYPE2': 'DEC--SIN', 'CRVAL2': 2.0, 'CRPIX2': 50.5, 'CDELT2': 2 / 3600})
    >>> data = np.arange(100 * 100, dtype=np.float32).reshape(100, 100)
    >>> stack = extract_cutouts((data, w), w.pixel_to_world([10, 50, 99], [10, 50, 60]), size=8)
    >>> stack.data.shape
    (3, 8, 8)
    >>> stack.partial.tolist(), stack.outside.tolist()
    ([False, False, True], [False, False, False])
    >>> stack.origin[1].tolist()
    [46, 46]
    >>> bool(np.all(stack[1] == data[46:54, 46:54]))
    True
    """
    owned = isinstance(image, (str, os.PathLike))
    img = load_image(image)
    try:
        return _extract(img, positions, owned=owned, size=size, size_factor=size_factor, min_size=min_size,
                        max_size=max_size, resample_to=resample_to, fill_value=fill_value, off_image=off_image,
                        out=out, progress=progress)
    finally:
        if owned:
            img.close()


def _extract(img, positions, *, owned, size, size_factor, min_size, max_size, resample_to, fill_value, off_image,
             out, progress):
    if off_image not in ("skip", "keep"):
        msg = f"off_image must be 'skip' or 'keep', got {off_image!r}"
        raise InputError(msg)
    coords, source_sizes = _parse_positions(positions)
    native_scale = img.pixel_scale.to(u.arcsec)
    resample_scale = as_angle(resample_to, name="resample_to")
    rule = as_size_rule(size_factor, min_size, max_size)
    if rule and resample_scale is not None:
        msg = ("size_factor (--size-factor) and resample_to (--resample-to) cannot both be given: size_factor sets "
               "each cutout's pixel scale")
        raise InputError(msg)
    check_size_choice(size, rule)
    npix = size_in_pixels(size, resample_scale if resample_scale is not None else native_scale)
    try:
        fill_value = float(fill_value)
    except (TypeError, ValueError):
        msg = f"fill_value must be a number, got {fill_value!r}"
        raise InputError(msg) from None

    n_input = len(coords)
    wcs = img.wcs.deepcopy()  # astropy WCS objects are not thread-safe: never share the caller's
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if n_input:
            x, y = wcs.world_to_pixel(coords)
            xy = np.column_stack([np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()])
        else:
            xy = np.zeros((0, 2))
    rows = np.arange(n_input)
    if off_image == "skip":
        rows = np.flatnonzero(on_image(img.data.shape, xy))
        if len(rows) < n_input:  # nothing is allocated, cut or kept for the rest
            coords, xy = coords[rows], xy[rows]
            if source_sizes is not None:
                source_sizes = source_sizes[rows]
            log.info("%d of %d positions lie off %s: no cutout for them", n_input - len(rows), n_input, img.label)
    n = len(rows)
    if out is None:
        out = np.empty((n, npix, npix), dtype=np.float32)
    else:
        if not isinstance(out, np.ndarray) or out.dtype != np.float32 or out.shape != (n, npix, npix):
            got = f"{type(out).__name__} {getattr(out, 'dtype', '')} {getattr(out, 'shape', '')}"
            msg = f"out must be a float32 numpy array of shape ({n}, {npix}, {npix}), got {got}"
            raise InputError(msg)
        if not out.flags.writeable:
            msg = "out must be writeable"
            raise InputError(msg)

    finite = np.isfinite(xy).all(axis=1)
    meta_header = fits.Header([c for c in img.header.cards if c.keyword in _KEEP_KEYWORDS])
    common = dict(size=npix, parent_wcs=wcs, unit=img.unit, beam=img.beam, meta_header=meta_header,
                  parent=img.label, rows=rows, n_input=n_input)

    if not rule and resample_scale is None:
        origin, partial, outside, nan_fraction = _extract_direct(
            img.data, xy, finite, npix, out, fill_value, memmapped=img.memmapped, owned=owned,
            progress=progress)
        return CutoutStack(out, coords, xy, origin, partial=partial, outside=outside,
                           nan_fraction=nan_fraction, pixel_scale=native_scale, **common)

    # resampled cutouts: one pixel scale per source
    if rule:
        scales = _size_rule(rule, source_sizes, n, npix, native_scale) / npix
        pixel_scale = scales.to(u.arcsec)
    else:
        scales = np.full(n, resample_scale.to_value(u.deg)) * u.deg
        pixel_scale = resample_scale.to(u.arcsec)
    lon, lat = _parent_lonlat(wcs, xy, coords)
    target = {"lon": lon, "lat": lat, "scale": scales.to_value(u.deg), "ctype": _target_ctypes(wcs)}
    origin, partial, outside, nan_fraction = _extract_resampled(
        img.data, wcs, xy, finite, target, npix, out, fill_value, memmapped=img.memmapped, owned=owned,
        progress=progress)
    return CutoutStack(out, coords, xy, origin, partial=partial, outside=outside, nan_fraction=nan_fraction,
                       pixel_scale=pixel_scale, target=target, **common)


def _extract_direct(data, xy, finite, npix, out, fill_value, *, memmapped, owned, progress):
    """Copy native-pixel cutouts, in row order, straight into ``out``."""
    n = xy.shape[0]
    ny, nx = data.shape
    safe = np.where(finite[:, None], np.clip(xy, -1e15, 1e15), 0.0)
    # positions within 1e-6 pixel above a boundary (round-off of a world -> pixel round trip) count as on it
    origin = np.ceil(safe - npix / 2.0 - _EPS_PIX).astype(np.int64)
    x0, y0 = origin[:, 0], origin[:, 1]
    x1, y1 = x0 + npix, y0 + npix
    outside = ~finite | (x1 <= 0) | (y1 <= 0) | (x0 >= nx) | (y0 >= ny)
    interior = ~outside & (x0 >= 0) & (y0 >= 0) & (x1 <= nx) & (y1 <= ny)
    partial = ~outside & ~interior
    nan_count = np.zeros(n, dtype=np.int64)
    area = npix * npix

    if outside.any():
        out[outside] = fill_value
        nan_count[outside] = area

    todo = np.flatnonzero(~outside)
    order = todo[np.lexsort((x0[todo], y0[todo]))]
    band = (int(y0[order[0]]), int(y1[todo].max())) if len(order) else (0, 0)
    releaser = _PageReleaser(data, owned=owned and memmapped, band=band)
    bar = _progress_bar(len(order), "cutouts", progress)
    copyto, isnan, count_nonzero = np.copyto, np.isnan, np.count_nonzero
    try:
        for start in range(0, len(order), _CHUNK):
            chunk = order[start:start + _CHUNK]
            cx0, cy0, cint = x0[chunk].tolist(), y0[chunk].tolist(), interior[chunk].tolist()
            for i, a, b, inside in zip(chunk.tolist(), cy0, cx0, cint):
                dst = out[i]
                if inside:
                    copyto(dst, data[a:a + npix, b:b + npix], casting="unsafe")
                    s = dst.min()  # NaN propagates; cheaper than sum() or isnan().any()
                    if s != s:  # NaN somewhere (blank pixels of the mosaic)
                        nan_count[i] = count_nonzero(isnan(dst))
                else:
                    ya, yb = max(a, 0), min(a + npix, ny)
                    xa, xb = max(b, 0), min(b + npix, nx)
                    dst.fill(fill_value)
                    region = dst[ya - a:yb - a, xa - b:xb - b]
                    copyto(region, data[ya:yb, xa:xb], casting="unsafe")
                    nan_count[i] = area - region.size + count_nonzero(isnan(region))
            nxt = start + _CHUNK
            releaser.release_below(int(y0[order[nxt]]) if nxt < len(order) else ny)
            if bar is not None:
                bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
        releaser.release_below(ny, force=True)
        releaser.close()
    return origin, partial, outside, nan_count / float(area)


def _extract_resampled(data, wcs, xy, finite, target, npix, out, fill_value, *, memmapped, owned, progress):
    """Resample each cutout with reproject_interp from a small parent block onto its target WCS."""
    from reproject import reproject_interp

    n = xy.shape[0]
    ny, nx = data.shape
    origin = np.zeros((n, 2), dtype=np.int64)
    partial = np.zeros(n, dtype=bool)
    outside = ~finite.copy()
    nan_fraction = np.ones(n, dtype=float)
    area = float(npix * npix)
    out[outside] = fill_value

    # parent pixel positions of points on the border of each target grid, to bound the parent block
    edge = np.linspace(-0.5, npix - 0.5, 9)
    bx = np.concatenate([edge, edge, np.full(9, -0.5), np.full(9, npix - 0.5)])
    by = np.concatenate([np.full(9, -0.5), np.full(9, npix - 0.5), edge, edge])
    tw = _make_target_wcs(wcs, 0.0, 0.0, 1.0 / 3600, npix)
    block_wcs = wcs.deepcopy()
    crpix0 = block_wcs.wcs.crpix.copy()
    sip0 = block_wcs.sip
    lng_first = wcs.wcs.lng == 0

    # a generous bound on how far (parent pixels) each target grid reaches from its centre: its full
    # side (the half-diagonal is 0.71 of it) plus margin.  Sources farther than that from the image
    # are outside without any per-source work; rows below the lowest reach of the sources still to
    # do can be released.
    reach = npix * target["scale"] / max(float(np.min(_pixel_scales_deg(wcs))), 1e-300) + 4
    with np.errstate(invalid="ignore"):
        far = finite & ((xy[:, 0] < -reach) | (xy[:, 0] > nx - 1 + reach)
                        | (xy[:, 1] < -reach) | (xy[:, 1] > ny - 1 + reach))
    outside |= far
    out[far] = fill_value
    todo = np.flatnonzero(finite & ~far)
    order = todo[np.argsort(xy[todo, 1], kind="stable")]
    low = np.floor(xy[order, 1] - reach[order])
    low = np.minimum.accumulate(low[::-1])[::-1] if len(low) else low
    releaser = _PageReleaser(data, owned=owned and memmapped, band=(int(max(low[0], 0)) if len(low) else ny, ny))
    bar = _progress_bar(len(order), "resampling cutouts", progress)
    try:
        for k, i in enumerate(order.tolist()):
            tw.wcs.crval = [target["lon"][i], target["lat"][i]]
            scale = target["scale"][i]
            tw.wcs.cdelt = [-scale, scale]
            tw.wcs.set()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                lon, lat = tw.pixel_to_world_values(bx, by)
                px, py = (wcs.world_to_pixel_values(lon, lat) if lng_first
                          else wcs.world_to_pixel_values(lat, lon))
            good = np.isfinite(px) & np.isfinite(py)
            if not good.any():
                outside[i] = True
                out[i] = fill_value
                continue
            bx0 = int(np.floor(px[good].min())) - 2
            by0 = int(np.floor(py[good].min())) - 2
            bx1 = int(np.ceil(px[good].max())) + 3
            by1 = int(np.ceil(py[good].max())) + 3
            origin[i] = (bx0, by0)
            xa, xb, ya, yb = max(bx0, 0), min(bx1, nx), max(by0, 0), min(by1, ny)
            if xa >= xb or ya >= yb:
                outside[i] = True
                out[i] = fill_value
                continue
            partial[i] = (xa, xb, ya, yb) != (bx0, bx1, by0, by1) or not good.all()
            block = np.asarray(data[ya:yb, xa:xb], dtype=np.float32)
            shift = np.array([xa, ya], dtype=float)
            block_wcs.wcs.crpix = crpix0 - shift
            if sip0 is not None:
                block_wcs.sip = Sip(sip0.a, sip0.b, sip0.ap, sip0.bp, sip0.crpix - shift)
            block_wcs.wcs.set()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values, footprint = reproject_interp((block, block_wcs), tw, shape_out=(npix, npix),
                                                     order="bilinear", roundtrip_coords=False)
            dst = out[i]
            dst[...] = values
            nan_fraction[i] = np.count_nonzero(np.isnan(dst)) / area
            if partial[i] and not math.isnan(fill_value):
                dst[footprint == 0] = fill_value
            if k % _CHUNK == _CHUNK - 1 and k + 1 < len(order):
                releaser.release_below(int(max(low[k + 1], 0)))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
        releaser.release_below(ny, force=True)
        releaser.close()
    return origin, partial, outside, nan_fraction


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------

def _readonly(array):
    array.flags.writeable = False
    return array


def _progress_bar(total, desc, enabled):
    if not enabled or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, desc=desc, unit="src", leave=False)


class _PageReleaser:
    """Give the pages of finished rows of a memory-mapped 2-D array back to the OS.

    ``band`` (first row, end row) limits the release to the rows a caller
    reads (each batch of `radioassist.classify` reads one band of the mosaic).

    ``MADV_DONTNEED`` unmaps the pages from this process (the file stays in
    the page cache, so nothing is read again from disk).  On a private
    (copy-on-write) mapping it would also discard changes made in memory, so
    unless radioassist opened the file itself (``owned``), every range is
    first checked in ``/proc/self/pagemap``: a range holding a modified
    (anonymous) page is left alone.  Where that check is impossible, pages of
    mappings we do not own are never released.
    """

    def __init__(self, data, *, owned, band=None):
        self._mm = None
        # the rows this caller reads: nothing outside them is released (or checked in the pagemap)
        self._done, self._end = (0, None) if band is None else (max(0, int(band[0])), int(band[1]))
        self._owned = owned
        self._pagemap = None
        if not hasattr(mmap.mmap, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
            return
        base = data
        mm = None
        while base is not None:
            if isinstance(base, mmap.mmap):
                mm = base
                break
            base = getattr(base, "base", None)
        if mm is None or data.ndim != 2 or data.strides[0] <= 0:
            return
        try:
            probe = np.frombuffer(mm, dtype=np.uint8, count=1)
            self._start = probe.__array_interface__["data"][0]
            del probe
        except (ValueError, TypeError, BufferError):
            return
        if not owned:
            try:
                # closed in close()
                self._pagemap = open("/proc/self/pagemap", "rb", buffering=0)  # noqa: SIM115
            except OSError:
                return
        self._mm = mm
        self._length = len(mm)
        self._first = data.__array_interface__["data"][0] - self._start
        self._row_bytes = data.strides[0]
        self._rows = data.shape[0] if self._end is None else min(max(self._end, 0), data.shape[0])
        self._min_rows = max(1, _RELEASE_BYTES // max(1, self._row_bytes))

    def _unmodified(self, lo, hi):
        """Whether no page of bytes [lo, hi) of the map is a private (copy-on-write) copy."""
        page = mmap.PAGESIZE
        first = (self._start + lo) // page
        count = (hi - lo) // page
        raw = os.pread(self._pagemap.fileno(), 8 * count, 8 * first)
        if len(raw) != 8 * count:
            return False
        entries = np.frombuffer(raw, dtype="<u8")
        present = (entries >> np.uint64(63)) & np.uint64(1)
        file_page = (entries >> np.uint64(61)) & np.uint64(1)
        return not np.any((present == 1) & (file_page == 0))

    def release_below(self, row, *, force=False):
        """Release the pages holding rows ``< row`` (at least ``_RELEASE_BYTES`` at a time)."""
        if self._mm is None:
            return
        row = min(max(row, 0), self._rows)
        if row - self._done < (1 if force else self._min_rows):
            return
        page = mmap.PAGESIZE
        lo = self._first + self._done * self._row_bytes
        hi = self._first + row * self._row_bytes
        lo = -(-lo // page) * page
        hi = min(hi // page * page, self._length)
        if hi > lo:
            try:
                if self._owned or self._unmodified(lo, hi):
                    self._mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
            except (OSError, ValueError) as exc:  # closed map or unsupported: stop trying
                log.debug("cannot release mosaic pages: %s", exc)
                self.close()
                return
        self._done = row

    def close(self):
        self._mm = None
        if self._pagemap is not None:
            self._pagemap.close()
            self._pagemap = None


def _parse_positions(positions):
    """-> (1-D SkyCoord, Quantity sizes or None)."""
    sizes = None
    if isinstance(positions, SkyCoord):
        coords = positions.reshape(-1) if not positions.isscalar else positions.reshape((1,))
    elif isinstance(positions, Table):
        names = {name.lower(): name for name in positions.colnames}
        if "skycoord" in names and isinstance(positions[names["skycoord"]], SkyCoord):
            coords = positions[names["skycoord"]]
        elif "ra" in names and "dec" in names:
            ra, dec = positions[names["ra"]], positions[names["dec"]]
            ra = ra if isinstance(ra, u.Quantity) else u.Quantity(np.asarray(ra, dtype=float),
                                                                  getattr(ra, "unit", None) or u.deg)
            dec = dec if isinstance(dec, u.Quantity) else u.Quantity(np.asarray(dec, dtype=float),
                                                                     getattr(dec, "unit", None) or u.deg)
            try:
                coords = SkyCoord(ra, dec, frame="icrs")
            except (u.UnitsError, ValueError) as exc:
                msg = f"cannot make positions from the table's ra/dec columns: {exc}"
                raise InputError(msg) from None
        else:
            msg = (f"the positions table has no SkyCoord column 'skycoord' nor 'ra'/'dec' columns "
                   f"(columns: {', '.join(positions.colnames[:12])}); read catalogues with "
                   "radioassist.catalog.read_catalog")
            raise InputError(msg)
        if "source_size" in names:
            col = positions[names["source_size"]]
            mask = np.ma.getmaskarray(col) if hasattr(col, "mask") else None
            unit = getattr(col, "unit", None)
            if unit is None or u.Unit(unit).physical_type != "angle":
                msg = f"the source_size column must be an angle (arcsec...), got unit {unit}"
                raise InputError(msg)
            values = np.array(np.ma.getdata(getattr(col, "value", col)), dtype=float)
            if mask is not None:
                values[mask] = np.nan
            sizes = values * u.Unit(unit)
    else:
        msg = (f"positions must be a SkyCoord or a Table with a 'skycoord' column, got "
               f"{type(positions).__name__}")
        raise InputError(msg)
    return coords, sizes


def _size_rule(rule, source_sizes, n, npix, native_scale):
    """Angular extent of each cutout: clip(size_factor * source_size, min_size, max_size).

    ``rule`` is from `~radioassist._parameters.as_size_rule`; limits in pixels are native pixels.
    """
    factor = rule["size_factor"]
    lo, hi = (rule.get(key) for key in ("min_size", "max_size"))
    lo, hi = ((None if v is None else (v * native_scale if not isinstance(v, u.Quantity) else v).to(u.arcsec))
              for v in (lo, hi))
    if lo is None:
        lo = (npix * native_scale).to(u.arcsec)
    if hi is not None and hi < lo:
        msg = f"max_size (--max-size, {hi}) is smaller than min_size (--min-size, {lo})"
        raise InputError(msg)
    if source_sizes is None:
        warnings.warn("size_factor was given but the positions carry no source sizes (no 'source_size' "
                      f"column): every cutout uses min_size = {lo:.4g}", RadioassistWarning)
        extent = np.full(n, lo.value)
    else:
        extent = factor * source_sizes.to_value(u.arcsec)
        missing = ~np.isfinite(extent) | (extent <= 0)
        extent = np.where(missing, lo.value, extent)
        extent = np.maximum(extent, lo.value)
        if hi is not None:
            extent = np.minimum(extent, hi.value)
    return extent * u.arcsec


def _pixel_scales_deg(wcs):
    from astropy.wcs.utils import proj_plane_pixel_scales
    return proj_plane_pixel_scales(wcs)


def _target_ctypes(wcs):
    lng = (wcs.wcs.lngtyp or "RA").strip()
    lat = (wcs.wcs.lattyp or "DEC").strip()
    return (f"{lng:-<4}-TAN", f"{lat:-<4}-TAN")


def _make_target_wcs(parent, lon, lat, scale_deg, npix):
    """A TAN WCS centred on (lon, lat) (parent frame, deg), north up, ``npix`` square."""
    w = WCS(naxis=2)
    w.wcs.ctype = list(_target_ctypes(parent))
    w.wcs.cunit = ["deg", "deg"]
    w.wcs.crval = [float(lon), float(lat)]
    w.wcs.crpix = [(npix + 1) / 2.0, (npix + 1) / 2.0]
    w.wcs.cdelt = [-float(scale_deg), float(scale_deg)]
    if parent.wcs.radesys:
        w.wcs.radesys = parent.wcs.radesys
    if np.isfinite(parent.wcs.equinox):
        w.wcs.equinox = parent.wcs.equinox
    w.wcs.set()
    return w


def _parent_lonlat(wcs, xy, coords):
    """Longitude/latitude (deg) of the sources in the parent's celestial frame."""
    from astropy.wcs.utils import wcs_to_celestial_frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            c = coords.transform_to(wcs_to_celestial_frame(wcs))
            sph = c.represent_as("unitspherical")
            return sph.lon.deg.copy(), sph.lat.deg.copy()
        except Exception:  # unusual frames: go through the pixel position
            world = wcs.pixel_to_world_values(xy[:, 0], xy[:, 1])
            if wcs.wcs.lng == 0:
                return np.asarray(world[0], float), np.asarray(world[1], float)
            return np.asarray(world[1], float), np.asarray(world[0], float)
