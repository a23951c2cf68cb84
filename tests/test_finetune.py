"""Instruction fine-tuning of LLaVA-OneVision (radioassist.training.finetune) on a tiny model.

The learning test fine-tunes a tiny LLaVA-OneVision (SigLIP + Qwen2, built on
the spot) with LoRA on a simulated B3 task (compact point sources vs FR-I/FR-II
radio galaxies cut out of a noise-free simulated sky) and measures the macro F1
of the closed-set ``llava`` backend on the held-out split before and after,
loading the saved adapter the way a user would.
"""
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("tokenizers")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402
from PIL import Image  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from sklearn.metrics import f1_score  # noqa: E402

from radioassist.backends import get_backend  # noqa: E402
from radioassist.backends import _vlm_scoring as vs  # noqa: E402
from radioassist.backends.tiny import make_tiny_llava_onevision  # noqa: E402
from radioassist.exceptions import InputError  # noqa: E402
from radioassist.prompts import build_prompt  # noqa: E402
from radioassist.simulate import simulate_sky  # noqa: E402
from radioassist.tasks import get_task  # noqa: E402
from radioassist.training.finetune import (_answer_loss, collate, encode_record, finetune_llava,  # noqa: E402
                                           record_messages)
from radioassist.training.formats import conversation_record, read_conversations  # noqa: E402
from radioassist.training.make_dataset import make_dataset  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def base_model(tmp_path_factory):
    """A tiny random LLaVA-OneVision whose connector and output head have pretrained-like scales.

    In the random tiny model the projected image tokens are ~15 times smaller
    than the text embeddings and the logits span less than one nat, which
    hides the image from the language model and caps what LoRA on the language
    model can express; a pretrained LLaVA-OneVision has neither problem.  The
    projector and ``lm_head`` weights are scaled up to emulate that (and saved
    as the base checkpoint: the fine-tuning then starts from this folder).
    """
    folder = make_tiny_llava_onevision(tmp_path_factory.mktemp("tiny-base"), seed=0)
    model = transformers.AutoModelForImageTextToText.from_pretrained(folder)
    with torch.no_grad():
        model.model.multi_modal_projector.linear_1.weight.mul_(8.0)
        model.model.multi_modal_projector.linear_2.weight.mul_(8.0)
        model.lm_head.weight.mul_(25.0)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def b3_data(tmp_path_factory):
    """B3 (extended radio galaxy: YES/NO) on 32x32 cutouts of a noise-free simulated sky, 30% held out."""
    sky = simulate_sky(shape=(2048, 2048), n_sources=300, seed=3, noise=0, artefact_fraction=0,
                       mix={"point": 0.5, "FR-I": 0.25, "FR-II": 0.25})
    out = tmp_path_factory.mktemp("b3-data")
    make_dataset(sky.image, out, tasks=["B3"], catalog=sky.catalog, size=32, val_fraction=0.3, overwrite=True)
    return out


def _heldout(folder):
    with open(folder / "datalist_B3_valid.json", encoding="utf-8") as fh:
        entries = json.load(fh)["data"]
    images = np.stack([np.asarray(Image.open(folder / e["filepaths"][0]).convert("RGB")) for e in entries])
    return images, [e["label"] for e in entries]


def _macro_f1(truth, predictions):
    return f1_score(truth, list(predictions.labels), labels=["YES", "NO"], average="macro")


# ------------------------------------------------------------------------------------------ learning
def test_lora_finetuning_learns_a_simulated_task(base_model, b3_data, tmp_path):
    images, truth = _heldout(b3_data)
    assert len(images) >= 80 and truth.count("YES") >= 40
    before = get_backend("llava", model=base_model).predict(images, "B3")
    f1_before = _macro_f1(truth, before)

    result = finetune_llava(b3_data, tmp_path / "b3-lora", model=base_model, learning_rate=3e-3,
                            max_steps=250, batch_size=8, seed=0)
    assert result.steps == 250 and result.method == "lora"
    assert result.valid_loss < 0.5 * result.initial_valid_loss  # valid.json of the dataset folder

    backend = get_backend("llava", model=base_model, adapter=result.output_dir)
    after = backend.predict(images, "B3")
    f1_after = _macro_f1(truth, after)
    print(f"\nB3 held-out macro F1 ({len(images)} images): before {f1_before:.3f}, after {f1_after:.3f}")
    assert f1_after >= 0.7
    assert f1_after >= f1_before + 0.3
    # the adapter really changes the model's answers, and the backend records it
    assert np.abs(after.probabilities - before.probabilities).max() > 0.2
    assert backend.describe()["adapter_sha256"] is not None


