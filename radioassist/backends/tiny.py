"""Tiny random vision-language checkpoints, for tests, benchmarks and users' own tests.

The builders here make real transformers checkpoints (config, safetensors
weights, tokenizer, image processor, processor and chat template) with random
weights and a tokenizer trained on the spot on the prompts of the registered
tasks, so that the ``llava`` and ``hf-vlm`` backends can be exercised end to
end, offline, in a second or two:

* :func:`make_tiny_llava_onevision`: a LLaVA-OneVision checkpoint (SigLIP
  vision tower, Qwen2 language model, anyres tiling), the architecture of
  radio-llava;
* :func:`make_tiny_qwen2_vl`: a Qwen2-VL checkpoint (3-D multimodal rotary
  positions), for the generic ``hf-vlm`` backend;
* :func:`make_tiny_lora_adapter`: a peft LoRA adapter for such a checkpoint;
* :func:`build_llava_onevision`: the model and processor in memory, at tiny
  size or at the real 0.5B / 7B architecture sizes (random weights), for
  throughput benchmarks.

The answers of these models are random: use them to test plumbing, never
accuracy.  torch, transformers and tokenizers are needed (``pip install
'radioassist[vlm]'``).
"""
import warnings
from pathlib import Path

from ..exceptions import InputError

__all__ = ["make_tiny_llava_onevision", "make_tiny_qwen2_vl", "make_tiny_lora_adapter",
           "build_llava_onevision", "train_tiny_tokenizer", "ARCHITECTURES"]

#: LLaVA-OneVision language-model sizes (Qwen2) of the public checkpoints, plus ``'tiny'``.
ARCHITECTURES = {
    "tiny": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                 num_key_value_heads=1),
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064),
}
# SigLIP so400m-patch14-384, the vision tower of LLaVA-OneVision
_SIGLIP_SO400M = dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=26, num_attention_heads=16,
                      image_size=384, patch_size=14)

_LLAVA_SPECIALS = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"]
_QWEN2VL_SPECIALS = ["<unk>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
                     "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]

# A Qwen2-style chat template (what LLaVA-OneVision checkpoints use, simplified): content may be a
# string or a list of {'type': 'image'} / {'type': 'text', 'text': ...} parts.
_LLAVA_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>\n"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_QWEN2VL_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _require():
    from .._optional_deps import require
    torch = require("torch", purpose="tiny test checkpoints")
    transformers = require("transformers", purpose="tiny test checkpoints")
    tokenizers = require("tokenizers", purpose="tiny test checkpoints")
    return torch, transformers, tokenizers


def _task_texts():
    """Every prompt text, re-ask text, label and answer of the registered tasks."""
    from ..prompts import PROMPT_VERSIONS, SYSTEM_PROMPT, build_prompt, reask_prompt
    from ..tasks import TASKS

    texts = [SYSTEM_PROMPT, "system\n", "user\n", "assistant\n"]
    for task in TASKS.values():
        for version in PROMPT_VERSIONS:
            for definitions in (False, True):
                texts.append(build_prompt(task, version=version, with_definitions=definitions))
            texts.append(reask_prompt(task, version=version))
        texts.extend(task.labels)
        texts.append(task.none_label)
        texts.append(",".join(task.labels))
        texts.extend(f"{label}," for label in task.labels)
    return texts


def train_tiny_tokenizer(*, special_tokens=None, texts=(), vocab_size=800, eos_token="<|im_end|>",
                         pad_token="<|endoftext|>", **extra):
    """A byte-level BPE tokenizer trained on the task prompts (a ``PreTrainedTokenizerFast``).

    Parameters
    ----------
    special_tokens : list of str, optional
        Special tokens (the LLaVA-OneVision set by default).
    texts : sequence of str, optional
        Extra training texts besides the prompts, labels and answers of the registered tasks.
    vocab_size : int, optional
        Target vocabulary size.
    eos_token, pad_token : str, optional
        End-of-turn and padding tokens.
    **extra
        Passed to ``PreTrainedTokenizerFast`` (e.g. ``extra_special_tokens``).
    """
    _, transformers, tokenizers = _require()
    from tokenizers import decoders, models, pre_tokenizers, trainers

    special_tokens = list(special_tokens or _LLAVA_SPECIALS)
    tok = tokenizers.Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), special_tokens=special_tokens, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = _task_texts() + [str(t) for t in texts]
    tok.train_from_iterator(corpus * 2, trainer)
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token=eos_token,
                                                pad_token=pad_token, padding_side="left", **extra)


