"""Classification metrics, checked against scikit-learn on hand-made and random cases."""
import json

import numpy as np
import pytest

from radioassist.backends import Predictions
from radioassist.exceptions import InputError
from radioassist.metrics import UNPARSED, bootstrap_interval, classification_report

skm = pytest.importorskip("sklearn.metrics")

B6 = ("FR-I", "FR-II")
B2 = ("1C-1P", "1C-2P", "1C-3P", "2C-2P", "2C-3P", "3C-3P")
B1 = ("EXTENDED", "DIFFUSE", "DIFFUSE-LARGE")


def _sk_single(true, pred, k):
    """scikit-learn's numbers with unparsed answers (index k) encoded as an extra, never-true class."""
    real = list(range(k))
    present = sorted((set(true) | set(pred)) - {k})
    p, r, f, s = skm.precision_recall_fscore_support(true, pred, labels=real, zero_division=0)
    return {
        "precision": p, "recall": r, "f1": f, "support": s,
        "macro_f1": skm.f1_score(true, pred, labels=present, average="macro", zero_division=0),
        "macro_precision": skm.precision_score(true, pred, labels=present, average="macro", zero_division=0),
        "macro_recall": skm.recall_score(true, pred, labels=present, average="macro", zero_division=0),
        "weighted_f1": skm.f1_score(true, pred, labels=real, average="weighted", zero_division=0),
        "accuracy": skm.accuracy_score(true, pred),
        "confusion": skm.confusion_matrix(true, pred, labels=list(range(k + 1)))[:k],
    }


def _check_single(report, true, pred, k):
    ref = _sk_single(true, pred, k)
    for key in ("precision", "recall", "f1"):
        np.testing.assert_allclose(getattr(report, key), ref[key], atol=1e-12, err_msg=key)
    np.testing.assert_array_equal(report.support, ref["support"])
    for key in ("macro_f1", "macro_precision", "macro_recall", "weighted_f1", "accuracy"):
        assert getattr(report, key) == pytest.approx(ref[key], abs=1e-12), key
    n_unparsed = int(np.sum(np.asarray(pred) == k))
    expected_cm = ref["confusion"] if n_unparsed else ref["confusion"][:, :k]
    np.testing.assert_array_equal(report.confusion_matrix, expected_cm)
    assert report.n_unparsed == n_unparsed
    assert report.unparsed_rate == pytest.approx(n_unparsed / len(true))


# -------------------------------------------------------------------------------------- single-label
@pytest.mark.parametrize("true, pred", [
    ([0, 0, 1, 1], [0, 1, 1, 1]),
    ([0, 1, 0, 1, 1, 0], [1, 0, 1, 0, 0, 1]),                       # all wrong
    ([0, 0, 0, 0], [0, 0, 0, 0]),                                   # all one class, all right
    ([0, 0, 0, 0], [0, 1, 0, 1]),                                   # all one class, some wrong
    ([0, 1, 1, 0, 1], [0, 2, 2, 2, 1]),                             # unparsed (index 2)
    ([0, 1, 1, 0], [2, 2, 2, 2]),                                   # nothing parsed
    ([1, 1, 0, 0, 1], [1, 1, 1, 1, 1]),                             # a class never predicted
])
def test_single_label_matches_sklearn_binary(true, pred):
    pred_names = [None if p == 2 else B6[p] for p in pred]
    report = classification_report([B6[t] for t in true], pred_names, labels=B6)
    _check_single(report, true, pred, 2)


@pytest.mark.parametrize("seed", range(6))
def test_single_label_matches_sklearn_random_multiclass(seed):
    rng = np.random.default_rng(seed)
    k = len(B2)
    n = int(rng.integers(5, 60))
    true = rng.integers(0, k - seed % 3, n)                           # some classes may be absent
    pred = np.where(rng.random(n) < 0.6, true, rng.integers(0, k + 1, n))  # k = unparsed
    report = classification_report(true, np.where(pred == k, -1, pred), labels=B2)
    _check_single(report, list(true), list(pred), k)
    if not np.any(pred == k):  # without unparsed answers the macro F1 is scikit-learn's default
        assert report.macro_f1 == pytest.approx(skm.f1_score(true, pred, average="macro", zero_division=0))


