"""The ``llava`` and ``hf-vlm`` backends on tiny random checkpoints built on the spot.

The checkpoints are real transformers checkpoints (LLaVA-OneVision with SigLIP +
Qwen2 and anyres tiling; Qwen2-VL with 3-D rotary positions) saved to a temporary
folder and loaded through ``from_pretrained`` like a user's model.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from radioassist.backends import Predictions, get_backend  # noqa: E402
from radioassist.backends import _vlm_scoring as vs  # noqa: E402
from radioassist.backends.hf_vlm import HFVLMBackend  # noqa: E402
from radioassist.backends.llava import LlavaBackend  # noqa: E402
from radioassist.backends.testing import BaseTestBackend, make_test_images  # noqa: E402
from radioassist.backends.tiny import (make_tiny_llava_onevision, make_tiny_lora_adapter,  # noqa: E402
                                       make_tiny_qwen2_vl)
from radioassist.exceptions import InputError, ModelError  # noqa: E402
from radioassist.prompts import SYSTEM_PROMPT, reask_prompt  # noqa: E402
from radioassist.tasks import get_task  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory):
    return make_tiny_llava_onevision(tmp_path_factory.mktemp("tiny-llava"), seed=0)


@pytest.fixture(scope="session")
def tiny_qwen2vl(tmp_path_factory):
    return make_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2vl"), seed=0)


@pytest.fixture(scope="session")
def tiny_adapter(tiny_llava, tmp_path_factory):
    return make_tiny_lora_adapter(tiny_llava, tmp_path_factory.mktemp("tiny-lora"), seed=1)


@pytest.fixture(scope="session")
def llava(tiny_llava):
    backend = LlavaBackend(model=tiny_llava, batch_size=8)
    backend.load()
    return backend


@pytest.fixture(scope="session")
def qwen2vl(tiny_qwen2vl):
    backend = HFVLMBackend(model=tiny_qwen2vl, batch_size=8)
    backend.load()
    return backend


@pytest.fixture
def mixed_images():
    images = make_test_images(5, 48, seed=3)
    # different shapes: different anyres grids, hence different numbers of image tokens
    return [images[0], images[1][:40, :20], images[2][:30], images[3], images[4][:20, :44]]


def _brute_force_probabilities(backend, image, task, *, extra_keys=()):
    """Per-candidate full forward passes (no cache, no batching, no padding): softmax of answer log-likelihoods."""
    loaded = backend.load()
    processor, model = loaded.processor, loaded.model
    messages = backend._conversation(task)
    prefix = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    eot = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    candidates = vs.answer_candidates(task)
    base = processor(text=[prefix], images=[image], return_tensors="pt")
    n_prefix = base["input_ids"].shape[1]
    scores = []
    with torch.no_grad():
        for cand in candidates:
            enc = processor(text=[prefix + cand.text], images=[image], return_tensors="pt")
            assert torch.equal(enc["input_ids"][0, :n_prefix], base["input_ids"][0])
            ids = torch.cat([enc["input_ids"], torch.tensor([[eot]])], dim=1)
            kwargs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "use_cache": False}
            for key in ("pixel_values", "image_sizes", "image_grid_thw", "batch_num_images"):
                if key in enc:
                    kwargs[key] = enc[key]
            if "mm_token_type_ids" in enc:
                kwargs["mm_token_type_ids"] = torch.cat([enc["mm_token_type_ids"],
                                                         torch.zeros((1, 1), dtype=torch.long)], dim=1)
            logits = model(**kwargs).logits[0].double()
            logp = torch.log_softmax(logits[:-1], dim=-1)
            targets = ids[0, 1:]
            token_lp = logp.gather(-1, targets[:, None])[:, 0]
            scores.append(float(token_lp[n_prefix - 1:].sum()))
    scores = np.array(scores)
    _, probabilities = vs.candidate_predictions(task, candidates, scores[None])
    return probabilities[0], scores


# ------------------------------------------------------------------------------------- contract
class TestLlavaContract(BaseTestBackend):
    @pytest.fixture
    def backend_factory(self, tiny_llava):
        return lambda **options: LlavaBackend(model=tiny_llava, **options)

    @pytest.fixture
    def task(self):
        return get_task("B6")


class TestLlavaContractMultilabel(TestLlavaContract):
    @pytest.fixture
    def task(self):
        return get_task("B1")


# ------------------------------------------------------------------------------------- scoring
@pytest.mark.parametrize("task_id", ["B6", "B1", "B2"])
def test_scores_equal_brute_force_llava(llava, mixed_images, task_id):
    task = get_task(task_id)
    predictions = llava.predict(mixed_images, task)
    for i in (0, 1, 4):
        expected, scores = _brute_force_probabilities(llava, mixed_images[i], task)
        np.testing.assert_allclose(predictions.probabilities[i], expected, rtol=1e-4, atol=1e-6)
        best = vs.answer_candidates(task)[int(np.argmax(scores))]
        assert predictions.labels[i] == (best.labels or (task.none_label,) if task.multilabel else best.labels[0])


def test_scores_equal_brute_force_qwen2vl(qwen2vl, mixed_images):
    task = get_task("B6")
    predictions = qwen2vl.predict(mixed_images, task)
    for i in (0, 1):
        expected, _ = _brute_force_probabilities(qwen2vl, mixed_images[i], task)
        np.testing.assert_allclose(predictions.probabilities[i], expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["llava", "qwen2vl"])
def test_left_padding_batch_equals_single(name, llava, qwen2vl, mixed_images):
    backend = llava if name == "llava" else qwen2vl
    loaded = backend.load()
    prefix = backend._render(loaded, backend._conversation(get_task("B6")))
    lengths = backend._encode(loaded, [prefix] * len(mixed_images), mixed_images)["attention_mask"].sum(1)
    assert len(set(lengths.tolist())) >= 3  # the batch really mixes sequence lengths (left padding)
    for task in ("B6", "B1"):
        batched = backend.predict(mixed_images, task)
        singles = Predictions.concatenate([backend.predict([image], task) for image in mixed_images])
        assert batched.labels == singles.labels
        np.testing.assert_allclose(batched.probabilities, singles.probabilities, atol=1e-5)


def test_multilabel_marginals(llava, mixed_images):
    task = get_task("B1")
    predictions = llava.predict(mixed_images, task)
    probs = predictions.probabilities
    assert probs.shape == (5, 3) and np.all((probs >= 0) & (probs <= 1))
    assert predictions.n_unparsed == 0 and predictions.raw_answers is None
    for label in predictions.labels:
        assert isinstance(label, tuple) and label


def test_candidate_tokens_end_with_end_of_turn(llava):
    loaded = llava.load()
    task = get_task("B6")
    candidates, ids = llava._candidates(loaded, task, llava._conversation(task))
    eot = loaded.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert [c.text for c in candidates] == ["FR-I", "FR-II"]
    assert all(seq[-1] == eot for seq in ids)
    decoded = [loaded.tokenizer.decode(seq[:-1]) for seq in ids]
    assert decoded == ["FR-I", "FR-II"]


def test_prompt_options_change_scores(tiny_llava, llava, mixed_images):
    task = get_task("B6")
    reference = llava.predict(mixed_images[:2], task).probabilities
    loaded = llava.load()
    text = llava._render(loaded, llava._conversation(task))
    assert SYSTEM_PROMPT in text and "Question:" in text
    v1 = LlavaBackend(model=tiny_llava, prompt_version="v1", system_prompt=False)
    assert v1.describe()["prompt_version"] == "v1"
    assert SYSTEM_PROMPT not in v1._render(v1.load(), v1._conversation(task))
    assert not np.allclose(v1.predict(mixed_images[:2], task).probabilities, reference)


def test_few_shot_examples(tiny_llava, llava, mixed_images):
    task = get_task("B6")
    examples = [(mixed_images[3], "FR-II"), (mixed_images[0], "FR-I")]
    backend = LlavaBackend(model=tiny_llava, examples=examples)
    messages = backend._conversation(task)
    roles = [m["role"] for m in messages]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert messages[2]["content"][0]["text"] == "FR-II"
    out = backend.predict(mixed_images[1:3], task)
    assert not np.allclose(out.probabilities, llava.predict(mixed_images[1:3], task).probabilities)
    batched = backend.predict(mixed_images[1:3], task).probabilities
    singles = np.concatenate([backend.predict([im], task).probabilities for im in mixed_images[1:3]])
    np.testing.assert_allclose(batched, singles, atol=1e-5)
    info = backend.describe()
    assert info["n_examples"] == 2 and len(info["examples_sha256"]) == 64
    with pytest.raises(InputError, match="pair"):
        LlavaBackend(model=tiny_llava, examples=[mixed_images[0]])


# ------------------------------------------------------------------------------------- generation
def _fake_generate(loaded, script, calls):
    """Replace model.generate by a script: answers per call, in batch order; records the prompts."""
    tokenizer = loaded.tokenizer
    eot = tokenizer.convert_tokens_to_ids("<|im_end|>")

    def generate(input_ids=None, attention_mask=None, generation_config=None, **kwargs):
        answers = script[len(calls)]
        calls.append([tokenizer.decode(row[mask.bool()]) for row, mask in zip(input_ids, attention_mask)])
        assert generation_config.do_sample is False
        rows = [tokenizer(a, add_special_tokens=False)["input_ids"] + [eot] for a in answers]
        width = max(len(r) for r in rows)
        new = torch.full((len(rows), width), eot, dtype=torch.long)
        for i, r in enumerate(rows):
            new[i, :len(r)] = torch.tensor(r)
        return torch.cat([input_ids, new], dim=1)

    return generate


def test_generate_parses_reasks_and_counts(tiny_llava, monkeypatch):
    backend = LlavaBackend(model=tiny_llava, mode="generate", max_reasks=2)
    loaded = backend.load()
    images = make_test_images(3, 40)
    calls = []
    script = [["FR-II", "I cannot tell", "The answer is fri."], ["no idea"], ["FR-I."]]
    monkeypatch.setattr(loaded.model, "generate", _fake_generate(loaded, script, calls))
    out = backend.predict(images, "B6")
    assert out.labels == ["FR-II", "FR-I", "FR-I"]
    assert out.n_unparsed == 0
    np.testing.assert_array_equal(out.probabilities, [[0, 1], [1, 0], [1, 0]])
    assert out.raw_answers == ["FR-II", "I cannot tell | re-ask 1: no idea | re-ask 2: FR-I.", "The answer is fri."]
    assert len(calls) == 3 and len(calls[1]) == 1 and len(calls[2]) == 1
    # the re-ask keeps the image and the question, then the model's answer and the format reminder
    reask = reask_prompt("B6")
    assert "Question:" in calls[1][0] and "I cannot tell" in calls[1][0] and reask in calls[1][0]
    assert calls[2][0].count(reask) == 2


def test_generate_unparsed_rows_are_kept(tiny_llava, monkeypatch):
    backend = LlavaBackend(model=tiny_llava, mode="generate", max_reasks=1)
    loaded = backend.load()
    images = make_test_images(2, 40)
    calls = []
    script = [["maybe", "FR-II"], ["still unsure"]]
    monkeypatch.setattr(loaded.model, "generate", _fake_generate(loaded, script, calls))
    out = backend.predict(images, "B6")
    assert out.labels == [None, "FR-II"]
    assert out.n_unparsed == 1
    assert np.all(np.isnan(out.probabilities[0])) and list(out.probabilities[1]) == [0, 1]
    assert out.raw_answers[0] == "maybe | re-ask 1: still unsure"
    columns = out.to_columns()
    assert columns["B6_label"][0] == "" and columns["B6_answer"][1] == "FR-II"


def test_generate_multilabel_none(tiny_llava, monkeypatch):
    backend = LlavaBackend(model=tiny_llava, mode="generate", max_reasks=0)
    loaded = backend.load()
    calls = []
    script = [["EXTENDED, DIFFUSE-LARGE", "NONE", "???"]]
    monkeypatch.setattr(loaded.model, "generate", _fake_generate(loaded, script, calls))
    out = backend.predict(make_test_images(3, 40), "B1")
    assert out.labels == [("EXTENDED", "DIFFUSE-LARGE"), ("NONE",), None]
    np.testing.assert_array_equal(out.probabilities[:2], [[1, 0, 1], [0, 0, 0]])
    assert out.n_unparsed == 1


def test_generate_real_model(tiny_llava):
    backend = LlavaBackend(model=tiny_llava, mode="generate", max_reasks=1, max_new_tokens=4)
    images = make_test_images(3, 48)
    out = backend.predict(images, "B6")
    assert len(out.raw_answers) == 3 and all(isinstance(a, str) and a for a in out.raw_answers)
    assert out.n_unparsed == sum(label is None for label in out.labels)
    for label, probs in zip(out.labels, out.probabilities):
        assert np.all(np.isnan(probs)) if label is None else probs.sum() == 1
    again = backend.predict(images, "B6")
    assert again.raw_answers == out.raw_answers  # greedy: deterministic
    assert backend.describe()["max_reasks"] == 1


# ------------------------------------------------------------------------------------- adapters, loading
def test_lora_adapter_changes_outputs(tiny_llava, tiny_adapter, llava, mixed_images):
    base = llava.predict(mixed_images[:3], "B6").probabilities
    merged = LlavaBackend(model=tiny_llava, adapter=tiny_adapter)
    unmerged = LlavaBackend(model=tiny_llava, adapter=tiny_adapter, merge_adapter=False)
    with_adapter = merged.predict(mixed_images[:3], "B6").probabilities
    assert np.abs(with_adapter - base).max() > 1e-3
    np.testing.assert_allclose(unmerged.predict(mixed_images[:3], "B6").probabilities, with_adapter, atol=1e-5)
    info = merged.describe()
    assert info["adapter"] == str(tiny_adapter) and len(info["adapter_sha256"]) == 64
    assert info["model_sha256"] == llava.describe()["model_sha256"]


def test_describe(tiny_llava, llava):
    import hashlib

    info = llava.describe()
    digest = hashlib.sha256((tiny_llava / "model.safetensors").read_bytes()).hexdigest()
    assert info["backend"] == "llava" and info["model"] == str(tiny_llava)
    assert info["model_sha256"] == digest
    assert info["dtype"] == "float32" and info["mode"] == "score" and info["prompt_version"] == "v2"
    assert info["architecture"] == "LlavaOnevisionForConditionalGeneration"
    assert llava.input_spec("B6") == {"render_preset": "radio-llava"}
    fresh = LlavaBackend(model=tiny_llava, dtype="bf16", mode="generate")
    assert fresh.describe()["dtype"] == "bfloat16" and fresh._loaded is None  # describe loads nothing
    assert fresh.describe("B6") == fresh.describe() and fresh._loaded is None  # the task changes nothing


def test_to_spec_with_examples_and_in_memory_models(llava, mixed_images):
    from radioassist.backends import backend_from_spec
    from radioassist.exceptions import BackendError

    examples = [(mixed_images[0], "FR-I"), (mixed_images[1], ["FR-II"])]
    backend = LlavaBackend(model=llava.model, examples=examples, system_prompt="Be brief.", batch_size=2)
    spec = backend.to_spec()
    assert spec["options"]["examples"][1][1] == ["FR-II"] and spec["options"]["system_prompt"] == "Be brief."
    rebuilt = backend_from_spec(spec)
    assert rebuilt.describe()["examples_sha256"] == backend.describe()["examples_sha256"] is not None
    np.testing.assert_allclose(rebuilt.predict(mixed_images[2:4], "B6").probabilities,
                               backend.predict(mixed_images[2:4], "B6").probabilities, atol=1e-5)
    loaded = llava.load()
    in_memory = LlavaBackend.from_loaded(loaded.model, loaded.processor, name="session-model")
    with pytest.raises(BackendError, match="in-memory model 'session-model'.*save_pretrained"):
        in_memory.to_spec()


def test_bfloat16(tiny_llava, llava, mixed_images):
    backend = LlavaBackend(model=tiny_llava, dtype="bf16")
    out = backend.predict(mixed_images[:2], "B6")
    np.testing.assert_allclose(out.probabilities, llava.predict(mixed_images[:2], "B6").probabilities, atol=0.05)
    assert backend.describe()["dtype"] == "bfloat16"


def test_registered_names(tiny_llava):
    backend = get_backend("llava", model=tiny_llava)
    assert isinstance(backend, LlavaBackend)
    assert isinstance(get_backend("hf-vlm", model=tiny_llava), HFVLMBackend)


def test_loading_errors(tmp_path, tiny_llava, tiny_qwen2vl):
    with pytest.raises(ModelError, match="needs model="):
        LlavaBackend().load()
    with pytest.raises(ModelError, match="does not exist"):
        LlavaBackend(model=tmp_path / "missing").load()
    with pytest.raises(ModelError, match="not LLaVA-OneVision"):
        LlavaBackend(model=tiny_qwen2vl).load()
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((tiny_llava / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"not really a pickle")
    with pytest.raises(ModelError, match="pickle"):
        LlavaBackend(model=pickled).load()
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.bin").write_bytes(b"x")
    with pytest.raises(ModelError, match="pickle"):
        LlavaBackend(model=tiny_llava, adapter=adapter).load()
    with pytest.raises(ModelError, match="adapter folder"):
        LlavaBackend(model=tiny_llava, adapter=tmp_path / "nope").load()


@pytest.mark.parametrize("options, match", [
    ({"mode": "sample"}, "mode"), ({"prompt_version": "v3"}, "prompt_version"), ({"dtype": "int8"}, "dtype"),
    ({"max_reasks": -1}, "max_reasks"), ({"temperature": 1.0}, "unknown option"),
])
def test_option_errors(options, match):
    with pytest.raises(ValueError, match=match):
        LlavaBackend(model="x", **options)


def test_attention_implementation(tiny_llava, llava, mixed_images):
    eager = LlavaBackend(model=tiny_llava, attn_implementation="eager")
    np.testing.assert_allclose(eager.predict(mixed_images, "B6").probabilities,
                               llava.predict(mixed_images, "B6").probabilities, atol=1e-5)
    assert eager.describe()["attn_implementation"] == "eager"


def test_importing_backends_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, radioassist.backends.llava, radioassist.backends.hf_vlm, "
            "radioassist.backends.openai_compat, radioassist.backends.tiny; "
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