def build_llava_onevision(arch="tiny", *, seed=0, image_size=32, patch_size=8, grid_pinpoints=None,
                          dtype=None, device="cpu", tokenizer_texts=()):
    """A LLaVA-OneVision model with random weights and its processor, in memory.

    Parameters
    ----------
    arch : {'tiny', '0.5b', '7b'}, optional
        ``'tiny'``: a ~0.1M-parameter model (SigLIP and Qwen2 of width 32, two
        layers each).  ``'0.5b'``/``'7b'``: the real architecture sizes of
        ``llava-onevision-qwen2-{0.5b,7b}-ov`` (SigLIP so400m-patch14-384, 384 px
        tiles, ``anyres_max_9`` with 6x6 grid pinpoints) with random weights,
        for throughput measurements; ``image_size``, ``patch_size`` and
        ``grid_pinpoints`` are then ignored.
    seed : int, optional
        Seed of the random weights.
    image_size, patch_size : int, optional
        Tile size and vision patch size of the tiny model.
    grid_pinpoints : list of [int, int], optional
        Anyres tile grids of the tiny model (default: 1x1, 1x2, 2x1 and 2x2 tiles,
        so images of different shapes get different numbers of image tokens).
    dtype : str, optional
        Parameter dtype (``'float32'`` by default).
    device : str, optional
        Where to build the model.
    tokenizer_texts : sequence of str, optional
        Extra texts to train the tokenizer on.

    Returns
    -------
    model : ``LlavaOnevisionForConditionalGeneration``
    processor : ``LlavaOnevisionProcessor``
    """
    torch, transformers, _ = _require()
    if arch not in ARCHITECTURES:
        msg = f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}"
        raise InputError(msg)
    text_kwargs = dict(ARCHITECTURES[arch])
    if arch == "tiny":
        vision_kwargs = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                             image_size=int(image_size), patch_size=int(patch_size))
        size = int(image_size)
        if grid_pinpoints is None:
            grid_pinpoints = [[size, size], [size, 2 * size], [2 * size, size], [2 * size, 2 * size]]
    else:
        vision_kwargs = dict(_SIGLIP_SO400M)
        size = vision_kwargs["image_size"]
        grid_pinpoints = [[size * i, size * j] for i in range(1, 7) for j in range(1, 7)]
    tokenizer = train_tiny_tokenizer(texts=tokenizer_texts,
                                     extra_special_tokens={"image_token": "<image>", "video_token": "<video>"})
    text_kwargs.setdefault("vocab_size", len(tokenizer))
    image_processor = transformers.LlavaOnevisionImageProcessor(
        size={"height": size, "width": size}, crop_size={"height": size, "width": size},
        image_grid_pinpoints=grid_pinpoints, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5], do_pad=True)
    video_processor = transformers.LlavaOnevisionVideoProcessor(size={"height": size, "width": size})
    processor = transformers.LlavaOnevisionProcessor(
        image_processor=image_processor, video_processor=video_processor, tokenizer=tokenizer,
        num_image_tokens=(size // vision_kwargs["patch_size"]) ** 2, vision_feature_select_strategy="full",
        chat_template=_LLAVA_TEMPLATE, vision_aspect_ratio="anyres_max_9")
    config = transformers.LlavaOnevisionConfig(
        vision_config=transformers.SiglipVisionConfig(**vision_kwargs),
        text_config=transformers.Qwen2Config(max_position_embeddings=32768, eos_token_id=tokenizer.eos_token_id,
                                             pad_token_id=tokenizer.pad_token_id, bos_token_id=None,
                                             **text_kwargs),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_id=tokenizer.convert_tokens_to_ids("<video>"),
        vision_feature_select_strategy="full", vision_feature_layer=-1, image_grid_pinpoints=grid_pinpoints,
        vision_aspect_ratio="anyres_max_9")
    torch_dtype = getattr(torch, dtype) if dtype else torch.float32
    previous = torch.get_default_dtype()
    torch.manual_seed(int(seed))
    try:
        torch.set_default_dtype(torch_dtype)
        with torch.device(device):
            model = transformers.LlavaOnevisionForConditionalGeneration(config)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    return model, processor


def _save(model, processor, folder):
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    from transformers.utils import logging as hf_logging
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(folder, safe_serialization=True)
        processor.save_pretrained(folder)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return folder


def make_tiny_llava_onevision(folder, *, seed=0, image_size=32, patch_size=8, grid_pinpoints=None):
    """Write a tiny random LLaVA-OneVision checkpoint (radio-llava's architecture) to ``folder``.

    The folder is a complete Hugging Face checkpoint (``config.json``,
    ``model.safetensors``, tokenizer, ``LlavaOnevisionProcessor`` with its image
    processor and chat template) that loads with ``from_pretrained`` exactly
    like a real one, e.g. ``get_backend('llava', model=folder)``.

    Parameters
    ----------
    folder : path-like
        Output folder (created if needed).
    seed : int, optional
        Seed of the random weights.
    image_size : int, optional
        Side of a vision tile in pixels (SigLIP ``image_size``; 384 in the real model).
    patch_size : int, optional
        Vision patch size (14 in the real model).
    grid_pinpoints : list of [int, int], optional
        Anyres grids; see :func:`build_llava_onevision`.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> import tempfile
    >>> from radioassist.backends.tiny import make_tiny_llava_onevision
    >>> folder = make_tiny_llava_onevision(tempfile.mkdtemp())  # doctest: +SKIP
    >>> sorted(p.name for p in folder.glob('*.json'))[:2]  # doctest: +SKIP
    ['config.json', 'generation_config.json']
    """
    model, processor = build_llava_onevision("tiny", seed=seed, image_size=image_size, patch_size=patch_size,
                                             grid_pinpoints=grid_pinpoints)
    return _save(model, processor, folder)


def make_tiny_qwen2_vl(folder, *, seed=0, patch_size=4, max_pixels=64 * 64):
    """Write a tiny random Qwen2-VL checkpoint to ``folder`` (for the ``hf-vlm`` backend).

    Qwen2-VL uses multimodal 3-D rotary positions and dynamic resolution, a
    different kind of model from LLaVA-OneVision: a good check that the
    generic backend makes no LLaVA assumption.

    Parameters
    ----------
    folder : path-like
        Output folder.
    seed : int, optional
        Seed of the random weights.
    patch_size : int, optional
        Vision patch size (14 in the real model).
    max_pixels : int, optional
        Largest image area the image processor keeps (bigger images are shrunk).

    Returns
    -------
    pathlib.Path
    """
    torch, transformers, _ = _require()
    tokenizer = train_tiny_tokenizer(special_tokens=_QWEN2VL_SPECIALS,
                                     extra_special_tokens={"image_token": "<|image_pad|>",
                                                           "video_token": "<|video_pad|>"})
    merge = 2
    factor = patch_size * merge
    image_processor = transformers.Qwen2VLImageProcessor(
        min_pixels=factor * factor * 4, max_pixels=int(max_pixels), patch_size=patch_size, merge_size=merge,
        temporal_patch_size=2, image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5])
    video_processor = transformers.Qwen2VLVideoProcessor(
        min_pixels=factor * factor * 4, max_pixels=int(max_pixels), patch_size=patch_size, merge_size=merge,
        temporal_patch_size=2)
    processor = transformers.Qwen2VLProcessor(image_processor=image_processor, tokenizer=tokenizer,
                                              video_processor=video_processor, chat_template=_QWEN2VL_TEMPLATE)
    ids = tokenizer.convert_tokens_to_ids
    config = transformers.Qwen2VLConfig(
        vision_config=dict(depth=2, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2, patch_size=patch_size,
                           spatial_merge_size=merge, temporal_patch_size=2, in_channels=3),
        text_config=dict(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=4096,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0,
                                          "mrope_section": [2, 3, 3]},
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         bos_token_id=None),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    torch.manual_seed(int(seed))
    model = transformers.Qwen2VLForConditionalGeneration(config).eval()
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = None
    return _save(model, processor, folder)


