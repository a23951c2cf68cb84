"""Background and RMS maps, and islands above a threshold, with numpy, scipy.ndimage and astropy.stats.

These are photutils' ``Background2D`` (with ``MedianBackground``,
``MADStdBackgroundRMS`` and its default zoom interpolator) and
``detect_sources``, step for step, so that :func:`radioassist.structure.find_structure`
gives the same islands without importing photutils.  photutils' own import
(about 1 s: its ``utils`` package loads ``scipy.signal``, ``scipy.stats``
and its segmentation catalogue, and reads the metadata of every installed
distribution) was three quarters of a cold catalogue-free
``radioassist classify`` of one FIRST cutout (issue #25).  ``tests/test_noise.py``
compares both functions with photutils on real images: the same island map,
background and RMS within float32 rounding.

Background2D, as photutils computes it:

1. the image is cut into boxes of ``box_size`` pixels (partial boxes at the
   top and right edges are boxes of their own); masked and non-finite pixels
   are left out;
2. each box is sigma clipped (astropy ``SigmaClip``, 3 sigma, 10 iterations);
   the background of a box is the median of what is left, its RMS the
   MAD-based standard deviation; a box with no more than ``1 -
   exclude_percentile / 100`` of its pixels left (after clipping) is
   excluded;
3. excluded boxes are filled by inverse-distance weighting of the 10 nearest
   good boxes (power 1);
4. both low-resolution maps are median filtered (``filter_size`` boxes);
5. and resized to the image with a cubic spline (``scipy.ndimage.zoom``,
   samples at box centres, reflected edges), clipped to the range of the
   low-resolution map; masked pixels (coverage) become 0.
"""
import warnings

import numpy as np

__all__ = ["background_and_rms", "detect_islands", "Islands"]


