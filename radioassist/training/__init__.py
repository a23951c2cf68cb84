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
    "finetune_llava",
    "FinetuneResult",
    "make_dataset",
    "DatasetResult",
    "read_datalist",
    "write_datalist",
    "validate_datalist",
    "read_conversations",
    "write_conversations",
    "validate_conversations",
    "conversation_record",
    "train_vision_classifier",
    "TrainingResult",
    "checkpoint_logits",
    "evaluate_checkpoint",
    "ARCHITECTURES",
    "LabelledImages",
    "load_dataset",
    "load_datalist",
    "load_image_folder",
    "load_catalog_cutouts",
    "parse_label_map",
]
