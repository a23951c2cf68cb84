"""``radioassist cutout``: cut every catalogue source out of a mosaic."""
import re
from pathlib import Path

import click

from ._common import handle_errors, parse_size, progress_enabled

__all__ = ["cutout_command"]

_CUBE_SUFFIXES = (".fits", ".fit", ".fts")


def _angle(text, option):
    """An angle from the command line ('30arcsec', '1.5arcmin'), or None."""
    if text is None:
        return None
    from astropy import units as u
    try:
        value = u.Quantity(str(text).strip())
    except (TypeError, ValueError):
        raise click.BadParameter(f"{text!r} is not an angle such as 30arcsec or 1.5arcmin",
                                 param_hint=option) from None
    if value.unit.physical_type != "angle":
        raise click.BadParameter(f"{text!r} is not an angle (give a unit: 30arcsec, 1.5arcmin, 0.01deg)",
                                 param_hint=option)
    return value


def _file_names(table, column, keep):
    """Safe, unique per-cutout file names from a catalogue column (without extension)."""
    import numpy as np

    if column is None:
        width = max(5, len(str(len(table) - 1)))
        return [f"cutout_{i:0{width}d}" for i in np.flatnonzero(keep)]
    if column not in table.colnames:
        from ..exceptions import CatalogError
        msg = (f"--name-col {column!r} is not a column of the catalogue "
               f"(columns: {', '.join(table.colnames[:15])})")
        raise CatalogError(msg)
    names, seen = [], {}
    for i in np.flatnonzero(keep):
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
@click.option("-c", "--catalog", required=True, type=click.Path(dir_okay=False),
              help="Source catalogue (VOTable, FITS, ECSV, CSV, PyBDSF/Selavy ASCII) "
                   "or DS9/CRTF region file.")
@click.option("-o", "--output", required=True, type=click.Path(),
              help="Output: a name ending in .fits gets one FITS cube (HDU 0) with a table of positions and "
                   "flags (HDU CUTOUTS); anything else is a folder with one file per cutout.")
@click.option("--size", default="128", show_default=True,
              help="Cutout side in pixels (128) or as an angle (90arcsec, 1.5arcmin). With --size-factor "
                   "or --resample-to: the output side in pixels of the resampled cutouts.")
@click.option("--size-factor", type=float, default=None,
              help="Size rule: each cutout spans SIZE_FACTOR x the catalogue source size, clipped to "
                   "--min-size/--max-size, resampled onto --size pixels. Default: off (native pixels).")
@click.option("--min-size", default=None,
              help="Smallest extent for --size-factor (e.g. 30arcsec), also used for sources without a "
                   "size. Default: --size native pixels.")
@click.option("--max-size", default=None,
              help="Largest extent for --size-factor (e.g. 10arcmin). Default: no limit.")
@click.option("--resample-to", default=None,
              help="Resample every cutout to this pixel scale (e.g. 1.8arcsec) on a TAN grid centred on the "
                   "source, north up. Default: off (native pixels).")
@click.option("--hdu", default=None,
              help="HDU of the mosaic holding the image (index or name). Default: the first image.")
@click.option("--plane", default=None, type=int,
              help="Plane of a cube's non-degenerate FREQ/STOKES axis. "
                   "Default: none (degenerate axes need none).")
@click.option("--ra-col", default=None, help="Catalogue RA (or longitude) column. Default: detected.")
@click.option("--dec-col", default=None, help="Catalogue Dec (or latitude) column. Default: detected.")
@click.option("--size-col", default=None,
              help="Catalogue source-size column (for --size-factor). "
                   "Default: detected when --size-factor is given.")
@click.option("--size-unit", default=None,
              help="Unit of the size column when the catalogue gives none (e.g. arcsec). "
                   "Default: from the file.")
@click.option("--name-col", default=None,
              help="Catalogue column naming the per-cutout files in a folder. "
                   "Default: cutout_00000, cutout_00001...")
