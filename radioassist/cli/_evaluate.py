"""``radioassist evaluate``: metrics of one or more classifiers on labelled radio images."""
import click

from ._common import handle_errors, progress_enabled

__all__ = ["evaluate_command"]


@click.command("evaluate")
@click.argument("data", type=click.Path(exists=True))
@click.option("--task", "-t", "tasks", multiple=True, default=("B6",), show_default=True,
              help="Task to evaluate (B1-B6 or a registered task id); repeat for several tasks.")
@click.option("--model", "-m", "models", multiple=True, default=("vision",), show_default=True,
              help="Model to evaluate, as BACKEND[=MODEL][,OPTION=VALUE...][,name=NAME]; repeat to compare "
                   "models. 'vision' alone is the model shipped for each task; e.g. "
                   "--model vision=my-b6-checkpoint --model llava=/models/radio-llava,mode=generate,name=rl-gen.")
@click.option("--split", default="test", show_default=True,
              type=click.Choice(["test", "valid", "train", "all"], case_sensitive=False),
              help="Which images to evaluate on. Data without any split information is evaluated whole "
                   "(with a warning).")
@click.option("--manifest", type=click.Path(), default=None, show_default=True,
              help="CSV manifest with one row per image (file, label and split columns), relative to DATA.")
@click.option("--file-column", default=None, show_default=True,
              help="Manifest column with the image files (default: found by name or content).")
@click.option("--label-column", default=None, show_default=True,
              help="Manifest or catalogue column with the labels (default: label_name, label, class...).")
@click.option("--split-column", default=None, show_default=True,
              help="Manifest or catalogue column with train/valid/test (default: 'split' when present).")
@click.option("--label-from-filename", "label_regex", default=None, show_default=True,
              help=r"Regular expression giving the label from each file name (named group 'label' or first "
                   r"group), e.g. '_(I|II)\.fits$'.")
@click.option("--label-map", default=None, show_default=True,
              help="Map raw labels to task labels, e.g. 'I=FR-I,II=FR-II' or 'Compact=NO,FRI=YES,FRII=YES,Bent=YES'.")
@click.option("--catalog", type=click.Path(exists=True), default=None, show_default=True,
              help="Labelled source catalogue; DATA is then the mosaic to cut the sources out of "
                   "(needs --label-column).")
@click.option("--cutout-size", type=click.IntRange(8, 4096), default=None, show_default=True,
              help="Centre-crop each image to this many pixels before rendering (or, with --catalog, the cutout "
                   "side; 150 by default).")
@click.option("--batch-size", type=click.IntRange(1, 100000), default=64, show_default=True,
              help="Images per call to a backend.")
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda, cuda:1, mps).")
@click.option("--dtype", default=None, show_default=True,
              help="Compute dtype given to every backend (float32, bfloat16, float16); the backend's choice "
                   "by default.")
@click.option("--bootstrap", "n_bootstrap", type=click.IntRange(0, 1000000), default=1000, show_default=True,
              help="Bootstrap resamples for the 95% confidence interval of the macro F1 (0: none).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the bootstrap.")
@click.option("--figures/--no-figures", default=True, show_default=True,
              help="Write PNG confusion matrices and the macro-F1 comparison (needs matplotlib).")
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for summary.ecsv/.md, metrics.json, predictions_<TASK>.ecsv and the figures.")
@click.option("--overwrite", is_flag=True, default=False,
              help="Write into an output folder that is not empty (same-named files are replaced).")
@handle_errors
def evaluate_command(data, tasks, models, split, manifest, file_column, label_column, split_column, label_regex,
                     label_map, catalog, cutout_size, batch_size, device, dtype, n_bootstrap, seed, figures,
                     output_dir, overwrite):
    """Evaluate classifiers on labelled images in DATA and write metrics, predictions and figures.

    DATA is a radio-llava datalist (.json), a folder of FITS/PNG images
    (labelled by sub-folder, by a CSV --manifest or by --label-from-filename),
    a CSV manifest, or a mosaic with a labelled --catalog.  Every model is run
    on the chosen split; answers that name no label (generative backends) are
    counted as wrong and their rate reported.  The summary (macro F1 with a
    bootstrap interval, weighted F1, accuracy, unparsed rate) is printed as
    Markdown.

    Examples (held-out test splits of FR-DEEP, task B6, and of the Radio Galaxy
    Dataset, task B3, with the shipped models):

    \b
        radioassist evaluate ../shared/data/frdeep_v2 --task B6 \\
            --manifest frdeep_v2_manifest.csv --file-column file_first \\
            --label-from-filename '_(I|II)\\.fits$' --label-map I=FR-I,II=FR-II -o eval-b6
        radioassist evaluate ../shared/data/first_rgd_png/labels.csv --task B3 \\
            --label-map Compact=NO,FRI=YES,FRII=YES,Bent=YES -o eval-b3
    """
    from ..evaluate import evaluate

    dataset_options = {key: value for key, value in dict(
        manifest=manifest, file_column=file_column, label_column=label_column, split_column=split_column,
        label_from_filename=label_regex, label_map=label_map, catalog=catalog, cutout_size=cutout_size).items()
        if value is not None}
    backend_options = {"dtype": dtype} if dtype is not None else None
    result = evaluate(data, tasks=tasks, models=list(models), split=split.lower(), batch_size=batch_size,
                      device=device, progress=progress_enabled(), dataset_options=dataset_options,
                      backend_options=backend_options, n_bootstrap=n_bootstrap, seed=seed)
    files = result.write(output_dir, overwrite=overwrite, figures=figures)
    click.echo(result.to_markdown())
    click.echo(f"\n{len(files)} files written to {output_dir}", err=True)
