"""Click options shared by the ``radioassist`` commands: one declaration and one help text per option.

Values are checked by the validators of ``radioassist._parameters``, the
ones the Python API uses, so that ``radioassist classify --size 0`` and
``radioassist.classify(..., size=0)`` give the same message; a bad value
exits with status 2 (a usage error) and no traceback.

Groups of options that belong together are one decorator, and some hand the
command one value made of them: `catalog_column_options` gives
``catalog_options`` (keyword arguments of :func:`radioassist.read_catalog`),
`size_rule_options` gives ``size_rule`` (those of
:func:`radioassist.extract_cutouts`), `labelled_data_options` gives
``dataset_options`` (those of the labelled-data readers), `parallel_options`
gives ``scheduler`` and ``workers`` checked together.
"""
import functools

import click

from .._parameters import (as_batch_size, as_coverage, as_parallel, as_positive_int, as_preset, as_size,
                           as_size_rule, check_size_choice)
from ..exceptions import InputError
from ._common import cli_message
from ..render import PRESETS

__all__ = ["checked", "usage_check", "catalog_option", "catalog_column_options", "image_options", "size_option",
           "size_rule_options", "preset_option", "batch_size_option", "chunk_size_option", "coverage_option",
           "parallel_options", "device_option", "dtype_option", "models_option", "labelled_data_options",
           "labelled_catalog_option", "manifest_options", "label_regex_option", "label_map_option",
           "split_column_option", "evaluation_output_options"]


# ----------------------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------------------

def usage_check(validator, *args, **kwargs):
    """``validator(*args, **kwargs)``, its `~radioassist.InputError` turned into a click usage error (exit 2)."""
    try:
        return validator(*args, **kwargs)
    except InputError as exc:
        raise click.UsageError(cli_message(" ".join(str(exc).split()))) from None


def checked(validator, **kwargs):
    """A click callback that passes a given value (not None) through ``validator(value, **kwargs)``."""
    def callback(ctx, param, value):
        if value is None:
            return None
        try:
            return validator(value, **kwargs)
        except InputError as exc:
            raise click.UsageError(cli_message(" ".join(str(exc).split())), ctx=ctx) from None
    return callback


def _stack(*decorators):
    """One decorator applying ``decorators`` so that their options show in the order listed."""
    def apply(func):
        for decorator in reversed(decorators):
            func = decorator(func)
        return func
    return apply


