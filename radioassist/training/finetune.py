"""Instruction fine-tuning of LLaVA-OneVision (radio-llava) on LLaVA conversation data.

:func:`finetune_llava` trains a ``LlavaOnevisionForConditionalGeneration``
checkpoint on conversation records (:mod:`radioassist.training.formats`, as
written by :func:`radioassist.training.make_dataset`) and writes either a peft
LoRA adapter or a full checkpoint that the ``llava`` backend loads directly::

    get_backend('llava', model=BASE, adapter=OUTPUT)   # method='lora'
    get_backend('llava', model=OUTPUT)                 # method='full'

What is trained
    ``method='lora'`` (default): LoRA on the attention and MLP projections of
    the language model (``q_proj``... ``down_proj``), plus a full copy of the
    multimodal projector (``train_projector=True``, saved inside the adapter).
    ``method='full'``: the whole language model (with its embeddings and
    ``lm_head``) and the projector, as radio-llava was trained.  The vision
    tower stays frozen unless ``train_vision=True``; ``train_projector=False``
    freezes the projector too.

Reducing forgetting
    The radio-llava paper found that fine-tuning on radio images costs the
    model up to ~40% on general multimodal benchmarks, less with LoRA, a
    frozen vision tower or a more diverse training mix.  ``mix=`` adds
    general instruction data to the radio records at a chosen share of the
    training set (``[('synthetic-general', 0.2)]``, ``--mix
    synthetic-general:0.2``): a LLaVA conversation file used as is, or any
    general set (:func:`radioassist.general.load_general_set`) turned into
    conversations.  Mixed records are trained without the radio system
    prompt (unless they carry their own system turn), as general questions
    are asked.  ``general_eval=`` scores the base and the fine-tuned model on
    general sets after training (:func:`radioassist.general.evaluate_general`)
    and puts the scores and their relative change in the model card.

The conversation the model sees
    Every record becomes the chat the ``llava`` backend builds when it asks a
    question (:func:`radioassist.backends._vlm_scoring.build_conversation`):
    the radio system prompt (``system_prompt=True``, the backend's default),
    then the record's turns, the image in the first user turn
    (``<image>\\n`` + question), rendered with the model's own chat template.
    So a model fine-tuned here is asked at inference exactly what it was
    trained on.

Loss
    Next-token cross-entropy on the answer tokens only: every token of the
    system prompt, the questions, the image and the template is masked
    (label ``-100``); an answer is its tokens as the template writes the
    assistant turn up to and including the end-of-turn token (``<|im_end|>``),
    which is exactly the continuation the closed-set scorer of the backend
    scores.  Losses are averaged over the answer tokens of each optimizer step
    (across gradient-accumulation micro-batches), and only the logits of
    answer positions are computed.

Precision
    float32 on CPU; on CUDA (or with ``dtype='bfloat16'``) the frozen weights
    are loaded in bfloat16 and the forward pass runs under bfloat16 autocast; LoRA weights and a trained
    projector copy are kept in float32.  Full fine-tuning trains the weights
    in the loading dtype (bfloat16 on GPU: pass ``dtype='float32'`` for float32
    master weights if memory allows).  float16 training is not supported.

Checkpoints and resuming
    Every ``save_every`` optimizer steps (and when interrupted with Ctrl-C),
    ``output_dir/checkpoints/step-NNNNNNNN/`` receives the trainable weights
    (safetensors), the optimizer and scheduler states, the step and the RNG
    states; ``resume=True`` continues from the last one and reaches the same
    weights as an uninterrupted run (the data order of each epoch is a
    function of the seed and the epoch).  The final output also holds a model
    card (``README.md``: data, hyper-parameters, base model and its SHA-256,
    the exact command) and ``finetune.json`` (the same, machine-readable).
"""
import hashlib
import json
import math
import os
import platform
import re
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..backends._checkpoint import file_sha256, weights_sha256
from ..backends._vlm_scoring import system_text
from ..exceptions import InputError, ModelError
from ..logger import log
from .formats import IMAGE_TOKEN, _read_json, read_conversations, validate_conversations

__all__ = ["finetune_llava", "FinetuneResult", "record_messages", "encode_record", "collate", "parse_mix",
           "mix_records", "DEFAULT_LORA_TARGETS", "METHODS", "SCHEDULERS"]

#: Linear layers of the language model adapted by LoRA by default (attention and MLP of Qwen2).
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

#: Fine-tuning methods.
METHODS = ("lora", "full")

#: Learning-rate schedules (after a linear warm-up).
SCHEDULERS = ("cosine", "linear", "constant")

_DEFAULT_LR = {"lora": 2e-4, "full": 1e-5}
_CHECKPOINTS = "checkpoints"
_STEP_DIR = re.compile(r"^step-(\d+)$")
# hyper-parameters that must match to resume a run
_RESUME_KEYS = ("base_model", "method", "lora_rank", "lora_alpha", "lora_dropout", "target_modules",
                "train_projector", "train_vision", "learning_rate", "weight_decay", "warmup_ratio",
                "scheduler", "epochs", "max_steps", "batch_size", "gradient_accumulation", "max_grad_norm",
                "system_prompt", "seed", "train_data_sha256", "dtype", "mix")


# ------------------------------------------------------------------------------------------------ records
def _user_parts(text):
    """Content parts of a human turn: ``<image>`` placeholders become image parts (with their newline)."""
    parts = []
    pieces = text.split(IMAGE_TOKEN)
    for k, piece in enumerate(pieces):
        if k > 0:
            parts.append({"type": "image"})
            if piece.startswith("\n"):
                piece = piece[1:]  # the chat template writes '<image>\n' itself
        if piece:
            parts.append({"type": "text", "text": piece})
    return parts


def record_messages(record, *, system_prompt=True):
    """The chat messages of a LLaVA conversation record, as the ``llava`` backend builds them.

    Parameters
    ----------
    record : dict
        A conversation record (``conversations`` of ``human``/``gpt`` turns).
    system_prompt : bool or str, optional
        True: the radio system prompt (:data:`radioassist.prompts.SYSTEM_PROMPT`);
        a string: a custom one; False: none.  A ``system`` turn in the record wins.

    Returns
    -------
    list of dict
        ``{'role': ..., 'content': [parts]}`` messages.

    Examples
    --------
    >>> from radioassist.training.finetune import record_messages
    >>> record = {'id': 1, 'image': 'a.png', 'conversations': [
    ...     {'from': 'human', 'value': '<image>\\nFR-I or FR-II?'}, {'from': 'gpt', 'value': 'FR-II'}]}
    >>> [m['role'] for m in record_messages(record)]
    ['system', 'user', 'assistant']
    >>> record_messages(record, system_prompt=False)[0]['content']
    [{'type': 'image'}, {'type': 'text', 'text': 'FR-I or FR-II?'}]
    """
    turns = list(record["conversations"])
    system = system_text(system_prompt)
    if turns and turns[0]["from"] == "system":
        system = turns[0]["value"]
        turns = turns[1:]
    messages = []
    if system:
        messages.append({"role": "system", "content": [{"type": "text", "text": system}]})
    for turn in turns:
        if turn["from"] == "human":
            messages.append({"role": "user", "content": _user_parts(turn["value"])})
        else:
            messages.append({"role": "assistant", "content": [{"type": "text", "text": turn["value"]}]})
    return messages