def test_unparsed_counts_as_wrong_never_dropped():
    true = ["FR-I", "FR-I", "FR-II", "FR-II"]
    kept = classification_report(true, ["FR-I", None, "FR-II", "FR-II"], labels=B6)
    dropped = classification_report(true[:1] + true[2:], ["FR-I", "FR-II", "FR-II"], labels=B6)
    assert kept.n == 4 and kept.n_unparsed == 1
    assert kept.accuracy == 0.75 and dropped.accuracy == 1.0
    assert kept.macro_f1 < dropped.macro_f1
    # a miss of its true class (FR-I recall 1/2) but a false alarm of no class (FR-II precision stays 1)
    assert kept.recall.tolist() == [0.5, 1.0]
    assert kept.precision.tolist() == [1.0, 1.0]
    assert kept.confusion_columns == ("FR-I", "FR-II", UNPARSED)
    assert kept.confusion_matrix.tolist() == [[1, 0, 1], [0, 2, 0]]
    assert UNPARSED not in kept.averaged_labels
    # '' (a catalogue's empty label), NaN, -1 and an explicit mask mean the same
    for other in (["FR-I", "", "FR-II", "FR-II"], ["FR-I", float("nan"), "FR-II", "FR-II"], [0, -1, 1, 1]):
        assert classification_report(true, other, labels=B6).to_dict() == kept.to_dict()
    masked = classification_report(true, ["FR-I", "FR-I", "FR-II", "FR-II"], labels=B6,
                                   unparsed=[False, True, False, False])
    assert masked.to_dict() == kept.to_dict()


def test_all_one_class_and_never_predicted_class():
    perfect = classification_report(["FR-II"] * 5, ["FR-II"] * 5, labels=B6)
    assert perfect.macro_f1 == 1.0 and perfect.accuracy == 1.0
    assert perfect.averaged_labels == ("FR-II",)            # FR-I never occurs: not averaged
    assert perfect.support.tolist() == [0, 5] and perfect.f1.tolist() == [0.0, 1.0]
    # a class never predicted: precision 0 by zero division, as sklearn's zero_division=0
    never = classification_report(["FR-I", "FR-I", "FR-II"], ["FR-II", "FR-II", "FR-II"], labels=B6)
    assert never.precision[0] == 0.0 and never.recall[0] == 0.0 and never.f1[0] == 0.0
    assert never.macro_f1 == pytest.approx(skm.f1_score([0, 0, 1], [1, 1, 1], average="macro", zero_division=0))
    # zero_division=1 follows sklearn too
    one = classification_report(["FR-I", "FR-I", "FR-II"], ["FR-II", "FR-II", "FR-II"], labels=B6,
                                zero_division=1)
    p, r, f, _ = skm.precision_recall_fscore_support([0, 0, 1], [1, 1, 1], labels=[0, 1], zero_division=1)
    np.testing.assert_allclose(one.precision, p)
    np.testing.assert_allclose(one.f1, f)


def test_single_label_input_forms_agree():
    names = ["FR-I", "FR-II", "FR-II", "FR-I", "FR-I"]
    answers = ["FR-I", "FR-I", "FR-II", None, "FR-I"]
    ref = classification_report(names, answers, labels=B6).to_dict()
    assert classification_report([0, 1, 1, 0, 0], np.array([0, 0, 1, -1, 0]), labels=B6).to_dict() == ref
    assert classification_report([n.lower() for n in names], answers, labels="B6").to_dict() == ref
    probabilities = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [np.nan, np.nan], [0.7, 0.3]])
    predictions = Predictions("B6", answers, probabilities, raw_answers=list("abcde"), n_unparsed=1)
    assert classification_report(names, predictions, labels="B6").to_dict() == ref


