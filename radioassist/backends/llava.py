"""The ``llava`` backend: radio-llava and other LLaVA-OneVision checkpoints (transformers).

radio-llava is LLaVA-OneVision (SigLIP so400m vision tower, Qwen2 language
model) fine-tuned on radio images.  This backend loads any
``LlavaOnevisionForConditionalGeneration`` checkpoint in Hugging Face format
(a local folder, offline, or a hub id such as
``llava-hf/llava-onevision-qwen2-7b-ov-hf``) with its processor, optionally
with a peft LoRA adapter on top (``adapter=``), and asks the radio tasks with
the radio-llava prompts and system prompt.  Cutouts are expected rendered with
the ``'radio-llava'`` preset (what :meth:`LlavaBackend.input_spec` asks the
pipeline for); the processor then tiles them (``anyres_max_9``) and
normalises them itself.

By default answers are scored over the closed label set (one prefill per
image, cached continuations over the candidates): every image gets a label
and calibrated-as-the-model-is probabilities, and nothing is ever unparsable.
``mode='generate'`` reproduces upstream's greedy generation with parsing and
re-asks, reporting the unparsed answers instead of dropping them.  See
:mod:`radioassist.backends.hf_vlm` and
:mod:`radioassist.backends._vlm_scoring` for the details.

Checkpoints in the original LLaVA-NeXT training format must first be converted
to the Hugging Face format (transformers ships
``convert_llava_onevision_weights_to_hf.py``).
"""
import json

from ..exceptions import ModelError
from .hf_vlm import HFVLMBackend
from .registry import register_backend

__all__ = ["LlavaBackend"]


@register_backend("llava")
class LlavaBackend(HFVLMBackend):
    """radio-llava / LLaVA-OneVision (``LlavaOnevisionForConditionalGeneration``).

    Takes the parameters and options of `~radioassist.backends.hf_vlm.HFVLMBackend`:
    ``model`` (folder or hub id, required), ``device``, ``dtype``
    (bf16/fp16/fp32), ``batch_size``, ``mode`` (``'score'`` or ``'generate'``),
    ``prompt_version``, ``with_definitions``, ``system_prompt``, ``examples``
    (few-shot), ``max_new_tokens``, ``max_reasks``, ``adapter`` (peft LoRA) and
    ``merge_adapter``, ``processor``, ``attn_implementation``, ``allow_pickle``,
    ``trust_remote_code``, ``revision``, ``local_files_only``, ``hash_weights``.

    Examples
    --------
    >>> import numpy as np
    >>> from radioassist.backends import get_backend
    >>> from radioassist.backends.tiny import make_tiny_llava_onevision
    >>> folder = make_tiny_llava_onevision('/tmp/radioassist-tiny-llava')  # doctest: +SKIP
    >>> backend = get_backend('llava', model=folder)  # doctest: +SKIP
    >>> images = np.zeros((2, 64, 64, 3), dtype=np.uint8)
    >>> backend.predict(images, 'B6').probabilities.shape  # doctest: +SKIP
    (2, 2)
    """

    description = ("radio-llava / LLaVA-OneVision via transformers (local folder or hub id, LoRA adapters); "
                   "closed-set answer scoring or generation")
    model_class_name = "LlavaOnevisionForConditionalGeneration"

    def _missing_model_message(self):
        return ("the llava backend needs model=: a radio-llava checkpoint folder in Hugging Face format, or a hub "
                "id such as llava-hf/llava-onevision-qwen2-7b-ov-hf (add adapter= for a LoRA adapter)")

    def _check_folder(self, path):
        try:
            with open(path / "config.json", encoding="utf-8") as fh:
                model_type = json.load(fh).get("model_type")
        except (OSError, ValueError) as exc:
            msg = f"config.json of model {path} cannot be read: {exc}"
            raise ModelError(msg) from exc
        if model_type != "llava_onevision":
            hint = ("; it looks like a LLaVA-NeXT training checkpoint: convert it with transformers' "
                    "convert_llava_onevision_weights_to_hf.py" if model_type in (None, "llava_qwen")
                    else "; use backend 'hf-vlm' for other vision-language models")
            msg = f"model {path} is a {model_type!r} checkpoint, not LLaVA-OneVision (llava_onevision){hint}"
            raise ModelError(msg)
