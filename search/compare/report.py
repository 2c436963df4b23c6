"""One report, three renderings: Markdown (images beside it), one self-contained HTML page
(images inline as base64 PNG), and the CSV tables. The content is a list of blocks
built once, so the Markdown and the HTML always say the same thing."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from search.tracking.summary import to_markdown

DIGITS = 4  # significant digits of every number in the report's tables (the CSVs keep them all)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
img { max-width: 100%; border: 1px solid #eee; margin: 0.5em 0; }
p.note { color: #555; }
div.wide { overflow-x: auto; }  /* a wide table scrolls instead of running off the page */
"""


@dataclass
class Report:
    title: str
    blocks: list[tuple] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # relative path -> content

    def heading(self, level: int, text: str) -> None:
        self.blocks.append(("heading", level, text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def table(self, shown: pd.DataFrame, csv_path: str | None = None, numeric: pd.DataFrame | None = None) -> None:
        """A display table; its numeric twin (or itself) is also written as CSV when given a path."""
        self.blocks.append(("table", shown))
        if csv_path:
            self.files[csv_path] = (numeric if numeric is not None else shown).to_csv(index=False).encode()

    def image(self, path: str, png: bytes, caption: str) -> None:
        self.blocks.append(("image", path, caption))
        self.files[path] = png

    def markdown(self) -> str:
        parts = [f"# {self.title}\n"]
        for block in self.blocks:
            if block[0] == "heading":
                parts.append(f"{'#' * (block[1] + 1)} {block[2]}\n")
            elif block[0] == "text":
                parts.append(block[1] + "\n")
            elif block[0] == "table":
                parts.append(to_markdown(_cells_for_markdown(block[1]), digits=DIGITS))
            elif block[0] == "image":
                parts.append(f"![{block[2]}]({block[1]})\n")
        return "\n".join(parts)

    def html(self) -> str:
        parts = [f"<h1>{html.escape(self.title)}</h1>"]
        for block in self.blocks:
            if block[0] == "heading":
                level = min(block[1] + 1, 6)
                parts.append(f"<h{level}>{html.escape(block[2])}</h{level}>")
            elif block[0] == "text":
                parts.append(f"<p class=\"note\">{html.escape(block[1])}</p>")
            elif block[0] == "table":
                table = block[1].to_html(index=False, na_rep="", border=0, float_format=_number)
                parts.append(f"<div class=\"wide\">{table}</div>")
            elif block[0] == "image":
                data = base64.b64encode(self.files[block[1]]).decode()
                parts.append(f"<figure><img alt=\"{html.escape(block[2])}\" src=\"data:image/png;base64,{data}\">"
                             f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
        return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                f"<title>{html.escape(self.title)}</title><style>{STYLE}</style></head>\n<body>\n"
                + "\n".join(parts) + "\n</body></html>\n")

    def write(self, folder: Path) -> list[str]:
        """Writes comparison.md, comparison.html and every CSV and PNG; returns their relative paths."""
        self.files["comparison.md"] = self.markdown().encode()
        self.files["comparison.html"] = self.html().encode()
        for relative, content in self.files.items():
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        return list(self.files)


def _number(value: float) -> str:
    return f"{value:.{DIGITS}g}"


def _cells_for_markdown(table: pd.DataFrame) -> pd.DataFrame:
    # Missing numbers as empty cells ("", since pandas turns a None back into NaN), no "|" or line break inside a cell.
    def cell(value):
        if isinstance(value, str):
            return value.replace("|", "\\|").replace("\n", " ")
        return "" if isinstance(value, float) and math.isnan(value) else value
    return table.astype(object).map(cell)
