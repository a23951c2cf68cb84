"""``radioassist evaluate``: metrics of one or more classifiers on labelled radio images."""
import click

from ._common import handle_errors, progress_enabled
from ._options import (batch_size_option, device_option, dtype_option, evaluation_output_options,
                       labelled_data_options, models_option)

__all__ = ["evaluate_command"]


@click.command("evaluate")
@click.argument("data", type=click.Path(exists=True))
@click.option("--task", "-t", "tasks", multiple=True, default=("B6",), show_default=True,
              help="Task to evaluate (B1-B6 or a registered task id); repeat for several tasks.")
@models_option(default=("vision",))
@click.option("--split", default="test", show_default=True,
              type=click.Choice(["test", "valid", "train", "all"], case_sensitive=False),
              help="Which images to evaluate on. Data without any split information is evaluated whole "
                   "(with a warning).")
@labelled_data_options
@batch_size_option(64, what="Images")
@device_option()
@dtype_option()
@evaluation_output_options
@handle_errors
def evaluate_command(data, tasks, models, split, dataset_options, batch_size, device, dtype, n_bootstrap, seed,
                     figures, output_dir, overwrite):
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

    backend_options = {"dtype": dtype} if dtype is not None else None
    result = evaluate(data, tasks=tasks, models=list(models), split=split.lower(), batch_size=batch_size,
                      device=device, progress=progress_enabled(), dataset_options=dataset_options,
                      backend_options=backend_options, n_bootstrap=n_bootstrap, seed=seed)
    files = result.write(output_dir, overwrite=overwrite, figures=figures)
    click.echo(result.to_markdown())
    click.echo(f"\n{len(files)} files written to {output_dir}", err=True)
