"""Architecture rules of the package and its tests, checked on the source (``ast``), not by running it.

* No import cycle between radioassist modules.  Imports inside functions
  count: a lazy import hides a cycle from Python but not from a reader.
* Tests that can fail: no ``pytest.xfail``/``xfail`` marks, every
  ``pytest.warns`` names a warning class narrower than ``Warning`` and the
  message it expects.
* One macro-F1: precision/recall/F1 are computed in ``radioassist/metrics.py``
  only.
"""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "radioassist"
TESTS = ROOT / "tests"


# ------------------------------------------------------------------------------------- import graph
def _module_names():
    """Dotted name -> file of every module of the package (a package is its ``__init__.py``)."""
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path
    return modules


def _imported(node, current, is_package, modules):
    """The radioassist modules an ``import``/``from ... import`` statement loads (by name)."""
    if isinstance(node, ast.Import):
        targets = [alias.name for alias in node.names]
    else:
        if node.level:
            base = current.split(".") if is_package else current.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        # 'from . import x' loads the submodule x when there is one, else takes a name from the package
        targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                   for alias in node.names]
    found = set()
    for target in targets:
        while target not in modules and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in modules and target != current:
            found.add(target)
    return found


def import_graph():
    """Module -> {(imported module, line)}, imports inside functions included."""
    modules = _module_names()
    graph = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges |= {(target, node.lineno) for target in _imported(node, name, is_package, modules)}
        graph[name] = edges
    return graph


def strongly_connected(graph):
    """Tarjan's strongly connected components with more than one module, each sorted."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in {target for target, _ in graph[v]}:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(components)


def _describe(component, graph):
    files = _module_names()
    lines = [" <-> ".join(component)]
    for module in component:
        for target, line in sorted(graph[module]):
            if target in component:
                lines.append(f"    {module} -> {target}  ({files[module].relative_to(ROOT)}:{line})")
    return "\n".join(lines)


def test_import_graph_resolves_relative_and_function_level_imports():
    """The graph builder itself: the edges the cycle check relies on are found."""
    graph = import_graph()
    targets = {name: {target for target, _ in edges} for name, edges in graph.items()}
    assert "radioassist.tasks" in targets["radioassist.pipeline"]             # from .tasks import get_task
    assert "radioassist.pipeline" in targets["radioassist.cli._classify"]     # from ..pipeline import classify
    assert "radioassist.backends" in targets["radioassist.evaluate"]          # import inside a function
    assert "radioassist.tasks" in targets["radioassist.prompts"]
    # from ..backends import _vlm_scoring: the submodule, not the package
    assert "radioassist.backends._vlm_scoring" in targets["radioassist.general.evaluate"]
    assert strongly_connected({"a": {("b", 1)}, "b": {("c", 1)}, "c": {("a", 1)}, "d": {("a", 1)}}) == [
        ["a", "b", "c"]]


def test_no_import_cycles():
    graph = import_graph()
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles between radioassist modules:\n" + "\n".join(
        _describe(component, graph) for component in cycles)


def test_task_data_imports_no_task_logic():
    """tasks.py is data: prompts and parsing read tasks, never the other way round."""
    targets = {target for target, _ in import_graph()["radioassist.tasks"]}
    assert targets <= {"radioassist.exceptions", "radioassist.logger"}, targets


# ------------------------------------------------------------------------------------- tests that can fail
def _test_files():
    return [path for path in sorted(TESTS.rglob("*.py")) if path.resolve() != Path(__file__).resolve()]


def _dotted(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _calls(path, names):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and _dotted(node.func) in names:
            yield node


def test_no_xfail_in_tests():
    """A known regression fails the suite: no pytest.xfail() and no xfail marks."""
    found = []
    for path in _test_files():
        text = path.read_text()
        for node in ast.walk(ast.parse(text, filename=str(path))):
            name = _dotted(node.func if isinstance(node, ast.Call) else node) if isinstance(
                node, (ast.Call, ast.Attribute)) else None
            if (name or "").endswith(("pytest.xfail", "mark.xfail")):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        found += [f"{path.relative_to(ROOT)}:{i}" for i, line in enumerate(text.splitlines(), 1)
                  if re.search(r"""["']xfail""", line)]  # filterwarnings/markers given as strings
    assert not found, "xfail in tests: " + ", ".join(sorted(set(found)))


_BLANKET = {"Warning", "UserWarning", "Exception", "BaseException"}


