"""The mosaics (tiles) of a run: which tile each catalogue source is classified in, and opening them.

Survey catalogues span many mosaics (tiles) that overlap; a source near the
edge of one tile, or next to its blank (NaN) area, usually lies well inside
another.  :func:`assign_tiles` gives every catalogue row exactly one tile:
the one where the source lies farthest from the image edge and from blank
pixels.  Rows that no tile covers get tile ``-1``.

Distances are computed cheaply: :func:`tile_footprint` reads a regular
sample of each tile (a few pixels per cell of a coarse grid, never the whole
mosaic), marks the cells that hold only finite data, and a Euclidean
distance transform of that coarse coverage map gives the distance from each
cell to the nearest blank cell.  The distance to the image edge is exact.
The footprint also tells whether a tile holds any data at all (an all-NaN
mosaic is an error).
"""
import math
import os
import warnings
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord

from .exceptions import ImageError, InputError
from .flags import FLAG_NO_TILE
from .image import RadioImage, load_image
from .logger import log

__all__ = ["TileFootprint", "tile_footprint", "assign_tiles", "NO_TILE"]

#: Tile index of rows that lie in no tile.
NO_TILE = -1

# most coarse cells along the longer image axis
_MAX_CELLS = 512
# sampled rows/columns per coarse cell along each axis (at 1/4 and 3/4 of the cell)
_SAMPLES_PER_CELL = 2
# sampled rows read from a memory map at a time (bounded temporary memory)
_ROW_BLOCK = 64


class TileFootprint:
    """Where one tile (mosaic) of a survey has data.

    Made by :func:`tile_footprint`; read-only afterwards.

    Attributes
    ----------
    label : str
        Short name of the tile (its file name).
    shape : tuple of int
        ``(ny, nx)`` of the 2-D image.
    wcs : `~astropy.wcs.WCS`
        Its celestial WCS.
    factor : int
        Side of a coarse cell in image pixels.
    coverage : `numpy.ndarray`
        ``(my, mx)`` bool, cells whose sampled pixels are all finite.
    blank_distance : `numpy.ndarray` or None
        ``(my, mx)`` float32 distance (image pixels) from each cell to the
        nearest blank cell, 0 on blank cells; None when the tile has no blank cell.
    n_samples : int
        Number of pixels read to build the map.
    """

    def __init__(self, *, label, shape, wcs, factor, coverage, blank_distance, n_samples):
        self.label = label
        self.shape = tuple(int(n) for n in shape)
        self.wcs = wcs
        self.factor = int(factor)
        self.coverage = coverage
        self.blank_distance = blank_distance
        self.n_samples = int(n_samples)
        self._centre, self._radius = _sky_disc(wcs, self.shape)

    @property
    def covered_fraction(self):
        """Fraction of the coarse cells that hold data."""
        return float(self.coverage.mean()) if self.coverage.size else 0.0

    def __repr__(self):
        return (f"<TileFootprint {self.label}: {self.shape[1]}x{self.shape[0]} px, "
                f"{self.covered_fraction:.0%} covered ({self.factor} px cells)>")

    def distance(self, xy):
        """Distance (pixels) of pixel positions from the nearest edge or blank area; <= 0 outside.

        Parameters
        ----------
        xy : `numpy.ndarray`
            ``(N, 2)`` 0-based pixel positions ``(x, y)``; NaN allowed.

        Returns
        -------
        `numpy.ndarray`
            ``(N,)`` float; ``-inf`` for non-finite positions.
        """
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
        ny, nx = self.shape
        with np.errstate(invalid="ignore"):
            edge = np.minimum(np.minimum(x + 0.5, nx - 0.5 - x), np.minimum(y + 0.5, ny - 0.5 - y))
        edge = np.where(np.isfinite(edge), edge, -np.inf)
        inside = edge > 0
        if self.blank_distance is None or not inside.any():
            return edge
        my, mx = self.coverage.shape
        ci = np.zeros(len(x), dtype=np.intp)
        cj = np.zeros(len(x), dtype=np.intp)
        ci[inside] = np.clip(np.floor((y[inside] + 0.5) / self.factor).astype(np.intp), 0, my - 1)
        cj[inside] = np.clip(np.floor((x[inside] + 0.5) / self.factor).astype(np.intp), 0, mx - 1)
        blank = self.blank_distance[ci, cj].astype(float)
        return np.where(inside, np.minimum(edge, blank), edge)

    def may_contain(self, unit_vectors):
        """Cheap pre-selection: bool mask of the (ICRS unit-vector) positions near the tile."""
        if self._centre is None:
            return np.ones(len(unit_vectors), dtype=bool)
        cos = unit_vectors @ self._centre
        return cos >= math.cos(min(self._radius, math.pi))