@click.option("--format", "fmt", type=click.Choice(["fits", "png"]), default="fits", show_default=True,
              help="Per-cutout file format when OUTPUT is a folder: FITS with a full WCS header, or 8-bit "
                   "PNG rendered with the radio-llava preset.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files. Default: refuse.")
@handle_errors
def cutout_command(mosaic, catalog, output, size, size_factor, min_size, max_size, resample_to, hdu, plane,
                   ra_col, dec_col, size_col, size_unit, name_col, fmt, overwrite):
    """Cut a square cutout around every source of CATALOG out of MOSAIC.

    Writes one FITS cube with a table (OUTPUT ending in .fits: every
    catalogue row, in order, with partial/outside flags) or a folder with one
    FITS (or PNG) file per cutout that overlaps the image.  Partial cutouts
    at the image edges are padded with NaN.

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
    cut_size = parse_size(size)
    min_angle, max_angle = _angle(min_size, "--min-size"), _angle(max_size, "--max-size")
    resample = _angle(resample_to, "--resample-to")
    if size_factor is None and (min_angle is not None or max_angle is not None):
        raise click.BadParameter("--min-size and --max-size only apply with --size-factor",
                                 param_hint="--min-size")

    hdu_value = int(hdu) if hdu is not None and str(hdu).lstrip("-").isdigit() else hdu
    image = load_image(mosaic, hdu=hdu_value, plane=plane)
    try:
        size_spec = size_col if size_col else (None if size_factor is not None else False)
        table = read_catalog(catalog, ra=ra_col, dec=dec_col, size=size_spec, size_unit=size_unit,
                             wcs=image.wcs)
        stack = extract_cutouts(image, table, size=cut_size, size_factor=size_factor, min_size=min_angle,
                                max_size=max_angle, resample_to=resample, progress=progress_enabled())
    finally:
        image.close()

    valid = np.asarray(stack.valid)
    no_position = (~np.asarray(table["position_ok"], dtype=bool) if "position_ok" in table.colnames
                   else np.zeros(len(stack), dtype=bool))
    n_outside = int(np.sum(stack.outside & ~no_position))
    n_blank = int(np.sum(~valid & ~stack.outside))
    scale = stack.pixel_scale
    scale_text = (f"{scale.to_value(u.arcsec):.3g}\"/px" if scale.isscalar else
                  f"{np.nanmin(scale.to_value(u.arcsec)):.3g}-{np.nanmax(scale.to_value(u.arcsec)):.3g}\"/px")
    if cube:
        stack.write(output, overwrite=overwrite)
        click.echo(f"Wrote {len(stack)} cutouts of {stack.size}x{stack.size} px ({scale_text}) to {output}")
    else:
        names = _file_names(table, name_col, valid)
        keep = np.flatnonzero(valid)
        subset = stack[keep]
        if fmt == "fits":
            paths = subset.write_folder(output, names=names, overwrite=overwrite, progress=progress_enabled())
        else:
            from ..render import render, write_png
            paths = write_png(render(subset, preset="radio-llava"), output, names=names, overwrite=overwrite)
        click.echo(f"Wrote {len(paths)} {fmt.upper()} cutouts of {stack.size}x{stack.size} px ({scale_text}) "
                   f"to {output}/")
    notes = []
    if int(np.sum(stack.partial)):
        notes.append(f"{int(np.sum(stack.partial))} partial (NaN-padded)")
    if n_outside:
        notes.append(f"{n_outside} outside the image" + ("" if cube else " (skipped)"))
    if no_position.any():
        notes.append(f"{int(no_position.sum())} without a valid position" + ("" if cube else " (skipped)"))
    if n_blank:
        notes.append(f"{n_blank} on blank pixels only" + ("" if cube else " (skipped)"))
    if notes:
        click.echo("Of " + f"{len(stack)} sources: " + ", ".join(notes) + ".")
