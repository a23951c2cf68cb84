"""The ``hf-vlm`` backend: vision-language chat models from transformers.

Any checkpoint that loads with ``AutoModelForImageTextToText`` and
``AutoProcessor`` and has a chat template (Qwen2-VL, Qwen2.5-VL,
LLaVA-OneVision, InternVL, ...) answers the radio tasks with the radio-llava
prompts (:mod:`radioassist.prompts`).  The ``llava`` backend
(:mod:`radioassist.backends.llava`) is this backend specialised to
LLaVA-OneVision / radio-llava.

Two modes:

``mode='score'`` (default): closed-set scoring
    The probability of every allowed answer given image + prompt, from one
    prefill of the image+prompt prefix per image and short continuations over
    the candidate answers on its key/value cache (see
    :mod:`radioassist.backends._vlm_scoring` for the exact rule).  Every image
    gets a label and a probability per class; nothing is ever unparsable.
``mode='generate'``: free generation, as upstream
    Greedy decoding, :func:`radioassist.parsing.parse_answer`, and up to
    ``max_reasks`` re-asks (the model's answer and a format reminder are added
    to the conversation, which keeps the image and the question) for answers
    that cannot be parsed.  Rows still unparsed get label ``None`` and NaN
    probabilities and are counted in ``Predictions.n_unparsed``; parsed rows
    get probability 1 for their label(s) and 0 elsewhere.  Raw answers are kept
    (``Predictions.raw_answers``; re-asked rows list every attempt, see
    :func:`~radioassist.backends._vlm_scoring.join_attempts`).

Images of different sizes are batched together with left padding (the
processor pads the token sequences; positions follow the attention mask), and
the results equal those of one image at a time within float tolerance.
"""
import copy
import dataclasses
import json
import threading
import warnings
from pathlib import Path

import numpy as np

from ._checkpoint import SAFE_WEIGHTS, check_checkpoint_folder, files_sha256, loading_model
from ._checkpoint import clean_error as _clean
from ._checkpoint import looks_like_path as _looks_like_path
from ..exceptions import BackendError, InputError, ModelError, RadioassistWarning
from ..logger import log
from ..parsing import parse_answer
from ..tasks import get_task
from . import _vlm_scoring as vs
from .base import Backend, as_image_list
from .predictions import Predictions
from .registry import register_backend

__all__ = ["HFVLMBackend", "resolve_dtype"]

_DTYPE_ALIASES = {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
                  "half": "float16", "fp32": "float32", "float32": "float32", "float": "float32"}


def resolve_dtype(dtype, device):
    """Canonical dtype name: ``dtype`` (``'bf16'``, ``'float16'``...) or the device's default.

    The default is ``'float32'`` on CPU, ``'bfloat16'`` on CUDA devices that
    support it and ``'float16'`` on other accelerators.
    """
    if dtype is not None:
        key = str(dtype).replace("torch.", "").lower()
        if key not in _DTYPE_ALIASES:
            msg = f"dtype must be one of bfloat16 (bf16), float16 (fp16) or float32 (fp32), got {dtype!r}"
            raise InputError(msg)
        return _DTYPE_ALIASES[key]
    device = str(device)
    if device.startswith("cpu"):
        return "float32"
    if device.startswith("cuda"):
        try:
            import torch
            if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
                return "bfloat16"
        except Exception:  # pragma: no cover - no usable torch.cuda
            pass
    return "float16"


def _weight_files(folder, stem="model"):
    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        files = sorted(folder.glob("pytorch_model*.bin")) if stem == "model" else sorted(folder.glob(f"{stem}*.bin"))
    return files


