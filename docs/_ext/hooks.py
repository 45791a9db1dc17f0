"""MkDocs hooks: let the pages be GitHub Markdown and render the same on the site.

GitHub needs ``\\|`` for a pipe inside a table cell, code spans included (``local\\|dask``);
Python-Markdown ignores pipes inside code spans and would show the backslash. In table rows the
backslash before a pipe inside a code span is dropped before the page is converted.
"""

from __future__ import annotations

import re
from typing import Any

CODE = re.compile(r"`[^`]*`")


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    lines = markdown.split("\n")
    fence = False
    for i, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and line.startswith("|") and "\\|" in line:
            lines[i] = CODE.sub(lambda m: m.group(0).replace("\\|", "|"), line)
    return "\n".join(lines)