# -------------------------------------------------------------------------------------- multi-label
def _sk_multi(true, pred, unparsed):
    """scikit-learn with unparsed answers encoded as an extra never-true label column."""
    extra_t = np.hstack([true, np.zeros((len(true), 1), bool)])
    extra_p = np.hstack([pred & ~unparsed[:, None], unparsed[:, None]])
    k = true.shape[1]
    p, r, f, s = skm.precision_recall_fscore_support(extra_t, extra_p, labels=list(range(k)), zero_division=0)
    present = [j for j in range(k) if (extra_t[:, j] | extra_p[:, j]).any()]
    worst = np.where(unparsed[:, None], ~true, pred)   # an unparsed answer is wrong on every label
    return {"precision": p, "recall": r, "f1": f, "support": s,
            "macro_f1": skm.f1_score(extra_t, extra_p, labels=present, average="macro", zero_division=0),
            "weighted_f1": skm.f1_score(extra_t, extra_p, labels=list(range(k)), average="weighted",
                                        zero_division=0),
            "exact_match": skm.accuracy_score(extra_t, extra_p),
            "hamming_loss": skm.hamming_loss(true, worst),
            "confusion": skm.multilabel_confusion_matrix(true, pred & ~unparsed[:, None])}


def _check_multi(report, true, pred, unparsed):
    ref = _sk_multi(np.asarray(true, bool), np.asarray(pred, bool), np.asarray(unparsed, bool))
    for key in ("precision", "recall", "f1"):
        np.testing.assert_allclose(getattr(report, key), ref[key], atol=1e-12, err_msg=key)
    np.testing.assert_array_equal(report.support, ref["support"])
    for key in ("macro_f1", "weighted_f1", "exact_match", "hamming_loss"):
        assert getattr(report, key) == pytest.approx(ref[key], abs=1e-12), key
    assert report.accuracy == report.exact_match
    np.testing.assert_array_equal(report.confusion_matrix, ref["confusion"])


def test_multilabel_b1_hand_made():
    true = [("EXTENDED",), (), ("EXTENDED", "DIFFUSE"), ("DIFFUSE-LARGE",), "NONE", ("DIFFUSE",)]
    pred = [("EXTENDED",), ("NONE",), ("EXTENDED",), None, ("DIFFUSE",), ()]
    report = classification_report(true, pred, labels="B1")
    assert report.multilabel and report.n == 6 and report.n_unparsed == 1
    T = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0], [0, 0, 1], [0, 0, 0], [0, 1, 0]], bool)
    P = np.array([[1, 0, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0], [0, 1, 0], [0, 0, 0]], bool)
    U = np.array([0, 0, 0, 1, 0, 0], bool)
    _check_multi(report, T, P, U)
    assert report.exact_match == pytest.approx(2 / 6)       # rows 0 and 1 (NONE = NONE)
    assert report.hamming_loss == pytest.approx((0 + 0 + 1 + 3 + 1 + 1) / 18)
    # an unparsed answer is never an exact match, even when the truth is NONE
    none_truth = classification_report(["NONE", "NONE"], [None, "NONE"], labels="B1")
    assert none_truth.exact_match == 0.5 and none_truth.hamming_loss == pytest.approx(3 / 6)
    # the same data as boolean arrays and comma-separated strings
    strings = ["EXTENDED", "NONE", "EXTENDED,DIFFUSE", "DIFFUSE-LARGE", "", "DIFFUSE"]
    again = classification_report(T, ["EXTENDED", "NONE", "EXTENDED", "", "DIFFUSE", "NONE"], labels=B1,
                                  multilabel=True)
    assert again.to_dict() == report.to_dict()
    assert classification_report(strings[:4] + ["NONE"] + strings[5:], P, labels="B1",
                                 unparsed=U).to_dict() == report.to_dict()


