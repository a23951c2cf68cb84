"""A PNG mosaic of rendered cutouts with a caption and a coloured frame per tile.

Used by ``radioassist classify --gallery out.png`` and for documentation
pictures.  Pillow only (no matplotlib).
"""
import math
from pathlib import Path

import numpy as np

from .exceptions import InputError
from .logger import log
from .tasks import label_text

__all__ = ["make_gallery", "PALETTE"]

from .colours import NO_LABEL_COLOUR as _NO_LABEL_COLOUR
from .colours import PALETTE  # noqa: F401 - importable from here as before
_BACKGROUND = (24, 24, 24)
_TEXT = (235, 235, 235)
_GAP = 4


def _font(px):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=px)
    except TypeError:  # Pillow < 10.1: fixed-size bitmap font
        return ImageFont.load_default()


def _first_label(label):
    if label is None or isinstance(label, str):
        return label
    label = tuple(label)
    return str(label[0]) if label else None


def _fit(draw, text, font, width):
    """Shorten ``text`` with '..' until it fits in ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while len(text) > 1 and draw.textlength(text + "..", font=font) > width:
        text = text[:-1]
    return text + ".."


def make_gallery(images, *, labels=None, probabilities=None, titles=None, ncols=8, tile=128,
                 colors=None, task=None, legend=True, path=None):
    """Mosaic of cutouts with a caption (e.g. ``'FR-II 0.93'``) and a frame coloured by label.

    Parameters
    ----------
    images : array-like
        Rendered images (``uint8`` (N, H, W, 3) from :func:`radioassist.render.render`)
        or raw cutouts / a :class:`~radioassist.cutouts.CutoutStack`, which are
        rendered with the default ``'radio-llava'`` preset.
    labels : sequence, optional
        One label per image: a string, a tuple of strings (multi-label, drawn
        ``'A,B'`` as in catalogues; an empty tuple is drawn ``'NONE'``) or None;
        see :func:`radioassist.tasks.label_text`.
    probabilities : array-like, optional
        One number per image (the probability of the shown label), or an
        (N, K) array of class probabilities of which the maximum is shown.
    titles : sequence of str, optional
        One extra caption line per image (e.g. the source name).
    ncols : int, optional
        Tiles per row (fewer when there are fewer images).
    tile : int, optional
        Side of each tile in pixels (images are resized, bicubic).
    colors : dict, optional
        Label -> (R, G, B) frame colour.  Default: the fixed colours of
        ``task``'s labels (:func:`radioassist.colours.label_colours`, the same
        in region files and reports), else :data:`PALETTE` colours given to
        the labels in sorted order (grey for tiles without label).
    task : `~radioassist.tasks.Task` or str, optional
        The task whose labels are shown: fixes their colours across runs.
    legend : bool, optional
        Draw a legend row (label colours) at the bottom when labels are given.
    path : str or `~pathlib.Path`, optional
        Also save the mosaic there as PNG.

    Returns
    -------
    image : `PIL.Image.Image`
        The RGB mosaic.

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.gallery import make_gallery
    >>> cutouts = np.random.default_rng(1).normal(size=(3, 32, 32))
    >>> img = make_gallery(cutouts, labels=['FR-I', 'FR-II', 'FR-II'],
    ...                    probabilities=[0.8, 0.93, 0.6], ncols=3, tile=64)
    >>> img.mode, img.width
    ('RGB', 220)
    """
    from PIL import Image, ImageDraw, ImageOps

    from .render import _as_rgb_uint8

    if isinstance(ncols, bool) or not isinstance(ncols, (int, np.integer)) or ncols < 1:
        msg = f"ncols must be a positive integer, got {ncols!r}"
        raise InputError(msg)
    if isinstance(tile, bool) or not isinstance(tile, (int, np.integer)) or tile < 8:
        msg = f"tile must be an integer of at least 8 pixels, got {tile!r}"
        raise InputError(msg)
    rgb = _as_rgb_uint8(images)
    n_img = rgb.shape[0]
    if n_img == 0:
        msg = "make_gallery needs at least one image"
        raise InputError(msg)

    def _per_image(values, name):
        if values is None:
            return None
        values = list(values)
        if len(values) != n_img:
            msg = f"{name} has {len(values)} entries but there are {n_img} images"
            raise InputError(msg)
        return values

    labels = _per_image(labels, "labels")
    titles = _per_image(titles, "titles")
    if probabilities is not None:
        probs = np.asarray(probabilities, dtype=float)
        if probs.ndim == 2:
            probs = probs.max(axis=1)
        if probs.ndim != 1:
            msg = f"probabilities must have shape (N,) or (N, K), got {np.shape(probabilities)}"
            raise InputError(msg)
        probabilities = _per_image(probs, "probabilities")

    if colors is None:
        from .colours import label_colours

        names = {lab for lab in map(_first_label, labels or []) if lab is not None}
        colors = label_colours(task, extra=names)
        if task is not None:
            colors = {k: v for k, v in colors.items() if k in names} or colors
    else:
        colors = {str(k): tuple(int(c) for c in v) for k, v in dict(colors).items()}

    ncols = int(min(ncols, n_img))
    nrows = math.ceil(n_img / ncols)
    tile = int(tile)
    frame = max(2, tile // 40)
    cell = tile + 2 * frame
    font_px = max(10, tile // 11)
    font = _font(font_px)
    line_h = font_px + 3
    n_lines = int(titles is not None) + int(labels is not None or probabilities is not None)
    caption_h = n_lines * line_h + (2 if n_lines else 0)
    row_h = cell + caption_h
    legend_h = line_h + _GAP if (legend and labels is not None and colors) else 0
    width = ncols * cell + (ncols + 1) * _GAP
    height = nrows * row_h + (nrows + 1) * _GAP + legend_h

    canvas = Image.new("RGB", (width, height), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    for i in range(n_img):
        row, col = divmod(i, ncols)
        x0 = _GAP + col * (cell + _GAP)
        y0 = _GAP + row * (row_h + _GAP)
        label = labels[i] if labels is not None else None
        colour = colors.get(_first_label(label), _NO_LABEL_COLOUR) if label is not None else _NO_LABEL_COLOUR
        draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=colour)
        thumb = ImageOps.pad(Image.fromarray(np.ascontiguousarray(rgb[i])), (tile, tile),
                             method=Image.Resampling.BICUBIC, color=(0, 0, 0))
        canvas.paste(thumb, (x0 + frame, y0 + frame))
        lines = []
        if titles is not None:
            lines.append(str(titles[i]))
        if labels is not None or probabilities is not None:
            parts = [label_text(label)] if labels is not None else []
            if probabilities is not None and np.isfinite(probabilities[i]):
                parts.append(f"{probabilities[i]:.2f}")
            lines.append(" ".join(p for p in parts if p))
        for k, text in enumerate(lines):
            draw.text((x0 + 1, y0 + cell + 1 + k * line_h), _fit(draw, text, font, cell - 2),
                      fill=_TEXT, font=font)
    if legend_h:
        x = _GAP
        y = height - legend_h
        for name, colour in colors.items():
            draw.rectangle([x, y + 2, x + font_px - 1, y + 1 + font_px], fill=colour)
            x += font_px + 3
            draw.text((x, y + 1), name, fill=_TEXT, font=font)
            x += int(draw.textlength(name, font=font)) + 3 * _GAP
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        canvas.save(path, format="PNG")
        log.debug("wrote gallery of %d cutouts to %s", n_img, path)
    return canvas
