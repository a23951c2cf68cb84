"""``radioassist make-dataset``: cutouts + LLaVA conversations + benchmark datalists for fine-tuning."""
import click

from ._common import handle_errors, progress_enabled
from ._options import (label_map_option, label_regex_option, labelled_catalog_option, manifest_options,
                       size_option, split_column_option)

__all__ = ["make_dataset_command"]


@click.command("make-dataset")
@click.argument("source", type=click.Path(exists=True))
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write (images/, train.json, valid.json, datalist_<TASK>.json, dataset.json).")
@click.option("--task", "-t", "tasks", multiple=True, required=True,
              help="Task to ask (repeat for several: -t B3 -t B6).")
@labelled_catalog_option()
@click.option("--label-column", "label_columns", multiple=True,
              help="Catalogue (or manifest) label column, as TASK=COLUMN (e.g. B6=B6_true; a bare COLUMN "
                   "with one task). Columns named <TASK>_true, <TASK>_label or <TASK> are found by "
                   "themselves.")
@click.option("--tags-column", default=None,
              help="Catalogue column of per-source tag lists (COMPACT, RADIO-GALAXY...), giving B1/B3/B4/B5 "
                   "labels by radio-llava's rules (a 'tags' column is used by default).")
@label_map_option()
@click.option("--id-column", default=None, help="Catalogue column of source names (ids and file names).")
@split_column_option()
@click.option("--caption-column", default=None,
              help="Catalogue column or datalist key with a caption per image.")
@click.option("--captions/--no-captions", default=False, show_default=True,
              help="Add a caption turn generated from the labels.")
@size_option("150")
@click.option("--fits/--no-fits", default=False, show_default=True,
              help="Also write FITS cutouts (or copy source FITS files); datalists then point to them.")
@click.option("--paraphrases/--no-paraphrases", default=True, show_default=True,
              help="Ask half of the questions with a paraphrased question sentence.")
@click.option("--multi-turn/--single-turn", default=False, show_default=True,
              help="One record per image with every task, or one record per image and task (as the backends "
                   "ask).")
@click.option("--prompt-version", type=click.Choice(["v2", "v1"]), default="v2", show_default=True,
              help="Prompt version (v2: radio-llava's, the llava backend's default).")
@click.option("--with-definitions", is_flag=True, default=False,
              help="Put the class definitions in the prompts.")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.1, show_default=True,
              help="Fraction of the images (without a given split) held out for validation, stratified by "
                   "label.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seed of the split and of the paraphrases.")
@manifest_options
@label_regex_option()
@click.option("--overwrite", is_flag=True, default=False,
              help="Replace a dataset already in the output folder.")
@handle_errors
def make_dataset_command(source, output_dir, tasks, catalog, label_columns, tags_column, label_map, id_column,
                         split_column, caption_column, captions, size, fits, paraphrases, multi_turn,
                         prompt_version, with_definitions, val_fraction, seed, manifest, file_column,
                         label_regex, overwrite):
    """Make instruction-tuning data for the llava backend from labelled images in SOURCE.

    SOURCE is a mosaic (with --catalog), a folder of labelled images or a CSV
    manifest (one task), or a radio-llava datalist (.json) whose labels are
    task labels or tag lists.  Writes PNG cutouts rendered with the
    radio-llava preset, LLaVA conversations (train.json, valid.json) asking the
    tasks with the prompts the llava backend uses, and a benchmark datalist per
    task for evaluation (datalist_<TASK>_valid.json).

    Example (simulated sky, task B3):

        radioassist simulate -o sky.fits --truth truth.ecsv

        radioassist make-dataset sky.fits --catalog truth.ecsv -t B3 -o b3-data --size 64
    """
    from ..training.make_dataset import make_dataset

    folder_column = None
    if catalog is None and len(label_columns) == 1 and "=" not in label_columns[0]:
        folder_column, label_columns = label_columns[0], ()  # the manifest's label column
    result = make_dataset(
        source, output_dir, tasks=list(tasks), catalog=catalog, label_columns=list(label_columns) or None,
        tags_column=tags_column, label_map=label_map, id_column=id_column, split_column=split_column,
        caption_column=caption_column, captions=captions, size=size, fits=fits,
        paraphrases=paraphrases, multi_turn=multi_turn, prompt_version=prompt_version,
        with_definitions=with_definitions, val_fraction=val_fraction, seed=seed, manifest=manifest,
        label_from_filename=label_regex, file_column=file_column, label_column=folder_column,
        overwrite=overwrite, progress=progress_enabled())
    records = ", ".join(f"{n} {split or 'unsplit'}" for split, n in result.n_records.items())
    click.echo(f"Wrote {result.n_images} images and {records} conversation records to {result.output_dir}")
    for task, splits in result.counts.items():
        parts = "; ".join(f"{split or 'unsplit'}: " + ", ".join(f"{label} {n}" for label, n in labels.items())
                          for split, labels in splits.items())
        click.echo(f"  {task}: {parts}")
    if result.n_skipped:
        click.echo(f"Skipped {result.n_skipped} source(s) (no usable cutout or no label).")
