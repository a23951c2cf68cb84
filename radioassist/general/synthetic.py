"""``synthetic-general``: a general visual-question set generated on the fly, offline and deterministically.

Six kinds of question, in turn (item ``i`` is of kind ``i % 6``), each with
an answer known by construction:

========== ===================================================== ===============
kind       question                                              answer type
========== ===================================================== ===============
counting   How many circles/squares/triangles are there?         exact (``'3'``)
text       What word is written in the image?                    anls
number     What number is written in the image?                  exact
chart      What is the value of the bar labelled X? (bar chart)  relaxed
colour     What colour is the shape? (4 options)                 multiple choice
position   Where is the red square? (4 options)                  multiple choice
========== ===================================================== ===============

Item ``i`` depends only on ``seed`` and ``i`` (its own random generator), so
the first items of a set of any size are the same, and a set is the same on
every machine (the image pixels may differ slightly between Pillow versions,
whose default font can change, but never the questions and answers).  No
image is shipped: a few hundred 128-pixel images take about a second to draw.
"""
import dataclasses
import functools

import numpy as np

from ..exceptions import InputError
from .sets import OPTION_LETTERS, GeneralItem, GeneralSet, register_general_set

__all__ = ["make_synthetic_general", "SYNTHETIC_KINDS", "SYNTHETIC_VERSION"]

#: The kinds of question, in the order items cycle through them.
SYNTHETIC_KINDS = ("counting", "text", "number", "chart", "colour", "position")

#: Version of the generator (changes whenever an item would change).
SYNTHETIC_VERSION = 1

_COLOURS = {"red": (220, 30, 30), "green": (30, 160, 50), "blue": (30, 70, 220), "yellow": (235, 200, 20),
            "black": (15, 15, 15), "orange": (245, 130, 20), "purple": (140, 40, 170), "grey": (128, 128, 128)}
_SHAPES = ("circle", "square", "triangle")
_WORDS = ("river", "planet", "garden", "window", "silver", "coffee", "rocket", "forest", "pencil", "summer",
          "winter", "bridge", "castle", "dragon", "island", "jacket", "kitten", "ladder", "mirror", "orange",
          "parrot", "rabbit", "saddle", "tunnel", "violin", "wallet", "yellow", "anchor", "basket", "candle",
          "desert", "engine", "flower", "guitar", "hammer", "magnet", "needle", "oyster", "pepper", "quartz")
_BAR_LABELS = ("A", "B", "C", "D", "E")
_POSITIONS = ("top left", "top right", "bottom left", "bottom right")


@functools.lru_cache(maxsize=16)
def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=int(size))
    except (TypeError, AttributeError, OSError):  # Pillow < 10.1 or no FreeType: the bitmap font
        return ImageFont.load_default()


def _canvas(size):
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (size, size), (255, 255, 255))
    return image, ImageDraw.Draw(image)


def _shape(draw, kind, cx, cy, r, colour):
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    else:
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)


def _centred_text(draw, size, text, font, colour=(0, 0, 0)):
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (size - (right - left)) / 2 - left
    y = (size - (bottom - top)) / 2 - top
    draw.text((x, y), text, fill=colour, font=font)


def _options(rng, correct, pool, k=4):
    others = [p for p in pool if p != correct]
    chosen = [others[j] for j in rng.choice(len(others), size=k - 1, replace=False)] + [correct]
    order = rng.permutation(k)
    options = tuple(chosen[j] for j in order)
    return options, OPTION_LETTERS[options.index(correct)]


