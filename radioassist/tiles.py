"""Which mosaic tile of a survey each catalogue source is classified in.

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
import warnings

import numpy as np
from astropy.coordinates import SkyCoord

from .exceptions import ImageError, InputError
from .image import load_image
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
