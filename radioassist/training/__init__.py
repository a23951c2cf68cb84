"""Training and fine-tuning of classifiers on labelled radio images.

:func:`train_vision_classifier` trains a small vision-only classifier (or
fine-tunes a transformers checkpoint) and writes a checkpoint folder that the
``vision`` backend loads; :func:`load_dataset` reads labelled images from a
datalist, a folder of FITS/PNG files or a mosaic with a labelled catalogue.
torch and transformers are imported only when training starts.
"""

from .datasets import (
    LabelledImages,
    load_catalog_cutouts,
    load_datalist,
    load_dataset,
    load_image_folder,
    parse_label_map,
)
from .finetune import FinetuneResult, finetune_llava
from .formats import (
    conversation_record,
    read_conversations,
    read_datalist,
    validate_conversations,
    validate_datalist,
    write_conversations,
    write_datalist,
)
from .make_dataset import DatasetResult, make_dataset
from .vision import (
    ARCHITECTURES,
    TrainingResult,
    checkpoint_logits,
    evaluate_checkpoint,
    train_vision_classifier,
)

__all__ = [
    # datasets
    "LabelledImages",
    "load_catalog_cutouts",
    "load_datalist",
    "load_dataset",
    "load_image_folder",
    "parse_label_map",
    # finetune
    "FinetuneResult",
    "finetune_llava",
    # formats
    "conversation_record",
    "read_conversations",
    "read_datalist",
    "validate_conversations",
    "validate_datalist",
    "write_conversations",
    "write_datalist",
    # make_dataset
    "DatasetResult",
    "make_dataset",
    # vision
    "ARCHITECTURES",
    "TrainingResult",
    "checkpoint_logits",
    "evaluate_checkpoint",
    "train_vision_classifier",
]
