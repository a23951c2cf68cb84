"""General visual question answering: what fine-tuning on radio images costs a VLM elsewhere.

The radio-llava paper measured catastrophic forgetting: after fine-tuning on
radio images, LLaVA-OneVision lost up to ~40% on general multimodal
benchmarks (less with LoRA or a more diverse training mix).  This subpackage
measures that for any model the VLM backends load:

* :mod:`~radioassist.general.sets`: general question sets (`GeneralSet` of
  `GeneralItem`) read from the published layouts (ChartQA, DocVQA, ScienceQA,
  MMBench) or from the package's own datalist / LLaVA conversation formats;
* :mod:`~radioassist.general.synthetic`: ``synthetic-general``, a set
  generated on the fly (counting, reading text and numbers, bar charts,
  colours, positions), for offline tests and demos;
* :mod:`~radioassist.general.scoring`: the benchmarks' scoring rules (option
  accuracy, normalised exact match, relaxed accuracy, ANLS) and bootstrap
  intervals of set scores and of relative changes;
* :func:`evaluate_general`: base and fine-tuned models on the sets, with the
  relative change of each model against its base; :func:`tradeoff_table`
  puts it next to the radio macro F1 each fine-tune gained.
"""
from .evaluate import GeneralEvaluationResult, answer_items, evaluate_general, tradeoff_table
from .scoring import ANSWER_TYPES, anls, exact_match, normalize_answer, relaxed_accuracy, score_answer
from .sets import (GeneralItem, GeneralSet, available_general_sets, item_prompt, load_general_set,
                   register_general_set, training_records, write_general_set)
from .synthetic import make_synthetic_general

__all__ = ["evaluate_general", "GeneralEvaluationResult", "answer_items", "tradeoff_table", "load_general_set",
           "GeneralSet", "GeneralItem", "item_prompt", "training_records", "write_general_set",
           "register_general_set", "available_general_sets", "make_synthetic_general", "score_answer",
           "exact_match", "relaxed_accuracy", "anls", "normalize_answer", "ANSWER_TYPES"]