# ------------------------------------------------------------------------------------------ masking
def _image(seed, size=32):
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def processor(base_model):
    return transformers.AutoProcessor.from_pretrained(base_model)


def test_loss_masks_everything_but_the_answers(processor):
    tokenizer = processor.tokenizer
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    multi = conversation_record("m", "m.png", [(build_prompt("B3"), "YES"), (build_prompt("B6"), "FR-II")])
    single = conversation_record("s", "s.png", [(build_prompt("B1"), "EXTENDED,DIFFUSE")])
    encoded = [encode_record(processor, multi), encode_record(processor, single)]
    batch = collate(processor, encoded, [_image(0), _image(1, 48)], image_token_id=image_id)
    labels, ids = batch["labels"], batch["input_ids"]
    assert labels.shape == ids.shape
    mask = batch["attention_mask"]
    assert mask[:, 0].all() and not mask.all()  # padded on the right, as positions 0..n-1 assume
    assert tokenizer.padding_side == "left"  # the processor is left as the backend uses it

    for row, expected in ((0, ["YES<|im_end|>", "FR-II<|im_end|>"]), (1, ["EXTENDED,DIFFUSE<|im_end|>"])):
        kept = labels[row] != -100
        # labels are the input tokens themselves (the model shifts them), only on the answers
        assert torch.equal(labels[row][kept], ids[row][kept])
        positions = torch.nonzero(kept).squeeze(1).tolist()
        runs = np.split(positions, np.flatnonzero(np.diff(positions) > 1) + 1)
        assert [tokenizer.decode(ids[row][run]) for run in runs] == expected
        # everything before an answer is prompt: it ends with the template's assistant header
        for run in runs:
            assert tokenizer.decode(ids[row][:run[0]]).endswith("<|im_start|>assistant\n")
        # no image, system, question or padding token is labelled
        assert not (kept & (ids[row] == image_id)).any()
        assert not (kept & (batch["attention_mask"][row] == 0)).any()
    assert (ids[1] == image_id).sum() > (ids[0] == image_id).sum()  # 48 px: more anyres tiles, still aligned


def test_training_prompt_is_what_the_backend_asks(processor):
    """A make_dataset record asks the backend's prompt, and its answer tokens are the scored ones."""
    task = get_task("B3")
    record = conversation_record("s", "s.png", [(build_prompt(task), "NO")])
    messages = record_messages(record)
    train_prefix = processor.apply_chat_template(messages[:-1], add_generation_prompt=True, tokenize=False)
    asked = vs.build_conversation(task)  # the llava backend's default conversation
    assert train_prefix == processor.apply_chat_template(asked, add_generation_prompt=True, tokenize=False)
    encoded = encode_record(processor, record)
    candidates = vs.answer_candidates(task)
    scored = vs.candidate_token_ids(processor, asked, candidates)[[c.text for c in candidates].index("NO")]
    assert encoded["ids"][encoded["answer"]].tolist() == scored


def test_answer_loss_equals_transformers_loss(base_model, processor):
    model = transformers.AutoModelForImageTextToText.from_pretrained(base_model)
    image_id = processor.tokenizer.convert_tokens_to_ids("<image>")
    records = [conversation_record("a", "a.png", [(build_prompt("B6"), "FR-I")]),
               conversation_record("b", "b.png", [(build_prompt("B3"), "YES"), ("Describe it.", "A blob.")])]
    batch = collate(processor, [encode_record(processor, r) for r in records], [_image(2), _image(3)],
                    image_token_id=image_id)
    with torch.no_grad():
        total, n = _answer_loss(model, batch, autocast=lambda: torch.autocast("cpu", enabled=False))
        reference = model(**batch).loss  # full logits, transformers' own shift and mean
    assert n == int((batch["labels"] != -100).sum()) - 0  # every labelled token is predicted
    assert float(total) / n == pytest.approx(float(reference), rel=1e-5)


