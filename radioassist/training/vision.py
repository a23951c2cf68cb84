"""Train small vision-only classifiers (transformers checkpoints) on labelled radio images.

:func:`train_vision_classifier` trains a small ResNet from scratch (or
fine-tunes any ``AutoModelForImageClassification`` checkpoint) with
augmentation suited to radio cutouts (any rotation, flips, small shifts,
+-20% zoom, noise, background clipping and contrast jitter), class-balanced
loss and early stopping on the validation macro F1.  The result is a
checkpoint folder that the ``vision`` backend loads: safetensors weights,
``config.json`` with a ``radioassist`` block (task, labels, preprocessing,
pixel scale, beam, cutout size, metrics, weight hash), a
``preprocessor_config.json`` and a model card ``README.md``.
"""

import copy
import json
import math
import shlex
import sys
import time
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path

import numpy as np

from ..exceptions import InputError, ModelError
from ..logger import log
from ..tasks import get_task
from ..version import __version__
from ..metrics import classification_report, expected_calibration_error, fit_temperature
from ..preprocess import background_clip as _background_clip
from ..preprocess import model_input
from .datasets import LabelledImages, load_dataset

__all__ = [
    "train_vision_classifier",
    "TrainingResult",
    "ARCHITECTURES",
    "evaluate_checkpoint",
    "checkpoint_logits",
]

#: Built-in architectures: small ResNets built from a config and trained from scratch.
ARCHITECTURES = {
    "resnet-tiny": dict(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1]),
    "resnet-mid": dict(embedding_size=24, hidden_sizes=[24, 48, 96, 192], depths=[1, 1, 1, 1]),
    "resnet-small": dict(embedding_size=32, hidden_sizes=[32, 64, 128, 256], depths=[1, 1, 1, 1]),
}
_FILES_WRITTEN = (
    "config.json",
    "model.safetensors",
    "preprocessor_config.json",
    "README.md",
    "training_log.json",
)


@dataclass
class TrainingResult:
    """What :func:`train_vision_classifier` did.

    Attributes
    ----------
    output_dir : `pathlib.Path`
        The checkpoint folder.
    best_epoch : int
        Epoch (1-based) whose weights were kept.
    epochs_run : int
        Epochs trained before stopping.
    val_metrics, test_metrics : dict or None
        Metrics of the saved checkpoint (through the ``vision`` backend) on the
        validation and held-out test images (None when there is no test split).
    history : list of dict
        Per-epoch training loss, validation loss and macro F1.
    n_train, n_val, n_test : int
    seconds : float
        Wall time of the training.
    model_bytes : int
        Size of the weight file.
    """

    output_dir: Path
    best_epoch: int
    epochs_run: int
    val_metrics: dict
    test_metrics: dict = None
    history: list = field(default_factory=list)
    n_train: int = 0
    n_val: int = 0
    n_test: int = 0
    seconds: float = 0.0
    model_bytes: int = 0


# --------------------------------------------------------------------------------------------- metrics
def _report(y_true, y_pred, labels, multilabel):
    """Scores of class indices (or multi-hot rows) with `radioassist.metrics.classification_report`, as a dict."""
    return classification_report(
        np.asarray(y_true), np.asarray(y_pred), labels=list(labels), multilabel=bool(multilabel)
    ).to_dict()


# --------------------------------------------------------------------------------------------- model
def _build_model(architecture, task, *, image_size, seed):
    """A fresh classifier and the preprocessing spec it uses; ``pretrained`` tells whether it was loaded."""
    import torch
    import transformers

    id2label = dict(enumerate(task.labels))
    label2id = {label: i for i, label in id2label.items()}
    problem_type = "multi_label_classification" if task.multilabel else "single_label_classification"
    torch.manual_seed(seed)
    if architecture in ARCHITECTURES:
        config = transformers.ResNetConfig(
            num_channels=3,
            layer_type="basic",
            hidden_act="relu",
            num_labels=task.n_classes,
            id2label=id2label,
            label2id=label2id,
            problem_type=problem_type,
            **ARCHITECTURES[architecture],
        )
        model = transformers.ResNetForImageClassification(config)
        size = int(image_size or 64)
        spec = {
            "size": (size, size),
            "crop": None,
            "resample": "bilinear",
            "rescale": 1 / 255,
            "mean": [0.5, 0.5, 0.5],
            "std": [0.5, 0.5, 0.5],
            "num_channels": 3,
        }
        return model, spec, False
    from ..backends._checkpoint import looks_like_path
    from ..backends.vision import _preprocessing_spec

    source = str(architecture)
    local = Path(source).expanduser().exists()
    if not local and looks_like_path(source):
        msg = (
            f"architecture {source!r} is neither a built-in one ({', '.join(ARCHITECTURES)}) nor an existing "
            "checkpoint folder"
        )
        raise InputError(msg)
    try:
        model = transformers.AutoModelForImageClassification.from_pretrained(
            source,
            num_labels=task.n_classes,
            id2label=id2label,
            label2id=label2id,
            problem_type=problem_type,
            ignore_mismatched_sizes=True,
            use_safetensors=True,
            local_files_only=local,
        )
    except Exception as exc:
        msg = f"cannot load {source!r} to fine-tune: {type(exc).__name__}: {' '.join(str(exc).split())[:400]}"
        raise ModelError(msg) from exc
    spec = _preprocessing_spec(
        model.config, Path(source) if local else source, local=local, revision=None, local_files_only=local
    )
    if image_size:
        spec["size"], spec["crop"] = (int(image_size), int(image_size)), None
    return model, spec, True