def tile_footprint(image, *, hdu=None, plane=None, max_cells=_MAX_CELLS):
    """Sample a tile's coverage (finite pixels) on a coarse grid.

    Reads ``2 x 2`` pixels per cell of a grid of at most ``max_cells`` cells
    along the longer axis (about ``4 / factor**2`` of the image, in blocks of
    rows), never the whole mosaic.

    Parameters
    ----------
    image : path, HDU, NDData, (array, WCS) or `~radioassist.RadioImage`
        The tile (anything :func:`~radioassist.load_image` accepts).
    hdu, plane : optional
        As for :func:`~radioassist.load_image`, when ``image`` is a path.
    max_cells : int, optional
        Most coarse cells along the longer axis (default 512).

    Returns
    -------
    `TileFootprint`

    Raises
    ------
    radioassist.ImageError
        If the image cannot be read, or every sampled pixel is NaN (a blank mosaic).

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.wcs import WCS
    >>> from radioassist.tiles import tile_footprint
    >>> w = WCS(naxis=2)
    >>> w.wcs.ctype = ['RA---SIN', 'DEC--SIN']
    >>> w.wcs.cdelt = [-1 / 3600, 1 / 3600]
    >>> data = np.ones((100, 200), dtype=np.float32)
    >>> data[:, 150:] = np.nan
    >>> fp = tile_footprint((data, w), max_cells=20)
    >>> fp.factor, fp.coverage.shape
    (10, (10, 20))
    >>> fp.distance(np.array([[10.0, 50.0], [120.0, 50.0], [160.0, 50.0]])).round(1).tolist()
    [10.5, 25.0, 0.0]
    """
    if isinstance(max_cells, bool) or not isinstance(max_cells, (int, np.integer)) or max_cells < 1:
        msg = f"max_cells must be a positive integer, got {max_cells!r}"
        raise InputError(msg)
    img = load_image(image, hdu=hdu, plane=plane)
    try:
        return _footprint(img, int(max_cells))
    finally:
        if img is not image:
            img.close()  # only closes a file that load_image opened itself


