"""Forgetting check: a radio fine-tune of a tiny LLaVA-OneVision scored on the shipped general set.

The tiny model (SigLIP + Qwen2, random weights, built on the spot) is
fine-tuned with LoRA on a simulated B3 task; ``radioassist evaluate-general``
then scores the base and the fine-tune on ``synthetic-general``, and every
number is checked against a brute-force computation: full forward passes per
option letter (no cache, no batching) for multiple-choice items, a token-by-
token greedy loop for open items, the benchmark scoring rules per item, the
mean, and the relative change.
"""
import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
peft = pytest.importorskip("peft")
pytest.importorskip("tokenizers")

from astropy.table import Table  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from radioassist.backends import get_backend  # noqa: E402
from radioassist.backends.tiny import make_tiny_llava_onevision  # noqa: E402
from radioassist.cli import main  # noqa: E402
from radioassist.exceptions import InputError  # noqa: E402
from radioassist.general import evaluate_general, item_prompt, load_general_set, score_answer  # noqa: E402
from radioassist.general.evaluate import answer_items, parse_letter  # noqa: E402
from radioassist.simulate import simulate_sky  # noqa: E402
from radioassist.training.finetune import finetune_llava, mix_records, parse_mix  # noqa: E402
from radioassist.training.make_dataset import make_dataset  # noqa: E402

N_ITEMS = 18
MAX_NEW_TOKENS = 6


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return make_tiny_llava_onevision(tmp_path_factory.mktemp("general-base"), seed=0)


@pytest.fixture(scope="module")
def b3_data(tmp_path_factory):
    sky = simulate_sky(shape=(768, 768), n_sources=60, seed=3, noise=0, artefact_fraction=0,
                       mix={"point": 0.5, "FR-I": 0.25, "FR-II": 0.25})
    out = tmp_path_factory.mktemp("general-b3")
    make_dataset(sky.image, out, tasks=["B3"], catalog=sky.catalog, size=32, val_fraction=0.2, overwrite=True)
    return out


@pytest.fixture(scope="module")
def radio_lora(tiny_base, b3_data, tmp_path_factory):
    """A LoRA fine-tune on the radio task, strong enough to change the model's general answers."""
    out = tmp_path_factory.mktemp("general-lora") / "b3-lora"
    result = finetune_llava(b3_data, out, model=tiny_base, learning_rate=3e-3, max_steps=20, batch_size=4, seed=0)
    return result.output_dir


# ------------------------------------------------------------------------------------------- brute force
def _load(base, adapter=None):
    model = transformers.AutoModelForImageTextToText.from_pretrained(str(base)).eval()
    if adapter is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers deprecations triggered inside peft
            model = peft.PeftModel.from_pretrained(model, str(adapter)).merge_and_unload().eval()
    return model, transformers.AutoProcessor.from_pretrained(str(base))


def _brute_force(base, adapter, items):
    """Per item: option log-likelihoods by full forward passes, or a greedy answer token by token."""
    model, processor = _load(base, adapter)
    tokenizer = processor.tokenizer
    stop = {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id}
    answers = []
    with torch.no_grad():
        for item in items:
            messages = [{"role": "user", "content": [{"type": "image"},
                                                     {"type": "text", "text": item_prompt(item)}]}]
            prefix = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            inputs = processor(text=[prefix], images=[item.load_image()], return_tensors="pt")
            image = {"pixel_values": inputs["pixel_values"], "image_sizes": inputs["image_sizes"]}
            ids = inputs["input_ids"]
            if item.answer_type == "multiple_choice":
                totals = []
                for letter in item.letters:
                    answer = tokenizer(letter, add_special_tokens=False)["input_ids"] + [
                        tokenizer.convert_tokens_to_ids("<|im_end|>")]
                    full = torch.cat([ids, torch.tensor([answer])], dim=1)
                    logits = model(input_ids=full, attention_mask=torch.ones_like(full), **image).logits
                    logp = torch.log_softmax(logits[0].double(), dim=-1)
                    start = ids.shape[1]
                    totals.append(sum(float(logp[start - 1 + k, tok]) for k, tok in enumerate(answer)))
                answers.append(item.letters[int(np.argmax(totals))])
            else:
                generated = []
                for _ in range(MAX_NEW_TOKENS):
                    logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), **image).logits
                    token = int(torch.argmax(logits[0, -1]))
                    if token in stop:
                        break
                    generated.append(token)
                    ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
                answers.append(tokenizer.decode(generated, skip_special_tokens=True).strip())
    return answers