# ------------------------------------------------------------------------------------------ resume
@pytest.fixture(scope="module")
def small_records(b3_data):
    return read_conversations(b3_data / "train.json", resolve_paths=True)[:18]


def _resume_kwargs(base_model):
    return dict(model=base_model, max_steps=7, batch_size=3, gradient_accumulation=2, learning_rate=1e-3,
                lora_rank=4, lora_dropout=0.2, save_every=3, seed=5, hash_base=False)


@pytest.fixture(scope="module")
def uninterrupted(base_model, small_records, tmp_path_factory):
    out = tmp_path_factory.mktemp("uninterrupted")
    result = finetune_llava(small_records, out, **_resume_kwargs(base_model))
    return result, load_file(str(out / "adapter_model.safetensors"))


class _Stop(Exception):
    pass


def _stop_at(step):
    def callback(info):
        if info["step"] == step:
            raise _Stop
    return callback


@pytest.mark.parametrize("from_step", [4, 3])
def test_resume_reaches_the_same_weights(base_model, small_records, uninterrupted, tmp_path, from_step):
    """Interrupted after step 4 (checkpoint saved on the way out), or resumed from the periodic one at 3."""
    kwargs = _resume_kwargs(base_model)
    out = tmp_path / "run"
    with pytest.raises(_Stop):
        finetune_llava(small_records, out, callback=_stop_at(4), **kwargs)
    steps = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert steps == ["step-00000003", "step-00000004"]
    assert not (out / "adapter_model.safetensors").exists()
    if from_step == 3:
        import shutil
        shutil.rmtree(out / "checkpoints" / "step-00000004")
    resumed = finetune_llava(small_records, out, resume=True, **kwargs)
    assert resumed.resumed_from == from_step and resumed.steps == 7
    full, weights = uninterrupted
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history[from_step:]]
    resumed_weights = load_file(str(out / "adapter_model.safetensors"))
    assert resumed_weights.keys() == weights.keys()
    for name, value in weights.items():
        assert torch.equal(resumed_weights[name], value), name  # bit-identical on CPU


def test_resume_refuses_other_settings(base_model, small_records, tmp_path):
    kwargs = _resume_kwargs(base_model)
    with pytest.raises(_Stop):
        finetune_llava(small_records, tmp_path, callback=_stop_at(3), **kwargs)
    with pytest.raises(InputError, match="other settings.*learning_rate"):
        finetune_llava(small_records, tmp_path, resume=True, **dict(kwargs, learning_rate=5e-4))
    with pytest.raises(InputError, match="already holds a fine-tuning run.*resume"):
        finetune_llava(small_records, tmp_path, **kwargs)


# ------------------------------------------------------------------------------------------ outputs
@pytest.mark.parametrize("train_vision", [False, True])
def test_lora_adapter_contents(base_model, small_records, tmp_path, train_vision):
    finetune_llava(small_records[:4], tmp_path, model=base_model, max_steps=1, batch_size=2,
                   train_vision=train_vision, hash_base=False)
    keys = list(load_file(str(tmp_path / "adapter_model.safetensors")))
    assert any("language_model" in k and "q_proj.lora_A" in k for k in keys)
    assert any("language_model" in k and "down_proj.lora_B" in k for k in keys)
    assert any("multi_modal_projector" in k for k in keys)  # trained copy of the projector
    assert any("vision_tower" in k for k in keys) == train_vision
    with open(tmp_path / "adapter_config.json", encoding="utf-8") as fh:
        config = json.load(fh)
    assert config["base_model_name_or_path"] == str(base_model.resolve())


