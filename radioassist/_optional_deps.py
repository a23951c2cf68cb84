"""Lazy checks and imports of optional heavy dependencies.

Use ``HAS_TORCH`` etc. for cheap availability checks (no import happens) and
:func:`require` inside the function that needs a package: it imports it or
raises an ``ImportError`` that says which extra to install.
"""
import importlib
import importlib.util

__all__ = ["require", "OPTIONAL_DEPS"]

#: import name -> (pip distribution, radioassist extra that provides it)
OPTIONAL_DEPS = {
    "torch": ("torch", "ml"),
    "torchvision": ("torchvision", "vlm"),
    "transformers": ("transformers", "ml"),
    "safetensors": ("safetensors", "ml"),
    "sklearn": ("scikit-learn", "ml"),
    "peft": ("peft", "vlm"),
    "tokenizers": ("tokenizers", "vlm"),
    "dask": ("dask[array]", "dask"),
    "distributed": ("distributed", "dask"),
    "matplotlib": ("matplotlib", "plot"),
    "onnxruntime": ("onnxruntime", "onnx"),
    "onnx": ("onnx", "onnx"),
}


def _has(name):
    return importlib.util.find_spec(name) is not None


def __getattr__(attr):
    if attr.startswith("HAS_"):
        name = attr[4:].lower()
        if name in OPTIONAL_DEPS:
            return _has(name)
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def require(name, *, purpose=None):
    """Import optional dependency ``name`` or raise a helpful ``ImportError``.

    Parameters
    ----------
    name : str
        Import name, e.g. ``'torch'`` or ``'transformers'``.
    purpose : str, optional
        What the package is needed for, quoted in the error message.

    Returns
    -------
    module
        The imported module.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        dist, extra = OPTIONAL_DEPS.get(name, (name, "all"))
        what = f" for {purpose}" if purpose else ""
        msg = (f"{dist} is required{what} but could not be imported ({exc}). "
               f"Install it with: pip install 'radioassist[{extra}]'")
        raise ImportError(msg) from exc
