"""The README renders as written: every table row is part of a table a Markdown parser sees.

A blank line inside a table ends it, and the rows after it render as a paragraph of pipes; the
configuration table was split that way once. markdown-it-py is the parser GitHub-style
renderers build on (CommonMark plus the GFM table extension).
"""

from __future__ import annotations

from pathlib import Path

from markdown_it import MarkdownIt

README = Path(__file__).resolve().parents[2] / "README.md"


def _table_lines(text: str) -> set[int]:
    """Line numbers (0-based) that the parser renders as part of a table."""
    covered: set[int] = set()
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type == "table_open" and token.map is not None:
            covered.update(range(*token.map))
    return covered


def _fenced_lines(text: str) -> set[int]:
    inside, fenced = False, set()
    for number, line in enumerate(text.splitlines()):
        if line.lstrip().startswith("```"):
            inside = not inside
            fenced.add(number)
        elif inside:
            fenced.add(number)
    return fenced


def test_every_table_row_of_the_readme_renders_in_a_table() -> None:
    text = README.read_text(encoding="utf-8")
    covered, fenced = _table_lines(text), _fenced_lines(text)
    stray = [
        f"README.md:{number + 1}: {line[:60]}"
        for number, line in enumerate(text.splitlines())
        if line.startswith("|") and number not in covered and number not in fenced
    ]
    assert stray == [], "rows outside any table (a blank line splits a table?):\n" + "\n".join(stray)


def test_the_checker_sees_a_table_split_by_a_blank_line() -> None:
    split = "| a | b |\n| --- | --- |\n| 1 | 2 |\n\n| 3 | 4 |\n"
    assert 4 not in _table_lines(split)
    assert {0, 1, 2} <= _table_lines(split)
