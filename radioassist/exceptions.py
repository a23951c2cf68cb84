"""Errors and warnings raised by radioassist.

Every error derives from a standard Python exception (``ValueError``,
``TypeError``, ``FileNotFoundError``...) *and* from :class:`RadioassistError`,
so callers can catch either.  Messages name the file, column or parameter at
fault and say what to do about it.
"""
from astropy.utils.exceptions import AstropyUserWarning

__all__ = [
    "RadioassistError",
    "InputError",
    "ImageError",
    "CatalogError",
    "ModelError",
    "BackendError",
    "RadioassistWarning",
    "DomainWarning",
]


class RadioassistError(Exception):
    """Base class of every error raised on purpose by radioassist."""


class InputError(RadioassistError, ValueError):
    """A parameter or an input value is invalid."""


class ImageError(InputError):
    """An image (mosaic) cannot be used: unreadable, no celestial WCS, a cube..."""


class CatalogError(InputError):
    """A catalogue or region file cannot be used: no coordinates, bad units..."""


class ModelError(RadioassistError, ValueError):
    """A model checkpoint is missing, unsafe, corrupted or does not fit the task."""


class BackendError(RadioassistError, ValueError):
    """An unknown backend, or a backend that failed for a reason it could name."""


class RadioassistWarning(AstropyUserWarning):
    """Warnings issued by radioassist (a subclass of ``AstropyUserWarning``)."""


class DomainWarning(RadioassistWarning):
    """A mosaic lies outside the domain (beam, pixel scale, frequency) the model was trained on."""