def make_tiny_lora_adapter(model_folder, adapter_folder, *, seed=0, rank=4,
                           target_modules=("q_proj", "v_proj")):
    """Write a peft LoRA adapter with random (non-zero) weights for the checkpoint in ``model_folder``.

    peft initialises LoRA so that a fresh adapter changes nothing; this one is
    random on both sides, so loading it visibly changes the model's outputs.

    Parameters
    ----------
    model_folder : path-like
        A checkpoint made by :func:`make_tiny_llava_onevision` (or any
        ``AutoModelForImageTextToText`` checkpoint).
    adapter_folder : path-like
        Output folder (``adapter_config.json`` + ``adapter_model.safetensors``).
    seed : int, optional
        Seed of the adapter weights.
    rank : int, optional
        LoRA rank.
    target_modules : sequence of str, optional
        Names of the linear layers to adapt (those of the language model by default).

    Returns
    -------
    pathlib.Path
    """
    torch, transformers, _ = _require()
    from .._optional_deps import require
    peft = require("peft", purpose="LoRA adapters")
    model = transformers.AutoModelForImageTextToText.from_pretrained(str(model_folder), local_files_only=True,
                                                                     use_safetensors=True)
    torch.manual_seed(int(seed))
    lora = peft.LoraConfig(r=int(rank), lora_alpha=2 * int(rank), lora_dropout=0.0, init_lora_weights=False,
                           target_modules=r".*language_model.*\.(" + "|".join(target_modules) + ")")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers deprecations triggered inside peft
        peft_model = peft.get_peft_model(model, lora)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, 0.5)
    folder = Path(adapter_folder)
    folder.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(folder, safe_serialization=True)
    return folder
