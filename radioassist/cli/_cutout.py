"""``radioassist cutout``: cut every catalogue source out of a mosaic."""
import re
from pathlib import Path

import click

from .._parameters import as_angle
from ._common import handle_errors, progress_enabled
from ._options import (catalog_column_options, catalog_option, checked, image_options, preset_option, size_option,
                       size_rule_options)

__all__ = ["cutout_command"]

_CUBE_SUFFIXES = (".fits", ".fit", ".fts")


def _file_names(table, column, rows):
    """Safe, unique per-cutout file names (without extension) of catalogue ``rows``, from a column or the row."""
    if column is None:
        width = max(5, len(str(len(table) - 1)))
        return [f"cutout_{i:0{width}d}" for i in rows]
    if column not in table.colnames:
        from ..exceptions import CatalogError
        msg = (f"--name-col {column!r} is not a column of the catalogue "
               f"(columns: {', '.join(table.colnames[:15])})")
        raise CatalogError(msg)
    names, seen = [], {}
    for i in rows:
        name = re.sub(r"[^A-Za-z0-9_.+\-]+", "_", str(table[column][i]).strip()).strip("._") or f"row{i}"
        if name in seen:
            seen[name] += 1
            name = f"{name}_{seen[name]}"
        else:
            seen[name] = 0
        names.append(name)
    return names


@click.command("cutout")
@click.argument("mosaic", type=click.Path(dir_okay=False))
@catalog_option(required=True)
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output: a name ending in .fits gets one FITS cube (HDU 0) with a table of positions and "
                   "flags (HDU CUTOUTS); anything else is a folder with one file per cutout.")
@size_option("128")
@size_rule_options
@click.option("--resample-to", default=None, callback=checked(as_angle, name="resample_to"),
              help="Resample every cutout to this pixel scale (e.g. 1.8arcsec) on a TAN grid centred on the "
                   "source, north up. Default: off (native pixels).")
@image_options
@catalog_column_options
@click.option("--name-col", default=None,
              help="Catalogue column naming the per-cutout files in a folder. "
                   "Default: cutout_00000, cutout_00001...")
@click.option("--format", "fmt", type=click.Choice(["fits", "png"]), default="fits", show_default=True,
              help="Per-cutout file format when OUTPUT is a folder: FITS with a full WCS header, or 8-bit "
                   "PNG rendered with --preset.")
@preset_option("radio-llava")
@click.option("--overwrite", is_flag=True, help="Replace existing output files. Default: refuse.")
@handle_errors
def cutout_command(mosaic, catalog, output, size, size_rule, resample_to, hdu, plane, catalog_options, name_col,
                   fmt, preset, overwrite):
    """Cut a square cutout around every source of CATALOG out of MOSAIC.

    Writes one FITS cube with a table (OUTPUT ending in .fits: a cutout per
    catalogue row on the image, with its catalogue row number and
    partial/blank flags) or a folder with one FITS (or PNG) file per cutout
    that has data.  Rows off the image get no cutout (they are counted);
    partial cutouts at the image edges are padded with NaN.

    Example: radioassist cutout mosaic.fits -c sources.vot --size 90arcsec -o cutouts.fits
    """
    import numpy as np
    from astropy import units as u

    from ..catalog import read_catalog
    from ..cutouts import extract_cutouts
    from ..exceptions import InputError
    from ..image import load_image

    output = Path(output)
    cube = output.suffix.lower() in _CUBE_SUFFIXES
    if cube and fmt == "png":
        raise InputError(f"--format png writes one file per cutout into a folder, but OUTPUT {output} "
                         "ends in .fits: give a folder name")
    # check the output before any work
    if cube:
        if output.exists() and not overwrite:
            raise InputError(f"{output} already exists: pass --overwrite to replace it")
        if not output.parent.is_dir() and str(output.parent):
            raise InputError(f"cannot write {output}: folder {output.parent} does not exist")
    elif output.exists() and not output.is_dir():
        raise InputError(f"{output} exists and is not a folder: give a folder name, "
                         "or a name ending in .fits for a single cube")
    image = load_image(mosaic, hdu=hdu, plane=plane)
    try:
        catalog_options.setdefault("size", None if size_rule else False)  # source sizes only for a size rule
        table = read_catalog(catalog, wcs=image.wcs, **catalog_options)
        stack = extract_cutouts(image, table, size=size, **size_rule, resample_to=resample_to,
                                progress=progress_enabled())
    finally:
        image.close()

    valid = np.asarray(stack.valid)
    no_position = (~np.asarray(table["position_ok"], dtype=bool) if "position_ok" in table.colnames
                   else np.zeros(len(table), dtype=bool))
    n_off = stack.n_skipped - int(no_position.sum())
    n_blank = int(np.sum(~valid))
    scale = stack.pixel_scale
    scale_text = (f"{scale.to_value(u.arcsec):.3g}\"/px" if scale.isscalar else
                  f"{np.nanmin(scale.to_value(u.arcsec)):.3g}-{np.nanmax(scale.to_value(u.arcsec)):.3g}\"/px")
    if len(stack) == 0:
        raise InputError(f"none of the {len(table):,} catalogue rows lies on {mosaic}: nothing to cut (check that "
                         "the catalogue and the mosaic cover the same field, and --ra-col/--dec-col)")
    if cube:
        stack.write(output, overwrite=overwrite)
        click.echo(f"Wrote {output}: {len(stack):,} cutouts of {stack.size}x{stack.size} px ({scale_text}); "
                   "column 'row' of HDU CUTOUTS is each cutout's catalogue row")
    else:
        keep = np.flatnonzero(valid)
        names = _file_names(table, name_col, stack.rows[keep])
        subset = stack[keep]
        if fmt == "fits":
            paths = subset.write_folder(output, names=names, overwrite=overwrite, progress=progress_enabled())
        else:
            from ..render import render, write_png
            paths = write_png(render(subset, preset=preset), output, names=names, overwrite=overwrite)
        click.echo(f"Wrote {output}/: {len(paths):,} {fmt.upper()} cutouts of {stack.size}x{stack.size} px "
                   f"({scale_text})")
    notes = []
    if int(np.sum(stack.partial)):
        notes.append(f"{int(np.sum(stack.partial)):,} partial (NaN-padded)")
    if n_off:
        notes.append(f"{n_off:,} off the image (skipped)")
    if no_position.any():
        notes.append(f"{int(no_position.sum()):,} without a valid position (skipped)")
    if n_blank:
        notes.append(f"{n_blank:,} on blank pixels only" + ("" if cube else " (skipped)"))
    if notes:
        click.echo(f"Of {len(table):,} catalogue rows: " + ", ".join(notes) + ".")
