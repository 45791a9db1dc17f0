"""The documentation site (MkDocs, Material theme, mkdocstrings) and the pages it is built from.

`make docs` builds the site; here it is built with ``--strict`` into tmp_path, so a link to a missing
page or anchor, a missing included file or an API reference that does not resolve fails
``make test`` — and a copy of one page with a broken link shows that such a build does fail.
No page (README.md, docs/, the benchmarks page) may use a spelling the vocabulary calls old.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from nbtoolkit.vocabulary import OLD_SPELLINGS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: Every page a reader sees: the first page, the site's pages, and the benchmarks page it includes.
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md")), ROOT / "benchmarks" / "README.md"]
OLD_START, OLD_END = "<!-- old-spellings -->", "<!-- /old-spellings -->"


def mkdocs_build(config: Path, out: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # Material's banner about MkDocs 2.0
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(out)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def old_spellings_table() -> str:
    """The table of docs/cli.md that lists the old spellings (the one place they may be written)."""
    where = {"cli": "command line", "api": "Python API keyword", "config": "configuration"}
    lines = ["| Old spelling | Now | Where |", "| --- | --- | --- |"]
    for surface, table in OLD_SPELLINGS.items():
        for old, new in table.items():
            if surface == "api":
                old, new = f"{old}=", f"{new}="
            lines.append(f"| `{old}` | `{new}` | {where[surface]} |")
    return "\n".join(lines)


def deprecated_patterns() -> dict[str, re.Pattern]:
    """A regular expression per old spelling, matching it as a word of its own surface."""
    patterns = {}
    for surface, table in OLD_SPELLINGS.items():
        for old in table:
            if surface == "cli" and old.startswith("--"):  # not --drift-share for --share
                pattern = rf"(?<![\w-]){re.escape(old)}(?![\w-])"
            elif surface == "cli":  # `nbt run`, not `%nbt run...` (a magic) nor `nbt pipeline run`
                pattern = rf"(?<![%\w.-]){re.escape(old)}(?![\w-])"
            elif old == "log":  # evaluate(log=True) is today's word: only log=URL is the old one
                pattern = r"(?<![\w.])log\s*=\s*(?!True\b|False\b)[\"'\w]"
            elif surface == "api":
                pattern = rf"(?<![\w.]){re.escape(old)}\s*="
            else:
                pattern = rf"(?<![\w]){re.escape(old)}(?![\w])"
            patterns[old] = re.compile(pattern)
    return patterns


def without_old_spellings_table(path: Path, text: str) -> str:
    if OLD_START not in text:
        return text
    head, rest = text.split(OLD_START, 1)
    region, tail = rest.split(OLD_END, 1)
    assert old_spellings_table() in region, f"{path.name}: the old-spellings table differs from vocabulary.py's"
    return head + "\n" * region.count("\n") + tail  # keep line numbers


def test_no_page_uses_a_deprecated_spelling():
    patterns = deprecated_patterns()
    found = []
    for path in PAGES:
        text = without_old_spellings_table(path, path.read_text())
        for number, line in enumerate(text.splitlines(), 1):
            for old, pattern in patterns.items():
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{number}: {old!r} in {line.strip()[:100]!r}")
    assert not found, "pages use old spellings (vocabulary.py OLD_SPELLINGS names the new ones):\n" + "\n".join(found)


def test_the_old_spellings_are_listed_once():
    cli = (DOCS / "cli.md").read_text()
    assert OLD_START in cli and old_spellings_table() in cli
    assert sum(OLD_START in p.read_text() for p in PAGES) == 1


def test_the_check_finds_old_spellings():
    """The patterns catch the old words and leave today's alone (else the test above proves nothing)."""
    patterns = deprecated_patterns()

    def hits(line: str) -> set[str]:
        return {old for old, p in patterns.items() if p.search(line)}

    assert hits("nbt run notebooks/pipeline.yaml") == {"nbt run"}
    assert hits("nbt drift live.csv --model m --fail-on-drift --share 0.3") == {"nbt drift", "--fail-on-drift", "--share"}
    assert hits("nbt.monitor('t', log='sqlite:///p.db', champion_alias='a')") == {"log", "champion_alias"}
    assert hits("%config Nbt.drift_threshold = 0.3") == {"Nbt.drift_threshold"}
    assert not hits("nbt pipeline run p.yaml; nbt data drift x.csv --drift-share 0.3 --fail; %nbt models")
    assert not hits("nbt.evaluate('cancer/1', X, y, log=True); nbt model list --format json")


def _slug(heading: str) -> str:
    from markdown.extensions.toc import slugify  # what MkDocs' toc extension uses

    return slugify(heading, "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {_slug(h) for h in re.findall(r"^#{1,6} (.+?)\s*$", text, re.M)}


def test_the_readme_links_to_pages_that_exist():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert any(link.startswith("docs/") and link.split("#")[0].endswith(".md") for link in links)
    for link in links:
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue
        path, _, anchor = link.partition("#")
        assert (ROOT / path).exists(), f"README.md links to {link!r}: no such file"
        if anchor and path.endswith(".md"):
            assert anchor in _anchors(ROOT / path), f"README.md links to {link!r}: no such heading"


def test_the_readme_is_a_first_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 160, "the reference belongs on the docs site (docs/), not in README.md"


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path):
    done = mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert done.returncode == 0, done.stderr[-5000:]
    site = tmp_path / "site"
    api = (site / "api" / "registry" / "index.html").read_text()
    assert 'id="nbtoolkit.registry.register"' in api and "Parameters" in api  # docstrings rendered
    assert "benchmarks/serve.py" in (site / "benchmarks" / "index.html").read_text()  # the included README
    for page in DOCS.glob("*.md"):
        built = site / ("index.html" if page.stem == "index" else f"{page.stem}/index.html")
        assert built.exists(), f"{page.name} is not in the site: add it to mkdocs.yml's nav"


def _one_page_site(tmp_path: Path, page: str, extra: str) -> Path:
    """A copy of the site's configuration building one copied page with ``extra`` appended."""
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copytree(DOCS / "img", docs / "img")
    (docs / page).write_text((DOCS / page).read_text() + "\n" + extra + "\n")
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    config["docs_dir"] = str(docs)
    config["nav"] = [page]
    config.pop("exclude_docs", None)
    config["hooks"] = [str(ROOT / h) for h in config.get("hooks", [])]
    for plugin in config["plugins"]:
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            python = plugin["mkdocstrings"]["handlers"]["python"]
            python["paths"] = [str(ROOT)]
            python["options"]["extensions"] = [str(ROOT / e) for e in python["options"]["extensions"]]
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path / "mkdocs.yml"


@pytest.mark.slow
@pytest.mark.parametrize("extra, message", [
    ("See [the old page](no-such-page.md).", "contains a link 'no-such-page.md', but the target is not found"),
    ("See [the table](#no-such-heading).", "contains a link '#no-such-heading', but there is no such anchor"),
    ("::: nbtoolkit.registry.no_such_function", "nbtoolkit.registry.no_such_function could not be found"),
], ids=["page", "anchor", "api"])
def test_a_broken_reference_fails_the_strict_build(tmp_path, extra, message):
    config = _one_page_site(tmp_path, "storage.md", extra)
    done = mkdocs_build(config, tmp_path / "site")
    assert done.returncode != 0
    assert message in done.stderr, done.stderr[-3000:]