def _collect(name, keys, func, *, check=None):
    """Wrap a command so that the options ``keys`` (parameter -> key) reach it as one dict ``name``."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        values = {key: kwargs.pop(param) for param, key in keys.items()}
        kwargs[name] = check(values, kwargs) if check else {k: v for k, v in values.items() if v is not None}
        return func(*args, **kwargs)
    return wrapper


# ----------------------------------------------------------------------------------------------------------
# mosaics and catalogues
# ----------------------------------------------------------------------------------------------------------

def catalog_option(*, required=False):
    """``-c/--catalog``: the source catalogue of a mosaic (``--catalog`` is optional where sources can be found)."""
    default = "" if required else ("  Default: find the radio sources in each image (islands and peaks, one row "
                                   "per source).")
    return click.option("-c", "--catalog", required=required, type=click.Path(dir_okay=False),
                        help="Source catalogue (VOTable, FITS, ECSV, CSV, PyBDSF/Selavy ASCII) or DS9/CRTF region "
                             "file." + default)


def _hdu(value):
    text = str(value).strip()
    return int(text) if text.lstrip("-").isdigit() else text


image_options = _stack(
    click.option("--hdu", default=None, callback=checked(_hdu),
                 help="HDU of the mosaic holding the image (index or name).  Default: the first image."),
    click.option("--plane", default=None, type=int,
                 help="Plane of a cube's non-degenerate FREQ/STOKES axis.  Default: none (2-D images and "
                      "degenerate axes need none)."),
)
image_options.__doc__ = "``--hdu`` (an index becomes an int) and ``--plane``: which image of a FITS file."


def catalog_column_options(func):
    """``--ra-col``, ``--dec-col``, ``--size-col``, ``--size-unit``: given to the command as ``catalog_options``."""
    keys = {"ra_col": "ra", "dec_col": "dec", "size_col": "size", "size_unit": "size_unit"}
    return _stack(
        click.option("--ra-col", default=None, help="Catalogue RA (or longitude) column.  Default: detected."),
        click.option("--dec-col", default=None, help="Catalogue Dec (or latitude) column.  Default: detected."),
        click.option("--size-col", default=None,
                     help="Catalogue source-size column (for --size-factor).  Default: detected."),
        click.option("--size-unit", default=None,
                     help="Unit of the size column when the catalogue gives none (e.g. arcsec).  "
                          "Default: from the file."),
    )(_collect("catalog_options", keys, func))


# ----------------------------------------------------------------------------------------------------------
# cutouts and rendering
# ----------------------------------------------------------------------------------------------------------

def size_option(default=None, *, default_help=None):
    """``--size``: a cutout side in pixels or as an angle (:func:`radioassist._parameters.as_size`)."""
    help_text = ("Cutout side in pixels (e.g. 128) or as an angle (e.g. 90arcsec, 1.5arcmin); with --size-factor "
                 "or --resample-to, the side in pixels of the resampled cutouts.")
    if default_help:
        help_text += f"  Default: {default_help}."
    return click.option("--size", default=default, show_default=default is not None, callback=checked(as_size),
                        help=help_text)


def _size_rule(values, kwargs):
    rule = usage_check(as_size_rule, **values)
    usage_check(check_size_choice, kwargs.get("size"), rule)
    return rule


def size_rule_options(func):
    """``--size-factor``, ``--min-size``, ``--max-size``: given to the command as the dict ``size_rule``.

    Checked with :func:`radioassist._parameters.as_size_rule` (and against ``--size``).
    """
    keys = {"size_factor": "size_factor", "min_size": "min_size", "max_size": "max_size"}
    return _stack(
        click.option("--size-factor", type=float, default=None,
                     help="Size rule: each cutout spans SIZE_FACTOR x the catalogue source size, clipped to "
                          "--min-size/--max-size, resampled onto --size pixels.  Default: off."),
        click.option("--min-size", default=None, callback=checked(as_size, name="min_size"),
                     help="Smallest extent for --size-factor (e.g. 30arcsec), also used for sources without a "
                          "size.  Default: --size native pixels."),
        click.option("--max-size", default=None, callback=checked(as_size, name="max_size"),
                     help="Largest extent for --size-factor (e.g. 10arcmin).  Default: no limit."),
    )(_collect("size_rule", keys, func, check=_size_rule))


def preset_option(default=None, *, default_help=None):
    """``--preset``: a render preset of :mod:`radioassist.render` (:func:`radioassist._parameters.as_preset`)."""
    help_text = f"Render preset: {', '.join(PRESETS)}."
    if default_help:
        help_text += f"  Default: {default_help}."
    return click.option("--preset", default=default, show_default=default is not None, callback=checked(as_preset),
                        help=help_text)


# ----------------------------------------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------------------------------------

def batch_size_option(default, *, what, minimum=1):
    """``--batch-size``: ``what`` per batch, a positive integer (at least ``minimum``)."""
    return click.option("--batch-size", default=default, show_default=True,
                        type=click.IntRange(minimum) if minimum > 1 else int, callback=checked(as_batch_size),
                        help=f"{what} per batch.")


def chunk_size_option():
    """``--chunk-size``: sources per partition of a classify run."""
    return click.option("--chunk-size", default=None, type=int, callback=checked(as_positive_int, name="chunk_size"),
                        help="Most sources per partition (the unit of parallel work and of saved partial results), "
                             "rounded up to whole batches.  Default: 4 x the batch size.")


def coverage_option():
    """``--min-coverage``: a fraction from 0 to 1 (:func:`radioassist._parameters.as_coverage`)."""
    return click.option("--min-coverage", default=None, type=float, callback=checked(as_coverage),
                        help="Least fraction (0-1) of the model's field of view around a source that must hold data "
                             "for the source to be classified; others are flagged partial (sources off the image: "
                             "outside; no data at the position: blank).  Default: the model's own (0.5 for the "
                             "shipped B3 model, trained on cutouts at mosaic edges), else 0.9.")


def parallel_options(func):
    """``--workers`` and ``--scheduler`` (a dask cluster), checked together (``_parameters.as_parallel``)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        kwargs["scheduler"], kwargs["workers"] = usage_check(as_parallel, kwargs["scheduler"], kwargs["workers"])
        return func(*args, **kwargs)
    return _stack(
        click.option("--workers", default=None, type=int, callback=checked(as_positive_int, name="workers"),
                     help="Run on a local dask cluster with this many worker processes.  Default: this process only."),
        click.option("--scheduler", default=None,
                     help="Run on the dask cluster whose scheduler is at this address (e.g. tcp://host:8786).  "
                          "Default: none."),
    )(wrapper)


def device_option():
    """``--device``: the torch device."""
    return click.option("--device", default="cpu", show_default=True, help="Torch device: cpu, cuda, cuda:1, mps.")


