"""Sky positions in one frame: where positions enter an output, they become plain ICRS.

Catalogues and images state many frames (ICRS, FK5 with an equinox, FK4,
Galactic).  astropy keeps the attributes of the frame a coordinate came from
(an FK5 header's ``equinox`` travels with its ICRS transform), and two ICRS
coordinates with different such attributes cannot be compared
(``spherical_offsets_to`` refuses them).  Outputs that combine positions of
several origins (the report's sky map: catalogue rows and image footprints)
take them through :func:`plain_icrs` once, where they enter.
"""
import numpy as np
from astropy.coordinates import ICRS, SkyCoord

__all__ = ["plain_icrs", "image_outline"]


def plain_icrs(coords):
    """The same positions as an ICRS `~astropy.coordinates.SkyCoord` that carries no other frame's attributes.

    Parameters
    ----------
    coords : `~astropy.coordinates.SkyCoord` or frame
        Positions in any celestial frame.

    Returns
    -------
    `~astropy.coordinates.SkyCoord`
    """
    icrs = coords.transform_to(ICRS())
    return SkyCoord(icrs.spherical.lon, icrs.spherical.lat, frame="icrs")


def image_outline(image, *, per_side=9):
    """The outline of an image's pixel grid on the sky, as plain ICRS positions (closed polygon, clockwise).

    Parameters
    ----------
    image : `~radioassist.RadioImage`
        An open image (its celestial WCS, any frame).
    per_side : int, optional
        Points per side of the outline.

    Returns
    -------
    `~astropy.coordinates.SkyCoord`
    """
    ny, nx = image.data.shape
    edge = np.linspace(0.0, 1.0, per_side)
    x = np.concatenate([-0.5 + nx * edge, np.full(per_side, nx - 0.5), nx - 0.5 - nx * edge, np.full(per_side, -0.5)])
    y = np.concatenate([np.full(per_side, -0.5), -0.5 + ny * edge, np.full(per_side, ny - 0.5), ny - 0.5 - ny * edge])
    return plain_icrs(image.wcs.celestial.pixel_to_world(x, y))
