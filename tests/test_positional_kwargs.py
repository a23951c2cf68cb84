"""Positional and keyword-only parameters of the public API (in the manner of photutils' test).

astropy style: a function takes its one to three data arguments positionally,
and every option (a parameter with a default) is keyword-only, so that an
option can be added, removed or reordered without silently changing what a
positional call means.  The public API is every function, class and public
method named in the ``__all__`` of the modules documented in
``docs/api.rst`` (plus :mod:`radioassist.training` and
:mod:`radioassist.backends.testing`).  Exceptions are listed below,
explicitly, with the positional parameter names they may have.
"""
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(set(re.findall(r"^\.\. automodapi:: (\S+)", (ROOT / "docs" / "api.rst").read_text(), re.M))
                 | {"radioassist.training", "radioassist.backends.testing"})

#: At most this many positional parameters (``self``/``cls`` not counted).
MAX_POSITIONAL = 3

#: Callables allowed more positional parameters, or positional parameters with a default: their
#: positional parameter names, exactly.  Each entry says why.
POSITIONAL = {
    # the catalogue is data (optional: sources are detected when it is omitted)
    "radioassist.pipeline.classify": ("image", "catalog"),
    # the table, the image it came from and the output file: data, in the order a user thinks of them
    "radioassist.report.write_report": ("table", "image", "path"),
    # the cutout data, their positions, pixel positions and origins: data
    "radioassist.cutouts.CutoutStack": ("data", "positions", "xy", "origin"),
    # a question's identity, text, answers and type: data of one item
    "radioassist.general.sets.GeneralItem": ("id", "question", "answers", "answer_type"),
    # the result of find_structure: its tables and maps, all data, made by the package
    "radioassist.structure.SourceStructure": ("islands", "peaks", "sources", "island_map", "parameters", "rms"),
    # test data for backend authors: how many images and their side are the data's shape
    "radioassist.backends.testing.make_test_images": ("n", "size"),
    "radioassist.backends.testing.make_rendered_cutouts": ("n", "size"),
}

#: Records: dataclasses of results or specifications whose fields are all data, built by the package
#: (or by a user, by keyword).  Their generated ``__init__`` takes every field positionally.
RECORDS = {
    "radioassist.evaluate.ModelSpec",
    "radioassist.metrics.ClassificationReport",
    "radioassist.training.finetune.FinetuneResult",
    "radioassist.training.make_dataset.DatasetResult",
    "radioassist.training.vision.TrainingResult",
    "radioassist.training.datasets.LabelledImages",
}

#: The backend contract (radioassist.backends.Backend and subclasses): the task is positional.
BACKEND_METHODS = {
    "predict": ("images", "task"),
    "describe": ("task",),
    "input_spec": ("task",),
    "load": ("task",),
}


def _qualname(obj):
    return f"{obj.__module__}.{obj.__qualname__}"


def public_callables():
    """(qualified name, callable, class it is a method of or None) of the public API, each once."""
    found = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if inspect.isclass(obj):
                if issubclass(obj, BaseException):
                    continue
                found.setdefault(_qualname(obj), (obj, None))
                for method_name, method in vars(obj).items():
                    if isinstance(method, (staticmethod, classmethod)):
                        method = method.__func__
                    if method_name.startswith("_") or not inspect.isfunction(method):
                        continue
                    found.setdefault(f"{_qualname(obj)}.{method_name}", (method, obj))
            elif inspect.isfunction(obj):
                found.setdefault(_qualname(obj), (obj, None))
    return found


def _positional(callable_):
    parameters = list(inspect.signature(callable_).parameters.values())
    return [p for p in parameters if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.name not in ("self", "cls")], parameters


def violations():
    from radioassist.backends import Backend

    problems = []
    for name, (obj, owner) in sorted(public_callables().items()):
        if name in RECORDS:
            continue
        positional, parameters = _positional(obj)
        names = tuple(p.name for p in positional)
        allowed = POSITIONAL.get(name)
        if allowed is None and owner is not None and issubclass(owner, Backend):
            allowed = BACKEND_METHODS.get(name.rsplit(".", 1)[1])
        if allowed is not None:
            if names != allowed[:len(names)]:
                problems.append(f"{name}{inspect.signature(obj)}: positional {names}, allowed {allowed}")
            continue
        with_default = [p.name for p in positional if p.default is not p.empty]
        if with_default:
            problems.append(f"{name}{inspect.signature(obj)}: options {with_default} are not keyword-only")
        elif len(positional) > MAX_POSITIONAL:
            problems.append(f"{name}{inspect.signature(obj)}: {len(positional)} positional parameters")
        if any(p.kind is p.VAR_POSITIONAL for p in parameters):
            problems.append(f"{name}{inspect.signature(obj)}: takes *args")
    return problems


def test_public_api_is_found():
    """The survey below sees the API users call (so an empty result means something)."""
    found = public_callables()
    for name in ("pipeline.classify", "cutouts.extract_cutouts", "render.render", "catalog.read_catalog",
                 "image.load_image", "evaluate.evaluate", "metrics.classification_report",
                 "report.write_report", "simulate.simulate_sky", "tasks.Task", "tasks.label_text",
                 "backends.registry.get_backend", "prompts.build_prompt", "parsing.parse_answer",
                 "backends.predictions.Predictions.to_columns"):
        name = f"radioassist.{name}"
        assert name in found, name
    assert len(found) > 100


def test_options_are_keyword_only():
    problems = violations()
    assert not problems, "public callables with positional options:\n" + "\n".join(problems)


def test_exception_lists_are_current():
    """Every listed exception still exists and still needs its entry."""
    found = public_callables()
    for name, allowed in POSITIONAL.items():
        assert name in found, f"{name} is no longer public: remove it from POSITIONAL"
        positional, _ = _positional(found[name][0])
        assert tuple(p.name for p in positional) == allowed, name
        assert len(allowed) > MAX_POSITIONAL or any(p.default is not p.empty for p in positional), (
            f"{name} follows the default rule: remove it from POSITIONAL")
    for name in RECORDS:
        assert name in found, f"{name} is no longer public: remove it from RECORDS"
        assert dataclasses.is_dataclass(found[name][0]), name


@pytest.mark.parametrize("call, message", [
    (lambda: __import__("radioassist").tasks.Task("X", "x", ("A", "B"), True), "positional argument"),
    (lambda: __import__("radioassist").tasks.label_text((), "B1"), "positional argument"),
    (lambda: __import__("radioassist").prompts.build_prompt("B6", "v1"), "positional argument"),
    (lambda: __import__("radioassist").general.make_synthetic_general(6), "positional argument"),
])
def test_keyword_only_options_refuse_positional_calls(call, message):
    with pytest.raises(TypeError, match=message):
        call()