@dataclasses.dataclass(eq=False)
class _Loaded:
    """A model and processor in memory, with what predict needs."""

    model: object
    processor: object
    source: str
    folder: Path = None
    adapter: str = None
    adapter_folder: Path = None

    def __post_init__(self):
        processor, source = self.processor, self.source
        self.tokenizer = getattr(processor, "tokenizer", None)
        if self.tokenizer is None:
            msg = f"the processor of model {source} has no tokenizer; it is not an image-text-to-text processor"
            raise ModelError(msg)
        self.tokenizer.padding_side = "left"
        if getattr(processor, "chat_template", None) is None and getattr(self.tokenizer, "chat_template",
                                                                         None) is None:
            msg = (f"model {source} has no chat template (processor chat_template); the VLM backends need one "
                   "to build prompts: use an instruction-tuned checkpoint or add a chat_template.jinja")
            raise ModelError(msg)
        generation = getattr(self.model, "generation_config", None)
        eos = getattr(generation, "eos_token_id", None) if generation is not None else None
        if eos is None:
            eos = self.tokenizer.eos_token_id
        self.eos_token_id = eos
        pad = getattr(generation, "pad_token_id", None) if generation is not None else None
        if pad is None:
            pad = self.tokenizer.pad_token_id
        if pad is None:
            pad = eos[0] if isinstance(eos, (list, tuple)) else eos
        self.pad_token_id = pad
        self.candidate_cache = {}
        self.lock = threading.RLock()

    @property
    def device(self):
        return next(self.model.parameters()).device

    @property
    def dtype(self):
        return next(self.model.parameters()).dtype


