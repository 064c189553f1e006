"""The README and docs/ as a reader meets them: every relative link and image resolves to a file
of the repository (and every `#anchor` to a heading of its page), nothing points outside the
repository's tree, and the README stays a front door of at most 200 lines. No services needed."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO = Path(__file__).resolve().parents[2]
README_MAX_LINES = 200

_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_WEB = ("http://", "https://", "mailto:")


def pages(repo: Path = REPO) -> list[Path]:
    return [repo / "README.md", *sorted((repo / "docs").glob("*.md"))]


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks, with inline code spans blanked (they are not links)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        lines.append("" if fenced else _CODE_SPAN.sub("code", line))
    return lines


def links(text: str) -> list[str]:
    found: list[str] = []
    for line in prose_lines(text):
        found += _INLINE.findall(line)
        reference = _REFERENCE.match(line)
        if reference:
            found.append(reference.group(1))
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, lower case, spaces to hyphens."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "")
    text = "".join(c for c in text.lower() if c in " -_" or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for line in _plain_lines(page.read_text(encoding="utf-8")):
        match = _HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def _plain_lines(text: str) -> list[str]:
    """Lines outside fenced code blocks, code spans kept (a heading's anchor includes their text)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def problems(page: Path, repo: Path = REPO) -> list[str]:
    """Every link of `page` that does not resolve inside `repo`, as `page: target: why`."""
    found = []
    for target in links(page.read_text(encoding="utf-8")):
        why = _problem(page, target, repo.resolve())
        if why:
            found.append(f"{page.relative_to(repo)}: {target}: {why}")
    return found


def _problem(page: Path, target: str, repo: Path) -> str | None:
    if target.startswith(_WEB):
        return None
    if not target or _SCHEME.match(target) or target.startswith(("/", "\\", "~")):
        return "not a relative link inside the repository"
    path_part, _, fragment = target.partition("#")
    dest = (page.parent / unquote(path_part)).resolve() if path_part else page.resolve()
    if not dest.is_relative_to(repo):
        return "points outside the repository"
    if not dest.exists():
        return "no such file"
    if fragment and dest.suffix == ".md" and unquote(fragment).lower() not in anchors(dest):
        return f"no heading #{fragment} in {dest.relative_to(repo)}"
    return None


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_link_resolves_inside_the_repository(page):
    assert problems(page) == []


def test_the_docs_have_links_to_check():
    assert len(links((REPO / "README.md").read_text(encoding="utf-8"))) >= 10
    assert (REPO / "docs" / "design.md").exists() and (REPO / "LICENSE").exists()


def test_the_readme_is_a_front_door():
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines (at most {README_MAX_LINES})"


def test_the_checker_finds_each_kind_of_broken_link(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "other.md").write_text("# Other page\n\n## Key rotation: how\n", encoding="utf-8")
    (tmp_path / "pic.png").write_bytes(b"")
    page = tmp_path / "README.md"
    page.write_text(
        "# Title\n\n"
        "[fine](docs/other.md#key-rotation-how) ![fine](pic.png) [fine](#title) [web](https://example.org/x)\n"
        "[missing](docs/absent.md) ![missing image](docs/absent.png) [bad anchor](docs/other.md#nowhere)\n"
        "[outside](../elsewhere/DESIGN.md) [absolute](/etc/passwd) [file](file:///etc/passwd) [self](#untitled)\n"
        "`[in code](nowhere.md)`\n\n```\n[in a fence](nowhere.md)\n```\n\n"
        "[ref]: docs/gone.md\n",
        encoding="utf-8",
    )
    assert [p.split(": ", 2)[1] for p in problems(page, tmp_path)] == [
        "docs/absent.md",
        "docs/absent.png",
        "docs/other.md#nowhere",
        "../elsewhere/DESIGN.md",
        "/etc/passwd",
        "file:///etc/passwd",
        "#untitled",
        "docs/gone.md",
    ]


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("What `make test` runs", "what-make-test-runs"),
        (
            "The delivery guarantee: nothing lost, nothing doubled",
            "the-delivery-guarantee-nothing-lost-nothing-doubled",
        ),
        ("Query 1: statistics over the dashboard's time range", "query-1-statistics-over-the-dashboards-time-range"),
        ("Faults: the evidence", "faults-the-evidence"),
    ],
)
def test_anchors_are_githubs(heading, anchor):
    assert slug(heading) == anchor