@pytest.mark.parametrize("seed", range(5))
def test_multilabel_matches_sklearn_random(seed):
    rng = np.random.default_rng(100 + seed)
    n = int(rng.integers(4, 50))
    true = rng.random((n, 3)) < 0.35
    pred = np.where(rng.random((n, 3)) < 0.7, true, rng.random((n, 3)) < 0.4)
    unparsed = rng.random(n) < 0.15
    pred_sets = [None if u else tuple(np.array(B1)[row]) for row, u in zip(pred, unparsed)]
    report = classification_report(true, pred_sets, labels="B1")
    _check_multi(report, true, pred, unparsed)
    if not unparsed.any() and (true | pred).any(axis=0).all():   # then also sklearn's defaults
        assert report.macro_f1 == pytest.approx(skm.f1_score(true, pred, average="macro", zero_division=0))
        assert report.hamming_loss == pytest.approx(skm.hamming_loss(true, pred))


# -------------------------------------------------------------------------------------- outputs, errors
def test_report_outputs():
    report = classification_report(["FR-I", "FR-II", "FR-II"], ["FR-I", None, "FR-I"], labels="B6")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["macro_f1"] == pytest.approx(report.macro_f1)
    assert data["per_class"]["FR-II"]["support"] == 2
    assert report["accuracy"] == report.accuracy
    table = report.per_class()
    assert table.colnames == ["label", "precision", "recall", "f1", "support", "n_predicted", "averaged"]
    assert list(table["support"]) == [1, 2]
    text = report.to_markdown()
    assert "| FR-II | 1 | 0 | 1 |" in text and UNPARSED in text
    assert "macro_f1=" in repr(report)
    b1 = classification_report(["EXTENDED", "NONE"], ["EXTENDED", "DIFFUSE"], labels="B1")
    assert "| DIFFUSE | 1 | 1 | 0 | 0 |" in b1.to_markdown()
    assert "(not averaged)" in b1.to_markdown()                  # DIFFUSE-LARGE never occurs


@pytest.mark.parametrize("kwargs, match", [
    (dict(y_true=["FR-I"], y_pred=["FR-I", "FR-II"]), "1 entries but y_pred has 2"),
    (dict(y_true=[], y_pred=[]), "no images"),
    (dict(y_true=["FR-I", None], y_pred=["FR-I", "FR-I"]), r"y_true\[1\] is missing"),
    (dict(y_true=["FR-I", "FR-III"], y_pred=["FR-I", "FR-I"]), "'FR-III' is not one of the labels"),
    (dict(y_true=["FR-I"], y_pred=["COMPACT"]), r"y_pred\[0\] = 'COMPACT'"),
    (dict(y_true=[0, 2], y_pred=[0, 1]), "not a class index"),
    (dict(y_true=["FR-I"], y_pred=["FR-I"], unparsed=[True, False]), "one boolean per image"),
    (dict(y_true=["FR-I"], y_pred=["FR-I"], zero_division=0.5), "zero_division"),
    (dict(y_true=[("FR-I",)], y_pred=["FR-I"]), "multilabel=True"),
    (dict(y_true="FR-I", y_pred=["FR-I"]), "not a single string"),
])
def test_errors(kwargs, match):
    with pytest.raises(InputError, match=match):
        classification_report(labels=B6, **kwargs)


def test_labels_must_be_valid():
    with pytest.raises(InputError, match="distinct"):
        classification_report(["A"], ["A"], labels=["A", "A"])
    with pytest.raises(InputError, match="columns"):
        classification_report(np.zeros((2, 2), bool), np.zeros((2, 3), bool), labels="B1")


# -------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_interval_single_label():
    rng = np.random.default_rng(1)
    true = rng.integers(0, 2, 300)
    pred = np.where(rng.random(300) < 0.8, true, 1 - true)
    pred[:10] = -1
    point = classification_report(true, pred, labels=B6)
    low, high = bootstrap_interval(true, pred, labels=B6, n_resamples=500, seed=3)
    assert low < point.macro_f1 < high
    assert 0.03 < high - low < 0.2
    assert bootstrap_interval(true, pred, labels=B6, n_resamples=500, seed=3) == (low, high)
    small = bootstrap_interval(true[:60], pred[:60], labels=B6, n_resamples=500, seed=3)
    assert small[1] - small[0] > high - low                      # fewer images, wider interval
    several = bootstrap_interval(true, pred, labels=B6, metric=("accuracy", "unparsed_rate", "hamming_loss"),
                                 n_resamples=200)
    assert several["accuracy"][0] < point.accuracy < several["accuracy"][1]
    assert several["unparsed_rate"][0] < 10 / 300 < several["unparsed_rate"][1]
    assert np.isnan(several["hamming_loss"]).all()               # not a single-label metric


