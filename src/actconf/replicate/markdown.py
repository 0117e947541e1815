"""The markdown writer of ``docs/replication.md``: sections, tables, figures.

A :class:`Section` is a title and a list of blocks (paragraphs, tables, figures,
bullet lists, subsections). :func:`table` turns rows into a pipe table,
:class:`Figures` saves matplotlib figures as small PNGs into the document's figure
folder and returns their links, and :func:`write_document` joins the sections into
one file.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Figures", "Section", "bullets", "fmt", "table", "write_document"]

FIGURE_DPI = 100


def fmt(value: Any, digits: int = 3, *, signed: bool = False) -> str:
    """A number for a table: ``digits`` significant digits, ``"–"`` for missing values."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(x):
        return "–"
    if abs(x) >= 10 ** digits:
        text = f"{x:+.0f}" if signed else f"{x:.0f}"
    else:
        text = f"{x:+.{digits}g}" if signed else f"{x:.{digits}g}"
    return text.replace("-", "−")


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else fmt(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: Iterable[Sequence[Any]], headers: Sequence[str], *, align: str | None = None) -> str:
    """A markdown pipe table; ``align`` is one letter per column (``l``/``r``; default: first left)."""
    rows = [list(r) for r in rows]
    align = align or "l" + "r" * (len(headers) - 1)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(headers) + " |", "| " + " | ".join(marks[a] for a in align) + " |"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def bullets(items: Iterable[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


@dataclass
class Section:
    """A titled part of the document; ``blocks`` are markdown strings or nested Sections."""

    title: str
    blocks: list[Any] = field(default_factory=list)

    def add(self, *blocks: Any) -> Section:
        self.blocks.extend(b for b in blocks if b)
        return self

    def render(self, level: int = 2) -> str:
        parts = ["#" * level + " " + self.title]
        for block in self.blocks:
            parts.append(block.render(level + 1) if isinstance(block, Section) else str(block).strip())
        return "\n\n".join(parts)


class Figures:
    """Saves figures into ``folder`` and gives their markdown links relative to ``doc``."""

    def __init__(self, folder: str | os.PathLike, doc: str | os.PathLike):
        self.folder = Path(folder)
        self.doc = Path(doc)
        self.saved: list[Path] = []

    def save(self, fig: Any, name: str, caption: str) -> str:
        """Write ``fig`` as ``<folder>/<name>.png``; return the markdown image line.

        100 dpi, stored with a 256-colour palette (Pillow's adaptive quantisation): a
        third of the size of a true-colour PNG, indistinguishable for plots.
        """
        import io

        from PIL import Image

        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.png"
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=FIGURE_DPI)
        image = Image.open(buffer).convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
        image.save(path, optimize=True)
        self.saved.append(path)
        link = os.path.relpath(path, self.doc.parent).replace(os.sep, "/")
        return f"![{caption}]({link})\n\n*{caption}*"


def write_document(title: str, intro: str, sections: list[Section], path: str | os.PathLike) -> Path:
    """Write the document (title, introduction, sections) to ``path`` (via a temporary file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join([f"# {title}", intro.strip(), *(s.render(2) for s in sections)]) + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