def _render(processor, messages, *, generation):
    return processor.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)


def _tokenize(tokenizer, text, add_special):
    return list(tokenizer(text, add_special_tokens=add_special)["input_ids"])


def _end_of_turn(processor):
    tokenizer = processor.tokenizer
    for token in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>"):
        token_id = tokenizer.convert_tokens_to_ids(token)
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id >= 0:
            return token_id
    eos = tokenizer.eos_token_id
    return eos[0] if isinstance(eos, (list, tuple)) else eos


def encode_record(processor, record, *, system_prompt=True, where="record"):
    """Text, token ids and answer mask of one conversation record (image placeholders not expanded).

    Parameters
    ----------
    processor
        The model's processor (with a chat template and a tokenizer).
    record : dict
        A conversation record.
    system_prompt : bool or str, optional
        See :func:`record_messages`.
    where : str, optional
        How to name the record in error messages.

    Returns
    -------
    dict
        ``text`` (the rendered conversation), ``ids`` (int64 array, one
        ``<image>`` token per image), ``answer`` (bool array: the tokens the
        loss is computed on: each answer and its end-of-turn token),
        ``add_special_tokens`` (how to tokenise ``text`` again).

    Raises
    ------
    ModelError
        When the chat template does not render conversations incrementally or
        the tokenisation of the prompt is not a prefix of the whole (the answer
        tokens could not be located).
    """
    messages = record_messages(record, system_prompt=system_prompt)
    tokenizer = processor.tokenizer
    full = _render(processor, messages, generation=False)
    bos = getattr(tokenizer, "bos_token", None)
    add_special = not (bos and full.startswith(bos))
    ids = _tokenize(tokenizer, full, add_special)
    answer = np.zeros(len(ids), dtype=bool)
    eot = _end_of_turn(processor)
    for k, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        prefix = _render(processor, messages[:k], generation=True)
        upto = _render(processor, messages[:k + 1], generation=False)
        if not (full.startswith(upto) and upto.startswith(prefix)):
            msg = (f"{where}: the chat template does not render the conversation incrementally (the "
                   f"prompt of turn {k} is not a prefix of the conversation), so the answer tokens cannot be "
                   "located")
            raise ModelError(msg)
        prefix_ids = _tokenize(tokenizer, prefix, add_special)
        upto_ids = _tokenize(tokenizer, upto, add_special)
        start, stop = len(prefix_ids), len(upto_ids)
        if ids[:start] != prefix_ids or ids[:stop] != upto_ids or stop <= start:
            msg = (f"{where}: the tokens of the prompt of turn {k} are not a prefix of the tokens of the "
                   "conversation (a token merges across the answer boundary); cannot mask the prompt")
            raise ModelError(msg)
        end = next((j + 1 for j in range(start, stop) if ids[j] == eot), stop)
        answer[start:end] = True
    if not answer.any():
        msg = f"{where}: the conversation has no answer to train on"
        raise InputError(msg)
    return {"text": full, "ids": np.asarray(ids, dtype=np.int64), "answer": answer,
            "add_special_tokens": add_special}


def _load_image(image, where):
    if isinstance(image, np.ndarray):
        array = image
    else:
        from PIL import Image
        try:
            with Image.open(image) as pic:
                array = np.array(pic.convert("RGB"))
        except (OSError, ValueError) as exc:
            msg = f"{where}: cannot read image {image}: {exc}"
            raise InputError(msg) from None
    if array.ndim == 2:
        array = np.repeat(array[..., None], 3, axis=-1)
    if array.ndim != 3 or array.shape[-1] != 3 or array.dtype != np.uint8:
        msg = f"{where}: images must be uint8 RGB (H, W, 3), got {array.dtype} {array.shape}"
        raise InputError(msg)
    return array


def collate(processor, encoded, images, *, image_token_id):
    """A training batch: processor inputs (right-padded) plus ``labels`` (-100 outside the answers).

    Parameters
    ----------
    processor
        The model's processor.
    encoded : list of dict
        :func:`encode_record` outputs.
    images : list of ndarray
        One uint8 RGB image per record.
    image_token_id : int
        Id of the ``<image>`` token.

    Returns
    -------
    dict of torch.Tensor
    """
    import torch

    tokenizer = processor.tokenizer
    side = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        batch = processor(text=[e["text"] for e in encoded], images=list(images), return_tensors="pt",
                          padding=True, add_special_tokens=encoded[0]["add_special_tokens"])
    finally:
        tokenizer.padding_side = side
    input_ids = batch["input_ids"]
    labels = torch.full_like(input_ids, -100)
    for b, e in enumerate(encoded):
        n = int(batch["attention_mask"][b].sum())
        row = input_ids[b, :n]
        text_pos = torch.nonzero(row != image_token_id).squeeze(1)
        u = torch.from_numpy(e["ids"])
        keep = u != image_token_id
        if len(text_pos) != int(keep.sum()) or not torch.equal(row[text_pos], u[keep]):
            msg = ("the processor tokenised a conversation differently from its chat-template text (beyond "
                   "expanding <image>); cannot align the answer mask")
            raise ModelError(msg)
        answer = torch.from_numpy(e["answer"])[keep]
        labels[b, text_pos[answer]] = u[keep][answer]
    out = {key: value for key, value in batch.items() if isinstance(value, torch.Tensor)}
    out["labels"] = labels
    return out


# ------------------------------------------------------------------------------------------------ data
def _records_from(data, what):
    """(records with absolute image paths or arrays, description dict) from a path, a folder or a list."""
    if data is None:
        return None, None
    if isinstance(data, (list, tuple)):
        records = validate_conversations(list(data), where=f"the {what} records")
        digest = hashlib.sha256(json.dumps([{k: v for k, v in r.items() if k != "image"} for r in records],
                                           sort_keys=True, default=str).encode()).hexdigest()
        return records, {"path": None, "sha256": digest, "n_records": len(records)}
    path = Path(data)
    if path.is_dir():
        candidate = path / ("train.json" if what == "training" else "valid.json")
        if not candidate.is_file():
            msg = (f"{what} data folder {path} has no {candidate.name}; give a conversation .json file or a "
                   "folder made by make_dataset")
            raise InputError(msg)
        path = candidate
    if not path.is_file():
        msg = f"{what} data {path} does not exist"
        raise InputError(msg)
    records = read_conversations(path, check_images=True, resolve_paths=True)
    info = {"path": str(path.resolve()), "sha256": file_sha256(path), "n_records": len(records)}
    manifest = path.parent / "dataset.json"
    if manifest.is_file():
        try:
            with open(manifest, encoding="utf-8") as fh:
                info["dataset"] = json.load(fh)
        except (OSError, ValueError):
            pass
    return records, info


