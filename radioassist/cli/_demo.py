"""``radioassist demo``: simulate a small sky and classify it with the shipped model, offline."""
from pathlib import Path

import click

from ._common import handle_errors, progress_enabled

__all__ = ["demo"]

_MARKER = ".radioassist-demo"


@click.command("demo")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False), default="radioassist-demo", show_default=True,
              help="Folder for the demo's mosaic, labelled catalogue, region file and gallery.")
@click.option("-t", "--task", default="B6", show_default=True,
              help="Task to run (a task with a shipped model: B6 or B3).")
@click.option("--n-sources", default=80, show_default=True, help="Number of simulated sources.")
@click.option("--size", "image_size", default=1536, show_default=True, help="Side of the simulated mosaic in pixels.")
@click.option("--seed", default=1, show_default=True, help="Random seed of the simulated sky.")
@click.option("--overwrite", is_flag=True,
              help="Replace files of the same names in a folder that an earlier demo did not make.  Default: off "
                   "(the files of an earlier demo in its own folder are always replaced, so the demo can be run "
                   "again).")
@handle_errors
def demo(output_dir, task, n_sources, image_size, seed, overwrite):
    """Simulate a FIRST-like radio sky, classify every source with the shipped model, report accuracy.

    Runs offline: the mosaic and its truth catalogue are simulated, the model ships with radioassist.
    Writes mosaic.fits, truth.ecsv, classified.ecsv, classified.reg and gallery.png to the folder.
    """
    import numpy as np

    from ..output import check_writable, write_regions, write_table
    from ..pipeline import classify
    from ..simulate import simulate_sky
    from ..tasks import get_task
    from ._classify import _write_gallery

    task_obj = get_task(task)
    folder = Path(output_dir)
    marker = folder / _MARKER
    overwrite = overwrite or marker.is_file()  # the demo's own folder: run it again, it replaces its own outputs
    paths = {name: folder / name for name in ("mosaic.fits", "truth.ecsv", "classified.ecsv", "classified.reg",
                                              "gallery.png")}
    if folder.is_dir():
        for path in paths.values():
            check_writable(path, overwrite=overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    marker.write_text("made by 'radioassist demo': running it again replaces the files of this folder\n")
    click.echo(f"Simulating a {image_size}x{image_size} FIRST-like mosaic with {n_sources} sources (seed {seed})...")
    sky = simulate_sky(shape=(image_size, image_size), n_sources=n_sources, seed=seed,
                       output=paths["mosaic.fits"], overwrite=overwrite)
    sky.write_catalog(paths["truth.ecsv"], overwrite=overwrite)
    truth_col = f"{task_obj.id}_true"
    catalog = sky.catalog
    click.echo(f"Classifying all {len(catalog)} simulated sources (task {task_obj.id}: {task_obj.name})...")
    timings = {}
    table = classify(sky.image, catalog, task=task_obj, progress=progress_enabled(), timings=timings)
    write_table(table, paths["classified.ecsv"], overwrite=overwrite)
    write_regions(table, paths["classified.reg"], task=task_obj, overwrite=overwrite)
    _write_gallery([paths["mosaic.fits"]], table, task_obj, paths["gallery.png"], limit=32, overwrite=overwrite)
    flags = np.asarray(table[f"{task_obj.id}_flag"], dtype=str)
    if task_obj.applies_to is not None and f"{task_obj.id}_gate_prob" in table.colnames:
        applies = np.asarray(catalog[truth_col], dtype=str) != "" if truth_col in catalog.colnames else None
        if applies is not None:
            gated = flags == "not_applicable"
            click.echo(f"Gate ({task_obj.applies_to.task}: the task applies to {task_obj.applies_to.description}): "
                       f"{int(np.sum(gated & ~applies))} of {int(np.sum(~applies))} other sources set aside as "
                       f"not_applicable, {int(np.sum(gated & applies))} of {int(applies.sum())} radio galaxies")
    if truth_col in table.colnames:
        truth = np.asarray(table[truth_col], dtype=str)
        pred = np.asarray(table[f"{task_obj.id}_label"], dtype=str)
        known = (truth != "") & (flags == "")  # rows set aside (e.g. 'partial' at the mosaic edge) are not scored
        acc = float(np.mean(pred[known] == truth[known])) if known.any() else float("nan")
        click.echo(f"Accuracy against the simulation's truth: {acc:.1%} on the {int(known.sum())} classified "
                   f"sources with a true {task_obj.id} label ({int(np.sum((truth != '') & (flags != '')))} set aside, "
                   f"see {task_obj.id}_flag)")
    click.echo(f"Done in {timings.get('total', 0):.1f} s. Outputs in {folder}/: " + ", ".join(paths))