def _counting(rng, size, ident):
    kind = _SHAPES[int(rng.integers(len(_SHAPES)))]
    count = int(rng.integers(1, 7))
    r = max(4, size // 12)
    colour = list(_COLOURS.values())[int(rng.integers(len(_COLOURS)))]
    image, draw = _canvas(size)
    centres = []
    while len(centres) < count:  # 6 shapes of radius size/12 always fit; rejection sampling
        cx, cy = (int(v) for v in rng.integers(r + 2, size - r - 2, size=2))
        if all(max(abs(cx - x), abs(cy - y)) >= 2 * r + 4 for x, y in centres):  # boxes apart
            centres.append((cx, cy))
    for cx, cy in centres:
        _shape(draw, kind, cx, cy, r, colour)
    words = ("zero", "one", "two", "three", "four", "five", "six")
    return image, GeneralItem(ident, f"How many {kind}s are there in the image?", (str(count), words[count]),
                              "exact", category="counting")


def _text(rng, size, ident):
    word = _WORDS[int(rng.integers(len(_WORDS)))]
    image, draw = _canvas(size)
    _centred_text(draw, size, word, _font(size // 6))
    return image, GeneralItem(ident, "What word is written in the image?", (word,), "anls", category="text")


def _number(rng, size, ident):
    digits = int(rng.integers(2, 5))
    number = int(rng.integers(10 ** (digits - 1), 10 ** digits))
    image, draw = _canvas(size)
    _centred_text(draw, size, str(number), _font(size // 5))
    return image, GeneralItem(ident, "What number is written in the image?", (str(number),), "exact",
                              category="number")


def _chart(rng, size, ident):
    n_bars = int(rng.integers(3, 6))
    values = [int(v) for v in rng.integers(1, 10, size=n_bars) * 10]
    labels = _BAR_LABELS[:n_bars]
    image, draw = _canvas(size)
    font = _font(max(8, size // 12))
    left, bottom, top = size // 10, size - size // 6, size // 8
    width = (size - left - size // 20) / n_bars
    draw.line([(left, top - 4), (left, bottom)], fill=(0, 0, 0))
    draw.line([(left, bottom), (size - 2, bottom)], fill=(0, 0, 0))
    for j, (label, value) in enumerate(zip(labels, values)):
        x0 = left + j * width + width * 0.2
        x1 = left + (j + 1) * width - width * 0.2
        y = bottom - (bottom - top) * value / 100
        draw.rectangle([x0, y, x1, bottom], fill=(40, 90, 200))
        cx = (x0 + x1) / 2
        box = draw.textbbox((0, 0), str(value), font=font)
        draw.text((cx - (box[2] - box[0]) / 2 - box[0], y - (box[3] - box[1]) - 3 - box[1]), str(value),
                  fill=(0, 0, 0), font=font)
        box = draw.textbbox((0, 0), label, font=font)
        draw.text((cx - (box[2] - box[0]) / 2 - box[0], bottom + 3 - box[1]), label, fill=(0, 0, 0), font=font)
    which = int(rng.integers(n_bars))
    return image, GeneralItem(ident, f"What is the value of the bar labelled {labels[which]} in the chart?",
                              (str(values[which]),), "relaxed", category="chart")


def _colour(rng, size, ident):
    kind = _SHAPES[int(rng.integers(len(_SHAPES)))]
    name = list(_COLOURS)[int(rng.integers(len(_COLOURS)))]
    image, draw = _canvas(size)
    _shape(draw, kind, size // 2, size // 2, size // 3, _COLOURS[name])
    options, letter = _options(rng, name, list(_COLOURS))
    return image, GeneralItem(ident, f"What colour is the {kind} in the image?", (letter,), "multiple_choice",
                              options=options, category="colour")


def _position(rng, size, ident):
    where = int(rng.integers(4))
    other = int((where + rng.integers(1, 4)) % 4)
    image, draw = _canvas(size)
    r = size // 8
    centres = [(size // 4, size // 4), (3 * size // 4, size // 4), (size // 4, 3 * size // 4),
               (3 * size // 4, 3 * size // 4)]
    _shape(draw, "square", *centres[where], r, _COLOURS["red"])
    _shape(draw, "circle", *centres[other], r, _COLOURS["blue"])
    return image, GeneralItem(ident, "Where is the red square in the image?", (OPTION_LETTERS[where],),
                              "multiple_choice", options=_POSITIONS, category="position")


_MAKERS = {"counting": _counting, "text": _text, "number": _number, "chart": _chart, "colour": _colour,
           "position": _position}


def make_synthetic_general(*, n=300, seed=0, image_size=128):
    """The ``synthetic-general`` set: ``n`` generated general questions (see the module doc).

    Parameters
    ----------
    n : int, optional
        Number of items (300: 50 of each kind).
    seed : int, optional
        Seed of the generator.
    image_size : int, optional
        Side of the square images in pixels (at least 48).

    Returns
    -------
    `~radioassist.general.GeneralSet`
        Items with uint8 RGB images in memory; ids ``'synthetic-00000'``...

    Examples
    --------
    >>> from radioassist.general.synthetic import make_synthetic_general
    >>> items = make_synthetic_general(n=6)
    >>> [item.category for item in items]
    ['counting', 'text', 'number', 'chart', 'colour', 'position']
    >>> items[0].load_image().shape
    (128, 128, 3)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        msg = f"n must be a positive integer, got {n!r}"
        raise InputError(msg)
    if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 48:
        msg = f"image_size must be an integer >= 48, got {image_size!r}"
        raise InputError(msg)
    items = []
    for i in range(int(n)):
        kind = SYNTHETIC_KINDS[i % len(SYNTHETIC_KINDS)]
        rng = np.random.default_rng([int(seed), i])
        image, item = _MAKERS[kind](rng, int(image_size), f"synthetic-{i:05d}")
        items.append(dataclasses.replace(item, image=np.array(image, dtype=np.uint8)))
    return GeneralSet("synthetic-general", items, source="radioassist.general.synthetic.make_synthetic_general",
                      format="synthetic", meta={"n": int(n), "seed": int(seed), "image_size": int(image_size),
                                                "generator_version": SYNTHETIC_VERSION})


register_general_set("synthetic-general", make_synthetic_general)
