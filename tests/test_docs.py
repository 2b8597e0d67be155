"""The README is a user's document: short, the two set-up commands CI runs, and links into docs/ that
resolve; the docs describe the code as it is (every module they name exists)."""

import re

from conftest import ROOT

PACKAGES = ("vae", "store", "views", "app")  # the ML core, its files and models, what the page shows, the web

APP_COMMAND = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e . && python -m explorer'
TEST_COMMAND = 'python3 -m venv .venv && . .venv/bin/activate && pip install -q -e ".[test]" && python -m pytest'


def test_the_readme_is_short_and_has_the_two_commands_ci_runs():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 200
    assert APP_COMMAND in text and TEST_COMMAND in text
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()  # CI runs exactly what a newcomer copies


def test_every_link_into_docs_resolves():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    links = []
    for doc in docs:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text()):
            if target.startswith(("http://", "https://")):
                continue
            links.append(target)
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"
    assert any(t.startswith("docs/") for t in links)  # the README points into docs/


def test_the_module_maps_name_only_modules_that_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`((?:panels/)?[a-z_-]+\.(?:py|js))`", text))
    assert len(named) > 40
    places = [ROOT / "explorer", *(ROOT / "explorer" / p for p in PACKAGES),
              ROOT / "explorer" / "app" / "static" / "js"]
    missing = [n for n in named if not any((p / n).exists() for p in places)]
    assert missing == []
    js = {p.relative_to(ROOT / "explorer" / "app" / "static" / "js").as_posix()
          for p in (ROOT / "explorer" / "app" / "static" / "js").rglob("*.js")}
    assert js <= named, f"page modules the docs leave out: {sorted(js - named)}"


def test_the_module_maps_list_every_python_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`([a-z_]+\.py)`", text))
    mods = {p.name for p in (ROOT / "explorer").glob("*.py")}
    for package in PACKAGES:
        here = {p.name for p in (ROOT / "explorer" / package).glob("*.py")} - {"__init__.py"}
        assert len(here) >= 5, package
        listed = set(re.findall(r"``([a-z_]+\.py)``", (ROOT / "explorer" / package / "__init__.py").read_text()))
        assert here <= listed, f"explorer/{package}/__init__.py leaves out {sorted(here - listed)}"
        mods |= here
    assert mods - {"__init__.py", "__main__.py"} <= named, sorted(mods - named - {"__init__.py", "__main__.py"})


def test_the_layers_depend_one_way():
    """The VAE, its files and what the page shows never import the web layer."""
    for package in ("vae", "store", "views"):
        for path in (ROOT / "explorer" / package).glob("*.py"):
            code = [line for line in path.read_text().splitlines() if line.lstrip().startswith(("from ", "import "))]
            assert not [line for line in code if "explorer.app" in line], path