def _footprint(img, max_cells):
    data = img.data
    ny, nx = data.shape
    factor = max(1, int(math.ceil(max(ny, nx) / max_cells)))
    my, mx = -(-ny // factor), -(-nx // factor)
    k = _SAMPLES_PER_CELL if factor >= 2 else 1
    offsets = [int(factor * (2 * s + 1) / (2 * k)) for s in range(k)]  # 1/4, 3/4 of a cell
    rows = np.minimum((np.arange(my)[:, None] * factor + offsets).ravel(), ny - 1)
    cols = np.minimum((np.arange(mx)[:, None] * factor + offsets).ravel(), nx - 1)
    finite = np.empty((len(rows), len(cols)), dtype=bool)
    for start in range(0, len(rows), _ROW_BLOCK):
        block = rows[start:start + _ROW_BLOCK]
        try:
            values = np.asarray(data[np.ix_(block, cols)])
        except Exception as exc:  # a truncated memmap raises deep inside numpy
            msg = f"cannot read the pixels of {img.label} (truncated or corrupted file?): {exc}"
            raise ImageError(msg) from exc
        finite[start:start + len(block)] = np.isfinite(values)
    coverage = finite.reshape(my, k, mx, k).all(axis=(1, 3))
    n_samples = finite.size
    if not coverage.any() and not finite.any():
        msg = (f"{img.label} holds no data: all {n_samples} pixels sampled on a {len(rows)}x{len(cols)} grid "
               "across the image are NaN (blank). Check that this is the right file and HDU (--hdu/hdu=) or drop it")
        raise ImageError(msg)
    if coverage.all():
        blank_distance = None
    else:
        from scipy.ndimage import distance_transform_edt
        cells = distance_transform_edt(coverage)
        blank_distance = np.maximum((cells - 0.5) * factor, 0).astype(np.float32)
        blank_distance[~coverage] = 0
    log.debug("%s: coverage map %dx%d of %d px cells from %d samples, %.1f%% covered", img.label, my, mx,
              factor, n_samples, 100 * coverage.mean())
    return TileFootprint(label=img.label, shape=(ny, nx), wcs=img.wcs.deepcopy(), factor=factor,
                         coverage=coverage, blank_distance=blank_distance, n_samples=n_samples)


def _unit_vectors(coords):
    """``(N, 3)`` ICRS unit vectors of a SkyCoord (NaN for invalid positions)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        icrs = coords.icrs
        lon = np.asarray(icrs.ra.rad, dtype=float).ravel()
        lat = np.asarray(icrs.dec.rad, dtype=float).ravel()
    cos_lat = np.cos(lat)
    return np.column_stack([cos_lat * np.cos(lon), cos_lat * np.sin(lon), np.sin(lat)])


def _sky_disc(wcs, shape):
    """Centre (ICRS unit vector) and angular radius (rad) of a disc holding the tile, or (None, None)."""
    ny, nx = shape
    n = 17
    xs = np.concatenate([np.linspace(-0.5, nx - 0.5, n), np.full(n, nx - 0.5), np.linspace(-0.5, nx - 0.5, n),
                         np.full(n, -0.5), [(nx - 1) / 2]])
    ys = np.concatenate([np.full(n, -0.5), np.linspace(-0.5, ny - 0.5, n), np.full(n, ny - 0.5),
                         np.linspace(-0.5, ny - 0.5, n), [(ny - 1) / 2]])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vectors = _unit_vectors(wcs.pixel_to_world(xs, ys))
    except Exception:  # exotic WCS: no pre-selection
        return None, None
    ok = np.isfinite(vectors).all(axis=1)
    if ok.sum() < 4 or not ok[-1]:
        return None, None
    centre = vectors[-1]
    cos = np.clip(vectors[ok] @ centre, -1, 1)
    # the boundary samples are 1/16 of a side apart: pad by the largest step between them
    steps = np.diff(vectors[:-1], axis=0)
    steps = steps[np.isfinite(steps).all(axis=1)]
    pad = float(np.sqrt((steps ** 2).sum(axis=1)).max()) if len(steps) else 0.0
    return centre, float(np.arccos(cos.min())) + pad + 1e-6


def assign_tiles(positions, footprints, *, valid=None):
    """Give every position exactly one tile: the one where it lies farthest from an edge or blank area.

    Parameters
    ----------
    positions : `~astropy.coordinates.SkyCoord`
        ``N`` catalogue positions (any frame).
    footprints : sequence of `TileFootprint`
        The tiles, as made by :func:`tile_footprint`.
    valid : array-like of bool, optional
        Rows to consider (e.g. ``position_ok`` of :func:`~radioassist.read_catalog`); the
        others get no tile.

    Returns
    -------
    tile : `numpy.ndarray`
        ``(N,)`` int index into ``footprints``, `NO_TILE` (-1) for rows in no tile.
    distance : `numpy.ndarray`
        ``(N,)`` float distance in pixels of the chosen tile from its nearest edge or
        blank area (0 inside a blank area; ``-inf`` for rows in no tile).

    Notes
    -----
    A source lies in a tile when its pixel position is inside the image
    (within half a pixel of the outermost pixel centres).  Among the tiles
    that hold it, the largest distance wins; ties go to the first tile in
    the list, so the assignment is deterministic.  Blank areas are known to
    a coarse cell (``TileFootprint.factor`` pixels); edges exactly.

    Examples
    --------
    >>> import numpy as np
    >>> from astropy.wcs import WCS
    >>> from radioassist.tiles import assign_tiles, tile_footprint
    >>> def tile(ra):
    ...     w = WCS(naxis=2)
    ...     w.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    ...     w.wcs.crval = [ra, 0.0]
    ...     w.wcs.crpix = [50.5, 50.5]
    ...     w.wcs.cdelt = [-10 / 3600, 10 / 3600]
    ...     return tile_footprint((np.ones((100, 100)), w))
    >>> tiles = [tile(10.0), tile(10.2)]
    >>> from astropy.coordinates import SkyCoord
    >>> where, _ = assign_tiles(SkyCoord([9.95, 10.12, 10.25, 12.0], [0, 0, 0, 0], unit='deg'), tiles)
    >>> where.tolist()
    [0, 1, 1, -1]
    """
    if not isinstance(positions, SkyCoord):
        msg = f"positions must be a SkyCoord, got {type(positions).__name__}"
        raise InputError(msg)
    coords = positions.reshape(-1) if not positions.isscalar else positions.reshape((1,))
    n = len(coords)
    best = np.full(n, NO_TILE, dtype=np.int64)
    best_dist = np.full(n, -np.inf)
    if n == 0 or not footprints:
        return best, best_dist
    vectors = _unit_vectors(coords)
    ok = np.isfinite(vectors).all(axis=1)
    if valid is not None:
        ok &= np.asarray(valid, dtype=bool).reshape(-1)
    for index, fp in enumerate(footprints):
        near = np.flatnonzero(ok & fp.may_contain(np.where(ok[:, None], vectors, 0.0)))
        if len(near) == 0:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x, y = fp.wcs.world_to_pixel(coords[near])
        xy = np.column_stack([np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()])
        dist = fp.distance(xy)
        inside = dist > -np.inf
        ny, nx = fp.shape
        inside &= (xy[:, 0] > -0.5) & (xy[:, 0] < nx - 0.5) & (xy[:, 1] > -0.5) & (xy[:, 1] < ny - 0.5)
        better = inside & (dist > best_dist[near])
        rows = near[better]
        best[rows] = index
        best_dist[rows] = dist[better]
    return best, best_dist


# ----------------------------------------------------------------------------------------------------------
# the mosaics of a run (used by radioassist.pipeline.classify)
# ----------------------------------------------------------------------------------------------------------

class TileRef:
    """What a worker needs to open a tile: a path (+ hdu/plane), or the image itself (in-memory tiles).

    Small and picklable: sent to dask workers in place of an open image.
    """

    def __init__(self, *, path=None, hdu=None, plane=None, image=None):
        self.path = path
        self.hdu = hdu
        self.plane = plane
        self.image = image

    @property
    def in_memory(self):
        """True for an image given in memory (scattered to workers), False for a file each worker opens."""
        return self.path is None

    def open(self):
        """The image, memory-mapped from its file or the in-memory one."""
        if self.path is not None:
            return load_image(self.path, hdu=self.hdu, plane=self.plane)
        return self.image

    def close(self, img):
        """Close an image returned by :meth:`open` (files only)."""
        if self.path is not None:
            img.close()


class Tile:
    """One mosaic of a run, opened (memory-mapped) only while it is needed.

    Parameters
    ----------
    source : str, path or anything :func:`~radioassist.load_image` accepts
        The mosaic.
    hdu, plane : optional
        As for :func:`~radioassist.load_image` (paths only).
    keep_open : bool
        Keep a mosaic given as a path open for the whole run (a single mosaic);
        otherwise it is opened for its partitions only (a survey of many).
    """

    def __init__(self, source, *, hdu, plane, keep_open):
        self.path = None
        self.hdu = hdu
        self.plane = plane
        self.image = None
        self.pixel_scale = None
        if isinstance(source, (str, os.PathLike)):
            self.path = str(Path(source).expanduser().resolve())
            img = load_image(self.path, hdu=hdu, plane=plane)  # header, WCS and shape are checked here
            if keep_open:
                self.image = img
        else:
            img = load_image(source, hdu=hdu, plane=plane)
            self.image = img
        self.label = img.label
        self.beam = img.beam
        self.frequency = img.frequency
        self._first = img

    def footprint(self):
        """The tile's `TileFootprint` (made once, from the image opened at construction)."""
        img = self._first
        try:
            fp = tile_footprint(img)
        finally:
            if img is not self.image:
                img.close()
            self._first = None
        self.pixel_scale = footprint_pixel_scale(fp)
        return fp

    def open(self):
        """The image, for the partitions of this tile."""
        return self.image if self.image is not None else load_image(self.path, hdu=self.hdu, plane=self.plane)

    def close(self, img):
        """Close an image returned by :meth:`open` unless it is kept open."""
        if img is not self.image:
            img.close()

    def reference(self):
        """A picklable `TileRef` for dask workers."""
        if self.path is not None:
            return TileRef(path=self.path, hdu=self.hdu, plane=self.plane)
        img = self.image
        plain = RadioImage(np.asarray(img.data), img.wcs, img.header, beam=img.beam, unit=img.unit,
                           frequency=img.frequency, filename=img.filename)
        return TileRef(image=plain)

    def release(self):
        """Drop our reference to a path-based image (the caller's in-memory images are theirs)."""
        if self.path is not None and self.image is not None:
            self.image = None


def tile_labels(tiles):
    """Unique names of the tiles: file names, else paths, else names with the tile's index."""
    for labels in ([tile.label for tile in tiles], [tile.path or tile.label for tile in tiles]):
        if len(set(labels)) == len(labels):
            return labels
    return [f"{tile.label}[{i}]" for i, tile in enumerate(tiles)]


def tile_identity(tile, fp):
    """What identifies a tile in a checkpoint: name, shape and WCS reference values."""
    wcs = fp.wcs.wcs
    return {"name": tile.label, "shape": list(fp.shape), "crval": [round(float(v), 9) for v in wcs.crval],
            "crpix": [round(float(v), 6) for v in wcs.crpix], "ctype": list(wcs.ctype)}


def footprint_pixel_scale(fp):
    """Mean pixel scale of a footprint's WCS, in arcsec."""
    from astropy.wcs.utils import proj_plane_pixel_scales
    return (float(np.mean(proj_plane_pixel_scales(fp.wcs))) * u.deg).to(u.arcsec)


def rows_to_tiles(positions, position_ok, tiles, footprints, *, survey, size, flags, source_label):
    """Tile index of every catalogue row (-1: none), flagging rows in no tile ``no_tile`` in ``flags``.

    Raises `~radioassist.InputError` when no row has a valid position, or
    none lies in any mosaic (the catalogue and mosaics do not cover the same field).
    """
    n = len(position_ok)
    if not position_ok.any():
        msg = f"no row of the catalogue {source_label} has a valid position"
        raise InputError(msg)
    if survey:
        tile_of, _ = assign_tiles(positions, footprints, valid=position_ok)
        flags[position_ok & (tile_of < 0)] = FLAG_NO_TILE
        n_in = int(np.sum(tile_of >= 0))
        if n_in == 0:
            msg = (f"none of the {int(position_ok.sum())} catalogue sources lies in any of the {len(tiles)} "
                   "mosaics: check that the catalogue and the mosaics cover the same field (and the catalogue's "
                   "RA/Dec columns: --ra-col/--dec-col)")
            raise InputError(msg)
        log.info("%d of %d sources assigned to %d tiles; %d in no tile", n_in, n, len(tiles),
                 int(np.sum(position_ok & (tile_of < 0))))
        return tile_of
    # one mosaic: every valid row is cut from it (rows off the image are flagged 'outside' by the cutter);
    # still, a catalogue entirely off the image is a mistake worth an error
    fp = footprints[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x, y = fp.wcs.world_to_pixel(positions[position_ok])
    half = (size / 2) if isinstance(size, (int, np.integer)) else 0.5
    ny, nx = fp.shape
    with np.errstate(invalid="ignore"):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        near = (x > -half) & (x < nx - 1 + half) & (y > -half) & (y < ny - 1 + half)
    if not near.any():
        msg = (f"none of the {int(position_ok.sum())} catalogue sources lies in the mosaic {tiles[0].label}: "
               "check that the catalogue and the mosaic cover the same field (and the catalogue's RA/Dec columns: "
               "--ra-col/--dec-col)")
        raise InputError(msg)
    return np.where(position_ok, 0, -1)