# --------------------------------------------------------------------------------------------- augmentation
@dataclass
class _Augmenter:
    """Random geometric and photometric transforms of a batch of grey images in [0, 1], shape (n, 1, S, S).

    Geometry: a rotation by any angle (``any_angle``, default) or by a
    multiple of 90 degrees, and a flip (radio sources have no preferred
    orientation), a small shift and a zoom.  Photometry: extra Gaussian noise
    (a fainter version of the source), a contrast (gamma) jitter and a
    min-max rescaling, as a rendering would do.  Calling it returns the
    images and a background clip level per image, jittered around the
    model's own (``clip_sigma``), for `radioassist.preprocess.model_input`.
    """

    g: object  # the torch.Generator of all random draws
    _: KW_ONLY
    clip_sigma: float = 3.0  # the model's background clip (None: no clipping)
    any_angle: bool = True
    zoom: float = 0.2  # zoom in or out by a factor of up to 1 + this
    shift: float = 0.04  # shift by up to this fraction of the image side
    p_noise: float = 0.3  # probability of extra noise...
    noise: float = 0.02  # ...of an rms of up to this (the images span 0 to 1)
    clip_jitter: float = 1.0  # the clip level is jittered by up to this many sigma
    p_gamma: float = 0.5  # probability of a contrast jitter...
    gamma: float = 0.15  # ...by a gamma of exp(+-this)

    def _uniform(self, n, low, high):
        import torch

        return low + (high - low) * torch.rand(n, generator=self.g)

    def __call__(self, x):
        import torch
        import torch.nn.functional as F

        n = x.shape[0]
        if self.any_angle:
            angle = self._uniform(n, 0, 2 * math.pi)
        else:  # multiples of 90 degrees: exact, no interpolation
            angle = torch.randint(0, 4, (n,), generator=self.g).float() * (math.pi / 2)
        flip = torch.where(torch.rand(n, generator=self.g) < 0.5, -1.0, 1.0)
        scale = torch.exp(self._uniform(n, -math.log(1 + self.zoom), math.log(1 + self.zoom)))
        tx, ty = self._uniform(n, -self.shift, self.shift) * 2, self._uniform(n, -self.shift, self.shift) * 2
        cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
        theta = torch.stack(
            [torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1
        )
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        noisy = (torch.rand(n, generator=self.g) < self.p_noise).float()
        sigma = self._uniform(n, 0, self.noise) * noisy
        x = _minmax(x + sigma.view(n, 1, 1, 1) * torch.randn(x.shape, generator=self.g))
        gammas = torch.exp(self._uniform(n, -self.gamma, self.gamma))
        gammas = torch.where(torch.rand(n, generator=self.g) < self.p_gamma, gammas, torch.ones(n))
        x = _minmax(x.clamp(0, 1) ** gammas.view(n, 1, 1, 1))
        clip = None
        if self.clip_sigma is not None:
            clip = self._uniform(
                n, self.clip_sigma - self.clip_jitter, self.clip_sigma + self.clip_jitter
            ).clamp_min(0.5)
        return x, clip


def _minmax(x):
    lo = x.amin(dim=(1, 2, 3), keepdim=True)
    hi = x.amax(dim=(1, 2, 3), keepdim=True)
    return (x - lo) / (hi - lo).clamp_min(1e-6)


# --------------------------------------------------------------------------------------------- splits
def _split(data, *, val_fraction, seed, allow_no_validation=False):
    """Index arrays (train, valid, test), carving a stratified validation set from train when needed."""
    splits = data.splits
    test = np.flatnonzero(splits == "test")
    valid = np.flatnonzero(splits == "valid")
    train = np.flatnonzero((splits == "train") | (splits == ""))
    if len(valid) == 0 and allow_no_validation and val_fraction == 0:
        if len(train) == 0:
            msg = "no training image"
            raise InputError(msg)
        return train, valid, test
    if len(valid) == 0:
        if not 0 < val_fraction < 1:
            msg = (
                f"val_fraction must be between 0 and 1 when the data has no validation split, "
                f"got {val_fraction}"
            )
            raise InputError(msg)
        rng = np.random.default_rng(seed)
        strata = (
            data.targets[train]
            if not data.task.multilabel
            else np.array(
                [int("".join("1" if v else "0" for v in row) or "0", 2) for row in data.targets[train]]
            )
        )
        chosen = []
        for value in np.unique(strata):
            members = train[strata == value]
            k = int(round(len(members) * val_fraction))
            if len(members) >= 2:
                k = min(max(k, 1), len(members) - 1)
            else:
                k = 0
            chosen.extend(rng.permutation(members)[:k].tolist())
        valid = np.sort(np.asarray(chosen, dtype=int))
        train = np.setdiff1d(train, valid)
    if len(train) == 0 or len(valid) == 0:
        msg = (
            f"not enough images to train and validate ({len(train)} for training, "
            f"{len(valid)} for validation)"
        )
        raise InputError(msg)
    return train, valid, test


# --------------------------------------------------------------------------------------------- training
def train_vision_classifier(
    data,
    *,
    task,
    output_dir,
    architecture="resnet-tiny",
    image_size=None,
    epochs=40,
    batch_size=64,
    learning_rate=None,
    weight_decay=0.05,
    val_fraction=0.15,
    seed=0,
    patience=20,
    augment=True,
    any_angle=True,
    background_clip=3.0,
    robust_validation=True,
    early_stopping=True,
    label_smoothing=0.0,
    temperature="fit",
    surveys=None,
    frequency_mhz=None,
    training_samples=None,
    card_sections=None,
    device="cpu",
    progress=True,
    overwrite=False,
    manifest=None,
    label_from_filename=None,
    label_map=None,
    file_column=None,
    label_column=None,
    split_column=None,
    catalog=None,
    cutout_size=None,
    pixel_scale=None,
    beam=None,
    data_description=None,
    command=None,
):
    """Train an image classifier for a task and save it as a checkpoint the ``vision`` backend loads.

    Parameters
    ----------
    data : `~radioassist.training.LabelledImages`, str or path-like
        Labelled images, or where to read them (a folder, a CSV manifest, a
        datalist ``.json``, or a mosaic with ``catalog=``); see
        `radioassist.training.load_dataset`.
    task : `~radioassist.tasks.Task` or str
        The task the classifier answers (its labels become the model's).
    output_dir : str or path-like
        Checkpoint folder to write.
    architecture : str, optional
        ``'resnet-tiny'`` (default; 0.31 M parameters, 1.2 MB),
        ``'resnet-mid'`` (0.69 M, 2.8 MB; the shipped models) or
        ``'resnet-small'`` (1.2 M, 4.9 MB), built from a config and trained
        from scratch; or a local checkpoint folder / hub id of any
        ``AutoModelForImageClassification`` to fine-tune (safetensors only).
    image_size : int, optional
        Side of the model input in pixels: 64 for the built-in architectures,
        the checkpoint's own size when fine-tuning.
    epochs : int, optional
        Maximum number of epochs.
    batch_size : int, optional
        Images per optimisation step.
    learning_rate : float, optional
        AdamW peak learning rate: 2e-3 from scratch, 5e-5 when fine-tuning.
    weight_decay : float, optional
        AdamW weight decay.
    val_fraction : float, optional
        Fraction of the training images (stratified by class) held out for
        validation when the data has no validation split; 0 trains on all of
        them (only with ``early_stopping=False``).
    seed : int, optional
        Seed of the split, the initial weights, the shuffling and the augmentation.
    patience : int, optional
        Stop after this many epochs without a better validation macro F1.
    augment : bool, optional
        Random rotations, flips, shifts, +-20% zoom, background sigma
        clipping or noise, and contrast jitter of the training images.
    any_angle : bool, optional
        Rotate by any angle (default) rather than by multiples of 90 degrees.
    background_clip : float or None, optional
        Part of the model's preprocessing (recorded in the checkpoint and done
        by the ``vision`` backend): pixels below the background median plus
        this many sigma are set to 0 and the rest stretched to the full range,
        so that plain min-max renderings of FITS cutouts and sigma-clipped
        images look alike to the model.  Its absence let early models learn
        the background noise level of their training sample instead of the
        source morphology.  ``None`` disables it.
    robust_validation : bool, optional
        Choose the epoch by the mean validation macro F1 over the images as
        rendered, sigma-clipped at 3 sigma and with added noise, so that the
        model also works on images rendered differently from its training set.
    early_stopping : bool, optional
        Keep the weights of the epoch with the best validation macro F1 (and
        stop after ``patience`` epochs without progress); False trains all
        ``epochs`` and keeps the last weights (the validation scores are then
        an unbiased estimate for that number of epochs).
    label_smoothing : float, optional
        Share of the target probability spread over the other classes
        (single-label tasks).  Per-image soft labels come from
        ``data.confidence`` (see `~radioassist.training.LabelledImages`).
    temperature : 'fit', float or None, optional
        Temperature dividing the logits before the softmax, stored in the
        checkpoint and applied by the ``vision`` backend: ``'fit'`` (default)
        fits it on the validation images (`radioassist.metrics.fit_temperature`;
        1 when there are none), a number sets it, None leaves 1.
    surveys : sequence of str, optional
        Survey(s) of the training images (e.g. ``['FIRST']``), recorded in the
        checkpoint (``input_spec``) and the model card.
    frequency_mhz : float or sequence of two floats, optional
        Observing frequency (or range) of the training images, in MHz.
    training_samples : sequence of str, optional
        Names of the labelled samples the model saw (for the model card and ``input_spec``).
    card_sections : sequence of (str, str), optional
        Extra ``(title, markdown)`` sections for the model card (e.g. cross-sample results).
    device : str, optional
        Torch device.
    progress : bool, optional
        Progress bars for reading and training.
    overwrite : bool, optional
        Replace a checkpoint already in ``output_dir``.
    manifest, label_from_filename, label_map, file_column, label_column, split_column, catalog, cutout_size
        How to read ``data`` (see `radioassist.training.load_dataset`).
    pixel_scale, beam : float, optional
        Pixel scale and beam FWHM (arcsec) of the training images, recorded in
        the checkpoint when the data does not say (PNG files).
    data_description : str, optional
        Provenance and licence of the training images, for the model card.
    command : str, optional
        The command that produced the model, for the model card (the CLI fills it).

    Returns
    -------
    `TrainingResult`
    """
    from .._optional_deps import require

    torch = require("torch", purpose="training classifiers")
    require("transformers", purpose="training classifiers")
    task = get_task(task)
    output_dir = Path(output_dir)
    for name, value, low in (("epochs", epochs, 1), ("batch_size", batch_size, 1), ("patience", patience, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            msg = f"{name} must be an integer >= {low}, got {value!r}"
            raise InputError(msg)
    if image_size is not None and (not isinstance(image_size, (int, np.integer)) or image_size < 16):
        msg = f"image_size must be an integer >= 16, got {image_size!r}"
        raise InputError(msg)
    _prepare_output(output_dir, overwrite=overwrite)
    t_start = time.perf_counter()

    data = load_dataset(
        data,
        task=task,
        manifest=manifest,
        label_from_filename=label_from_filename,
        label_map=label_map,
        file_column=file_column,
        label_column=label_column,
        split_column=split_column,
        catalog=catalog,
        cutout_size=cutout_size,
        pixel_scale=pixel_scale,
        beam=beam,
        progress=progress,
    )
    if data.task != task:
        msg = f"the labelled images are for task {data.task.id}, not {task.id}"
        raise InputError(msg)
    if pixel_scale is not None:
        data.pixel_scale_arcsec = float(pixel_scale)
    if beam is not None:
        data.beam_arcsec = float(beam)
    if not early_stopping and val_fraction == 0:
        train_idx, val_idx, test_idx = _split(data, val_fraction=0, seed=seed, allow_no_validation=True)
    else:
        train_idx, val_idx, test_idx = _split(data, val_fraction=val_fraction, seed=seed)
    counts = _counts(data, train_idx)
    missing = [label for label, n in counts.items() if n == 0]
    if missing and not task.multilabel:
        msg = f"no training image of class(es) {', '.join(missing)} for task {task.id}; counts: {counts}"
        raise InputError(msg)
    log.info(
        "training on %d images (%s), validating on %d, testing on %d",
        len(train_idx),
        ", ".join(f"{k}: {v}" for k, v in counts.items()),
        len(val_idx),
        len(test_idx),
    )

    model, spec, pretrained = _build_model(architecture, task, image_size=image_size, seed=seed)
    model.to(device)
    lr = learning_rate if learning_rate is not None else (5e-5 if pretrained else 2e-3)
    generator = torch.Generator().manual_seed(seed)
    spec["background_clip_sigma"] = None if background_clip is None else float(background_clip)
    augmenter = (
        _Augmenter(generator, clip_sigma=spec["background_clip_sigma"], any_angle=any_angle) if augment else None
    )

    images = torch.from_numpy(data.images).unsqueeze(1)  # uint8 (N, 1, S, S)
    targets = torch.from_numpy(np.asarray(data.targets))
    val_inputs = (
        _validation_inputs(images[val_idx], spec, seed, robust=robust_validation) if len(val_idx) else {}
    )
    val_targets = targets[val_idx]
    loss_fn = _loss(task, targets[train_idx], device)
    soft = _soft_targets(task, targets, data.confidence, label_smoothing)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train_idx) / batch_size)
    total_steps = epochs * steps_per_epoch
    warmup = min(steps_per_epoch * 2, total_steps // 5 + 1)

    def schedule(step):
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total_steps - warmup))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    # an exponential moving average of the weights (and batch-norm statistics), horizon ~2 epochs, is what is
    # validated and saved: much steadier than the raw weights on small data sets
    decay = math.exp(-1 / (2 * steps_per_epoch))
    swa = torch.optim.swa_utils
    ema = swa.AveragedModel(model, multi_avg_fn=swa.get_ema_multi_avg_fn(decay), use_buffers=True)
    history, best, best_state, best_epoch, stale = [], None, None, 0, 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc=f"training {task.id}", unit="epoch")
    epoch = 0
    for epoch in range(1, epochs + 1):
        model.train()
        order = train_idx[torch.randperm(len(train_idx), generator=generator).numpy()]
        running, seen = 0.0, 0
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            if len(batch) < 2 and len(order) > 1:
                continue  # batch norm needs more than one image
            if augmenter is not None:
                x, clip = augmenter(images[batch].float() / 255)
                x = model_input(x, spec, clip_sigma=clip, device=device)
            else:  # exactly the tensor the vision backend builds from the rendered image
                x = model_input(images[batch], spec, device=device)
            y = (targets[batch] if soft is None else soft[batch]).to(device)
            logits = model(pixel_values=x).logits
            loss = loss_fn(logits, y.float() if task.multilabel else y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            ema.update_parameters(model)
            running += float(loss.detach()) * len(batch)
            seen += len(batch)
        record = {"epoch": epoch, "train_loss": running / max(seen, 1)}
        losses, f1s = [], []
        if val_inputs and early_stopping:
            _recalibrate_batchnorm(ema.module, images, train_idx, spec, device)
        for name, inputs in val_inputs.items():
            loss_v, pred_v = _validate(ema.module, inputs, val_targets, loss_fn, task, device, batch_size)
            f1_v = _report(val_targets.numpy(), pred_v, task.labels, task.multilabel)["macro_f1"]
            record[f"val_loss_{name}"], record[f"val_macro_f1_{name}"] = loss_v, f1_v
            losses.append(loss_v)
            f1s.append(f1_v)
        val_loss = float(np.mean(losses)) if losses else float("nan")
        val_f1 = float(np.mean(f1s)) if f1s else float("nan")
        record.update(val_loss=val_loss, val_macro_f1=val_f1, lr=optimizer.param_groups[0]["lr"])
        history.append(record)
        score = (round(val_f1, 6), -val_loss) if early_stopping else (epoch, 0.0)
        if best is None or score > best:
            best, best_epoch, stale = score, epoch, 0
            best_state = copy.deepcopy(ema.module.state_dict())
        else:
            stale += 1
        log.debug(
            "epoch %d: train loss %.4f, val loss %.4f, val macro F1 %.4f",
            epoch,
            history[-1]["train_loss"],
            val_loss,
            val_f1,
        )
        if bar is not None:
            bar.set_postfix(
                loss=f"{history[-1]['train_loss']:.3f}",
                val_f1=f"{val_f1:.3f}",
                best=f"{best[0]:.3f}@{best_epoch}",
            )
            bar.update(1)
        if early_stopping and stale >= patience:
            log.info(
                "early stop after epoch %d (best validation macro F1 %.4f at epoch %d)",
                epoch,
                best[0],
                best_epoch,
            )
            break
    if bar is not None:
        bar.close()
    model.load_state_dict(best_state)
    if not early_stopping or not val_inputs:
        _recalibrate_batchnorm(model, images, train_idx, spec, device)
    seconds = time.perf_counter() - t_start

    meta = {
        "task": task.id,
        "labels": list(task.labels),
        "multilabel": task.multilabel,
        "render_preset": data.render_preset,
        "image_size": list(spec["size"]),
        "mean": spec["mean"],
        "std": spec["std"],
        "resample": spec["resample"],
        "background_clip_sigma": spec["background_clip_sigma"],
        "pixel_scale_arcsec": data.pixel_scale_arcsec,
        "beam_arcsec": data.beam_arcsec,
        "cutout_size_pix": data.cutout_size_pix,
        "training_data": data_description or data.source,
        "architecture": str(architecture),
        "radioassist_version": __version__,
        "temperature": 1.0,
    }
    if surveys is not None:
        meta["surveys"] = [str(v) for v in ([surveys] if isinstance(surveys, str) else surveys)]
    if frequency_mhz is not None:
        meta["frequency_mhz"] = (
            float(frequency_mhz)
            if np.ndim(frequency_mhz) == 0
            else [float(v) for v in np.asarray(frequency_mhz).ravel()]
        )
    if training_samples is not None:
        meta["training_samples"] = [
            str(v) for v in ([training_samples] if isinstance(training_samples, str) else training_samples)
        ]
    _save(model, spec, meta, output_dir)
    calibration = None
    if temperature == "fit" and len(val_idx) and not task.multilabel:
        logits = checkpoint_logits(output_dir, data.subset(val_idx), device=device)
        fitted = fit_temperature(logits, np.asarray(data.targets)[val_idx])
        calibration = {
            "temperature": fitted,
            "fitted_on": f"{len(val_idx)} validation images",
            "ece_before": expected_calibration_error(_softmax(logits), np.asarray(data.targets)[val_idx]),
        }
        meta["temperature"] = round(fitted, 4)
    elif temperature not in (None, "fit"):
        if not (isinstance(temperature, (int, float)) and temperature > 0):
            msg = f"temperature must be 'fit', None or a positive number, got {temperature!r}"
            raise InputError(msg)
        meta["temperature"] = float(temperature)
    _update_config(output_dir, meta)
    val_metrics = evaluate_checkpoint(output_dir, data.subset(val_idx), device=device) if len(val_idx) else None
    if calibration is not None:
        calibration["ece_after"] = val_metrics["ece"]
    test_metrics = (
        evaluate_checkpoint(output_dir, data.subset(test_idx), device=device) if len(test_idx) else None
    )
    model_bytes = (output_dir / "model.safetensors").stat().st_size
    n_params = sum(p.numel() for p in model.parameters())
    if command is None:
        command = "python: " + _python_call(
            architecture=architecture,
            image_size=image_size,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            val_fraction=val_fraction,
            patience=patience,
            augment=augment,
            any_angle=any_angle,
            early_stopping=early_stopping,
            label_smoothing=label_smoothing or None,
            cutout_size=cutout_size,
            label_map=label_map,
            label_from_filename=label_from_filename,
            manifest=manifest,
            task=task.id,
        )
    summary = {
        "best_epoch": best_epoch,
        "epochs_run": epoch,
        "seconds": round(seconds, 1),
        "n_train": int(len(train_idx)),
        "n_val": int(len(val_idx)),
        "n_test": int(len(test_idx)),
        "train_counts": counts,
        "n_parameters": int(n_params),
        "model_bytes": int(model_bytes),
        "learning_rate": lr,
        "weight_decay": weight_decay,
        "batch_size": batch_size,
        "augment": augment,
        "any_angle": any_angle,
        "early_stopping": early_stopping,
        "label_smoothing": label_smoothing,
        "soft_labels": None if data.confidence is None else int(np.sum(np.asarray(data.confidence) < 1)),
        "calibration": calibration,
        "robust_validation": robust_validation,
        "seed": seed,
        "command": command,
    }
    meta.update(
        val_macro_f1=None if val_metrics is None else round(val_metrics["macro_f1"], 4),
        test_macro_f1=None if test_metrics is None else round(test_metrics["macro_f1"], 4),
    )
    _update_config(output_dir, meta)
    with open(output_dir / "training_log.json", "w", encoding="utf-8") as fh:
        json.dump(
            {
                "summary": summary,
                "validation": val_metrics,
                "test": test_metrics,
                "history": history,
                "data_notes": data.notes,
            },
            fh,
            indent=1,
        )
    _write_card(
        output_dir,
        task=task,
        meta=meta,
        summary=summary,
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        data=data,
        card_sections=card_sections,
    )
    log.info(
        "saved %s: best epoch %d, validation macro F1 %s%s",
        output_dir,
        best_epoch,
        "n/a" if val_metrics is None else f"{val_metrics['macro_f1']:.3f}",
        "" if test_metrics is None else f", test macro F1 {test_metrics['macro_f1']:.3f}",
    )
    return TrainingResult(
        output_dir=output_dir,
        best_epoch=best_epoch,
        epochs_run=epoch,
        val_metrics=val_metrics,
        test_metrics=test_metrics,
        history=history,
        n_train=int(len(train_idx)),
        n_val=int(len(val_idx)),
        n_test=int(len(test_idx)),
        seconds=seconds,
        model_bytes=int(model_bytes),
    )


def _counts(data, index):
    if data.task.multilabel:
        return {label: int(data.targets[index, j].sum()) for j, label in enumerate(data.task.labels)}
    return {label: int((data.targets[index] == j).sum()) for j, label in enumerate(data.task.labels)}


def _loss(task, train_targets, device):
    """Class-balanced cross-entropy (single-label) or BCE with positive weights (multi-label)."""
    import torch

    if task.multilabel:
        pos = train_targets.float().sum(0)
        neg = len(train_targets) - pos
        pos_weight = (neg / pos.clamp_min(1)).clamp(0.2, 20).to(device)
        return torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    counts = torch.bincount(train_targets, minlength=task.n_classes).float()
    weights = (counts.sum() / (task.n_classes * counts.clamp_min(1))).to(device)
    return torch.nn.CrossEntropyLoss(weight=weights)


def _recalibrate_batchnorm(model, images, index, spec, device, batch_size=256):
    """Recompute the batch-norm statistics on the unaugmented training images, as the backend will serve them.

    The running statistics gathered during training describe augmented
    images (rotated with blank corners, noisier, re-clipped); on the images
    the model is served they can be far off and push every answer to one
    class.  One pass in training mode with a cumulative average fixes that.
    """
    import torch

    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms or len(index) < 2:
        return model
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        for start in range(0, len(index), batch_size):
            part = index[start : start + batch_size]
            if len(part) < 2:
                continue
            model(pixel_values=model_input(images[part], spec, device=device))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    model.eval()
    return model


def _validation_inputs(images, spec, seed, *, robust=True):
    """Model inputs of the validation images: as rendered, and (``robust``) sigma-clipped at 3 sigma and noisier.

    Selecting the epoch on the mean macro F1 of the three favours models that
    work on plain renderings, on sigma-clipped images and on noisier data alike.
    """
    import torch

    inputs = {"plain": model_input(images, spec)}
    if robust:
        x = images.float() / 255
        generator = torch.Generator().manual_seed(seed + 1)
        noisy = _minmax(x + 0.02 * torch.randn(x.shape, generator=generator))
        inputs["clipped"] = model_input(_background_clip(x, 3.0), spec)
        inputs["noisy"] = model_input(noisy, spec)
    return inputs


def _validate(model, inputs, targets, loss_fn, task, device, batch_size):
    import torch

    model.eval()
    logits = []
    with torch.inference_mode():
        for start in range(0, len(inputs), max(batch_size, 256)):
            logits.append(
                model(pixel_values=inputs[start : start + max(batch_size, 256)].to(device)).logits.float()
            )
        logits = torch.cat(logits).cpu()
        loss = float(loss_fn(logits, targets.float() if task.multilabel else targets))
    if task.multilabel:
        return loss, (torch.sigmoid(logits) > 0.5).numpy()
    return loss, logits.argmax(1).numpy()


def _softmax(logits):
    z = np.asarray(logits, dtype=float)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def _soft_targets(task, targets, confidence, label_smoothing):
    """(N, n_classes) target probabilities for soft labels / label smoothing, or None for plain class indices."""
    import torch

    if task.multilabel or (confidence is None and not label_smoothing):
        return None
    k = task.n_classes
    conf = np.ones(len(targets)) if confidence is None else np.asarray(confidence, dtype=float)
    if np.any((conf <= 0) | (conf > 1)):
        msg = "label confidences must lie in (0, 1]"
        raise InputError(msg)
    onehot = np.eye(k)[np.asarray(targets, dtype=int)]
    soft = onehot * conf[:, None] + (1 - onehot) * ((1 - conf) / max(k - 1, 1))[:, None]
    soft = soft * (1 - float(label_smoothing)) + float(label_smoothing) / k
    return torch.from_numpy(soft.astype(np.float32))


def checkpoint_logits(model, data, *, device="cpu", batch_size=256):
    """Log-probabilities of a checkpoint on labelled images through the ``vision`` backend (its temperature undone).

    Parameters
    ----------
    model : str or path-like
        Checkpoint folder.
    data : `~radioassist.training.LabelledImages` or `numpy.ndarray`
        Labelled images, or uint8 ``(N, H, W)`` / ``(N, H, W, 3)`` images.
    device : str, optional
    batch_size : int, optional

    Returns
    -------
    `numpy.ndarray`
        ``(N, n_classes)`` in task label order: logits up to a constant per
        image, for `radioassist.metrics.fit_temperature`.
    """
    from ..backends.vision import VisionBackend

    backend = VisionBackend(model=model, device=device, batch_size=batch_size)
    images = data.rgb() if isinstance(data, LabelledImages) else np.asarray(data)
    if images.ndim == 3:
        images = np.repeat(images[..., None], 3, axis=-1)
    task = data.task if isinstance(data, LabelledImages) else backend.load().meta["task"]
    predictions = backend.predict(images, task)
    temperature = backend.load(task).temperature
    return np.log(np.clip(predictions.probabilities, 1e-30, None)) * temperature


def evaluate_checkpoint(model, data, *, device="cpu", batch_size=256):
    """Metrics of a checkpoint on labelled images, through the ``vision`` backend (as users will run it).

    Parameters
    ----------
    model : str or path-like
        Checkpoint folder or hub id.
    data : `~radioassist.training.LabelledImages`
    device : str, optional
    batch_size : int, optional

    Returns
    -------
    dict
        `radioassist.metrics.ClassificationReport.to_dict`, plus (single-label
        tasks) ``ece`` (15-bin expected calibration error) and ``mean_confidence``.
    """
    from ..backends.vision import VisionBackend

    backend = VisionBackend(model=model, device=device, batch_size=batch_size)
    predictions = backend.predict(data.rgb(), data.task)
    out = _report(np.asarray(data.targets), predictions.label_indices, data.task.labels, data.task.multilabel)
    if not data.task.multilabel:
        out["ece"] = expected_calibration_error(predictions.probabilities, np.asarray(data.targets))
        out["mean_confidence"] = float(np.mean(predictions.probabilities.max(axis=1)))
    return out


# --------------------------------------------------------------------------------------------- saving
def _prepare_output(output_dir, *, overwrite, clear=False):
    """Check that ``output_dir`` may be written; with ``clear``, remove an old checkpoint from it."""
    if output_dir.exists() and not output_dir.is_dir():
        msg = f"output {output_dir} exists and is not a folder"
        raise InputError(msg)
    if output_dir.is_dir() and any(output_dir.iterdir()):
        existing = [p for p in output_dir.iterdir()]
        if not overwrite:
            msg = (
                f"output folder {output_dir} is not empty; pass overwrite=True (--overwrite) to "
                "replace the model"
            )
            raise InputError(msg)
        if not clear:
            return
        for path in existing:  # remove only checkpoint files, never anything else the folder may hold
            if path.is_file() and (
                path.name in _FILES_WRITTEN
                or path.suffix in (".safetensors", ".bin")
                or path.name.endswith(".index.json")
            ):
                path.unlink()
    if clear:
        output_dir.mkdir(parents=True, exist_ok=True)


def _save(model, spec, meta, output_dir):
    import transformers

    from ..backends.vision import weights_sha256

    _prepare_output(output_dir, overwrite=True, clear=True)

    model = model.to("cpu")
    model.config.radioassist = dict(meta)
    hf_logging = transformers.utils.logging
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(output_dir)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    if not (output_dir / "model.safetensors").is_file():  # pragma: no cover - transformers >= 5 always does
        msg = f"transformers did not write safetensors weights into {output_dir}"
        raise ModelError(msg)
    for weights in output_dir.glob("*.safetensors"):
        weights.chmod(0o644)  # transformers writes them private (0600); a checkpoint is meant to be shared
    size = list(spec["size"])
    processor = {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": size[0], "width": size[1]},
        "resample": 3 if spec["resample"] == "bicubic" else 2,
        "do_rescale": True,
        "rescale_factor": spec["rescale"],
        "do_normalize": True,
        "image_mean": spec["mean"],
        "image_std": spec["std"],
        "do_convert_rgb": True,
    }
    with open(output_dir / "preprocessor_config.json", "w", encoding="utf-8") as fh:
        json.dump(processor, fh, indent=2)
    meta["weights_sha256"] = weights_sha256(output_dir)
    _update_config(output_dir, meta)


def _update_config(output_dir, meta):
    path = output_dir / "config.json"
    with open(path, encoding="utf-8") as fh:
        config = json.load(fh)
    config["radioassist"] = {**config.get("radioassist", {}), **meta}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(config, fh, indent=2, sort_keys=True)
        fh.write("\n")


def _python_call(**kwargs):
    shown = ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if v is not None)
    return f"train_vision_classifier(data, output_dir=..., {shown})"