def test_bootstrap_interval_multilabel_and_perfect():
    rng = np.random.default_rng(2)
    true = rng.random((200, 3)) < 0.3
    pred = np.where(rng.random((200, 3)) < 0.85, true, ~true)
    point = classification_report(true, pred, labels="B1")
    out = bootstrap_interval(true, pred, labels="B1", metric=["macro_f1", "hamming_loss"], n_resamples=300)
    assert out["macro_f1"][0] < point.macro_f1 < out["macro_f1"][1]
    assert out["hamming_loss"][0] < point.hamming_loss < out["hamming_loss"][1]
    assert bootstrap_interval(["FR-I", "FR-II"] * 5, ["FR-I", "FR-II"] * 5, labels=B6) == (1.0, 1.0)
    with pytest.raises(InputError, match="metric must be one of"):
        bootstrap_interval(["FR-I"], ["FR-I"], labels=B6, metric="auc")
    with pytest.raises(InputError, match="n_resamples"):
        bootstrap_interval(["FR-I"], ["FR-I"], labels=B6, n_resamples=0)
    with pytest.raises(InputError, match="confidence"):
        bootstrap_interval(["FR-I"], ["FR-I"], labels=B6, confidence=95)


# ---------------------------------------------------------------------------------------- calibration
def test_expected_calibration_error_matches_brute_force():
    from radioassist.metrics import expected_calibration_error, reliability_curve

    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (500, 3))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = rng.integers(0, 3, 500)
    conf, pred = probs.max(1), probs.argmax(1)
    brute = 0.0
    for k in range(15):  # bins (k/15, (k+1)/15], the first one closed
        lo, hi = k / 15, (k + 1) / 15
        inside = (conf > lo) & (conf <= hi) if k else (conf >= lo) & (conf <= hi)
        if inside.any():
            brute += inside.sum() / 500 * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    assert expected_calibration_error(probs, y) == pytest.approx(brute)
    curve = reliability_curve(probs, y, n_bins=15)
    assert curve["count"].sum() == 500 and len(curve["edges"]) == 16
    perfect = np.eye(3)[y]
    assert expected_calibration_error(perfect, y) == 0.0
    with pytest.raises(InputError, match="class indices"):
        expected_calibration_error(probs, y + 3)
    with pytest.raises(InputError, match="n_bins"):
        reliability_curve(probs, y, n_bins=0)


def test_temperature_lowers_nll_of_overconfident_model():
    from radioassist.metrics import expected_calibration_error, fit_temperature, negative_log_likelihood

    rng = np.random.default_rng(4)
    margin = rng.normal(0, 1.5, 4000)
    y = (rng.random(4000) < 1 / (1 + np.exp(-margin))).astype(int)
    logits = np.stack([np.zeros(4000), 3 * margin], axis=1)  # three times too confident
    t = fit_temperature(logits, y)
    assert 2.6 < t < 3.4
    assert negative_log_likelihood(logits, y, temperature=t) < negative_log_likelihood(logits, y) - 0.05
    before = expected_calibration_error(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), y)
    scaled = np.exp(logits / t) / np.exp(logits / t).sum(1, keepdims=True)
    assert expected_calibration_error(scaled, y) < before / 2
    assert (scaled.argmax(1) == logits.argmax(1)).all()  # the answers do not change
    soft = np.stack([1 - 0.75 * np.ones(4000), 0.75 * np.ones(4000)], 1)
    assert np.isfinite(negative_log_likelihood(logits, soft))
    with pytest.raises(InputError, match="logits"):
        fit_temperature(np.zeros(3), [0, 1, 0])
