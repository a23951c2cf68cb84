"""``radioassist train``: train a small vision classifier on labelled radio images."""
import click

from ..exceptions import InputError
from ._common import command_line, handle_errors, progress_enabled
from ._options import batch_size_option, checked, device_option, labelled_data_options

__all__ = ["train"]


def _temperature(text):
    """``--temperature``: 'fit', 'none' (None) or a positive number."""
    text = str(text).strip().lower()
    if text in ("fit", "none"):
        return None if text == "none" else text
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        msg = f"temperature (--temperature) must be 'fit', 'none' or a positive number, got {text!r}"
        raise InputError(msg)
    return value


@click.command("train")
@click.argument("data", type=click.Path(exists=True))
@click.option("--task", "-t", required=True, help="Task the classifier answers (B1-B6 or a registered task id).")
@click.option("--output", "-o", "output_dir", required=True, type=click.Path(file_okay=False),
              help="Checkpoint folder to write (loadable with --backend vision --model FOLDER).")
@labelled_data_options
@click.option("--pixel-scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Pixel scale of the images in arcsec, recorded in the model (read from FITS headers when "
                   "absent).")
@click.option("--beam", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Beam FWHM of the images in arcsec, recorded in the model (read from FITS headers when absent).")
@click.option("--data-description", default=None,
              help="Origin and licence of the training images, written into the model card.")
@click.option("--architecture", default="resnet-tiny", show_default=True,
              help="'resnet-tiny', 'resnet-mid' or 'resnet-small' (trained from scratch), or a checkpoint folder / "
                   "hub id to fine-tune.")
@click.option("--image-size", type=click.IntRange(16, 1024), default=None,
              help="Model input side in pixels (default: 64 for the built-in architectures, the checkpoint's size "
                   "when fine-tuning).")
@click.option("--epochs", type=click.IntRange(1, 10000), default=40, show_default=True,
              help="Maximum number of epochs.")
@click.option("--patience", type=click.IntRange(1, 10000), default=20, show_default=True,
              help="Stop after this many epochs without a better validation macro F1.")
@batch_size_option(64, what="Images (one optimizer step; at least 2)", minimum=2)
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak AdamW learning rate (default: 2e-3 from scratch, 5e-5 when fine-tuning).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.15, show_default=True,
              help="Fraction of the training images held out for validation when the data has no validation "
                   "split.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed (split, weights, augmentation).")
@click.option("--augment/--no-augment", default=True, show_default=True,
              help="Random rotations, flips, shifts, zoom, noise, clip level and contrast jitter.")
@click.option("--any-angle/--right-angles", default=True, show_default=True,
              help="Rotate training images by any angle, or only by multiples of 90 degrees.")
@click.option("--early-stopping/--no-early-stopping", default=True, show_default=True,
              help="Keep the epoch with the best validation macro F1, or train all --epochs and keep the last.")
@click.option("--label-smoothing", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True,
              help="Share of each target probability spread over the other classes.")
@click.option("--temperature", default="fit", show_default=True, callback=checked(_temperature),
              help="Calibration temperature of the logits: 'fit' (on the validation images), 'none', or a number.")
@click.option("--survey", "surveys", multiple=True,
              help="Survey of the training images (repeatable), recorded in the model, e.g. --survey FIRST.")
@click.option("--frequency", type=click.FloatRange(min=0, min_open=True), multiple=True,
              help="Observing frequency of the training images in MHz (give twice for a range), recorded in the "
                   "model.")
@click.option("--training-sample", "training_samples", multiple=True,
              help="Name of a labelled sample in the training data (repeatable), recorded in the model.")
@device_option()
@click.option("--overwrite", is_flag=True, default=False, help="Replace a model already in the output folder.")
@click.pass_context
@handle_errors
def train(ctx, data, task, output_dir, dataset_options, pixel_scale, beam, data_description, architecture,
          image_size, epochs, patience, batch_size, learning_rate, val_fraction, seed, augment, any_angle,
          early_stopping, label_smoothing, temperature, surveys, frequency, training_samples, device, overwrite):
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
    from ..training import train_vision_classifier

    if len(frequency) > 2:
        msg = f"--frequency takes one value or two (a range), got {len(frequency)}"
        raise click.UsageError(msg)
    result = train_vision_classifier(
        data, task=task, output_dir=output_dir, **dataset_options, architecture=architecture,
        image_size=image_size, epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
        val_fraction=val_fraction, seed=seed, patience=patience, augment=augment, any_angle=any_angle,
        early_stopping=early_stopping, label_smoothing=label_smoothing, temperature=temperature,
        surveys=list(surveys) or None,
        frequency_mhz=None if not frequency else (frequency[0] if len(frequency) == 1 else list(frequency)),
        training_samples=list(training_samples) or None, device=device, progress=progress_enabled(),
        overwrite=overwrite, pixel_scale=pixel_scale, beam=beam, data_description=data_description,
        command=command_line(ctx))
    val = result.val_metrics
    click.echo(f"Model written to {result.output_dir} ({result.model_bytes / 1e6:.2f} MB)")
    scores = "" if val is None else (f"; validation macro F1 {val['macro_f1']:.3f}, accuracy {val['accuracy']:.3f} "
                                     f"({val['n']} images), calibration error {val.get('ece', float('nan')):.3f}")
    click.echo(f"Best epoch {result.best_epoch} of {result.epochs_run} ({result.seconds:.0f} s){scores}")
    if result.test_metrics is not None:
        test = result.test_metrics
        click.echo(f"Held-out test: macro F1 {test['macro_f1']:.3f}, accuracy {test['accuracy']:.3f} "
                   f"({test['n']} images)")