def test_pytest_warns_names_the_warning_and_its_message():
    """``pytest.warns(Warning)`` passes on any warning; name the class and match the message."""
    problems = []
    for path in _test_files():
        for call in _calls(path, {"pytest.warns", "warns"}):
            where = f"{path.relative_to(ROOT)}:{call.lineno}"
            expected = call.args[0] if call.args else None
            classes = expected.elts if isinstance(expected, ast.Tuple) else [expected]
            if expected is None or isinstance(expected, ast.Constant):
                problems.append(f"{where}: no warning class")
            elif any(_dotted(c) in _BLANKET or (_dotted(c) or "").endswith((".Warning", ".UserWarning"))
                     for c in classes):
                problems.append(f"{where}: pytest.warns({ast.unparse(expected)}) accepts unrelated warnings")
            if not any(keyword.arg == "match" for keyword in call.keywords):
                problems.append(f"{where}: no match= for the message")
    assert not problems, "\n".join(problems)


def test_tests_do_not_swallow_exceptions():
    """``except Exception: pass`` in a test hides the failure it should report."""
    found = []
    for path in _test_files():
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (isinstance(node, ast.ExceptHandler)
                    and (node.type is None or _dotted(node.type) in ("Exception", "BaseException"))
                    and all(isinstance(stmt, (ast.Pass, ast.Continue)) for stmt in node.body)):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, "exceptions swallowed in tests: " + ", ".join(found)


# ------------------------------------------------------------------------------------- one macro-F1
_METRIC_NAME = re.compile(r"(^|_)(f1|fbeta|fscore|f_score|precision|recall)($|_)", re.IGNORECASE)
_SKLEARN_SCORES = {"f1_score", "fbeta_score", "precision_score", "recall_score",
                   "precision_recall_fscore_support", "classification_report"}


def _factors(node, op):
    """Operands of a chain of ``op`` (``a * b * c`` -> [a, b, c]) as source text."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, op):
        return _factors(node.left, op) + _factors(node.right, op)
    return [ast.unparse(node)]


def _is_f1_ratio(numerator, denominator):
    """``2 * p * r / (p + r)`` or ``2 * tp / (2 * tp + fp + fn)``, in any operand order."""
    top = _factors(numerator, ast.Mult)
    two = next((factor for factor in top if factor in ("2", "2.0")), None)
    if two is None:
        return False
    rest = sorted(top[:top.index(two)] + top[top.index(two) + 1:])
    terms = _factors(denominator, ast.Add)
    if len(rest) == 2 and sorted(terms) == rest:
        return True
    return ast.unparse(numerator) in terms and len(terms) >= 3


def f1_computations(path):
    """Lines of ``path`` that compute an F1 score, import one from scikit-learn, or define an F1 function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        pairs = []
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            pairs.append((node.left, node.right))
        elif isinstance(node, ast.Call) and len(node.args) >= 2:  # a safe-division helper: div(num, den)
            pairs.append((node.args[0], node.args[1]))
        if any(_is_f1_ratio(num, den) for num, den in pairs):
            found.append((node.lineno, "computes an F1 score"))
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sklearn"):
            names = {alias.name for alias in node.names} & (_SKLEARN_SCORES | {"metrics"})
            if names:
                found.append((node.lineno, f"imports {', '.join(sorted(names))} from {node.module}"))
        if isinstance(node, ast.Import) and any(a.name.startswith("sklearn.metrics") for a in node.names):
            found.append((node.lineno, "imports sklearn.metrics"))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and _METRIC_NAME.search(
                node.name):
            found.append((node.lineno, f"defines {node.name}"))
    return found


def test_f1_detector_finds_the_one_implementation():
    """The check below is meaningful: it sees the F1 of metrics.py and the usual ways of writing one."""
    assert any(what == "computes an F1 score" for _, what in f1_computations(PACKAGE / "metrics.py"))
    for source in ("f1 = 2 * precision * recall / (precision + recall)",
                   "f1 = _div(2 * tp, 2 * tp + fp + fn, 0.0)",
                   "f1 = (recall * precision * 2) / (recall + precision)",
                   "from sklearn.metrics import f1_score",
                   "def macro_f1(y, p):\n    return 0"):
        assert _f1_in_source(source), source
    assert not _f1_in_source("half = 2 * size / (size + 1)\nwidth = 2 * a / (a + b)")


def _f1_in_source(source):
    return f1_computations(_Source(source))


class _Source:
    """Source text that reads like a file, for the detector's self-test."""

    def __init__(self, text):
        self.text = text

    def read_text(self):
        return self.text

    def __str__(self):
        return "<source>"


@pytest.mark.parametrize("folder", ["radioassist", "tools", "benchmarks"])
def test_macro_f1_only_in_metrics(folder):
    """Precision, recall and (macro) F1 are computed by radioassist.metrics only; everything else calls it."""
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        if path == PACKAGE / "metrics.py":
            continue
        found += [f"{path.relative_to(ROOT)}:{line}: {what}" for line, what in f1_computations(path)]
    assert not found, "F1 computed outside radioassist/metrics.py:\n" + "\n".join(found)