def _fmt(value):
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def _metrics_block(title, metrics, labels):
    if metrics is None:
        return []
    lines = [
        f"### {title} ({metrics['n']} images)",
        "",
        f"- **macro F1: {_fmt(metrics['macro_f1'])}**",
        f"- accuracy: {_fmt(metrics['accuracy'])}",
        f"- weighted F1: {_fmt(metrics['weighted_f1'])}",
    ]
    if metrics.get("ece") is not None:
        lines.append(f"- expected calibration error (15 bins): {_fmt(metrics['ece'])}")
    lines += [
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label in labels:
        c = metrics["per_class"][label]
        lines.append(
            f"| {label} | {_fmt(c['precision'])} | {_fmt(c['recall'])} | {_fmt(c['f1'])} | "
            f"{c['support']} |"
        )
    lines.append("")
    if metrics["confusion_matrix"] and not isinstance(metrics["confusion_matrix"][0][0], list):
        lines += [
            "Confusion matrix (rows: true class, columns: predicted):",
            "",
            "| true \\ predicted | " + " | ".join(labels) + " |",
            "|---" * (len(labels) + 1) + "|",
        ]
        for label, row in zip(labels, metrics["confusion_matrix"]):
            lines.append(f"| {label} | " + " | ".join(str(v) for v in row) + " |")
        lines.append("")
    return lines


def _domain_lines(meta):
    lines = []
    if meta.get("surveys"):
        lines.append(f"- survey(s): {', '.join(meta['surveys'])}")
    freq = meta.get("frequency_mhz")
    if freq is not None:
        shown = f"{freq[0]:g}-{freq[1]:g}" if isinstance(freq, list) and len(freq) == 2 else f"{freq:g}"
        lines.append(f"- frequency: {shown} MHz")
    if meta.get("training_samples"):
        lines.append(f"- labelled samples: {'; '.join(meta['training_samples'])}")
    return lines


def _write_card(output_dir, *, task, meta, summary, val_metrics, test_metrics, data, card_sections=None):
    scale = meta.get("pixel_scale_arcsec")
    beam = meta.get("beam_arcsec")
    npix = meta.get("cutout_size_pix")
    fov = f" = {scale * npix / 60:.2f} arcmin" if scale and npix else ""
    size = meta["image_size"]
    headline = test_metrics if test_metrics is not None else val_metrics
    card_sections = list(card_sections or [])
    counts = ", ".join(f"{k}: {v}" for k, v in summary["train_counts"].items())
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: image-classification",
        "tags: [radio-astronomy, radioassist, " + task.id + "]",
        "---",
        "",
        f"# radioassist {task.id} classifier: {task.name}",
        "",
        f"A small vision-only classifier for task **{task.id}** ({task.name}; labels: "
        f"{', '.join(task.labels)}; {'multi-label' if task.multilabel else 'single-label'}), trained with "
        "radioassist (`radioassist train`, `radioassist.training.train_vision_classifier`). Load it with "
        "`radioassist.backends.get_backend('vision', model=PATH)` (or `AutoModelForImageClassification.from_pretrained(PATH)`).",
        "",
        (
            f"**Headline: macro F1 {_fmt(headline['macro_f1'])} on "
            f"{'the held-out test split' if test_metrics is not None else 'the validation split'} "
            f"({headline['n']} images).**"
            if headline is not None
            else "**Trained on all its images (no held-out split): see the cross-sample results below.**"
        ),
        "",
        "## Input the model expects",
        "",
        *_domain_lines(meta),
        f"- cutouts of {npix} x {npix} pixels at {scale if scale else 'unknown'} arcsec/pixel{fov}, "
        f"centred on the source; restoring beam {beam if beam else 'unknown'} arcsec FWHM",
        f"- rendered with the `{meta['render_preset']}` preset (non-finite -> 0, min-max to 0..255, "
        "uint8, grey "
        "replicated to RGB)",
        "- model-side preprocessing (done by the radioassist `vision` backend): "
        + (
            f"background clip (pixels below median + {meta['background_clip_sigma']:g} sigma of the "
            "image set to 0, "
            "the rest stretched to the full range), "
            if meta.get("background_clip_sigma") is not None
            else ""
        )
        + f"resize to {size[0]} x {size[1]} ({meta['resample']}, antialiased), scale to [0, 1], "
        "normalise with "
        f"mean {meta['mean']} and std {meta['std']}",
        "- other pixel scales: cut the same field of view (`radioassist classify` does it from the model's "
        "pixel scale and cutout size); the backend resizes every image to the model input",
        "",
        "## Training data",
        "",
        f"{meta['training_data']}",
        "",
        f"Images used: {summary['n_train']} for training ({counts}), "
        + (
            f"{summary['n_val']} for validation ("
            + ("early stopping" if summary.get("early_stopping", True) else "temperature fit")
            + ")"
            if summary["n_val"]
            else "none for validation"
        )
        + f", {summary['n_test']} held out for testing.",
        "",
        "## Training",
        "",
        f"- architecture: `{meta['architecture']}` ({summary['n_parameters']:,} parameters, "
        f"{summary['model_bytes'] / 1e6:.2f} MB safetensors)",
        f"- AdamW (peak learning rate {summary['learning_rate']:g}, "
        f"weight decay {summary['weight_decay']:g}), "
        f"cosine schedule, batch {summary['batch_size']}, class-balanced loss, seed {summary['seed']}",
        "- augmentation: "
        + (
            ("rotation by any angle" if summary.get("any_angle") else "random 90-degree rotation")
            + " and flip, +-4% shift, +-20% zoom, Gaussian noise, "
            "background clip level jittered by +-1 sigma, contrast (gamma) jitter"
            if summary["augment"]
            else "none"
        ),
        (
            f"- soft labels: {summary['soft_labels']} images with a label confidence below 1"
            if summary.get("soft_labels")
            else "- hard labels"
        )
        + (f", label smoothing {summary['label_smoothing']:g}" if summary.get("label_smoothing") else ""),
        (
            f"- best epoch {summary['best_epoch']} of {summary['epochs_run']} (early stopping on "
            + (
                "the mean validation macro F1 over the images as rendered, sigma-clipped at 3 sigma "
                "and with noise"
                if summary["robust_validation"]
                else "validation macro F1"
            )
            + "), "
            if summary.get("early_stopping", True)
            else f"- {summary['epochs_run']} epochs, last weights kept (no early stopping), "
        )
        + f"{summary['seconds']:.0f} s",
        f"- temperature {meta.get('temperature', 1.0):.3f} divides the logits before the softmax (calibration)",
        f"- radioassist {meta['radioassist_version']}",
        "",
        "Command:",
        "",
        "```",
        summary["command"],
        "```",
        "",
    ]
    if val_metrics is not None or test_metrics is not None:
        lines += [
            "## Evaluation",
            "",
            "Metrics of the saved checkpoint run through the radioassist `vision` backend.",
            "",
        ]
    lines += _metrics_block("Held-out test split", test_metrics, task.labels)
    lines += _metrics_block("Validation split", val_metrics, task.labels)
    calibration = summary.get("calibration")
    if calibration:
        lines += [
            "### Calibration",
            "",
            f"Temperature {calibration['temperature']:.3f} fitted on {calibration['fitted_on']}: "
            f"expected calibration error (15 bins) {_fmt(calibration.get('ece_before'))} before, "
            f"{_fmt(calibration.get('ece_after'))} after.",
            "",
        ]
    for title, text in card_sections:
        lines += [f"## {title}", "", str(text).rstrip(), ""]
    if not any(title.lower().startswith(("limitations", "known failure")) for title, _ in card_sections):
        lines += [
            "## Limitations",
            "",
            "A small network trained on a few hundred images of one survey: expect lower scores on other "
            "surveys, "
            "resolutions, or sources much larger or smaller than the field above. Check it on labelled data of "
            "your own survey (`radioassist evaluate`) before relying on it.",
            "",
        ]
    with open(output_dir / "README.md", "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))


def _rewrite_card(output_dir, *, card_sections=None, meta_update=None):
    """Write the model card of a checkpoint again from its config and training log, with extra sections."""
    output_dir = Path(output_dir)
    if meta_update:
        _update_config(output_dir, meta_update)
    with open(output_dir / "config.json", encoding="utf-8") as fh:
        meta = json.load(fh)["radioassist"]
    with open(output_dir / "training_log.json", encoding="utf-8") as fh:
        logged = json.load(fh)
    _write_card(
        output_dir,
        task=get_task(meta["task"]),
        meta=meta,
        summary=logged["summary"],
        val_metrics=logged.get("validation"),
        test_metrics=logged.get("test"),
        data=None,
        card_sections=card_sections,
    )


def _command_line():
    """The current process's command line, quoted, for model cards."""
    argv = list(sys.argv)
    if argv and argv[0].endswith(("radioassist", "__main__.py")):
        argv[0] = "radioassist"
    return " ".join(shlex.quote(a) for a in argv)