def test_full_finetuning_checkpoint_loads_in_the_backend(base_model, small_records, tmp_path):
    import hashlib

    out = tmp_path / "full"
    result = finetune_llava(small_records[:6], out, model=base_model, method="full", max_steps=2,
                            batch_size=3, learning_rate=1e-3, data_description="simulated sky",
                            command="radioassist finetune X")
    base = load_file(str(base_model / "model.safetensors"))
    tuned = load_file(str(out / "model.safetensors"))
    vision = [k for k in base if "vision_tower" in k]
    language = [k for k in base if "language_model" in k]
    assert vision and all(torch.equal(base[k], tuned[k]) for k in vision)  # frozen
    assert any(not torch.equal(base[k], tuned[k]) for k in language)
    predictions = get_backend("llava", model=out).predict(np.stack([_image(4), _image(5)]), "B3")
    assert predictions.probabilities.shape == (2, 2)

    card = (out / "README.md").read_text()
    digest = hashlib.sha256((base_model / "model.safetensors").read_bytes()).hexdigest()
    assert result.base_model_sha256 == digest and digest in card
    for text in (str(base_model.resolve()), "radioassist finetune X", "simulated sky", "| method | full |",
                 "| learning_rate | 0.001 |", "answer tokens only", "system_prompt=True"):
        assert text in card
    info = json.loads((out / "finetune.json").read_text())
    assert info["steps"] == 2 and info["config"]["method"] == "full" and len(info["history"]) == 2


def test_invalid_settings(base_model, small_records, tmp_path):
    with pytest.raises(InputError, match="method must be one of lora, full"):
        finetune_llava(small_records, tmp_path, model=base_model, method="qlora")
    with pytest.raises(InputError, match="float16 training is not supported"):
        finetune_llava(small_records, tmp_path, model=base_model, dtype="fp16")
    with pytest.raises(InputError, match="batch_size must be an integer >= 1"):
        finetune_llava(small_records, tmp_path, model=base_model, batch_size=0)
    with pytest.raises(InputError, match="has no train.json"):
        finetune_llava(tmp_path, tmp_path / "out", model=base_model)
    text_only = {"id": "t", "conversations": [{"from": "human", "value": "Hi?"},
                                              {"from": "gpt", "value": "NO"}]}
    with pytest.raises(InputError, match=r"record 1 \(id 't'\) must have exactly one image"):
        finetune_llava([small_records[0], text_only], tmp_path / "out", model=base_model)


# ------------------------------------------------------------------------------------------ CLI
def test_cli_make_dataset_then_finetune(base_model, tmp_path):
    from radioassist.cli._finetune import finetune_command
    from radioassist.cli._make_dataset import make_dataset_command

    sky = simulate_sky(shape=(384, 384), n_sources=12, seed=2, mix={"point": 0.5, "FR-II": 0.5})
    sky.write(tmp_path / "sky.fits")
    sky.write_catalog(tmp_path / "truth.ecsv")
    runner = CliRunner()
    result = runner.invoke(make_dataset_command, [
        str(tmp_path / "sky.fits"), "--catalog", str(tmp_path / "truth.ecsv"), "-t", "B3", "-t", "B6",
        "-o", str(tmp_path / "data"), "--size", "32", "--val-fraction", "0.25"])
    assert result.exit_code == 0, result.output
    assert "Wrote 12 images" in result.output and "B6:" in result.output
    args = [str(tmp_path / "data"), "-m", str(base_model), "-o", str(tmp_path / "lora"), "--max-steps", "2",
            "--batch-size", "2", "--lora-rank", "4"]
    result = runner.invoke(finetune_command, args)
    assert result.exit_code == 0, result.output
    assert "LoRA adapter written to" in result.output and "validation loss" in result.output
    card = (tmp_path / "lora" / "README.md").read_text()
    assert f"radioassist finetune {tmp_path / 'data'} --model {base_model}" in card
    assert "--max-steps 2" in card
    result = runner.invoke(finetune_command, args)  # again, without --resume/--overwrite
    assert result.exit_code == 1
    assert "Error: output folder" in result.output and "--resume" in result.output
