"""Every `>>>` example in keras_trm's docstrings runs, on the backend chosen by KERAS_BACKEND.

One test per module: its examples run in one namespace (the module's globals), in a fresh temporary working
directory, with the suite's seeds; they need no download and their shown output must match.
"""

import doctest
import importlib
import pkgutil

import pytest

import keras_trm

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples():
    names = [keras_trm.__name__]
    names += [m.name for m in pkgutil.walk_packages(keras_trm.__path__, keras_trm.__name__ + ".")]
    out = []
    for name in sorted(names):
        source = importlib.util.find_spec(name).origin
        with open(source, encoding="utf-8") as fh:
            if ">>>" in fh.read():
                out.append(name)
    return out


MODULES = _modules_with_examples()


def test_examples_are_found():
    assert len(MODULES) >= 30, MODULES  # a broken finder must not pass by running nothing


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    module = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, name, globs=dict(vars(module)))
    tests = [t for t in tests if t.examples]
    assert tests, f"{name} has '>>>' in its source but no example doctest can find (commented out?)"
    shown = [e for t in tests for e in t.examples if e.want.strip()]
    assert shown, f"{name}: its examples show no output, so a reader cannot see what they give"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    failed, attempted = runner.summarize(verbose=False)
    assert failed == 0, "".join(report)
    assert attempted > 0
