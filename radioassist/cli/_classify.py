"""``radioassist classify``: label every source of a mosaic."""
from pathlib import Path

import click

from ._common import handle_errors, parse_size, progress_enabled

__all__ = ["classify_command"]


@click.command("classify")
@click.argument("mosaic", type=click.Path(dir_okay=False))
@click.option("-c", "--catalog", type=click.Path(), default=None,
              help="Source catalogue (VOTable, FITS, ECSV, CSV) or DS9/CRTF region file. "
                   "Default: find sources in the mosaic with photutils.")
@click.option("-t", "--task", default="B6", show_default=True,
              help="Task to ask: B1-B6 or a registered task (see 'radioassist tasks').")
@click.option("-b", "--backend", default="vision", show_default=True,
              help="Classifier backend (see 'radioassist backends').")
@click.option("-m", "--model", default=None,
              help="Model folder or hub id. Default: the model shipped with radioassist for the task.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="Output catalogue; format from the extension (.vot, .xml, .fits, .ecsv, .csv). "
                   "Default: <mosaic>_<task>.ecsv next to the mosaic.")
@click.option("--regions", type=click.Path(dir_okay=False), default=None,
              help="Also write a DS9 region file with sources coloured by label.")
@click.option("--gallery", type=click.Path(dir_okay=False), default=None,
              help="Also write a PNG gallery of cutouts with their labels.")
@click.option("--gallery-max", default=64, show_default=True, help="Most cutouts shown in the gallery.")
@click.option("--size", default=None,
              help="Cutout side in pixels (e.g. 128) or as an angle (e.g. 270arcsec). "
                   "Default: the field of view the model was trained on.")
@click.option("--batch-size", default=512, show_default=True, help="Sources per batch.")
@click.option("--device", default="cpu", show_default=True, help="Torch device: cpu, cuda, cuda:1, mps.")
@click.option("--hdu", default=None, help="HDU of the mosaic holding the image (index or name). Default: the first image.")
@click.option("--plane", default=None, type=int, help="Plane of a cube's non-degenerate FREQ/STOKES axis.")
@click.option("--ra-col", default=None, help="Catalogue RA (or longitude) column. Default: detected.")
@click.option("--dec-col", default=None, help="Catalogue Dec (or latitude) column. Default: detected.")
@click.option("--size-col", default=None, help="Catalogue source-size column. Default: detected.")
@click.option("--snr", default=5.0, show_default=True, help="Detection threshold when no catalogue is given.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@handle_errors
def classify_command(mosaic, catalog, task, backend, model, output, regions, gallery, gallery_max, size,
                     batch_size, device, hdu, plane, ra_col, dec_col, size_col, snr, overwrite):
    """Classify every source of MOSAIC and write the labelled catalogue.

    Cuts each catalogue source out of the mosaic, renders it as the model
    expects, asks the classifier the task's question and writes the catalogue
    with <task>_label, one <task>_prob_<label> column per class and a
    <task>_flag column (empty when classified, otherwise why not).
    """
    from ..image import load_image
    from ..output import check_writable, write_regions, write_table
    from ..pipeline import classify
    from ..tasks import get_task

    task_obj = get_task(task)
    mosaic_path = Path(mosaic)
    if output is None:
        output = mosaic_path.with_name(f"{mosaic_path.stem}_{task_obj.id}.ecsv")
    # check every output before any work, so that a finished run is never lost on a bad path
    for path in (output, regions, gallery):
        if path is not None:
            check_writable(path, overwrite=overwrite)
    hdu_value = int(hdu) if hdu is not None and str(hdu).lstrip("-").isdigit() else hdu
    image = load_image(mosaic_path, hdu=hdu_value, plane=plane)
    catalog_options = {k: v for k, v in (("ra", ra_col), ("dec", dec_col), ("size", size_col)) if v}
    timings = {}
    table = classify(image, catalog, task=task_obj, backend=backend, model=model, size=parse_size(size),
                     batch_size=batch_size, device=device, catalog_options=catalog_options,
                     detect_options={"snr": snr}, progress=progress_enabled(), timings=timings)
    write_table(table, output, overwrite=overwrite)
    click.echo(f"Wrote {len(table)} sources with {task_obj.id} labels to {output}")
    if regions:
        write_regions(table, regions, task=task_obj, overwrite=overwrite)
        click.echo(f"Wrote DS9 regions to {regions}")
    if gallery:
        _write_gallery(image, table, task_obj, gallery, limit=gallery_max, overwrite=overwrite)
        click.echo(f"Wrote gallery to {gallery}")
    _summary(table, task_obj, timings)


def _summary(table, task, timings):
    import numpy as np

    labels = np.asarray(table[f"{task.id}_label"], dtype=str)
    counts = {lab: int(np.sum(labels == lab)) for lab in sorted(set(labels)) if lab}
    flags = np.asarray(table[f"{task.id}_flag"], dtype=str)
    n_bad = int(np.sum(flags != ""))
    parts = ", ".join(f"{lab}: {n}" for lab, n in counts.items())
    click.echo(f"Labels: {parts or 'none'}" + (f"; not classified: {n_bad} (see {task.id}_flag)" if n_bad else ""))
    total = timings.get("total")
    if total:
        click.echo(f"{len(table)} sources in {total:.1f} s ({len(table) / total:.0f} sources/s)")


def _write_gallery(image, table, task, path, *, limit, overwrite):
    import numpy as np

    from ..cutouts import extract_cutouts
    from ..gallery import make_gallery
    from ..output import check_writable
    from ..render import render

    check_writable(path, overwrite=overwrite)
    flags = np.asarray(table[f"{task.id}_flag"], dtype=str)
    rows = np.flatnonzero(flags == "")[:limit]
    if len(rows) == 0:
        raise click.ClickException("no classified source to show in the gallery")
    size = table.meta.get("radioassist", {}).get("cutout_size", "64")
    try:
        size = int(size)
    except ValueError:
        size = 64
    stack = extract_cutouts(image, table["skycoord"][rows], size=size)
    images = render(stack, preset="radio-llava")
    labels = [str(table[f"{task.id}_label"][i]) for i in rows]
    probs = []
    for i, lab in zip(rows, labels):
        col = f"{task.id}_prob_{lab.split(',')[0]}"
        probs.append(float(table[col][i]) if col in table.colnames else float("nan"))
    make_gallery(images, labels=labels, probabilities=probs, path=path)
