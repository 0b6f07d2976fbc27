"""The wheel trains: build it, unpack it, and from an empty folder with only the unpacked wheel (and the installed
dependencies) on the path, run `keras-trm train sudoku --size tiny` and `keras-trm solve trm_sudoku_4x4 ...`.

What `pip install keras-trm` gives a user has no recipes/ folder and no source checkout: the training runner, the
benchmark list and the shipped preset must all come from the package. The subprocesses inherit KERAS_BACKEND, so this
runs on every backend; the wheel is built once per session.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import zipfile

import keras
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PUZZLE, SOLUTION = "1..4........2..1", "1234341241232341"  # a 4x4 Sudoku and its only solution


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory):
    """The folder the wheel built from this checkout is unpacked into (what an install puts in site-packages)."""
    import setuptools

    # `--no-build-isolation` builds with this environment's setuptools; pyproject.toml's build-system needs >= 77
    assert int(setuptools.__version__.split(".")[0]) >= 77, f"setuptools {setuptools.__version__} is too old"
    # Build from a copy of the package and the root's files, so that setuptools' build/ and egg-info folders (and
    # stale files in them) stay out of the checkout.
    source = tmp_path_factory.mktemp("source")
    for name in os.listdir(ROOT):
        if os.path.isfile(os.path.join(ROOT, name)) and not name.startswith("."):
            shutil.copy(os.path.join(ROOT, name), source / name)
    shutil.copytree(
        os.path.join(ROOT, "keras_trm"), source / "keras_trm", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    wheels = tmp_path_factory.mktemp("wheels")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (wheel,) = [name for name in os.listdir(wheels) if name.endswith(".whl")]
    assert wheel.startswith("keras_trm-")
    unpacked = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(wheels / wheel) as f:
        f.extractall(unpacked)
    return unpacked


# `python -m keras_trm.cli ARGS` (runpy.run_module with alter_sys is what -m does), after printing where the package was
# imported from and whether a `recipes` module (the checkout's folder) can be found.
CLI = (
    "import importlib.util, json, runpy, keras_trm; "
    "print(json.dumps([keras_trm.__file__, importlib.util.find_spec('recipes')])); "
    "runpy.run_module('keras_trm.cli', run_name='__main__', alter_sys=True)"
)


def keras_trm_command(unpacked, cwd, *args):
    """Run the `keras-trm` command in the empty folder `cwd` with only the unpacked wheel and this environment's
    site-packages on the path (`python -S`: no .pth file runs, so the editable install of the checkout cannot answer
    an import). Returns (exit status, stdout after its first line, stderr)."""
    cwd.mkdir()
    dependencies = [p for p in site.getsitepackages() if os.path.isdir(p)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(unpacked), *dependencies]))
    out = subprocess.run([sys.executable, "-S", "-c", CLI, *args], cwd=cwd, env=env, capture_output=True, text=True)
    first, _, rest = out.stdout.partition("\n")
    if out.returncode == 0 or first.startswith("["):
        package, checkout_recipes = json.loads(first)
        assert package == str(unpacked / "keras_trm" / "__init__.py")
        assert checkout_recipes is None  # the checkout's recipes/ folder is out of reach
    return out.returncode, rest, out.stderr


def test_the_wheel_trains_a_recipe_from_an_empty_folder(unpacked_wheel, tmp_path):
    run, cwd = tmp_path / "run", tmp_path / "empty"
    status, out, err = keras_trm_command(
        unpacked_wheel, cwd, "train", "sudoku", "--size", "tiny", "--set", f"out_dir={run}"
    )
    assert status == 0, out + err
    assert os.listdir(cwd) == []  # everything went to out_dir
    with open(run / "results.json") as f:
        results = json.load(f)
    assert results["recipe"] == "sudoku" and results["backend"] == keras.backend.backend()
    assert results["config"]["size"] == "tiny" and results["steps"] == 4
    assert [e["step"] for e in results["evaluations"]] == [2, 4]
    assert results["final"]["count"] == 8 and 0.0 <= results["final"]["exact_accuracy"] <= 1.0
    assert len(results["history"]["loss"]) == 2
    with open(run / "task.json") as f:
        assert json.load(f)["benchmark"] == "sudoku"
    assert os.path.getsize(run / "model.keras") > 0 and results["model"] == str(run / "model.keras")


def _files(folder):
    return sorted(
        os.path.relpath(os.path.join(d, name), folder)
        for d, _, names in os.walk(folder)
        for name in names
        if "__pycache__" not in d
    )


def test_the_wheel_solves_with_its_shipped_preset(unpacked_wheel, tmp_path):
    (weights,) = unpacked_wheel.glob("keras_trm/**/trm_sudoku_4x4/model.weights.h5")
    preset = weights.parent  # package-data put the whole preset folder in the wheel
    assert _files(preset) == _files(os.path.join(ROOT, preset.relative_to(unpacked_wheel)))
    assert "config.json" in _files(preset)
    status, out, err = keras_trm_command(unpacked_wheel, tmp_path / "empty", "solve", "trm_sudoku_4x4", PUZZLE)
    assert status == 0, out + err
    assert SOLUTION in "".join(c for c in out if c.isdigit())