def background_and_rms(data, box_size, *, coverage_mask=None, filter_size=(3, 3), sigma=3.0, maxiters=10,
                       exclude_percentile=10.0):
    """Background and RMS maps of an image (photutils ``Background2D`` with a median and a MAD-std RMS).

    Parameters
    ----------
    data : 2-D array
        The image (non-finite pixels are left out).
    box_size : int or (int, int)
        Box size in pixels (y, x when two).
    coverage_mask : 2-D bool array, optional
        Pixels outside the coverage: left out, and 0 in both maps.
    filter_size : (int, int), optional
        Median filter of the low-resolution maps, in boxes (odd; default 3 x 3).
    sigma, maxiters : float, int, optional
        Sigma clipping of each box (default 3 sigma, 10 iterations).
    exclude_percentile : float, optional
        A box is excluded when more than this percentage of its pixels is
        masked or clipped (default 10).

    Returns
    -------
    background, rms : 2-D arrays
        Same shape as ``data`` (float32 for integer or float32 input).

    Raises
    ------
    ValueError
        When every pixel is masked, or every box is excluded (the message says which).
    """
    from astropy.stats import SigmaClip

    data = np.asarray(data)
    if data.dtype.kind != "f":
        data = data.astype(np.float32)
    ny, nx = data.shape
    by, bx = (int(box_size), int(box_size)) if np.ndim(box_size) == 0 else (int(box_size[0]), int(box_size[1]))
    if not (0 < by <= ny and 0 < bx <= nx):
        msg = f"box_size {(by, bx)} must be positive and no larger than the image ({ny} x {nx})"
        raise ValueError(msg)
    mask = ~np.isfinite(data)
    if coverage_mask is not None:
        mask = mask | np.asarray(coverage_mask, dtype=bool)
    if mask.all():
        msg = "All input pixels are masked. Cannot compute a background."
        raise ValueError(msg)

    # boxes as rows of a (mesh_y, mesh_x, by * bx) array, masked pixels and the padding of partial edge boxes NaN
    my, mx = -(-ny // by), -(-nx // bx)
    boxes = np.full((my * by, mx * bx), np.nan, dtype=data.dtype)
    boxes[:ny, :nx] = np.where(mask, np.nan, data)
    boxes = boxes.reshape(my, by, mx, bx).transpose(0, 2, 1, 3).reshape(my, mx, by * bx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN boxes
        clipped = SigmaClip(sigma=sigma, maxiters=maxiters)(boxes, axis=-1, masked=False, copy=False)
    bkg = _row_nanmedian(clipped)
    rms = _row_nanmedian(np.abs(clipped - bkg[..., None])) * _MAD_TO_STD  # astropy mad_std(ignore_nan=True)
    n_good = np.count_nonzero(~np.isnan(clipped), axis=-1)
    excluded = n_good <= (1 - exclude_percentile / 100.0) * (by * bx)
    if excluded.all():
        msg = (f"All boxes contain <= {(1 - exclude_percentile / 100.0) * by * bx} unmasked or finite pixels "
               f"(box_size={(by, bx)}, exclude_percentile={exclude_percentile})")
        raise ValueError(msg)
    bkg = np.asarray(bkg)
    rms = np.asarray(rms)
    bkg[excluded] = np.nan
    rms[excluded] = np.nan
    maps = []
    for mesh in (bkg, rms):
        mesh = _filter_mesh(_fill_mesh(mesh), filter_size)
        full = _zoom_mesh(mesh, (by, bx), (ny, nx), np.float32 if data.dtype.kind != "f" else data.dtype)
        if coverage_mask is not None:
            full[np.asarray(coverage_mask, dtype=bool)] = 0.0
        maps.append(full)
    return maps[0], maps[1]


#: astropy.stats.mad_std's factor, 1 / Phi^-1(3/4)
_MAD_TO_STD = 1.482602218505602


def _row_nanmedian(boxes):
    """``np.nanmedian(boxes, axis=-1)``, the same bits, from one sort (numpy's goes row by row when NaNs are
    present: twice as slow on a mosaic's boxes)."""
    ordered = np.sort(boxes, axis=-1)  # NaNs last
    n = np.count_nonzero(~np.isnan(boxes), axis=-1)
    lo = np.take_along_axis(ordered, np.maximum((n - 1) // 2, 0)[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ordered, (n // 2)[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore"):
        median = np.where(n % 2 == 1, lo, (lo + hi) / 2).astype(boxes.dtype)
    median[n == 0] = np.nan
    return median


def _fill_mesh(mesh, n_neighbors=10):
    """Excluded boxes (NaN) from the ``n_neighbors`` nearest good boxes, weighted by inverse distance."""
    bad = np.isnan(mesh)
    if not bad.any():
        return mesh
    from scipy.spatial import cKDTree

    good_yx = np.column_stack(np.nonzero(~bad))
    values = mesh[~bad]
    bad_yx = np.column_stack(np.nonzero(bad))
    dist, idx = cKDTree(good_yx, leafsize=10).query(bad_yx, k=n_neighbors)  # photutils: leafsize 10 (ties)
    valid = np.isfinite(dist)
    safe_d = np.where(valid, dist, 1.0)
    safe_i = np.where(valid, idx, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where(valid, 1.0 / safe_d, 0.0)
        w_tot = np.sum(w, axis=1)
        filled = np.where(w_tot > 0.0, np.sum(w * values[safe_i], axis=1) / w_tot, np.nan).astype(float)
    close = dist[:, 0] < 1.0e-12
    filled[close] = values[idx[close, 0]]
    out = np.copy(mesh)
    out[bad] = filled
    return out


def _filter_mesh(mesh, filter_size):
    from scipy.ndimage import generic_filter

    if tuple(int(s) for s in np.broadcast_to(filter_size, 2)) == (1, 1):
        return mesh
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-NaN windows
        return generic_filter(mesh, np.nanmedian, size=filter_size, mode="constant", cval=np.nan)


def _zoom_mesh(mesh, box_size, shape, dtype):
    """The mesh resized to the image: cubic spline through the box centres, clipped to the mesh's range."""
    if np.ptp(mesh) == 0:
        return np.full(shape, np.min(mesh), dtype=dtype)
    from scipy.ndimage import zoom

    full = zoom(mesh, box_size, order=3, mode="reflect", cval=0.0, grid_mode=True)[:shape[0], :shape[1]]
    np.clip(full, np.min(mesh), np.max(mesh), out=full)
    return full


class Islands:
    """A segmentation map: ``data`` (0 background, islands 1..n), ``labels`` and ``slices`` (bounding boxes).

    The part of photutils' ``SegmentationImage`` that :mod:`radioassist.structure` uses.
    """

    def __init__(self, data, labels, slices):
        self.data = data
        self.labels = np.asarray(labels, dtype=data.dtype)
        self.slices = list(slices)

    @property
    def n_labels(self):
        """Number of islands."""
        return len(self.labels)

    def remove_labels(self, labels, *, relabel=True):
        """Remove the islands ``labels`` (set them to 0), and number the rest 1..n again when ``relabel``."""
        labels = np.atleast_1d(np.asarray(labels, dtype=self.data.dtype))
        if labels.size == 0:
            return
        lut = np.arange(int(self.labels.max(initial=0)) + 1, dtype=self.data.dtype)
        lut[labels] = 0
        keep = ~np.isin(self.labels, labels)
        kept_labels = self.labels[keep]
        self.slices = [s for s, k in zip(self.slices, keep) if k]
        if relabel:
            lut[kept_labels] = np.arange(1, len(kept_labels) + 1, dtype=self.data.dtype)
            kept_labels = np.arange(1, len(kept_labels) + 1, dtype=self.data.dtype)
        self.data = lut[self.data]
        self.labels = kept_labels

    def to_photutils(self):
        """The same map as a photutils ``SegmentationImage`` (for photutils' deblending)."""
        from photutils.segmentation import SegmentationImage

        return SegmentationImage(self.data)


def detect_islands(data, threshold, n_pixels, *, mask=None, connectivity=8):
    """Islands of at least ``n_pixels`` connected pixels above ``threshold`` (photutils ``detect_sources``).

    Parameters
    ----------
    data : 2-D array
        The image (or an SNR map).
    threshold : float or 2-D array
        Pixels strictly above it belong to islands.
    n_pixels : int
        Least connected pixels of an island.
    mask : 2-D bool array, optional
        Pixels that belong to no island.
    connectivity : {4, 8}, optional
        Pixel connectivity (default 8).

    Returns
    -------
    `Islands` or None
        None when no island is found.  Islands are numbered 1..n in the
        order of their first pixel (row by row), as ``scipy.ndimage.label``.
    """
    from scipy import ndimage

    if connectivity not in (4, 8):
        msg = f"connectivity must be 4 or 8, got {connectivity!r}"
        raise ValueError(msg)
    with np.errstate(invalid="ignore"):
        above = np.asarray(data) > threshold
    if mask is not None:
        above &= ~np.asarray(mask, dtype=bool)
    if not above.any():
        return None
    structure = np.ones((3, 3), dtype=bool) if connectivity == 8 else ndimage.generate_binary_structure(2, 1)
    segm, n = ndimage.label(above, structure=structure)
    kept, slices = [], []
    for label, sl in enumerate(ndimage.find_objects(segm), start=1):
        box = segm[sl]
        inside = box == label
        if np.count_nonzero(inside) < n_pixels:
            box[inside] = 0
            continue
        kept.append(label)
        slices.append(sl)
    if not kept:
        return None
    if len(kept) != n:
        lut = np.zeros(n + 1, dtype=segm.dtype)
        lut[kept] = np.arange(1, len(kept) + 1, dtype=segm.dtype)
        segm = lut[segm]
    return Islands(segm, np.arange(1, len(kept) + 1), slices)
