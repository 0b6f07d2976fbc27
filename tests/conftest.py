"""Shared test setup. KERAS_BACKEND chooses the backend before pytest starts (CI runs the suite once per backend)."""

import importlib.util
import os
import sys
import types
from pathlib import Path

import keras
import numpy as np
import pytest

if importlib.util.find_spec("grain") is None:
    # keras-hub's TestCase (keras_hub/src/tests/test_case.py) imports grain for its preprocessing-pipeline checks,
    # which keras-trm does not use; an empty module stands in so that its model helpers can be imported.
    sys.modules["grain"] = types.ModuleType("grain")

if keras.backend.backend() == "jax" and not os.environ.get("JAX_COMPILATION_CACHE_DIR"):
    # Many tests build the same tiny models, so XLA compiles identical programs again and again; JAX's persistent
    # compilation cache, in a folder of this run only (and of its subprocesses), compiles each once. The compiled
    # program is the same either way; a run took a third less time with it.
    import atexit
    import shutil
    import tempfile

    import jax

    _JAX_CACHE = tempfile.mkdtemp(prefix="keras-trm-tests-jax-cache-")
    atexit.register(shutil.rmtree, _JAX_CACHE, ignore_errors=True)
    os.environ.update(
        JAX_COMPILATION_CACHE_DIR=_JAX_CACHE,
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    jax.config.update("jax_compilation_cache_dir", _JAX_CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

FIXTURES = Path(__file__).parent / "fixtures"
OFFICIAL_FIXTURES = FIXTURES / "official_trm"


def pytest_report_header(config):
    return f"keras backend: {keras.backend.backend()} (KERAS_BACKEND={os.environ.get('KERAS_BACKEND', '<unset>')})"


_REPORTED = []
_FIGURE = "reported figure"


@pytest.fixture
def report(request):
    """`report(line)`: a figure the run prints in its summary, passed or not (the learning tests' accuracies).

    The line travels in the test's report (`user_properties`), so that it reaches the summary from pytest-xdist's
    worker processes too.
    """
    return lambda line: request.node.user_properties.append((_FIGURE, line))


def pytest_runtest_logreport(report):
    if report.when == "call":
        _REPORTED.extend(value for key, value in report.user_properties if key == _FIGURE)


def pytest_terminal_summary(terminalreporter):
    if _REPORTED:
        terminalreporter.section("reported figures")
        for line in _REPORTED:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _tensorflow_compiles_without_xla(request, monkeypatch):
    """On TensorFlow, tests compile the solver without XLA unless marked `xla`.

    XLA compiles the recursion once per traced function (5-15 s each on this CPU, more than the test's own work), and
    most tests check behaviour that XLA does not change. Tests marked `xla` keep the solver's default (XLA on
    TensorFlow): the learning test, the parity and trajectory tests against the official code, mixed precision.
    An explicit `jit_compile=` in a test wins either way.
    """
    if keras.backend.backend() != "tensorflow" or request.node.get_closest_marker("xla"):
        yield
        return
    from keras_trm import TRMPuzzleSolver

    compile_with_xla = TRMPuzzleSolver.compile

    def compile_without_xla(self, *args, **kwargs):
        kwargs.setdefault("jit_compile", False)
        return compile_with_xla(self, *args, **kwargs)

    monkeypatch.setattr(TRMPuzzleSolver, "compile", compile_without_xla)
    yield


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield


@pytest.fixture
def official_fixture_dir():
    """Folder of the official parity fixtures (outputs of the official code, kept in tests/fixtures/official_trm)."""
    return OFFICIAL_FIXTURES


@pytest.fixture
def value_and_grad():
    """The current backend's autodiff as a function: value_and_grad(fn, x)."""
    return _value_and_grad


def _value_and_grad(fn, x):
    """(fn(x), d sum(fn(x)) / dx) with the current backend's autodiff; x is a float32 numpy array."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.value_and_grad(lambda t: keras.ops.sum(fn(t)))(x)
    if backend == "tensorflow":
        import tensorflow as tf

        t = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(t)
            y = keras.ops.sum(fn(t))
        g = tape.gradient(y, t)
        return y, tf.zeros_like(t) if g is None else g  # None: no path from x to the output
    import torch

    t = torch.tensor(x, requires_grad=True)
    y = keras.ops.sum(fn(t))
    (g,) = torch.autograd.grad(y, t, allow_unused=True)
    return y.detach(), torch.zeros_like(t) if g is None else g  # unused: no path from x to the output