def _check_images(records, where):
    for i, record in enumerate(records):
        image = record.get("image")
        if image is None or isinstance(image, list) and len(image) != 1:
            msg = (f"{where}: record {i} (id {record['id']!r}) must have exactly one image (LLaVA-OneVision "
                   "fine-tuning here takes one image per record)")
            raise InputError(msg)


def _image_of(record):
    image = record["image"]
    return image[0] if isinstance(image, list) else image


def parse_mix(mix):
    """General data to mix into the training set, as ``[(dataset, fraction), ...]``.

    Parameters
    ----------
    mix : str, (dataset, fraction) or a sequence of them
        ``'DATASET:FRACTION'`` strings (the ``--mix`` syntax; the fraction
        after the last colon) or pairs.  DATASET is a LLaVA conversation
        ``.json`` or a general set spec (``'synthetic-general'``, a ChartQA/
        DocVQA/ScienceQA/MMBench path...); FRACTION is its share of the whole
        training set, in (0, 1); the shares add up to less than 1.

    Returns
    -------
    list of (str, float)

    Examples
    --------
    >>> from radioassist.training.finetune import parse_mix
    >>> parse_mix('synthetic-general:0.25')
    [('synthetic-general', 0.25)]
    """
    if mix is None:
        return []
    if isinstance(mix, str) or (isinstance(mix, tuple) and len(mix) == 2 and not isinstance(mix[1], (tuple, str))):
        mix = [mix]
    out = []
    for entry in mix:
        if isinstance(entry, str):
            dataset, sep, fraction = entry.rpartition(":")
            if not sep or not dataset.strip():
                msg = f"mix {entry!r} must look like DATASET:FRACTION, e.g. synthetic-general:0.2"
                raise InputError(msg)
        else:
            try:
                dataset, fraction = entry
            except (TypeError, ValueError):
                msg = f"mix entries are 'DATASET:FRACTION' strings or (dataset, fraction) pairs, got {entry!r}"
                raise InputError(msg) from None
        try:
            fraction = float(fraction)
        except (TypeError, ValueError):
            fraction = float("nan")
        if not 0 < fraction < 1:
            msg = f"the fraction of mix {entry!r} must lie between 0 and 1 (its share of the training set)"
            raise InputError(msg)
        out.append((str(dataset).strip(), fraction))
    if sum(f for _, f in out) >= 1:
        msg = f"the mix fractions add up to {sum(f for _, f in out):g}; they must leave room for the radio data (< 1)"
        raise InputError(msg)
    return out


def _general_conversations(dataset):
    """(records, description) of a mix dataset: a LLaVA conversation file as is, or a general set."""
    path = Path(dataset)
    if path.is_file() and path.suffix.lower() == ".json":
        try:
            with open(path, encoding="utf-8") as fh:
                content = json.load(fh)
        except (OSError, ValueError):
            content = None
        if isinstance(content, list) and content and isinstance(content[0], dict) and \
                "conversations" in content[0] and not {"options", "answers", "answer_type"} & set(content[0]):
            records = read_conversations(path, check_images=True, resolve_paths=True)
            return records, {"path": str(path.resolve()), "sha256": file_sha256(path), "format": "llava"}
    from ..general import load_general_set, training_records

    general = load_general_set(dataset)
    return training_records(general), {"path": general.source, "format": general.format,
                                       "sha256": general.meta.get("sha256"), "set": general.name}