@register_backend("hf-vlm")
class HFVLMBackend(Backend):
    """Vision-language chat models from transformers (``AutoModelForImageTextToText``).

    Parameters
    ----------
    model : str or path-like
        A checkpoint folder or a Hugging Face hub id (required).
    device : str, optional
        Torch device (``'cpu'``, ``'cuda'``, ``'cuda:1'``...).
    dtype : str, optional
        ``'bfloat16'``/``'bf16'``, ``'float16'``/``'fp16'`` or ``'float32'``/``'fp32'``;
        default float32 on CPU, bfloat16 on CUDA (float16 where bf16 is unsupported).
    batch_size : int, optional
        Images per forward pass (8).
    mode : {'score', 'generate'}, optional
        Closed-set scoring (default) or free generation with parsing (see the module doc).
    prompt_version : {'v2', 'v1'}, optional
        Prompt version (:func:`radioassist.prompts.build_prompt`).
    with_definitions : bool, optional
        Add the class definitions to the prompt.
    system_prompt : bool or str, optional
        True (default): the radio system prompt; a string: a custom one; False: none.
    examples : sequence of (image, labels), optional
        Few-shot examples: rendered uint8 images with their true answers, added
        as earlier user/assistant turns before every query.
    max_new_tokens : int, optional
        Generation mode: longest answer in tokens (32).
    max_reasks : int, optional
        Generation mode: re-asks of an unparsable answer (3, as upstream).
    max_subsets : int, optional
        Multi-label tasks: most label subsets scored (64, i.e. all subsets of up to 6 labels).
    adapter : str or path-like, optional
        A peft LoRA adapter (folder or hub id) applied on top of ``model``.
    merge_adapter : bool, optional
        Merge the adapter into the weights after loading (faster inference; default True).
    processor : str or path-like, optional
        Load the processor from here instead of from ``model``.
    attn_implementation : str, optional
        transformers attention implementation (``'sdpa'``, ``'eager'``,
        ``'flash_attention_2'``...); transformers' default when None.
    allow_pickle : bool, optional
        Accept pickle weights (``pytorch_model.bin``, ``adapter_model.bin``);
        off by default because unpickling can run arbitrary code.
    trust_remote_code : bool, optional
        Allow model code from the hub (off by default).
    revision : str, optional
        Hub revision of a hub model.
    local_files_only : bool, optional
        Never reach the hub (always true for local folders).
    hash_weights : bool, optional
        Record the SHA-256 of the weight files in :meth:`describe` (True; hashing
        a 7B checkpoint takes some seconds).
    """

    description = ("vision-language chat models from transformers (AutoModelForImageTextToText: Qwen2-VL, "
                   "LLaVA-OneVision...); closed-set answer scoring or generation")
    option_defaults = {"mode": "score", **vs.PROMPT_OPTION_DEFAULTS, "max_new_tokens": 32, "max_reasks": 3,
                       "max_subsets": 64, "adapter": None, "merge_adapter": True, "processor": None,
                       "attn_implementation": None, "allow_pickle": False, "trust_remote_code": False,
                       "revision": None, "local_files_only": None, "hash_weights": True}
    #: transformers class used to load checkpoints (a name in the transformers namespace).
    model_class_name = "AutoModelForImageTextToText"

    def __init__(self, *, model=None, device="cpu", dtype=None, batch_size=8, **options):
        super().__init__(model=model, device=device, dtype=dtype, batch_size=batch_size, **options)
        if self.dtype is not None:
            self.dtype = resolve_dtype(self.dtype, self.device)
        vs.check_prompt_options(self.options)
        self._loaded = None
        self._hashes = None
        self._in_memory = False  # True for from_loaded: nothing to rebuild the model from
        self._lock = threading.RLock()

    @classmethod
    def from_loaded(cls, model, processor, *, name=None, batch_size=8, **options):
        """A backend around a model and processor already in memory (e.g. built or fine-tuned in this session).

        Parameters
        ----------
        model : transformers model
            An image-text-to-text model (on its device and dtype).
        processor : transformers processor
            Its processor, with a chat template.
        name : str, optional
            How :meth:`describe` names the model (``'in-memory'`` by default).
        batch_size : int, optional
            Images per forward pass.
        **options
            The backend's options (``mode``, ``prompt_version``...); loading
            options do not apply.
        """
        device = next(model.parameters()).device
        dtype = str(next(model.parameters()).dtype).replace("torch.", "")
        backend = cls(model=name or "in-memory", device=str(device), dtype=dtype, batch_size=batch_size, **options)
        model.eval()
        backend._loaded = _Loaded(model=model, processor=processor, source=name or "in-memory")
        backend._hashes = {"model_sha256": None, "adapter_sha256": None}
        backend._in_memory = True
        return backend

    def to_spec(self):
        """The settings that rebuild this backend elsewhere (see `~radioassist.backends.Backend.to_spec`).

        Raises
        ------
        BackendError
            For a backend made by :meth:`from_loaded`: its model exists only in this process.
        """
        if self._in_memory:
            msg = (f"backend {self.name!r} wraps the in-memory model {self.model!r} (from_loaded), which "
                   "cannot be rebuilt in another process; save it with save_pretrained and pass the folder "
                   "as model=")
            raise BackendError(msg)
        return super().to_spec()

    # -------------------------------------------------------------------------------------- loading
    def _missing_model_message(self):
        return (f"the {self.name} backend needs model=: a checkpoint folder or a Hugging Face hub id of an "
                "image-text-to-text model with a chat template (e.g. Qwen/Qwen2-VL-2B-Instruct)")

    def _check_folder(self, path):
        """Extra checks of a local checkpoint folder (subclasses)."""

    def load(self):
        """Load (once) and return the model and processor; raises `ModelError` when they cannot be used."""
        with self._lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self):
        from .._optional_deps import require
        torch = require("torch", purpose=f"the {self.name} backend")
        transformers = require("transformers", purpose=f"the {self.name} backend")
        if self.model is None:
            raise ModelError(self._missing_model_message())
        opts = self.options
        text = str(self.model)
        path = Path(text).expanduser()
        local = path.exists()
        if not local and (isinstance(self.model, Path) or _looks_like_path(text)):
            msg = f"model folder {text} does not exist"
            raise ModelError(msg)
        kwargs = dict(trust_remote_code=bool(opts["trust_remote_code"]),
                      local_files_only=True if local else bool(opts["local_files_only"]))
        if opts["revision"] is not None and not local:
            kwargs["revision"] = opts["revision"]
        folder = None
        if local:
            folder = self._check_local(path)
            use_safetensors = any((path / name).is_file() for name in SAFE_WEIGHTS)
        else:
            use_safetensors = None if opts["allow_pickle"] else True
        dtype = resolve_dtype(self.dtype, self.device)
        dtype_key = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
        model_kwargs = dict(kwargs, use_safetensors=use_safetensors, output_loading_info=True,
                            **{dtype_key: getattr(torch, dtype)})
        if opts["attn_implementation"]:
            model_kwargs["attn_implementation"] = str(opts["attn_implementation"])
        model_class = getattr(transformers, self.model_class_name)
        with loading_model(f"{self.model_class_name} model {text}"):
            model, info = model_class.from_pretrained(str(path) if local else text, **model_kwargs)
            processor_source = opts["processor"] if opts["processor"] is not None else (str(path) if local else text)
            processor_local = Path(str(processor_source)).expanduser().exists()
            processor = transformers.AutoProcessor.from_pretrained(
                str(processor_source), trust_remote_code=bool(opts["trust_remote_code"]),
                local_files_only=True if processor_local else bool(opts["local_files_only"]),
                **({"revision": opts["revision"]} if opts["revision"] and not processor_local else {}))
        missing = sorted(info.get("missing_keys") or [])
        if missing:
            msg = (f"model {text} lacks weights for {len(missing)} tensors (e.g. {missing[:3]}), which are random: "
                   "the checkpoint is incomplete or not of this architecture")
            warnings.warn(msg, RadioassistWarning)
        if not local:
            folder = self._hub_folder(text)
        adapter = opts["adapter"]
        adapter_folder = None
        if adapter is not None:
            model, adapter_folder = self._load_adapter(model, adapter)
        model.eval()
        try:
            model.to(self.device)
        except Exception as exc:
            msg = f"cannot move model {text} to device {self.device!r}: {_clean(exc)}"
            raise ModelError(msg) from exc
        self.dtype = dtype
        log.debug("loaded %s (%s) on %s as %s", text, type(model).__name__, self.device, dtype)
        return _Loaded(model=model, processor=processor, source=text, folder=folder,
                       adapter=None if adapter is None else str(adapter), adapter_folder=adapter_folder)

    def _check_local(self, path):
        check_checkpoint_folder(path, allow_pickle=self.options["allow_pickle"])
        self._check_folder(path)
        return path

    def _hub_folder(self, repo_id):
        try:
            from transformers.utils import cached_file
            found = cached_file(repo_id, "config.json", revision=self.options["revision"],
                                local_files_only=True, _raise_exceptions_for_missing_entries=False)
            return None if found is None else Path(found).parent
        except Exception:  # provenance of hub models is best effort
            return None

    def _load_adapter(self, model, adapter):
        from .._optional_deps import require
        peft = require("peft", purpose="LoRA adapters")
        opts = self.options
        text = str(adapter)
        path = Path(text).expanduser()
        if not path.exists():
            if isinstance(adapter, Path) or _looks_like_path(text):
                msg = f"adapter folder {text} does not exist"
                raise ModelError(msg)
            patterns = ["adapter_config.json", "adapter_model.safetensors"]
            if opts["allow_pickle"]:
                patterns.append("adapter_model.bin")
            try:
                from huggingface_hub import snapshot_download
                path = Path(snapshot_download(text, allow_patterns=patterns, revision=opts["revision"],
                                              local_files_only=bool(opts["local_files_only"])))
            except Exception as exc:
                msg = f"could not fetch adapter {text}: {type(exc).__name__}: {_clean(exc)}"
                raise ModelError(msg) from exc
        if not (path / "adapter_config.json").is_file():
            msg = f"adapter folder {path} has no adapter_config.json; it is not a peft adapter"
            raise ModelError(msg)
        if not (path / "adapter_model.safetensors").is_file():
            if not (path / "adapter_model.bin").is_file():
                msg = f"adapter folder {path} has no adapter_model.safetensors"
                raise ModelError(msg)
            if not opts["allow_pickle"]:
                msg = (f"adapter folder {path} only has pickle weights (adapter_model.bin), which can run arbitrary "
                       "code when loaded; convert them to safetensors or pass allow_pickle=True if you trust them")
                raise ModelError(msg)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)  # transformers deprecations triggered inside peft
                model = peft.PeftModel.from_pretrained(model, str(path), is_trainable=False)
            if opts["merge_adapter"]:
                model = model.merge_and_unload()
        except Exception as exc:
            msg = f"could not apply adapter {text} to model {self.model}: {type(exc).__name__}: {_clean(exc)}"
            raise ModelError(msg) from exc
        return model, path

    # -------------------------------------------------------------------------------------- inference
    def input_spec(self, task):
        """VLMs take cutouts rendered with the ``'radio-llava'`` preset at their native size."""
        return {"render_preset": "radio-llava"}

    def _prompt_options(self):
        return {key: self.options[key] for key in ("prompt_version", "with_definitions", "system_prompt")}

    def _conversation(self, task, history=()):
        return vs.build_conversation(task, examples=self.options["examples"], history=history,
                                     **self._prompt_options())

    def _render(self, loaded, messages, *, generation=True):
        try:
            return loaded.processor.apply_chat_template(messages, add_generation_prompt=generation, tokenize=False)
        except Exception as exc:
            hint = (" (the template may not accept a system turn: try system_prompt=False)"
                    if messages and messages[0]["role"] == "system" else "")
            msg = f"the chat template of model {loaded.source} failed on the prompt{hint}: {_clean(exc)}"
            raise ModelError(msg) from exc

    def _batches(self, images, rows):
        """Chunks of ``rows`` (indices into images), similar sizes together to limit padding."""
        rows = sorted(rows, key=lambda i: (images[i].shape[0] * images[i].shape[1], images[i].shape[:2], i))
        for start in range(0, len(rows), self.batch_size):
            yield rows[start:start + self.batch_size]

    def _encode(self, loaded, texts, images):
        import torch

        examples = [image for image, _ in self.options["examples"]]
        if examples:
            image_input = [examples + [np.asarray(image)] for image in images]
        else:
            image_input = [np.asarray(image) for image in images]
        kwargs = dict(text=list(texts), images=image_input, return_tensors="pt", padding=True)
        bos = getattr(loaded.tokenizer, "bos_token", None)
        if bos and all(t.startswith(bos) for t in texts):
            kwargs["add_special_tokens"] = False  # the template wrote the BOS already
        try:
            encoded = loaded.processor(**kwargs)
        except Exception as exc:
            msg = f"the processor of model {loaded.source} failed on a batch of images: {_clean(exc)}"
            raise ModelError(msg) from exc
        device, dtype = loaded.device, loaded.dtype
        out = {}
        for key, value in encoded.items():
            if isinstance(value, torch.Tensor):
                value = value.to(device)
                if value.is_floating_point():
                    value = value.to(dtype)
            out[key] = value
        return out

    def predict(self, images, task):
        """Classify rendered cutouts (see the class and module documentation for the modes)."""
        task = get_task(task)
        images = as_image_list(images)
        n = len(images)
        generate = self.options["mode"] == "generate"
        if n == 0:
            return Predictions.empty(task, generative=generate)
        loaded = self.load()
        import torch

        with loaded.lock, torch.inference_mode():
            if generate:
                return self._predict_generate(loaded, images, task)
            return self._predict_score(loaded, images, task)

    def _candidates(self, loaded, task, messages):
        key = (task.id, task.labels, task.multilabel, json.dumps(messages, sort_keys=True, default=str))
        if key not in loaded.candidate_cache:
            candidates = vs.answer_candidates(task, max_subsets=int(self.options["max_subsets"]))
            ids = vs.candidate_token_ids(loaded.processor, messages, candidates, eos_token_id=loaded.eos_token_id)
            loaded.candidate_cache[key] = (candidates, ids)
        return loaded.candidate_cache[key]

    def _predict_score(self, loaded, images, task):
        messages = self._conversation(task)
        prefix = self._render(loaded, messages)
        candidates, ids = self._candidates(loaded, task, messages)
        scores = np.empty((len(images), len(candidates)))
        for rows in self._batches(images, range(len(images))):
            inputs = self._encode(loaded, [prefix] * len(rows), [images[i] for i in rows])
            scores[rows] = vs.score_candidates(loaded.model, inputs, ids)
        labels, probabilities = vs.candidate_predictions(task, candidates, scores)
        return Predictions(task, labels, probabilities)

    def _generation_config(self, loaded, messages):
        config = copy.deepcopy(loaded.model.generation_config)
        config.do_sample = False
        config.num_beams = 1
        for name in ("temperature", "top_p", "top_k", "min_p", "typical_p"):
            if hasattr(config, name):
                setattr(config, name, None)
        config.max_new_tokens = int(self.options["max_new_tokens"])
        config.max_length = None
        config.min_new_tokens = None
        config.min_length = 0
        config.pad_token_id = loaded.pad_token_id
        eos = loaded.eos_token_id
        eos = list(eos) if isinstance(eos, (list, tuple)) else ([] if eos is None else [eos])
        end = vs.end_of_turn_id(loaded.processor, messages)
        if end is not None and end not in eos:
            eos.append(end)
        config.eos_token_id = eos or None
        return config

    def _generate(self, loaded, config, texts, images):
        inputs = self._encode(loaded, texts, images)
        start = inputs["input_ids"].shape[1]
        output = loaded.model.generate(**inputs, generation_config=config)
        return [text.strip() for text in loaded.tokenizer.batch_decode(output[:, start:], skip_special_tokens=True)]

    def _predict_generate(self, loaded, images, task):
        n = len(images)
        config = self._generation_config(loaded, self._conversation(task))
        attempts = [[] for _ in range(n)]
        parsed = [None] * n
        pending = list(range(n))
        for attempt in range(int(self.options["max_reasks"]) + 1):
            if not pending:
                break
            if attempt:
                log.debug("re-asking %d unparsable answers of task %s (attempt %d)", len(pending), task.id, attempt)
            for rows in self._batches(images, pending):
                texts = [self._render(loaded, self._conversation(task, history=attempts[i])) for i in rows]
                answers = self._generate(loaded, config, texts, [images[i] for i in rows])
                for i, answer in zip(rows, answers):
                    attempts[i].append(answer)
                    parsed[i] = parse_answer(task, answer)
            pending = [i for i in pending
                       if parsed[i] is None or (not task.multilabel and len(parsed[i]) != 1)]
        labels, probabilities = vs.parsed_predictions(task, parsed)
        n_unparsed = sum(label is None for label in labels)
        if n_unparsed:
            log.info("%d of %d answers to task %s could not be parsed after %d re-asks", n_unparsed, n, task.id,
                     int(self.options["max_reasks"]))
        raw = [vs.join_attempts(a) for a in attempts]
        return Predictions(task, labels, probabilities, raw_answers=raw, n_unparsed=n_unparsed)

    # -------------------------------------------------------------------------------------- provenance
    def _weight_hashes(self):
        """SHA-256 of the model's and adapter's weight files (cached once they are known)."""
        if self._hashes is not None:
            return self._hashes
        hashes = {"model_sha256": None, "adapter_sha256": None}
        loaded = self._loaded
        final = loaded is not None or not self.options["hash_weights"]
        if self.options["hash_weights"]:
            folder = loaded.folder if loaded is not None else None
            if folder is None and loaded is None and self.model is not None:
                local = Path(str(self.model)).expanduser()
                folder = local if local.is_dir() else None
                final = folder is not None
            if folder is not None:
                hashes["model_sha256"] = files_sha256(_weight_files(folder))
            adapter = loaded.adapter_folder if loaded is not None else None
            if adapter is None and loaded is None and self.options["adapter"] is not None:
                local = Path(str(self.options["adapter"])).expanduser()
                adapter = local if local.is_dir() else None
                final = final and adapter is not None
            if adapter is not None:
                hashes["adapter_sha256"] = files_sha256(_weight_files(adapter, stem="adapter_model"))
        if final:  # hub models not loaded yet may be found in the cache later
            self._hashes = hashes
        return hashes

    def describe(self, task=None):
        """Provenance: model and adapter (with weight hashes), dtype, device, mode and prompt settings.

        Loads nothing: before the first prediction the requested settings are reported.

        Parameters
        ----------
        task : `~radioassist.tasks.Task` or str, optional
            Ignored: the same model answers every task.
        """
        opts = self.options
        loaded = self._loaded
        system = vs.system_text(opts["system_prompt"])
        info = {
            "backend": self.name,
            "model": None if self.model is None else str(self.model),
            "adapter": None if opts["adapter"] is None else str(opts["adapter"]),
            "adapter_merged": bool(opts["merge_adapter"]) if opts["adapter"] is not None else None,
            "processor": None if opts["processor"] is None else str(opts["processor"]),
            "device": self.device,
            "dtype": (str(loaded.dtype).replace("torch.", "") if loaded is not None
                      else resolve_dtype(self.dtype, self.device)),
            "batch_size": self.batch_size,
            "attn_implementation": opts["attn_implementation"],
            "mode": opts["mode"],
            "prompt_version": opts["prompt_version"],
            "with_definitions": bool(opts["with_definitions"]),
            "system_prompt": system,
            "n_examples": len(opts["examples"]),
            "examples_sha256": vs.examples_digest(opts["examples"]),
        }
        if opts["mode"] == "score":
            info["scoring"] = ("closed-set: softmax over the allowed answers of their total log-likelihood "
                               "(answer tokens + end-of-turn token), one prefill per image")
        else:
            info["scoring"] = "greedy generation + parse_answer; unparsed answers counted, never dropped"
            info["max_new_tokens"] = int(opts["max_new_tokens"])
            info["max_reasks"] = int(opts["max_reasks"])
        info.update(self._weight_hashes())
        if loaded is not None:
            config = getattr(loaded.model, "config", None)
            architectures = getattr(config, "architectures", None) or [type(loaded.model).__name__]
            info["architecture"] = architectures[0]
            info["model_revision"] = getattr(config, "_commit_hash", None)
            try:
                import torch
                import transformers
                info["torch_version"] = torch.__version__
                info["transformers_version"] = transformers.__version__
            except ImportError:  # pragma: no cover
                pass
        return info
