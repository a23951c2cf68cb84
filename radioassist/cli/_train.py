"""``radioassist train``: train a small vision classifier on labelled radio images."""

import click

from ._common import command_line, handle_errors, progress_enabled

__all__ = ["train"]


@click.command("train")
@click.argument("data", type=click.Path(exists=True))
@click.option(
    "--task", "-t", required=True, help="Task the classifier answers (B1-B6 or a registered task id)."
)
@click.option(
    "--output",
    "-o",
    "output_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="Checkpoint folder to write (loadable with --backend vision --model FOLDER).",
)
@click.option(
    "--manifest",
    type=click.Path(),
    default=None,
    show_default=True,
    help="CSV manifest with one row per image (file, label and split columns), relative to DATA.",
)
@click.option(
    "--file-column",
    default=None,
    show_default=True,
    help="Manifest column with the image files (default: found by name or content).",
)
@click.option(
    "--label-column",
    default=None,
    show_default=True,
    help="Manifest or catalogue column with the labels (default: label_name, label, class...).",
)
@click.option(
    "--split-column",
    default=None,
    show_default=True,
    help="Manifest column with train/valid/test (default: 'split' when present). Images marked test "
    "are held out and only used for the final metrics.",
)
@click.option(
    "--label-from-filename",
    "label_regex",
    default=None,
    show_default=True,
    help=r"Regular expression giving the label from each file name (named group 'label' or first "
    r"group), e.g. '_(I|II)\.fits$'.",
)
@click.option(
    "--label-map",
    default=None,
    show_default=True,
    help="Map raw labels to task labels, e.g. 'I=FR-I,II=FR-II' or 'Compact=NO,FRI=YES,FRII=YES,Bent=YES'.",
)
@click.option(
    "--catalog",
    type=click.Path(exists=True),
    default=None,
    show_default=True,
    help="Labelled source catalogue; DATA is then the mosaic to cut the sources out of.",
)
@click.option(
    "--cutout-size",
    type=click.IntRange(8, 4096),
    default=None,
    show_default=True,
    help="Centre-crop each image to this many pixels before rendering (or, with --catalog, the cutout "
    "side; 150 by default).",
)
@click.option(
    "--pixel-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    show_default=True,
    help="Pixel scale of the images in arcsec, recorded in the model (read from FITS headers when absent).",
)
@click.option(
    "--beam",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    show_default=True,
    help="Beam FWHM of the images in arcsec, recorded in the model (read from FITS headers when absent).",
)
@click.option(
    "--data-description",
    default=None,
    show_default=True,
    help="Origin and licence of the training images, written into the model card.",
)
@click.option(
    "--architecture",
    default="resnet-tiny",
    show_default=True,
    help="'resnet-tiny', 'resnet-mid' or 'resnet-small' (trained from scratch), or a checkpoint "
    "folder / hub id "
    "to fine-tune.",
)
@click.option(
    "--image-size",
    type=click.IntRange(16, 1024),
    default=None,
    show_default=True,
    help="Model input side in pixels (default: 64 for the built-in architectures, the checkpoint's "
    "size when fine-tuning).",
)
@click.option(
    "--epochs", type=click.IntRange(1, 10000), default=40, show_default=True, help="Maximum number of epochs."
)
@click.option(
    "--patience",
    type=click.IntRange(1, 10000),
    default=20,
    show_default=True,
    help="Stop after this many epochs without a better validation macro F1.",
)
@click.option(
    "--batch-size", type=click.IntRange(2, 4096), default=64, show_default=True, help="Images per step."
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    show_default=True,
    help="Peak AdamW learning rate (default: 2e-3 from scratch, 5e-5 when fine-tuning).",
)
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.15,
    show_default=True,
    help="Fraction of the training images held out for validation when the data " "has no validation split.",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Random seed (split, weights, augmentation)."
)
@click.option(
    "--augment/--no-augment",
    default=True,
    show_default=True,
    help="Random rotations, flips, shifts, zoom, noise, clip level and contrast jitter.",
)
@click.option(
    "--any-angle/--right-angles",
    default=True,
    show_default=True,
    help="Rotate training images by any angle, or only by multiples of 90 degrees.",
)
@click.option(
    "--early-stopping/--no-early-stopping",
    default=True,
    show_default=True,
    help="Keep the epoch with the best validation macro F1, or train all --epochs and keep the last.",
)
@click.option(
    "--label-smoothing",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.0,
    show_default=True,
    help="Share of each target probability spread over the other classes.",
)
@click.option(
    "--temperature",
    default="fit",
    show_default=True,
    help="Calibration temperature of the logits: 'fit' (on the validation images), 'none', or a number.",
)
@click.option(
    "--survey",
    "surveys",
    multiple=True,
    help="Survey of the training images (repeatable), recorded in the model, e.g. --survey FIRST.",
)
@click.option(
    "--frequency",
    type=click.FloatRange(min=0, min_open=True),
    multiple=True,
    help="Observing frequency of the training images in MHz (give twice for a range), recorded in the model.",
)
@click.option(
    "--training-sample",
    "training_samples",
    multiple=True,
    help="Name of a labelled sample in the training data (repeatable), recorded in the model.",
)
@click.option("--device", default="cpu", show_default=True, help="Torch device (cpu, cuda, cuda:1, mps).")
@click.option(
    "--overwrite", is_flag=True, default=False, help="Replace a model already in the output folder."
)
@click.pass_context
@handle_errors
def train(
    ctx,
    data,
    task,
    output_dir,
    manifest,
    file_column,
    label_column,
    split_column,
    label_regex,
    label_map,
    catalog,
    cutout_size,
    pixel_scale,
    beam,
    data_description,
    architecture,
    image_size,
    epochs,
    patience,
    batch_size,
    learning_rate,
    val_fraction,
    seed,
    augment,
    any_angle,
    early_stopping,
    label_smoothing,
    temperature,
    surveys,
    frequency,
    training_samples,
    device,
    overwrite,
):
    """Train a small image classifier for a task on labelled images in DATA.

    DATA is a folder of FITS/PNG images (labelled by sub-folder, by a CSV
    --manifest or by --label-from-filename), a CSV manifest, a radio-llava
    datalist (.json), or a mosaic with a labelled --catalog.  FITS images are
    rendered with the radio-llava preset.  The checkpoint (safetensors, config,
    model card with metrics and this command) is written to --output.

    Example (FR-DEEP, task B6):

        radioassist train ../shared/data/frdeep_v2 --task B6 -o my-b6 --manifest frdeep_v2_manifest.csv
        --file-column file_first --label-from-filename '_(I|II)\\.fits$' --label-map I=FR-I,II=FR-II
    """
    from ..exceptions import InputError
    from ..training import train_vision_classifier

    if str(temperature).lower() == "none":
        temperature = None
    elif str(temperature).lower() != "fit":
        try:
            temperature = float(temperature)
        except ValueError:
            temperature = -1.0
        if not temperature > 0:
            msg = f"--temperature must be 'fit', 'none' or a positive number, got {temperature!r}"
            raise InputError(msg)
    if len(frequency) > 2:
        msg = f"--frequency takes one value or two (a range), got {len(frequency)}"
        raise InputError(msg)
    result = train_vision_classifier(
        data,
        task=task,
        output_dir=output_dir,
        architecture=architecture,
        image_size=image_size,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        val_fraction=val_fraction,
        seed=seed,
        patience=patience,
        augment=augment,
        any_angle=any_angle,
        early_stopping=early_stopping,
        label_smoothing=label_smoothing,
        temperature=temperature,
        surveys=list(surveys) or None,
        frequency_mhz=None if not frequency else (frequency[0] if len(frequency) == 1 else list(frequency)),
        training_samples=list(training_samples) or None,
        device=device,
        progress=progress_enabled(),
        overwrite=overwrite,
        manifest=manifest,
        label_from_filename=label_regex,
        label_map=label_map,
        file_column=file_column,
        label_column=label_column,
        split_column=split_column,
        catalog=catalog,
        cutout_size=cutout_size,
        pixel_scale=pixel_scale,
        beam=beam,
        data_description=data_description,
        command=command_line(ctx),
    )
    val = result.val_metrics
    click.echo(f"Model written to {result.output_dir} ({result.model_bytes / 1e6:.2f} MB)")
    click.echo(
        f"Best epoch {result.best_epoch} of {result.epochs_run} ({result.seconds:.0f} s)"
        + (
            ""
            if val is None
            else f"; validation macro F1 {val['macro_f1']:.3f}, accuracy {val['accuracy']:.3f} "
            f"({val['n']} images), calibration error {val.get('ece', float('nan')):.3f}"
        )
    )
    if result.test_metrics is not None:
        test = result.test_metrics
        click.echo(
            f"Held-out test: macro F1 {test['macro_f1']:.3f}, accuracy {test['accuracy']:.3f} "
            f"({test['n']} images)"
        )
