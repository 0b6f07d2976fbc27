"""The docs stand alone: every relative link resolves, nothing points at files users do not have, and
docs/architecture.md names every module of the package (and no module that is gone).

Only files are read (nothing is imported), so the checks are the same on every backend.
"""

import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(REPO, "keras_trm")
ARCHITECTURE = os.path.join(REPO, "docs", "architecture.md")

_SKIPPED_DIRS = {"build", "dist", "runs", "outputs", "node_modules", "__pycache__"}
# Where users read: the docs, the README, the package (docstrings and comments), the recipes and benchmarks.
_USER_FACING = ("README.md", "docs", "keras_trm", "recipes", "benchmarks")

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)  # https:, mailto:, ...
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)
# A pointer to our docs from code: docs/<name>.md, optionally with #anchor.
_DOC_POINTER = re.compile(r"\bdocs/([\w./-]+\.md)(?:#([\w-]+))?")
# Files of the workspace the package was written in, which users do not have.
_WORKSPACE = re.compile(
    r"\.\./shared\b|\bshared/(?:SPEC|DESIGN|data|fixtures|reference|hooks)\b|\bSPEC\.md|\bSPEC(?: section)? ?\d"
)


def _walk(top, suffix):
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in _SKIPPED_DIRS and not d.endswith(".egg-info")
        )
        for name in sorted(files):
            if name.endswith(suffix):
                yield os.path.join(folder, name)


def _markdown_files():
    return list(_walk(REPO, ".md"))


def _user_facing_files():
    for entry in _USER_FACING:
        path = os.path.join(REPO, entry)
        if os.path.isfile(path):
            yield path
        else:
            for suffix in (".md", ".py"):
                yield from _walk(path, suffix)


def _read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def _rel(path):
    return os.path.relpath(path, REPO)


def _slug(heading):
    """GitHub's anchor of a heading: markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path):
    seen, anchors = {}, set()
    for heading in _HEADING.findall(_FENCE.sub("", _read(path))):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def _relative_links(path):
    """(target path or None for the same file, anchor or None) of every relative link of a markdown file."""
    text = _FENCE.sub("", _read(path))
    for target in _LINK.findall(text):
        if _EXTERNAL.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        resolved = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) if file_part else None
        yield target, resolved, anchor or None


def _module_paths():
    return sorted(_rel(p).replace(os.sep, "/") for p in _walk(PACKAGE, ".py"))


def test_the_checks_see_the_docs():
    names = {_rel(p).replace(os.sep, "/") for p in _markdown_files()}
    assert {"README.md", "docs/how_trm_works.md", "docs/architecture.md"} <= names
    links = [t for p in _markdown_files() for t, _, _ in _relative_links(p)]
    assert "docs/architecture.md" in links  # the README links it
    assert "keras_trm/models/trm_puzzle_solver.py" in _module_paths()


def test_slug_and_link_parsing():
    assert _slug("Deep supervision and the carry") == "deep-supervision-and-the-carry"
    assert _slug("Sudoku-Extreme — `keras_trm/recipes/sudoku.py`") == "sudoku-extreme--keras_trmrecipessudokupy"
    assert _slug("[Link](x.md) here") == "link-here"
    text = '[a](x.md) ![b](img/p.png "t") [c](https://e.org) [d](#h) `[e](y.md)`'
    assert _LINK.findall(text) == ["x.md", "img/p.png", "https://e.org", "#h", "y.md"]
    assert _WORKSPACE.search("see ../shared/SPEC.md") and _WORKSPACE.search("(SPEC 2.5)")
    assert not _WORKSPACE.search("SPEC_FILE = f'{SPEC_DIR}/puzzle_spec.json'")


@pytest.mark.parametrize("path", _markdown_files(), ids=_rel)
def test_relative_links_resolve(path):
    broken = []
    for target, resolved, anchor in _relative_links(path):
        if resolved is not None and not os.path.exists(resolved):
            broken.append(f"{target}: no such file")
        elif anchor and (resolved or path).endswith(".md") and anchor not in _anchors(resolved or path):
            broken.append(f"{target}: no heading #{anchor}")
        elif resolved is not None and not resolved.startswith(REPO + os.sep):
            broken.append(f"{target}: outside the repository")
    assert not broken, f"{_rel(path)}: " + "; ".join(broken)


@pytest.mark.parametrize("path", list(_user_facing_files()), ids=_rel)
def test_no_pointer_to_files_users_do_not_have(path):
    text = _read(path)
    found = [text[max(m.start() - 30, 0) : m.end() + 10] for m in _WORKSPACE.finditer(text)]
    assert not found, f"{_rel(path)} mentions workspace files: {found}"
    for name, anchor in _DOC_POINTER.findall(text):
        doc = os.path.join(REPO, "docs", name)
        assert os.path.isfile(doc), f"{_rel(path)} points to docs/{name}, which does not exist"
        assert not anchor or anchor in _anchors(doc), f"{_rel(path)} points to docs/{name}#{anchor}: no such heading"


def test_architecture_lists_every_module():
    text = _read(ARCHITECTURE)
    named = set(re.findall(r"\bkeras_trm/[\w/]+\.py\b", text))
    missing = [m for m in _module_paths() if m not in named]
    assert not missing, f"docs/architecture.md does not name {missing}"
    gone = sorted(m for m in named if not os.path.isfile(os.path.join(REPO, m)))
    assert not gone, f"docs/architecture.md names modules that do not exist: {gone}"