def dtype_option():
    """``--dtype``: the compute dtype of the models."""
    return click.option("--dtype", default=None,
                        help="Compute dtype of the models (float32, bfloat16, float16).  "
                             "Default: the backend's choice.")


def models_option(*, required=False, default=None):
    """``-m/--model`` (repeatable): model specs ``BACKEND[=MODEL][,OPTION=VALUE...][,name=NAME]``.

    Given as they are to the API, which reads them with :func:`radioassist.evaluate.parse_model_spec`.
    """
    default = {} if default is None else {"default": default, "show_default": True}
    return click.option("--model", "-m", "models", multiple=True, required=required, **default,
                        help="Model to evaluate, as BACKEND[=MODEL][,OPTION=VALUE...][,name=NAME]; repeat for "
                             "several.  A backend alone is its default model (for 'vision' the model shipped for "
                             "each task), e.g. -m vision=my-b6-checkpoint "
                             "-m llava=/models/radio-llava,mode=generate,name=rl-gen.")


# ----------------------------------------------------------------------------------------------------------
# labelled data (train, evaluate, make-dataset)
# ----------------------------------------------------------------------------------------------------------

def labelled_catalog_option():
    """``--catalog`` of labelled data: the first argument is then a mosaic."""
    return click.option("--catalog", type=click.Path(exists=True, dir_okay=False), default=None,
                        help="Labelled source catalogue; the data argument is then the mosaic to cut the sources "
                             "out of.")


manifest_options = _stack(
    click.option("--manifest", type=click.Path(), default=None,
                 help="CSV manifest with one row per image (file, label and split columns), relative to the data."),
    click.option("--file-column", default=None,
                 help="Manifest column with the image files.  Default: found by name or content."),
)
manifest_options.__doc__ = "``--manifest`` and ``--file-column``: a CSV list of labelled images."


def split_column_option():
    """``--split-column``: train/valid/test of each image."""
    return click.option("--split-column", default=None,
                        help="Manifest or catalogue column with train/valid/test (images marked test are held out).  "
                             "Default: 'split' when present.")


def label_regex_option():
    """``--label-from-filename``: labels from file names."""
    return click.option("--label-from-filename", "label_regex", default=None,
                        help=r"Regular expression giving the label from each file name (named group 'label' or "
                             r"first group), e.g. '_(I|II)\.fits$'.")


def label_map_option():
    """``--label-map``: raw labels to task labels."""
    return click.option("--label-map", default=None,
                        help="Map raw labels to task labels, e.g. 'I=FR-I,II=FR-II' or "
                             "'Compact=NO,FRI=YES,FRII=YES,Bent=YES'.")


def labelled_data_options(func):
    """The options of labelled images, given to the command as the dict ``dataset_options``.

    ``--manifest``, ``--file-column``, ``--label-column``, ``--split-column``,
    ``--label-from-filename``, ``--label-map``, ``--catalog``, ``--cutout-size``:
    keyword arguments of ``radioassist.training.load_dataset`` (only those given).
    """
    keys = {"manifest": "manifest", "file_column": "file_column", "label_column": "label_column",
            "split_column": "split_column", "label_regex": "label_from_filename", "label_map": "label_map",
            "catalog": "catalog", "cutout_size": "cutout_size"}
    return _stack(
        manifest_options,
        click.option("--label-column", default=None,
                     help="Manifest or catalogue column with the labels.  Default: label_name, label, class..."),
        split_column_option(),
        label_regex_option(),
        label_map_option(),
        labelled_catalog_option(),
        click.option("--cutout-size", type=click.IntRange(8, 4096), default=None,
                     help="Centre-crop each image to this many pixels before rendering (with --catalog: the "
                          "cutout side).  Default: no crop (with --catalog: 150)."),
    )(_collect("dataset_options", keys, func))


def evaluation_output_options(func):
    """``--bootstrap``, ``--seed``, ``--figures``, ``-o/--output``, ``--overwrite`` of the evaluation commands."""
    return _stack(
        click.option("--bootstrap", "n_bootstrap", type=click.IntRange(0, 1000000), default=1000, show_default=True,
                     help="Bootstrap resamples of the 95% confidence intervals (0: none)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap."),
        click.option("--figures/--no-figures", default=True, show_default=True,
                     help="Write the figures as PNG (needs matplotlib)."),
        click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False),
                     help="Folder for the summary (summary.ecsv/.md), the per-item results, the metrics (JSON) "
                          "and the figures."),
        click.option("--overwrite", is_flag=True, default=False,
                     help="Write into an output folder that is not empty (same-named files are replaced)."),
    )(func)
