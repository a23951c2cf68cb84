"""``radioassist simulate``: write a synthetic radio mosaic and its truth catalogue."""
from pathlib import Path

import click

from ._common import handle_errors

__all__ = ["simulate"]


def _parse_size(value):
    """``'2048'`` -> (2048, 2048); ``'4096x2048'`` (W x H) -> shape (2048, 4096)."""
    text = str(value).lower().replace(" ", "")
    parts = text.split("x")
    try:
        if len(parts) == 1:
            width = height = int(parts[0])
        elif len(parts) == 2:
            width, height = int(parts[0]), int(parts[1])
        else:
            raise ValueError
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a size: give N (an N x N image) or WxH, e.g. 4096x2048",
                                 param_hint="--size") from None
    if width <= 0 or height <= 0:
        raise click.BadParameter(f"{value!r}: the sides must be positive", param_hint="--size")
    return height, width


@click.command("simulate")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="FITS file to write the simulated mosaic to.")
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Truth catalogue to write; the format follows the extension (.ecsv, .vot/.xml VOTable, "
                   ".fits, .csv).  [default: <mosaic stem>_truth.ecsv next to the mosaic]")
@click.option("--size", default="2048", show_default=True,
              help="Image size in pixels: N for an N x N image, or WxH (width x height).")
@click.option("--n-sources", type=click.IntRange(min=0), default=300, show_default=True,
              help="Number of simulated sources.")
@click.option("--pixel-scale", type=click.FloatRange(min=0, min_open=True), default=1.8, show_default=True,
              help="Pixel size in arcsec.")
@click.option("--beam", type=click.FloatRange(min=0, min_open=True), default=5.4, show_default=True,
              help="FWHM of the circular restoring beam in arcsec.")
@click.option("--noise", type=click.FloatRange(min=0), default=1.5e-4, show_default=True,
              help="rms of the beam-correlated noise in Jy/beam (0: noiseless).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Random seed: the same options and seed give identical files.")
@click.option("--four-d", is_flag=True, default=False,
              help="Write a (1, 1, ny, nx) cube with degenerate FREQ and STOKES axes.  "
                   "[default: a 2-D image]")
@click.option("--blank-border", type=click.IntRange(min=0), default=0, show_default=True,
              help="Width in pixels of a NaN border (blanked mosaic edges); sources stay inside the unblanked area.")
@click.option("--frame", type=click.Choice(["icrs", "fk5", "galactic"], case_sensitive=False), default="icrs",
              show_default=True, help="Celestial frame of the image axes.")
@click.option("--projection", default="SIN", show_default=True, help="FITS projection code (SIN, TAN, ...).")
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace existing output files.  [default: refuse to overwrite]")
@handle_errors
def simulate(output, truth, size, n_sources, pixel_scale, beam, noise, seed, four_d, blank_border, frame,
             projection, overwrite):
    """Simulate a FIRST-like radio mosaic with point sources, FR-I/FR-II radio galaxies, diffuse
    emission and ring artefacts, and write it with a truth catalogue (labels for tasks B1, B3-B6).

    Large mosaics are written strip by strip with bounded memory, e.g.
    ``radioassist simulate -o big.fits --size 12000 --n-sources 20000``.
    """
    import numpy as np
    from astropy import units as u

    from ..simulate import SOURCE_KINDS, simulate_sky

    shape = _parse_size(size)
    if truth is None:
        truth = output.with_name(f"{output.stem}_truth.ecsv")
    for path, what in ((output, "mosaic"), (truth, "truth catalogue")):
        if path.exists() and not overwrite:
            raise click.ClickException(f"{path} already exists: pass --overwrite to replace it")
    if output.resolve() == truth.resolve():
        raise click.ClickException(f"the mosaic and the truth catalogue would both be written to {output}")
    sky = simulate_sky(shape=shape, n_sources=n_sources, pixel_scale=pixel_scale * u.arcsec,
                       beam=beam * u.arcsec, noise=noise, seed=seed, four_d=four_d, blank_border=blank_border,
                       frame=frame.lower(), projection=projection, output=output, overwrite=overwrite)
    try:
        sky.write_catalog(truth, overwrite=overwrite)
        kinds = np.asarray(sky.catalog["kind"], dtype=str)
        counts = ", ".join(f"{int(np.sum(kinds == k))} {k}" for k in SOURCE_KINDS)
        n_art = int(np.sum(sky.catalog["has_artefact"]))
        cube = " (4-D: degenerate FREQ and STOKES axes)" if four_d else ""
        click.echo(f"Wrote the {shape[1]}x{shape[0]} px mosaic{cube} to {output}")
        click.echo(f"Wrote the truth catalogue of {len(sky.catalog)} sources ({counts}; {n_art} with ring "
                   f"artefacts) to {truth}")
    finally:
        sky.close()