def mix_records(mix, n_radio, *, seed=0):
    """The general records mixed into ``n_radio`` radio records, and a description of each mix.

    Each dataset contributes ``round(fraction * n_total)`` records, where
    ``n_total = n_radio / (1 - sum of fractions)``: drawn without replacement
    (with a fixed seed) when it has enough, else every record once per pass
    over shuffled passes.  Records keep their own system turn if they have
    one; otherwise they get an empty one, so that they are trained without the
    radio system prompt.

    Parameters
    ----------
    mix : see :func:`parse_mix`
    n_radio : int
        Number of radio training records.
    seed : int, optional

    Returns
    -------
    records : list of dict
    info : list of dict
        Per dataset: ``dataset``, ``fraction``, ``n_records``, ``n_available``, ``path``, ``sha256``.
    """
    entries = parse_mix(mix)
    if not entries:
        return [], None
    total = n_radio / (1.0 - sum(f for _, f in entries))
    records, info = [], []
    for k, (dataset, fraction) in enumerate(entries):
        pool, description = _general_conversations(dataset)
        if not pool:
            msg = f"mix dataset {dataset} holds no record"
            raise InputError(msg)
        n = max(1, int(round(fraction * total)))
        rng = np.random.default_rng([int(seed), k])
        if n <= len(pool):
            order = rng.choice(len(pool), size=n, replace=False)
        else:
            order = np.concatenate([rng.permutation(len(pool)) for _ in range(-(-n // len(pool)))])[:n]
            log.info("mix %s: %d records asked for, %d available: each is used up to %d times", dataset, n,
                     len(pool), -(-n // len(pool)))
        for j, index in enumerate(order):
            record = dict(pool[int(index)])
            turns = [dict(t) for t in record["conversations"]]
            if turns[0]["from"] != "system":
                turns.insert(0, {"from": "system", "value": ""})
            record.update(id=f"mix{k}-{j}-{record['id']}", conversations=turns)
            records.append(record)
        info.append({"dataset": dataset, "fraction": fraction, "n_records": n, "n_available": len(pool),
                     **description})
        log.info("mixing %d records of %s into %d radio records (%.0f%% of the training set)", n, dataset,
                 n_radio, 100 * fraction)
    return records, info


# ------------------------------------------------------------------------------------------------ model
def _resolve_dtype(dtype, device):
    from ..backends.hf_vlm import resolve_dtype

    name = resolve_dtype(dtype, device)
    if name == "float16":
        msg = "float16 training is not supported (no loss scaling); use dtype='bfloat16' or 'float32'"
        raise InputError(msg)
    return name


def _lora_target(target_modules):
    if isinstance(target_modules, str):
        return target_modules  # a regular expression, used as given
    names = [str(t) for t in target_modules]
    if not names:
        msg = "target_modules must name at least one linear layer (e.g. ['q_proj', 'v_proj'])"
        raise InputError(msg)
    return r".*language_model.*\.(" + "|".join(re.escape(n) for n in names) + r")$"


def _group(name):
    if "vision_tower" in name or "vision_model" in name:
        return "vision"
    if "multi_modal_projector" in name or "image_newline" in name:
        return "projector"
    return "language"


def _prepare_model(model, config):
    """Freeze/unfreeze parameters, add LoRA; returns the model to train."""
    import torch

    for param in model.parameters():
        param.requires_grad_(False)
    if config["method"] == "lora":
        from .._optional_deps import require
        peft = require("peft", purpose="LoRA fine-tuning")
        modules_to_save = []
        if config["train_projector"]:
            modules_to_save.append("multi_modal_projector")
        if config["train_vision"]:
            modules_to_save.append("vision_tower")
        lora = peft.LoraConfig(r=config["lora_rank"], lora_alpha=config["lora_alpha"],
                               lora_dropout=config["lora_dropout"], bias="none",
                               target_modules=_lora_target(config["target_modules"]),
                               modules_to_save=modules_to_save or None)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                model = peft.get_peft_model(model, lora)
        except ValueError as exc:
            msg = f"cannot add LoRA layers to the model: {exc} (check target_modules)"
            raise ModelError(msg) from None
    else:
        for name, param in model.named_parameters():
            group = _group(name)
            if group == "language" or (group == "projector" and config["train_projector"]) or (
                    group == "vision" and config["train_vision"]):
                param.requires_grad_(True)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if not trainable:
        msg = "no parameter is trainable with these settings"
        raise ModelError(msg)
    if config["method"] == "lora":
        with torch.no_grad():
            for _, param in trainable:
                if param.dtype != torch.float32:
                    param.data = param.data.float()
    return model, trainable


def _lr_lambda(total, warmup, kind):
    def rate(step):
        if warmup and step < warmup:
            return (step + 1) / warmup
        if kind == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total - warmup)
        progress = min(max(progress, 0.0), 1.0)
        if kind == "linear":
            return 1.0 - progress
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    return rate


def _answer_loss(model, batch, *, autocast):
    """Sum of the answer-token cross-entropies and their number."""
    import torch
    import torch.nn.functional as F

    labels = batch["labels"]
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    target = labels[:, 1:]
    positions = torch.nonzero((target != -100).any(0)).squeeze(1)
    with autocast():
        output = model(**inputs, use_cache=False, logits_to_keep=positions)
    logits = output.logits
    if logits.shape[1] != len(positions):  # the model ignored logits_to_keep
        logits = logits[:, positions]
    wanted = target[:, positions]
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), wanted.reshape(-1),
                           ignore_index=-100, reduction="sum")
    return loss, int((wanted != -100).sum())


# ------------------------------------------------------------------------------------------------ results
@dataclass
class FinetuneResult:
    """What :func:`finetune_llava` did.

    Attributes
    ----------
    output_dir : pathlib.Path
        The adapter (``method='lora'``) or full checkpoint folder.
    method : str
    steps : int
        Optimizer steps done in total (including those before a resume).
    train_loss : float
        Mean answer-token loss of the last (up to) 10 steps.
    valid_loss : float or None
        Mean answer-token loss on the validation records at the end.
    initial_valid_loss : float or None
        The same before training (None when resumed).
    seconds : float
        Wall time of this call.
    history : list of dict
        ``{'step', 'loss', 'learning_rate', 'epoch'}`` per step of this call.
    resumed_from : int or None
        Step of the checkpoint resumed from.
    trainable_parameters : int
    base_model_sha256 : str or None
    """

    output_dir: Path
    method: str
    steps: int
    train_loss: float
    valid_loss: float = None
    initial_valid_loss: float = None
    seconds: float = 0.0
    history: list = field(default_factory=list)
    resumed_from: int = None
    trainable_parameters: int = 0
    base_model_sha256: str = None


# ------------------------------------------------------------------------------------------------ checkpoints
def _checkpoints(output_dir):
    folder = Path(output_dir) / _CHECKPOINTS
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            match = _STEP_DIR.match(path.name)
            if match and (path / "state.json").is_file():
                found.append((int(match.group(1)), path))
    return sorted(found)


def _rng_state():
    import torch

    rng = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    return rng


def _save_checkpoint(output_dir, step, *, trainable, optimizer, scheduler, config, history, keep, rng):
    import torch
    from safetensors.torch import save_file

    folder = Path(output_dir) / _CHECKPOINTS / f"step-{step:08d}"
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    save_file({name: param.detach().to("cpu").contiguous() for name, param in trainable},
              str(tmp / "trainable.safetensors"))
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
    torch.save(rng, tmp / "rng.pt")
    with open(tmp / "state.json", "w", encoding="utf-8") as fh:
        json.dump({"step": step, "config": config, "history": history}, fh, indent=1, default=str)
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    if keep:
        for _, old in _checkpoints(output_dir)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    log.info("saved checkpoint %s", folder)
    return folder


def _load_checkpoint(folder, *, model, trainable, optimizer, scheduler, config, device):
    import torch
    from safetensors.torch import load_file

    folder = Path(folder)
    state = _read_json(folder / "state.json", "checkpoint state")
    saved = state.get("config", {})
    different = [f"{key}: {saved.get(key)!r} -> {config.get(key)!r}" for key in _RESUME_KEYS
                 if json.dumps(saved.get(key), default=str) != json.dumps(config.get(key), default=str)]
    if different:
        msg = (f"cannot resume from {folder}: the run was started with other settings "
               f"({'; '.join(different)}); use the same settings, or start afresh with overwrite=True "
               "(--overwrite)")
        raise InputError(msg)
    weights = load_file(str(folder / "trainable.safetensors"))
    names = {name for name, _ in trainable}
    if set(weights) != names:
        msg = f"checkpoint {folder} does not hold the trainable weights of this model"
        raise InputError(msg)
    with torch.no_grad():
        for name, param in trainable:
            param.copy_(weights[name].to(param.device, param.dtype))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", map_location=device, weights_only=True))
    scheduler.load_state_dict(torch.load(folder / "scheduler.pt", weights_only=True))
    rng = torch.load(folder / "rng.pt", weights_only=True)
    torch.set_rng_state(rng["cpu"])
    if "cuda" in rng and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(rng["cuda"])
        except RuntimeError:  # another number of GPUs
            pass
    return int(state["step"]), list(state.get("history", []))


# ------------------------------------------------------------------------------------------------ model card
def _fmt(value):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _model_card(info):
    config = info["config"]
    data = info["train_data"]
    lines = ["---", "library_name: " + ("peft" if config["method"] == "lora" else "transformers"),
             f"base_model: {config['base_model']}", "pipeline_tag: image-text-to-text",
             "tags: [radio-astronomy, radioassist, llava-onevision, radio-llava]", "---", "",
             f"# {Path(info['output_dir']).name}: LLaVA-OneVision fine-tuned on radio images", "",
             f"{'A LoRA adapter' if config['method'] == 'lora' else 'A full checkpoint'} made with "
             f"`radioassist finetune` (radioassist {info['radioassist_version']}).", "",
             "## Use", "", "```python", "from radioassist.backends import get_backend"]
    if config["method"] == "lora":
        lines.append(f"backend = get_backend('llava', model={config['base_model']!r}, "
                     f"adapter={str(info['output_dir'])!r})")
    else:
        lines.append(f"backend = get_backend('llava', model={str(info['output_dir'])!r})")
    lines += ["predictions = backend.predict(cutouts, 'B3')  # rendered with the 'radio-llava' preset",
              "```", ""]
    system = config["system_prompt"]
    if system is True:
        lines.append("Trained with the radio system prompt, the `llava` backend's default "
                     "(`system_prompt=True`).")
    elif system:
        lines.append(f"Trained with the custom system prompt {system!r}: pass the same `system_prompt=` "
                     "when asking.")
    else:
        lines.append("Trained without a system prompt: ask with `system_prompt=False`.")
    dataset = (data or {}).get("dataset") or {}
    if dataset:
        included = "included" if dataset.get("with_definitions") else "not included"
        lines.append(f"Prompt version {dataset.get('prompt_version')!r}, class definitions {included}: ask "
                     "with the same `prompt_version=`/`with_definitions=`.")
        folder = Path(data["path"]).parent if data.get("path") else None
        if folder is not None and dataset.get("tasks"):
            task = dataset["tasks"][0]
            spec = (f"llava={config['base_model']},adapter={info['output_dir']}" if config["method"] == "lora"
                    else f"llava={info['output_dir']}")
            lines += ["", "Evaluate on the held-out images of its dataset:", "", "```",
                      f"radioassist evaluate {folder / f'datalist_{task}.json'} -t {task} --split valid "
                      f"-m '{spec}' -o evaluation", "```"]
    lines += ["", "## Base model", "", f"- model: `{config['base_model']}`",
              f"- weights SHA-256: `{info.get('base_model_sha256') or 'not computed'}`", "",
              "## Training data", "", f"- conversations: `{data.get('path') or 'in-memory records'}` "
              f"({data.get('n_records')} records, SHA-256 `{data.get('sha256')}`)"]
    valid = info.get("valid_data")
    if valid:
        lines.append(f"- validation: `{valid.get('path') or 'in-memory records'}` "
                     f"({valid.get('n_records')} records)")
    if dataset:
        lines.append(f"- made by `make_dataset` from {dataset.get('source', {}).get('kind')} "
                     f"({json.dumps(dataset.get('source'), default=str)}), "
                     f"tasks {', '.join(dataset.get('tasks', []))}")
        for task, splits in (dataset.get("counts") or {}).items():
            lines.append(f"  - {task}: " + "; ".join(f"{split or 'unsplit'}: " + ", ".join(
                f"{label} {n}" for label, n in labels.items()) for split, labels in splits.items()))
    if config.get("data_description"):
        lines.append(f"- description: {config['data_description']}")
    for entry in info.get("mix") or ():
        lines.append(f"- mixed in: `{entry['dataset']}`, {entry['n_records']} records "
                     f"({100 * entry['fraction']:.0f}% of the training set; {entry['n_available']} available), "
                     "trained without the radio system prompt")
    lines += ["", "## Hyper-parameters", "", "| parameter | value |", "|---|---|"]
    for key in ("method", "lora_rank", "lora_alpha", "lora_dropout", "target_modules", "train_projector",
                "train_vision", "learning_rate", "weight_decay", "scheduler", "warmup_ratio", "epochs",
                "max_steps", "batch_size", "gradient_accumulation", "max_grad_norm", "dtype",
                "gradient_checkpointing", "seed"):
        if config["method"] != "lora" and key.startswith(("lora_", "target_")):
            continue
        lines.append(f"| {key} | {_fmt(config.get(key))} |")
    resumed = f" (resumed from step {info['resumed_from']})" if info.get("resumed_from") is not None else ""
    lines += ["", "Loss: cross-entropy on the answer tokens only (each answer and its end-of-turn token); "
              "the system prompt, questions, image and template tokens are masked.", "", "## Results", "",
              f"- optimizer steps: {info['steps']} (epochs: {_fmt(info.get('epochs_done'))})",
              f"- trainable parameters: {info['trainable_parameters']:,}",
              f"- final training loss (mean of the last 10 steps): {_fmt(info.get('train_loss'))}",
              f"- validation loss: {_fmt(info.get('initial_valid_loss'))} before, "
              f"{_fmt(info.get('valid_loss'))} after",
              f"- device: {info['device']}, wall time {info['seconds']:.0f} s{resumed}",
              f"- torch {info['torch_version']}, transformers {info['transformers_version']}, "
              f"peft {info.get('peft_version') or '-'}, Python {platform.python_version()}", "",
              "## Command", "", "```", info["command"], "```", ""]
    general = info.get("general_eval")
    if general:
        at = lines.index("## Command")
        lines[at:at] = ["## General tasks (forgetting)", "",
                        "Base and fine-tuned model on general visual questions (`radioassist evaluate-general`; "
                        "option-letter log-likelihood for multiple choice, greedy answers scored by exact match, "
                        "relaxed accuracy or ANLS; no system prompt):", "", general["markdown"], "",
                        f"Per-item answers and the figure: `{general['folder']}`.", ""]
    return "\n".join(lines)


def _call_string(data, output_dir, config):
    args = [repr(str(data) if not isinstance(data, (list, tuple)) else "<records>"), repr(str(output_dir))]
    args.append(f"model={config['base_model']!r}")
    keys = ("method", "learning_rate", "epochs", "max_steps", "batch_size", "gradient_accumulation", "seed")
    args += [f"{k}={config[k]!r}" for k in keys]
    return f"finetune_llava({', '.join(args)})"


def _free_memory(torch):
    import gc

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _general_evaluation(sets, out, *, base_model, method, device, dtype, limit, seed, batch_size):
    """Score the base and the fine-tuned model on general sets; write ``out/general-eval``."""
    from ..general import evaluate_general

    common = {"backend": "llava", "model": base_model, "hash_weights": False}
    name = Path(out).name or "fine-tuned"
    if method == "lora":
        tuned = dict(common, adapter=str(Path(out).resolve()), name=name)
    else:
        tuned = dict(common, model=str(Path(out).resolve()), name=name)
    if name == "base":
        tuned["name"] = "fine-tuned"
    result = evaluate_general(list(sets), [dict(common, name="base"), tuned], base="base", limit=limit,
                              device=device, dtype=dtype, batch_size=max(int(batch_size), 8), seed=seed)
    folder = Path(out) / "general-eval"
    result.write(folder, overwrite=True)
    rows = [{k: (None if isinstance(v, float) and not np.isfinite(v) else v)
             for k, v in zip(result.summary.colnames, (r[c].item() if hasattr(r[c], "item") else r[c]
                                                       for c in result.summary.colnames))}
            for r in result.summary]
    for row in rows:
        log.info("general set %s, %s: score %.4f%s", row["set"], row["model"], row["score"],
                 "" if row["relative_change"] is None else f" ({100 * row['relative_change']:+.1f}% vs base)")
    return {"folder": str(folder), "markdown": result.to_markdown(), "summary": rows}


# ------------------------------------------------------------------------------------------------ main
def _positive_int(value, name, *, allow_none=False, minimum=1):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        msg = f"{name} must be an integer >= {minimum}, got {value!r}"
        raise InputError(msg)
    return int(value)


def _check_output(output_dir, *, resume, overwrite):
    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        msg = f"output folder {out} is a file"
        raise InputError(msg)
    markers = [p for p in ("adapter_config.json", "config.json", _CHECKPOINTS, "finetune.json")
               if (out / p).exists()]
    if markers and not resume:
        if not overwrite:
            msg = (f"output folder {out} already holds a fine-tuning run ({markers[0]}); pass resume=True "
                   "(--resume) to continue it or overwrite=True (--overwrite) to start afresh")
            raise InputError(msg)
        for name in ("adapter_config.json", "adapter_model.safetensors", "config.json", "model.safetensors",
                     "finetune.json", "README.md", "generation_config.json"):
            if (out / name).exists():
                (out / name).unlink()
        for extra in out.glob("model-*.safetensors"):
            extra.unlink()
        if (out / _CHECKPOINTS).is_dir():
            shutil.rmtree(out / _CHECKPOINTS)
    out.mkdir(parents=True, exist_ok=True)
    return out


def finetune_llava(data, output_dir, *, model, valid_data=None, method="lora", lora_rank=16, lora_alpha=None,
                   lora_dropout=0.05, target_modules=DEFAULT_LORA_TARGETS, train_projector=True,
                   train_vision=False, learning_rate=None, weight_decay=0.0, warmup_ratio=0.03,
                   scheduler="cosine", epochs=1, max_steps=None, batch_size=1, gradient_accumulation=1,
                   max_grad_norm=1.0, system_prompt=True, dtype=None, device="cpu",
                   gradient_checkpointing=False, seed=0, save_every=None, keep_checkpoints=2, resume=False,
                   overwrite=False, progress=False, log_every=10, hash_base=True, data_description=None,
                   command=None, callback=None, mix=None, general_eval=None, general_eval_limit=None):
    """Instruction-fine-tune a LLaVA-OneVision checkpoint on conversation records.

    Parameters
    ----------
    data : str, path-like or list of dict
        Training conversations: a LLaVA conversation ``.json`` file, a folder
        made by :func:`~radioassist.training.make_dataset` (its
        ``train.json``), or a list of records (``image`` a path or a uint8
        RGB array).  One image per record.
    output_dir : str or path-like
        Where the adapter (``method='lora'``) or full checkpoint (``'full'``),
        the model card and the checkpoints go.
    model : str or path-like
        Base checkpoint (a folder or hub id) in Hugging Face LLaVA-OneVision format.
    valid_data : str, path-like or list of dict, optional
        Validation conversations (the loss is reported before and after
        training); by default the ``valid.json`` of a ``make_dataset`` folder.
    method : {'lora', 'full'}, optional
        LoRA adapter on the language model (default) or full fine-tuning of
        the language model.
    lora_rank, lora_alpha, lora_dropout : optional
        LoRA rank (16), scaling (default ``2 * lora_rank``) and dropout (0.05).
    target_modules : sequence of str or str, optional
        Linear layers of the language model that get LoRA
        (:data:`DEFAULT_LORA_TARGETS`), or a regular expression over module names.
    train_projector : bool, optional
        Train the multimodal projector too (True; with LoRA a full copy is saved in the adapter).
    train_vision : bool, optional
        Unfreeze the vision tower (False).
    learning_rate : float, optional
        Peak learning rate (AdamW); default 2e-4 for LoRA, 1e-5 for full fine-tuning.
    weight_decay : float, optional
        AdamW weight decay (0).
    warmup_ratio : float, optional
        Fraction of the steps with a linear warm-up (0.03).
    scheduler : {'cosine', 'linear', 'constant'}, optional
        Decay after the warm-up.
    epochs : int, optional
        Passes over the training data (1).
    max_steps : int, optional
        Stop after this many optimizer steps (overrides ``epochs``; sets the schedule length).
    batch_size : int, optional
        Records per micro-batch (1).
    gradient_accumulation : int, optional
        Micro-batches per optimizer step (1).
    max_grad_norm : float, optional
        Gradient clipping (1.0; 0 or None: no clipping).
    system_prompt : bool or str, optional
        System turn of every conversation: True for the radio system prompt (the
        ``llava`` backend's default), a string, or False for none.  Ask the
        fine-tuned model with the same setting.
    dtype : str, optional
        Weight dtype: ``'float32'`` (CPU default) or ``'bfloat16'`` (CUDA default).
    device : str, optional
        Torch device.
    gradient_checkpointing : bool, optional
        Recompute activations in the backward pass (less memory, slower).
    seed : int, optional
        Seed of the LoRA initialisation, dropout and data order.
    save_every : int, optional
        Save a checkpoint every this many optimizer steps (and at the end).
    keep_checkpoints : int, optional
        Checkpoints kept (the most recent; 0 keeps all).
    resume : bool or path-like, optional
        Continue from the last checkpoint in ``output_dir`` (or from the given
        checkpoint folder); the settings must match.
    overwrite : bool, optional
        Replace a run already in ``output_dir``.
    progress : bool, optional
        Show a progress bar.
    log_every : int, optional
        Log the loss every this many steps.
    hash_base : bool, optional
        Record the SHA-256 of the base model's weight files in the model card.
    data_description : str, optional
        Origin and licence of the data, for the model card.
    command : str, optional
        The command line to record in the model card (the CLI passes its own).
    callback : callable, optional
        Called after every optimizer step with a dict (``step``, ``total_steps``,
        ``loss``, ``learning_rate``, ``epoch``); an exception raised there stops
        training (a checkpoint of the last step is saved first).
    mix : str, (dataset, fraction) or sequence of them, optional
        General instruction data mixed into the training set at a share of
        it (``'synthetic-general:0.2'``); see :func:`parse_mix` and
        :func:`mix_records`.  Part of the settings a resume must match.
    general_eval : str or sequence of str, optional
        General sets (:func:`radioassist.general.load_general_set` specs) on
        which the base and the fine-tuned model are scored after training;
        the results go to ``output_dir/general-eval/`` and the model card.
    general_eval_limit : int, optional
        Use the first N items of each general set.

    Returns
    -------
    `FinetuneResult`

    Raises
    ------
    InputError
        Invalid data or parameters, an existing run without ``resume``/``overwrite``.
    ModelError
        A model that cannot be loaded or trained (e.g. a chat template that
        does not allow masking the prompt).
    """
    from .._optional_deps import require

    torch = require("torch", purpose="fine-tuning")
    transformers = require("transformers", purpose="fine-tuning")
    if method not in METHODS:
        msg = f"method must be one of {', '.join(METHODS)}, got {method!r}"
        raise InputError(msg)
    if scheduler not in SCHEDULERS:
        msg = f"scheduler must be one of {', '.join(SCHEDULERS)}, got {scheduler!r}"
        raise InputError(msg)
    lora_rank = _positive_int(lora_rank, "lora_rank")
    lora_alpha = 2 * lora_rank if lora_alpha is None else float(lora_alpha)
    if not 0 <= float(lora_dropout) < 1:
        msg = f"lora_dropout must be in [0, 1), got {lora_dropout!r}"
        raise InputError(msg)
    epochs = _positive_int(epochs, "epochs")
    max_steps = _positive_int(max_steps, "max_steps", allow_none=True)
    batch_size = _positive_int(batch_size, "batch_size")
    gradient_accumulation = _positive_int(gradient_accumulation, "gradient_accumulation")
    save_every = _positive_int(save_every, "save_every", allow_none=True)
    keep_checkpoints = _positive_int(keep_checkpoints, "keep_checkpoints", minimum=0)
    log_every = _positive_int(log_every, "log_every")
    learning_rate = _DEFAULT_LR[method] if learning_rate is None else float(learning_rate)
    if not learning_rate > 0:
        msg = f"learning_rate must be positive, got {learning_rate!r}"
        raise InputError(msg)
    if not 0 <= float(warmup_ratio) < 1:
        msg = f"warmup_ratio must be in [0, 1), got {warmup_ratio!r}"
        raise InputError(msg)
    if system_prompt is not None and not isinstance(system_prompt, (bool, str)):
        msg = f"system_prompt must be True, False or a string, got {system_prompt!r}"
        raise InputError(msg)
    if model is None:
        msg = "finetune_llava needs model=: the base LLaVA-OneVision checkpoint (folder or hub id)"
        raise InputError(msg)
    dtype_name = _resolve_dtype(dtype, device)

    train_records, train_info = _records_from(data, "training")
    if not train_records:
        msg = f"the training data {data} holds no record"
        raise InputError(msg)
    if valid_data is None and not isinstance(data, (list, tuple)) and Path(data).is_dir() and \
            (Path(data) / "valid.json").is_file():
        valid_data = Path(data) / "valid.json"
    valid_records, valid_info = _records_from(valid_data, "validation")
    _check_images(train_records, "training data")
    mixed, mix_info = mix_records(mix, len(train_records), seed=seed)
    _check_images(mixed, "mixed data")
    train_records = train_records + mixed
    if isinstance(general_eval, str):
        general_eval = [general_eval]
    general_eval = list(general_eval or [])
    if valid_records:
        _check_images(valid_records, "validation data")

    base_text = str(model)
    base_path = Path(base_text).expanduser()
    local = base_path.is_dir()
    base_model = str(base_path.resolve()) if local else base_text
    out = _check_output(output_dir, resume=resume, overwrite=overwrite)
    config = {"base_model": base_model, "method": method, "lora_rank": lora_rank, "lora_alpha": lora_alpha,
              "lora_dropout": float(lora_dropout),
              "target_modules": target_modules if isinstance(target_modules, str) else list(target_modules),
              "train_projector": bool(train_projector), "train_vision": bool(train_vision),
              "learning_rate": learning_rate, "weight_decay": float(weight_decay),
              "warmup_ratio": float(warmup_ratio), "scheduler": scheduler, "epochs": epochs,
              "max_steps": max_steps,
              "batch_size": batch_size, "gradient_accumulation": gradient_accumulation,
              "max_grad_norm": float(max_grad_norm or 0.0), "system_prompt": system_prompt, "seed": int(seed),
              "dtype": dtype_name, "gradient_checkpointing": bool(gradient_checkpointing),
              "train_data_sha256": train_info["sha256"], "data_description": data_description,
              "mix": [{k: m[k] for k in ("dataset", "fraction", "n_records", "sha256")} for m in mix_info]
              if mix_info else None}

    # ---- model
    torch.manual_seed(int(seed))
    from ..backends._checkpoint import loading_model
    dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    with loading_model(f"base model {base_text}"), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        net = transformers.AutoModelForImageTextToText.from_pretrained(
            base_model, local_files_only=local, **{dtype_key: getattr(torch, dtype_name)})
        processor = transformers.AutoProcessor.from_pretrained(base_model, local_files_only=local)
    if getattr(net.config, "model_type", None) != "llava_onevision":
        warnings.warn(f"base model {base_text} is a {getattr(net.config, 'model_type', '?')!r} model, not "
                      "LLaVA-OneVision; the llava backend will not load the result", UserWarning)
    if getattr(processor, "chat_template", None) is None:
        msg = f"the processor of {base_text} has no chat template; cannot build the training conversations"
        raise ModelError(msg)
    image_token_id = processor.tokenizer.convert_tokens_to_ids(getattr(processor, "image_token", IMAGE_TOKEN))
    net.to(device)
    if gradient_checkpointing:
        net.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    net, trainable = _prepare_model(net, config)
    n_trainable = int(sum(p.numel() for _, p in trainable))
    log.info("fine-tuning %s (%s): %d trainable parameters", base_text, method, n_trainable)

    # ---- data
    def encode_all(records, what):
        encoded = []
        for i, record in enumerate(records):
            encoded.append(encode_record(processor, record, system_prompt=system_prompt,
                                         where=f"{what} record {i} (id {record['id']!r})"))
        return encoded

    train_encoded = encode_all(train_records, "training")
    valid_encoded = encode_all(valid_records, "validation") if valid_records else None
    n = len(train_records)
    micro_per_epoch = math.ceil(n / batch_size)
    steps_per_epoch = math.ceil(micro_per_epoch / gradient_accumulation)
    total_steps = max_steps if max_steps is not None else steps_per_epoch * epochs
    warmup = int(round(float(warmup_ratio) * total_steps))

    params = [p for _, p in trainable]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=float(weight_decay))
    sched = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(total_steps, warmup, scheduler))
    autocast_on = dtype_name == "bfloat16"  # float32 trainable weights next to bfloat16 frozen ones

    def autocast():
        if autocast_on:
            return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
        import contextlib
        return contextlib.nullcontext()

    def micro_batches(step):
        epoch = step // steps_per_epoch
        generator = torch.Generator().manual_seed(int(seed) * 1_000_003 + epoch)
        order = torch.randperm(n, generator=generator).tolist()
        first = (step % steps_per_epoch) * gradient_accumulation
        last = min(first + gradient_accumulation, micro_per_epoch)
        return [order[k * batch_size:(k + 1) * batch_size] for k in range(first, last)], epoch

    def to_device(batch):
        out_batch = {}
        for key, value in batch.items():
            value = value.to(device)
            if value.is_floating_point():
                value = value.to(getattr(torch, dtype_name))
            out_batch[key] = value
        return out_batch

    def batch_of(records, encoded, rows, what):
        images = [_load_image(_image_of(records[r]), f"{what} record {r}") for r in rows]
        batch = collate(processor, [encoded[r] for r in rows], images, image_token_id=image_token_id)
        return to_device(batch)

    def validation_loss():
        if not valid_records:
            return None
        net.eval()
        total, count = 0.0, 0
        with torch.no_grad():
            for start in range(0, len(valid_records), batch_size):
                rows = list(range(start, min(start + batch_size, len(valid_records))))
                loss, k = _answer_loss(net, batch_of(valid_records, valid_encoded, rows, "validation"),
                                       autocast=autocast)
                total += float(loss)
                count += k
        net.train()
        return total / max(count, 1)

    # ---- resume
    step, history, resumed_from = 0, [], None
    if resume:
        if resume is True:
            found = _checkpoints(out)
            folder = found[-1][1] if found else None
            if folder is None:
                log.info("no checkpoint in %s: starting from the beginning", out / _CHECKPOINTS)
        else:
            folder = Path(resume)
            if not (folder / "state.json").is_file():
                msg = f"{folder} is not a fine-tuning checkpoint (no state.json)"
                raise InputError(msg)
        if folder is not None:
            step, history = _load_checkpoint(folder, model=net, trainable=trainable, optimizer=optimizer,
                                             scheduler=sched, config=config, device=device)
            resumed_from = step
            log.info("resumed from %s (step %d of %d)", folder, step, total_steps)

    initial_valid = validation_loss() if resumed_from is None else None
    if initial_valid is not None:
        log.info("validation loss before fine-tuning: %.4f", initial_valid)
    started = time.perf_counter()
    net.train()
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=total_steps, initial=step, desc="fine-tuning", unit="step")
    run_history = []
    last_saved = step if resumed_from is not None else None

    boundary_rng = _rng_state()  # the RNG state after the last completed step (dropout draws of a step that
    # is interrupted half-way must be drawn again when resuming)

    def checkpoint(at):
        nonlocal last_saved
        if last_saved == at:
            return
        _save_checkpoint(out, at, trainable=trainable, optimizer=optimizer, scheduler=sched, config=config,
                         history=history, keep=keep_checkpoints, rng=boundary_rng)
        last_saved = at

    try:
        while step < total_steps:
            groups, epoch = micro_batches(step)
            n_tokens = sum(int(train_encoded[r]["answer"].sum()) for rows in groups for r in rows)
            optimizer.zero_grad(set_to_none=True)
            step_loss = 0.0
            for rows in groups:
                loss, _ = _answer_loss(net, batch_of(train_records, train_encoded, rows, "training"),
                                       autocast=autocast)
                (loss / n_tokens).backward()
                step_loss += float(loss.detach())
            if max_grad_norm:
                torch.nn.utils.clip_grad_norm_(params, float(max_grad_norm))
            lr = optimizer.param_groups[0]["lr"]
            optimizer.step()
            sched.step()
            step += 1
            boundary_rng = _rng_state()
            entry = {"step": step, "loss": step_loss / n_tokens, "learning_rate": lr,
                     "epoch": round(epoch + ((step - 1) % steps_per_epoch + 1) / steps_per_epoch, 4)}
            history.append(entry)
            run_history.append(entry)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{entry['loss']:.4f}")
            if step % log_every == 0 or step == total_steps:
                recent = [h["loss"] for h in history[-log_every:]]
                log.info("step %d/%d: loss %.4f, learning rate %.3g", step, total_steps,
                         float(np.mean(recent)), lr)
            if save_every and step % save_every == 0:
                checkpoint(step)
            if callback is not None:
                callback(dict(entry, total_steps=total_steps))
    except BaseException:
        if step > 0 and last_saved != step:
            try:
                checkpoint(step)
                log.warning("training interrupted at step %d; resume with resume=True (--resume)", step)
            except Exception:  # pragma: no cover - best effort on the way out
                pass
        raise
    finally:
        if bar is not None:
            bar.close()
    checkpoint(step)
    final_valid = validation_loss()
    seconds = time.perf_counter() - started

    # ---- save
    net.eval()
    if method == "lora":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net.save_pretrained(out, safe_serialization=True)
    else:
        net.save_pretrained(out, safe_serialization=True)
        processor.save_pretrained(out)
    base_hash = weights_sha256(base_path) if (hash_base and local) else None
    general_result = None
    if general_eval:
        del net, trainable, params, optimizer, sched
        _free_memory(torch)
        general_result = _general_evaluation(general_eval, out, base_model=base_model, method=method,
                                             device=device, dtype=dtype_name, limit=general_eval_limit,
                                             seed=seed, batch_size=batch_size)
    train_loss = float(np.mean([h["loss"] for h in history[-10:]])) if history else float("nan")
    try:
        import peft
        peft_version = peft.__version__
    except ImportError:  # pragma: no cover
        peft_version = None
    from ..version import __version__
    info = {"output_dir": str(out.resolve()), "config": config, "train_data": train_info,
            "valid_data": valid_info,
            "steps": step, "total_steps": total_steps, "epochs_done": round(step / steps_per_epoch, 4),
            "trainable_parameters": n_trainable, "train_loss": train_loss, "valid_loss": final_valid,
            "initial_valid_loss": initial_valid, "seconds": seconds, "resumed_from": resumed_from,
            "device": str(device), "base_model_sha256": base_hash, "radioassist_version": __version__,
            "torch_version": torch.__version__, "transformers_version": transformers.__version__,
            "peft_version": peft_version, "command": command or _call_string(data, output_dir, config),
            "mix": mix_info, "general_eval": general_result, "history": history}
    with open(out / "finetune.json", "w", encoding="utf-8") as fh:
        json.dump(info, fh, indent=1, default=str)
    with open(out / "README.md", "w", encoding="utf-8") as fh:
        fh.write(_model_card(info))
    log.info("fine-tuned model written to %s (%d steps, loss %.4f)", out, step, train_loss)
    return FinetuneResult(out, method, step, train_loss, final_valid, initial_valid, seconds, run_history,
                          resumed_from, n_trainable, base_hash)
