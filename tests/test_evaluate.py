"""``evaluate``: backends and models on labelled images, unparsed answers kept, outputs and the CLI."""
import json

import numpy as np
import pytest
from astropy.table import Table

from radioassist.backends import Backend, Predictions, register_backend
from radioassist.evaluate import EvaluationResult, ModelSpec, evaluate, parse_model_spec
from radioassist.exceptions import InputError, ModelError, RadioassistWarning
from radioassist.metrics import classification_report
from radioassist.tasks import get_task
from radioassist.training.datasets import LabelledImages, load_dataset

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
Image = pytest.importorskip("PIL.Image")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _answer(image, task):
    """The fake generative model's answer: unparsed, or a label chosen by the image's pixel sum."""
    code = int(np.asarray(image, dtype=np.int64)[..., 0].sum()) % 3
    if code == 0:
        return None, "I cannot tell from this picture."
    if task.multilabel:
        labels = (task.labels[0],) if code == 1 else ()
        return labels, ", ".join(labels) or "NONE"
    label = task.labels[code - 1]
    return label, f"The answer is {label}."


@register_backend("fake-generative-eval", overwrite=True)
class FakeGenerative(Backend):
    """A generative backend whose answers sometimes name no label."""

    description = "test double"

    def predict(self, images, task):
        task = get_task(task)
        labels, raw, probs = [], [], []
        for image in images:
            label, text = _answer(image, task)
            labels.append(label)
            raw.append(text)
            probs.append(np.full(task.n_classes, np.nan))
        return Predictions(task, labels, np.array(probs).reshape(len(labels), task.n_classes), raw_answers=raw,
                           n_unparsed=sum(lab is None for lab in labels))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """PNG images in train|test/FR-I|FR-II/: extended blobs for FR-I, compact pairs for FR-II."""
    root = tmp_path_factory.mktemp("labelled")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[:32, :32]
    for split, n in (("train", 4), ("test", 9)):
        for label in ("FR-I", "FR-II"):
            (root / split / label).mkdir(parents=True)
            for i in range(n):
                sigma = 6.0 if label == "FR-I" else 1.5
                img = rng.normal(0, 0.05, (32, 32))
                for cx in ((16,) if label == "FR-I" else (9, 23)):
                    img += np.exp(-((yy - 16) ** 2 + (xx - cx + rng.integers(-2, 3)) ** 2) / (2 * sigma ** 2))
                img = (255 * (img - img.min()) / np.ptp(img)).astype(np.uint8)
                Image.fromarray(img).save(root / split / label / f"{label}_{i}.png")
    return root


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny random ResNet for B6 saved with save_pretrained."""
    folder = tmp_path_factory.mktemp("tiny_b6")
    torch.manual_seed(0)
    labels = ["FR-I", "FR-II"]
    config = transformers.ResNetConfig(
        num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], layer_type="basic",
        num_labels=2, id2label=dict(enumerate(labels)), label2id={lab: i for i, lab in enumerate(labels)})
    config.radioassist = {"task": "B6", "image_size": 32, "mean": [0.5] * 3, "std": [0.5] * 3}
    transformers.ResNetForImageClassification(config).save_pretrained(folder)
    return folder


def _expected(data, task):
    answers = [_answer(image, task)[0] for image in data.rgb()]
    return classification_report(data.targets, answers, labels=task)


# -------------------------------------------------------------------------------------- model specs
@pytest.mark.parametrize("text, expected", [
    ("vision", ModelSpec("vision", "vision", None, {})),
    ("Vision=/m/b6", ModelSpec("vision:b6", "vision", "/m/b6", {})),
    ("vision:/m/b6/", ModelSpec("vision:b6", "vision", "/m/b6/", {})),
    ("vision=org/model", ModelSpec("vision:org/model", "vision", "org/model", {})),
    ("vision=/m/b6,threshold=0.3,name=mine", ModelSpec("mine", "vision", "/m/b6", {"threshold": 0.3})),
    ("fake-generative-eval,allow=true,x=none,y=text", ModelSpec("fake-generative-eval", "fake-generative-eval",
                                                                None, {"allow": True, "x": None, "y": "text"})),
])
def test_parse_model_spec(text, expected):
    assert parse_model_spec(text) == expected


def test_parse_model_spec_other_forms(tiny_model):
    assert parse_model_spec(str(tiny_model), default_backend="vision").model == str(tiny_model)
    assert parse_model_spec(tiny_model, default_backend="vision").backend == "vision"
    spec = parse_model_spec({"backend": "vision", "model": "/m/x", "name": "x", "threshold": 0.2})
    assert spec == ModelSpec("x", "vision", "/m/x", {"threshold": 0.2})
    instance = FakeGenerative()
    assert parse_model_spec(instance).backend is instance
    with pytest.raises(InputError, match="names no known backend"):
        parse_model_spec("/some/checkpoint")
    with pytest.raises(InputError, match="unknown backend 'nope'"):
        parse_model_spec("nope=/m")
    with pytest.raises(InputError, match="OPTION=VALUE"):
        parse_model_spec("vision=/m,oops")
    with pytest.raises(InputError, match="names no backend"):
        parse_model_spec({"model": "/m"})


# -------------------------------------------------------------------------------------- evaluate
def test_evaluate_vision_and_generative(folder, tiny_model, tmp_path):
    result = evaluate(folder, tasks="B6", models=[f"vision={tiny_model}", "fake-generative-eval"], split="test",
                      batch_size=5, n_bootstrap=200)
    assert isinstance(result, EvaluationResult)
    assert result.models == [f"vision:{tiny_model.name}", "fake-generative-eval"] and result.tasks == ["B6"]
    summary = result.summary
    assert list(summary["n"]) == [18, 18] and list(summary["split"]) == ["test", "test"]
    test = load_dataset(folder, task="B6").subset(lambda_split(folder, "test"))
    expected = _expected(test, get_task("B6"))
    assert 0 < expected.n_unparsed < expected.n                           # the rule is exercised
    assert 0 < expected.accuracy
    gen = summary[summary["model"] == "fake-generative-eval"][0]
    assert gen["n_unparsed"] == expected.n_unparsed
    assert gen["macro_f1"] == pytest.approx(expected.macro_f1)
    assert gen["accuracy"] == pytest.approx(expected.accuracy)
    assert gen["macro_f1_low"] <= gen["macro_f1"] <= gen["macro_f1_high"]
    # the vision row agrees with the backend run by hand
    from radioassist.backends import get_backend
    vis = get_backend("vision", model=tiny_model).predict(test.rgb(), "B6")
    assert summary[0]["macro_f1"] == pytest.approx(classification_report(test.targets, vis, labels="B6").macro_f1)

    table = result.predictions["B6"]
    assert len(table) == 36
    for name in ("model", "file", "split", "true", "predicted", "correct", "unparsed", "prob_FR-I", "prob_FR-II",
                 "answer"):
        assert name in table.colnames
    rows = table[table["model"] == "fake-generative-eval"]
    assert rows["unparsed"].sum() == expected.n_unparsed
    assert np.all(rows["predicted"][rows["unparsed"]] == "") and not np.any(rows["correct"][rows["unparsed"]])
    assert rows["correct"].mean() == pytest.approx(gen["accuracy"])       # unparsed counted wrong, not dropped
    assert set(rows["answer"][rows["unparsed"]]) == {"I cannot tell from this picture."}
    vision_rows = table[table["model"] != "fake-generative-eval"]
    np.testing.assert_allclose(vision_rows["prob_FR-I"] + vision_rows["prob_FR-II"], 1, atol=1e-5)
    assert result.report("fake-generative-eval", "B6").confusion_columns[-1] == "unparsed"
    assert summary.meta["models"][f"vision:{tiny_model.name}"]["tasks"]["B6"]["model_sha256"]
    assert "0 (0.0%)" in result.to_markdown() and "95% CI" in result.to_markdown()

    out = tmp_path / "out"
    files = result.write(out)
    names = {p.name for p in files}
    assert {"summary.ecsv", "summary.md", "metrics.json", "predictions_B6.ecsv", "macro_f1.png",
            "confusion_fake-generative-eval_B6.png", f"confusion_vision_{tiny_model.name}_B6.png"} <= names
    back = Table.read(out / "summary.ecsv")
    assert list(back["macro_f1"]) == pytest.approx(list(summary["macro_f1"]))
    assert back.meta["datasets"]["B6"]["n"] == 18
    assert Table.read(out / "predictions_B6.ecsv")["unparsed"].sum() == expected.n_unparsed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["runs"][1]["n_unparsed"] == expected.n_unparsed
    assert "unparsed" in (out / "summary.md").read_text()
    for name in ("macro_f1.png", "confusion_fake-generative-eval_B6.png"):
        assert (out / name).read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(InputError, match="not empty"):
        result.write(out)
    assert len(result.write(out, overwrite=True, figures=False)) == 4


def lambda_split(folder, split):
    data = load_dataset(folder, task="B6")
    return data.splits == split


def test_evaluate_several_tasks_skips_models_that_cannot_answer(folder, tiny_model):
    options = {"B6": {}, "B3": {"label_map": "FR-I=YES,FR-II=NO"}}
    with pytest.warns(RadioassistWarning, match="skipping vision:.* on task B3"):
        result = evaluate(folder, tasks=("B6", "B3"), models=[f"vision={tiny_model}", "fake-generative-eval"],
                          dataset_options=options, n_bootstrap=0)
    assert [(r["model"], r["task"]) for r in result.summary] == [
        (f"vision:{tiny_model.name}", "B6"), ("fake-generative-eval", "B6"), ("fake-generative-eval", "B3")]
    assert np.isnan(result.summary["macro_f1_low"]).all()
    assert result.meta["skipped"][0]["task"] == "B3"
    assert "Skipped: vision" in result.to_markdown()
    b3 = load_dataset(folder, task="B3", label_map="FR-I=YES,FR-II=NO")
    b3 = b3.subset(b3.splits == "test")
    assert result.report("fake-generative-eval", "B3").macro_f1 == pytest.approx(
        _expected(b3, get_task("B3")).macro_f1)
    # one data source per task, as the radio-llava benchmark has one datalist per task
    both = evaluate({"B6": folder, "B3": folder}, models=["fake-generative-eval"], dataset_options=options,
                    n_bootstrap=0)
    assert list(both.summary["task"]) == ["B6", "B3"]
    assert both.summary["macro_f1"][1] == pytest.approx(result.summary["macro_f1"][2])
    assert both.meta["data"] == {"B6": str(folder), "B3": str(folder)}
    with pytest.raises(InputError, match="no data for task"):
        evaluate({"B6": folder}, tasks=["B6", "B3"], models=["fake-generative-eval"])
    with pytest.raises(ModelError, match="no model could answer"), \
            pytest.warns(RadioassistWarning, match="skipping vision:.* on task B3: .*trained for task B6, not B3"):
        evaluate(folder, tasks="B3", models=[str(tiny_model)], backends="vision",
                 dataset_options={"label_map": "FR-I=YES,FR-II=NO"}, n_bootstrap=0)


def test_evaluate_multilabel_labelled_images(tmp_path):
    task = get_task("B1")
    rng = np.random.default_rng(3)
    images = rng.integers(0, 256, (30, 16, 16), dtype=np.uint8)
    targets = rng.random((30, 3)) < 0.4
    data = LabelledImages(images, targets, np.array(["test"] * 30), [f"img{i}" for i in range(30)], task,
                          source="synthetic")
    result = evaluate(data, tasks="B1", models=["fake-generative-eval"], n_bootstrap=50, output_dir=tmp_path / "b1")
    row = result.summary[0]
    expected = _expected(data, task)
    assert row["hamming_loss"] == pytest.approx(expected.hamming_loss)
    assert row["accuracy"] == pytest.approx(expected.exact_match)
    assert 0 < row["n_unparsed"] == expected.n_unparsed < 30 and row["accuracy"] > 0
    table = result.predictions["B1"]
    assert set(table["true"]) <= {"NONE", "EXTENDED", "DIFFUSE", "DIFFUSE-LARGE", "EXTENDED,DIFFUSE",
                                  "EXTENDED,DIFFUSE-LARGE", "DIFFUSE,DIFFUSE-LARGE", "EXTENDED,DIFFUSE,DIFFUSE-LARGE"}
    assert set(table["predicted"]) <= {"", "NONE", "EXTENDED"}
    assert (tmp_path / "b1" / "confusion_fake-generative-eval_B1.png").is_file()
    assert "Hamming loss" in result.to_markdown()


def test_evaluate_splits_and_errors(folder, tiny_model, tmp_path):
    spec = [f"vision={tiny_model}"]
    assert evaluate(folder, models=spec, split="all", n_bootstrap=0).summary["n"][0] == 26
    assert evaluate(folder, models=spec, split="train", n_bootstrap=0).summary["n"][0] == 8
    with pytest.raises(InputError, match="no image of the B6 data is in split 'valid'"):
        evaluate(folder, models=spec, split="valid")
    with pytest.raises(InputError, match="split must be one of"):
        evaluate(folder, models=spec, split="holdout")
    flat = tmp_path / "flat"
    (flat / "FR-I").mkdir(parents=True)
    (flat / "FR-II").mkdir()
    for label in ("FR-I", "FR-II"):
        for src in sorted((folder / "test" / label).glob("*.png"))[:2]:
            (flat / label / src.name).write_bytes(src.read_bytes())
    with pytest.warns(RadioassistWarning, match="no train/valid/test split"):
        result = evaluate(flat, models=spec, n_bootstrap=0)
    assert result.summary["n"][0] == 4 and result.summary["split"][0].startswith("all")
    with pytest.raises(InputError, match="batch_size"):
        evaluate(folder, models=spec, batch_size=0)
    with pytest.raises(InputError, match="nothing to evaluate"):
        evaluate(folder, models=[])
    with pytest.raises(InputError, match="are for task B1, not B6"):
        evaluate(LabelledImages(np.zeros((2, 8, 8), np.uint8), np.zeros((2, 3), bool), np.array(["", ""]),
                                ["a", "b"], get_task("B1")), tasks="B6")


# -------------------------------------------------------------------------------------- CLI
def test_cli_evaluate(folder, tiny_model, tmp_path):
    from click.testing import CliRunner

    from radioassist.cli._evaluate import evaluate_command
    runner = CliRunner()
    out = tmp_path / "cli"
    args = [str(folder), "--task", "B6", "--model", f"vision={tiny_model},name=tiny", "--model",
            "fake-generative-eval", "--bootstrap", "100", "-o", str(out)]
    result = runner.invoke(evaluate_command, args)
    assert result.exit_code == 0, result.output
    assert "| tiny | B6 | test | 18 |" in result.output
    assert "| fake-generative-eval | B6 | test | 18 |" in result.output
    assert (out / "summary.ecsv").is_file() and (out / "confusion_tiny_B6.png").is_file()
    again = runner.invoke(evaluate_command, args)
    assert again.exit_code == 1 and "not empty" in again.output and "Traceback" not in again.output
    assert runner.invoke(evaluate_command, args + ["--overwrite", "--no-figures"]).exit_code == 0
    bad = runner.invoke(evaluate_command, [str(folder), "--model", "nope=/x", "-o", str(tmp_path / "bad")])
    assert bad.exit_code == 1 and "unknown backend 'nope'" in bad.output
    helptext = " ".join(runner.invoke(evaluate_command, ["--help"]).output.split())
    for option in ("--model", "--split", "--label-map", "--manifest", "--label-from-filename", "--overwrite",
                   "--bootstrap"):
        assert option in helptext
    assert "default: test" in helptext and "default: vision" in helptext


def test_evaluate_backend_instance_and_domain_warning(folder):
    backend = FakeGenerative()
    backend.input_spec = lambda task: {"cutout_size_pix": 150, "pixel_scale_arcsec": 1.8}
    with pytest.warns(RadioassistWarning, match="cutout size of 150 pixels, but the B6 images have 32"):
        result = evaluate(folder, models=[backend], n_bootstrap=0)
    assert result.models == ["fake-generative-eval"]
    assert result.meta["models"]["fake-generative-eval"]["tasks"]["B6"]["backend"] == "fake-generative-eval"


def test_evaluate_records_describe_of_the_task_and_lets_errors_through(folder):
    class TaskAware(FakeGenerative):
        def describe(self, task=None):
            return {**super().describe(task), "described_task": None if task is None else get_task(task).id}

    result = evaluate(folder, models=[TaskAware()], n_bootstrap=0)
    assert result.meta["models"]["fake-generative-eval"]["tasks"]["B6"]["described_task"] == "B6"

    class Broken(FakeGenerative):
        def describe(self, task=None):
            if task is not None:  # (a fallback to describe() used to hide this)
                raise TypeError("a bug inside describe")
            return super().describe()

        def input_spec(self, task):
            raise TypeError("a bug inside input_spec")

    for method in ("describe", "input_spec"):  # a real error is not mistaken for an old signature
        backend = FakeGenerative()
        setattr(backend, method, getattr(Broken(), method))
        with pytest.raises(TypeError, match=f"a bug inside {method}"):
            evaluate(folder, models=[backend], n_bootstrap=0)


def test_plotting_functions():
    pytest.importorskip("matplotlib")
    from radioassist.plotting import plot_confusion_matrix, plot_metric_comparison
    summary = {"model": ["a", "b", "a"], "task": ["B6", "B6", "B3"], "n": [10, 10, 20],
               "macro_f1": [0.8, 0.5, 0.9], "macro_f1_low": [0.7, 0.4, 0.85], "macro_f1_high": [0.9, 0.6, 0.95]}
    fig = plot_metric_comparison(summary, title="t")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["B6\nn = 10", "B3\nn = 20"]
    assert len(ax.patches) == 3                                   # model b has no B3 result: no bar
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    with pytest.raises(InputError, match="needs columns"):
        plot_metric_comparison({"model": ["a"], "task": ["B6"]})
    report = classification_report(["FR-I", "FR-II", "FR-II"], ["FR-I", None, "FR-II"], labels="B6")
    fig = plot_confusion_matrix(report, title="x")
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["FR-I", "FR-II", "unparsed"]
    assert "unparsed 1 (33.3%)" in fig.axes[0].get_title()
    b1 = classification_report(["EXTENDED", "NONE"], ["EXTENDED", "DIFFUSE"], labels="B1")
    assert len(plot_confusion_matrix(b1).axes) == 3
    with pytest.raises(InputError, match="figure of their own"):
        plot_confusion_matrix(b1, ax=fig.axes[0])


def test_result_read_back(folder, tiny_model, tmp_path):
    result = evaluate(folder, models=[f"vision={tiny_model}", "fake-generative-eval"], n_bootstrap=20,
                      output_dir=tmp_path / "r")
    back = EvaluationResult.read(tmp_path / "r")
    assert back.models == result.models and back.tasks == ["B6"]
    for key, report in result.reports.items():
        assert back.reports[key].to_dict() == report.to_dict()
    assert back.to_markdown(details=True) == result.to_markdown(details=True)
    with pytest.raises(InputError, match="no summary.ecsv"):
        EvaluationResult.read(tmp_path)


def test_evaluate_tiny_llava_score_and_generate(tmp_path):
    pytest.importorskip("tokenizers")
    from radioassist.backends.testing import make_test_images
    from radioassist.backends.tiny import make_tiny_llava_onevision
    model = make_tiny_llava_onevision(tmp_path / "tiny-llava")
    images = make_test_images(6, 32)[..., 0]
    data = LabelledImages(images, np.array([0, 1, 0, 1, 1, 0]), np.array(["test"] * 6),
                          [f"img{i}" for i in range(6)], get_task("B6"), source="synthetic")
    result = evaluate(data, models=[f"llava={model},name=score",
                                    f"llava={model},mode=generate,max_new_tokens=4,max_reasks=0,name=generate"],
                      n_bootstrap=0)
    score, generate = result.summary
    assert score["n_unparsed"] == 0 and score["n"] == generate["n"] == 6   # closed-set scoring never fails
    table = result.predictions["B6"]
    rows = table[table["model"] == "generate"]
    assert generate["n_unparsed"] == rows["unparsed"].sum()                # whatever the random model says,
    assert generate["accuracy"] == pytest.approx(rows["correct"].mean())    # unparsed answers count as wrong
    assert "answer" in table.colnames


def test_evaluate_reports_calibration(folder, tiny_model, tmp_path):
    """ECE and mean confidence per single-label run, a reliability diagram per run with probabilities."""
    pytest.importorskip("matplotlib")
    from radioassist.backends import get_backend
    from radioassist.metrics import expected_calibration_error

    result = evaluate(folder, tasks="B6", models=[f"vision={tiny_model},name=tiny", "fake-generative-eval"],
                      n_bootstrap=0)
    test = load_dataset(folder, task="B6").subset(lambda_split(folder, "test"))
    probs = get_backend("vision", model=tiny_model).predict(test.rgb(), "B6").probabilities
    row = result.summary[result.summary["model"] == "tiny"][0]
    assert row["ece"] == pytest.approx(expected_calibration_error(probs, test.targets), abs=1e-6)
    assert row["mean_confidence"] == pytest.approx(probs.max(axis=1).mean(), abs=1e-6)
    assert "| accuracy | ECE | unparsed |" in result.to_markdown()
    curve = result.reliability("tiny", "B6")
    assert curve["count"].sum() == 18
    files = {p.name for p in result.write(tmp_path / "out")}
    assert "reliability_tiny_B6.png" in files
    assert (tmp_path / "out" / "reliability_tiny_B6.png").read_bytes()[:8] == PNG_MAGIC
    back = EvaluationResult.read(tmp_path / "out")
    assert back.summary["ece"][0] == pytest.approx(row["ece"], abs=1e-4)
    assert back.reliability("tiny", "B6")["count"].sum() == 18


def test_plot_reliability_diagram():
    pytest.importorskip("matplotlib")
    from radioassist.metrics import reliability_curve
    from radioassist.plotting import plot_reliability_diagram

    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])
    fig = plot_reliability_diagram(reliability_curve(probs, [0, 1, 1, 0]), title="t")
    assert "ECE 0.438 (4 images)" in fig.axes[0].get_title()
    with pytest.raises(InputError, match="reliability_curve"):
        plot_reliability_diagram({"count": [1]})
