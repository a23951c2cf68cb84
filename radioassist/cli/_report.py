"""``radioassist report``: a browsable HTML report of an existing labelled catalogue."""
from pathlib import Path

import click

from ._common import handle_errors
from ._options import image_options

__all__ = ["report_command", "THUMBNAIL_HELP"]

THUMBNAIL_HELP = ("Where the thumbnails go: 'embed' (inside the HTML, one file), 'folder' (JPEG sheets in "
                  "<report>_files/ beside it) or 'none'.")


@click.command("report")
@click.argument("table", type=click.Path(dir_okay=False), metavar="LABELLED_TABLE")
@click.option("-i", "--image", "images", multiple=True, type=click.Path(dir_okay=False),
              help="Mosaic the table was classified in (repeat for the tiles of a survey run).  "
                   "Default: none (no thumbnails, no footprint on the sky map).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), default=None,
              help="HTML report to write.  Default: <table>.html next to the table.")
@click.option("-t", "--task", default=None,
              help="Task whose labels to report.  Default: the one recorded in the table.")
@click.option("--truth-column", default=None,
              help="Column of true labels: adds a confusion matrix and lists disagreements first.  Default: none.")
@click.option("--thumbnails", type=click.Choice(["embed", "folder", "none"]), default="embed", show_default=True,
              help=THUMBNAIL_HELP)
@click.option("--thumbnail-size", default=64, show_default=True, type=int, help="Thumbnail side in pixels.")
@image_options
@click.option("--overwrite", is_flag=True, help="Replace an existing report.  Default: off.")
@handle_errors
def report_command(table, images, output, task, truth_column, thumbnails, thumbnail_size, hdu, plane, overwrite):
    """Write a self-contained HTML report of LABELLED_TABLE (the output of 'radioassist classify').

    The report opens offline in any browser: run provenance and counts, a
    sortable and filterable table of every source with its thumbnail (the
    least confident first), a gallery per label, a sky map and the class
    probability histograms.  Thumbnails are cut from the --image mosaic(s)
    with the render preset and cutout size recorded in the table, so they
    show what the model saw.
    """
    from ..report import write_report

    path = Path(table)
    if not path.exists():
        raise click.FileError(str(path), hint="labelled table not found")
    for image in images:
        if not Path(image).exists():
            raise click.FileError(str(image), hint="image file not found")
    output = Path(output) if output else path.with_suffix(".html")
    image = None if not images else (list(images) if len(images) > 1 else images[0])
    write_report(path, image, output, task=task, truth_column=truth_column, thumbnails=thumbnails,
                 thumbnail_size=thumbnail_size, hdu=hdu, plane=plane, overwrite=overwrite)
    click.echo(f"Wrote report to {output}")