# ------------------------------------------------------------------------------------------- tests
def test_evaluate_general_cli_equals_brute_force(tiny_base, radio_lora, tmp_path):
    out = tmp_path / "forgetting"
    opts = f",max_new_tokens={MAX_NEW_TOKENS}"
    result = CliRunner().invoke(main, [
        "evaluate-general", "synthetic-general", "--limit", str(N_ITEMS), "--batch-size", "4",
        "-m", f"llava={tiny_base}{opts},name=base", "-m", f"llava={tiny_base},adapter={radio_lora}{opts}",
        "--bootstrap", "500", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "| synthetic-general | llava:b3-lora |" in result.output  # the LoRA is named after its adapter
    summary = Table.read(out / "summary.ecsv", format="ascii.ecsv")
    items = Table.read(out / "items.ecsv", format="ascii.ecsv")
    assert list(summary["model"]) == ["base", "llava:b3-lora"] and list(summary["n"]) == [N_ITEMS] * 2
    assert (out / "general_scores.png").stat().st_size > 1000
    assert summary.meta["sets"]["synthetic-general"]["n_items"] == N_ITEMS

    general = load_general_set("synthetic-general", limit=N_ITEMS)
    expected = {}
    for name, adapter in (("base", None), ("llava:b3-lora", radio_lora)):
        answers = _brute_force(tiny_base, adapter, general)
        rows = items[items["model"] == name]
        assert list(rows["id"]) == [item.id for item in general]
        assert list(rows["predicted"]) == answers, name
        scores = np.array([score_answer(a, item.answers, item.answer_type) for a, item in zip(answers, general)])
        assert np.array_equal(np.asarray(rows["score"]), scores)
        expected[name] = scores.mean()
    # the radio fine-tune changed the general answers (here, they forget)
    base_rows, lora_rows = items[items["model"] == "base"], items[items["model"] == "llava:b3-lora"]
    assert np.any(base_rows["predicted"] != lora_rows["predicted"])
    base, lora = summary[0], summary[1]
    assert base["score"] == pytest.approx(expected["base"], abs=1e-12)
    assert lora["score"] == pytest.approx(expected["llava:b3-lora"], abs=1e-12)
    assert np.isnan(base["relative_change"]) and base["base"] == "base"
    assert expected["base"] > 0
    change = (expected["llava:b3-lora"] - expected["base"]) / expected["base"]
    assert lora["relative_change"] == pytest.approx(change, abs=1e-12)
    assert lora["relative_change_low"] <= change <= lora["relative_change_high"]
    assert base["score_low"] <= base["score"] <= base["score_high"]
    mc = [i for i, item in enumerate(general) if item.answer_type == "multiple_choice"]
    assert lora["score_multiple_choice"] == pytest.approx(np.mean(np.asarray(lora_rows["score"])[mc]))


def test_same_checkpoint_changes_by_exactly_zero(tiny_base):
    result = evaluate_general("synthetic-general,limit=12", [f"llava={tiny_base},max_new_tokens=4",
                                                             f"llava={tiny_base},max_new_tokens=4"],
                              n_bootstrap=200, base=1)  # the second run is the reference here
    first, second = result.summary
    assert second["model"].endswith("-2") and first["base"] == second["model"] == result.meta["base"]
    assert first["relative_change"] == 0.0 and np.isnan(second["relative_change"])
    assert (first["relative_change_low"], first["relative_change_high"]) == (0.0, 0.0)
    assert first["score"] == second["score"]
    assert np.array_equal(result.scores("synthetic-general", first["model"]),
                          result.scores("synthetic-general", second["model"]))
    assert "+0.0% [+0.0%, +0.0%]" in result.to_markdown()


def test_finetune_mix_and_model_card(tiny_base, b3_data, tmp_path):
    out = tmp_path / "mixed"
    result = CliRunner().invoke(main, [
        "finetune", str(b3_data), "-m", str(tiny_base), "-o", str(out), "--max-steps", "2", "--freeze-projector",
        "--lora-rank", "4", "--target-modules", "q_proj,v_proj", "--mix", "synthetic-general:0.25",
        "--general-eval", "synthetic-general", "--general-eval-limit", "12"])
    assert result.exit_code == 0, result.output
    assert "General tasks (forgetting)" in result.output
    info = json.loads((out / "finetune.json").read_text())
    n_radio = len(json.loads((b3_data / "train.json").read_text()))
    assert info["mix"][0]["n_records"] == round(0.25 * n_radio / 0.75)
    assert info["config"]["mix"][0]["dataset"] == "synthetic-general"
    assert info["config"]["train_projector"] is False and info["config"]["lora_rank"] == 4
    from safetensors.torch import load_file
    saved = load_file(str(out / "adapter_model.safetensors"))
    assert saved and not any("multi_modal_projector" in k or "vision_tower" in k for k in saved)
    assert all(("q_proj" in k or "v_proj" in k) and "lora_" in k for k in saved)
    summary = Table.read(out / "general-eval" / "summary.ecsv", format="ascii.ecsv")
    assert list(summary["model"]) == ["base", "mixed"] and list(summary["n"]) == [12, 12]
    card = (out / "README.md").read_text()
    assert "## General tasks (forgetting)" in card and "mixed in: `synthetic-general`" in card
    row = info["general_eval"]["summary"][1]
    assert row["score"] == pytest.approx(float(summary["score"][1]))
    assert f"{float(summary['score'][1]):.3f}" in card
    assert "--mix synthetic-general:0.25 --general-eval synthetic-general" in card  # the command, as typed
    # resuming with another mix is refused
    with pytest.raises(InputError, match="mix"):
        finetune_llava(b3_data, out, model=tiny_base, max_steps=3, resume=True, lora_rank=4,
                       target_modules=["q_proj", "v_proj"], train_projector=False, mix="synthetic-general:0.5")


def test_mix_records_and_errors():
    records, info = mix_records(["synthetic-general:0.5"], 10, seed=0)
    assert len(records) == 10 and info[0]["n_available"] == 300
    assert all(r["conversations"][0] == {"from": "system", "value": ""} for r in records)
    assert len({r["id"] for r in records}) == 10
    again, _ = mix_records("synthetic-general:0.5", 10, seed=0)
    assert [r["id"] for r in again] == [r["id"] for r in records]
    many, info = mix_records("synthetic-general,limit=4:0.5", 10)  # more asked for than there are: reused
    assert len(many) == 10 and info[0]["n_available"] == 4
    with pytest.raises(InputError, match="DATASET:FRACTION"):
        parse_mix("synthetic-general")
    with pytest.raises(InputError, match="between 0 and 1"):
        parse_mix("synthetic-general:1.5")
    with pytest.raises(InputError, match="add up to"):
        parse_mix(["a:0.6", "b:0.5"])


def test_openai_backend_answers_general_questions(monkeypatch):
    """Option letters scored from top log-probabilities, open answers as text, failed requests scored 0."""
    from radioassist.backends.openai_compat import _RequestError

    backend = get_backend("openai", model="fake-vlm", base_url="http://127.0.0.1:9/v1", concurrency=2)
    general = load_general_set("synthetic-general", limit=6)

    def post(body):
        text = body["messages"][-1]["content"][1]["text"]
        if "What number" in text:
            raise _RequestError("HTTP 500: boom")
        if "A. " in text:  # multiple choice: top log-probabilities favour C
            content = [{"token": "C", "logprob": np.log(0.6),
                        "top_logprobs": [{"token": "C", "logprob": np.log(0.6)},
                                         {"token": "A", "logprob": np.log(0.3)}]}]
            return {"choices": [{"message": {"content": "C"}, "logprobs": {"content": content}}]}
        return {"choices": [{"message": {"content": "4"}}]}

    monkeypatch.setattr(backend, "_post", post)
    answers = answer_items(backend, general)
    kinds = [item.category for item in general]
    assert [a["predicted"] for a in answers] == ["4", "4", None, "4", "C", "C"], kinds
    assert answers[4]["option_logprobs"][2] > answers[4]["option_logprobs"][0]
    assert answers[2]["error"].startswith("HTTP 500")
    result = evaluate_general(general, [backend], n_bootstrap=0)
    row = result.summary[0]
    expected = np.mean([score_answer(a["predicted"], item.answers, item.answer_type)
                        for a, item in zip(answers, general)])
    assert row["score"] == pytest.approx(expected) and row["n_unanswered"] == 1


def test_parse_letter():
    item = load_general_set("synthetic-general", limit=6)[5]
    assert parse_letter("(B) top right", item) == "B" and parse_letter("c.", item) == "C"
    assert parse_letter("Answer: D", item) == "D" and parse_letter("The answer is A.", item) == "A"
    assert parse_letter("bottom left", item) == "C" and parse_letter("I think so", item) is None
    assert parse_letter("a red square", item) is None and parse_letter("E", item) is None


def test_non_vlm_backend_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["evaluate-general", "synthetic-general", "--limit", "2", "-m", "vision",
                                       "-o", str(tmp_path / "x")])
    assert result.exit_code == 1 and "cannot answer general questions" in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(main, ["evaluate-general", str(tmp_path / "nope.json"), "-m", "llava=x",
                                       "-o", str(tmp_path / "y")])
    assert result.exit_code == 1 and "nope.json does not exist" in result.output
    result = CliRunner().invoke(main, ["evaluate-general", "synthetic-general", "-m", "llava=x", "--base", "z",
                                       "-o", str(tmp_path / "z")])
    assert result.exit_code == 1 and "base 'z' is not one of the models" in result.output


def test_tradeoff_table_joins_radio_gain_and_general_loss(tiny_base, radio_lora, b3_data, tmp_path):
    from radioassist.evaluate import evaluate
    from radioassist.general import tradeoff_table

    models = [f"llava={tiny_base},name=base", f"llava={tiny_base},adapter={radio_lora},name=lora"]
    radio = evaluate(b3_data / "datalist_B3_valid.json", tasks="B3", models=models, split="all", n_bootstrap=0)
    general = evaluate_general("synthetic-general", [m + ",max_new_tokens=2" for m in models], limit=12,
                               n_bootstrap=100)
    general.write(tmp_path / "general")
    table = tradeoff_table(radio, tmp_path / "general")
    assert list(table["model"]) == ["base", "lora"] and list(table["set"]) == ["synthetic-general"] * 2
    f1 = {row["model"]: row["macro_f1"] for row in radio.summary}
    assert table["macro_f1_gain"][0] == 0 and table["macro_f1_gain"][1] == pytest.approx(f1["lora"] - f1["base"])
    assert table["general_change"][1] == pytest.approx(general.row("synthetic-general", "lora")["relative_change"])
    with pytest.raises(InputError, match="name the models the same"):
        tradeoff_table(radio.summary[radio.summary["model"] == "base"], general)
