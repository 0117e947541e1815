"""What a report page is made of, and how it becomes HTML.

A page is a list of :class:`Section` values; a section is an ordered list of
blocks (:class:`Figure`, :class:`Slider`, :class:`Table`, :class:`Text`,
:class:`Verdicts`, :class:`Code`). :func:`render_page` turns them into one
self-contained HTML file with the Jinja2 template ``actconf/templates/report.html.j2``
(its stylesheet ``report.css`` and its script ``report.js`` inlined), read with
:mod:`importlib.resources` so that it works from an installed wheel. Autoescaping is
on: every string in a block is plain text. A :class:`Slider` is an image with an
epoch slider and a Play button over embedded frames, driven by the page's own
script: no kernel, no network.
"""

from __future__ import annotations

import base64
import io
import math
import numbers
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

#: Package folder that holds the page template and its stylesheet.
TEMPLATE_PACKAGE = "actconf"
TEMPLATE_FOLDER = "templates"
PAGE_TEMPLATE = "report.html.j2"
#: Threads that encode a slider's frames (Pillow encodes without holding the GIL).
ENCODER_THREADS = min(4, os.cpu_count() or 1)


class Strong(str):
    """A run of text shown in bold inside a :class:`Text` block."""


@dataclass(frozen=True)
class Figure:
    """An embedded image (base64) with its caption and the file it was saved as."""

    name: str
    caption: str
    data: str
    mime: str = "image/png"
    alt: str = ""
    collapsed: str | None = None  # summary of a <details> element the figure is folded into
    kind: ClassVar[str] = "figure"

    @property
    def alt_text(self) -> str:
        return self.alt or self.caption[:80]


@dataclass(frozen=True)
class Slider:
    """Frames (one per snapshot) shown one at a time with a slider and a Play button.

    ``frames`` are base64 images of one size (``width`` x ``height`` pixels, shown at
    that size divided by ``scale``), ``labels`` their snapshot labels; the last frame
    is shown first (and without script).
    """

    key: str
    caption: str
    frames: tuple[str, ...]
    labels: tuple[str, ...]
    width: int
    height: int
    mime: str = "image/webp"
    scale: float = 1.0
    fps: float = 4.0
    alt: str = ""
    kind: ClassVar[str] = "slider"

    @property
    def alt_text(self) -> str:
        return self.alt or self.caption[:80]

    @property
    def css_width(self) -> int:
        return int(round(self.width / self.scale))

    @property
    def css_height(self) -> int:
        return int(round(self.height / self.scale))

    @property
    def sources(self) -> list[str]:
        return [f"data:{self.mime};base64,{frame}" for frame in self.frames]

    @property
    def script_data(self) -> dict[str, Any]:
        """What the page's script reads (rendered with Jinja's HTML-safe ``tojson``)."""
        return {"frames": self.sources, "labels": list(self.labels), "fps": self.fps}


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells.

    ``columns`` is the header row (``None``: none); with ``row_headers`` the first
    cell of each row is a header cell (key/value tables). ``heading`` is a small
    heading above the table, ``collapsed`` the summary of a ``<details>`` element
    the table is folded into.
    """

    rows: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...] | None = None
    row_headers: bool = False
    heading: str | None = None
    collapsed: str | None = None
    kind: ClassVar[str] = "table"


@dataclass(frozen=True)
class Text:
    """A paragraph of plain text and :class:`Strong` runs; ``style="verdict"`` is the boxed summary."""

    parts: tuple[str, ...]
    style: str = "paragraph"
    kind: ClassVar[str] = "text"

    @property
    def plain(self) -> str:
        return "".join(self.parts)


@dataclass(frozen=True)
class Verdict:
    """One verdict of the claim table: ``verdict`` is supported, contradicted or not supported."""

    verdict: str
    claim: str
    layer: str
    evidence: str

    @property
    def css_class(self) -> str:
        return {"supported": "supported", "contradicted": "contradicted"}.get(self.verdict, "not-supported")


@dataclass(frozen=True)
class Verdicts:
    """A bulleted list of verdicts."""

    items: tuple[Verdict, ...]
    kind: ClassVar[str] = "verdicts"


@dataclass(frozen=True)
class Code:
    """Preformatted text folded into a ``<details>`` element with summary ``collapsed``."""

    text: str
    collapsed: str
    kind: ClassVar[str] = "code"


Block = Figure | Slider | Table | Text | Verdicts | Code


@dataclass
class Section:
    """One section of the report: an ``<h2>`` with id ``key`` and its blocks in order.

    ``nav`` is the label in the page's navigation bar (default: ``title``).
    """

    key: str
    title: str
    blocks: list[Block] = field(default_factory=list)
    nav: str | None = None

    @property
    def nav_label(self) -> str:
        return self.nav or self.title

    @property
    def figures(self) -> list[Figure]:
        return [b for b in self.blocks if isinstance(b, Figure)]

    @property
    def sliders(self) -> list[Slider]:
        return [b for b in self.blocks if isinstance(b, Slider)]

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def texts(self) -> list[Text]:
        return [b for b in self.blocks if isinstance(b, Text)]


# --------------------------------------------------------------------------- blocks from data
def save_figure(fig: Any, path: Path, caption: str, *, dpi: int = 110) -> Figure:
    """Save a Matplotlib figure as PNG at ``path``, close it, return it as an embedded :class:`Figure`.

    The PNG is what ``savefig(dpi=dpi, bbox_inches="tight")`` writes (the drawn content's
    bounding box plus ``savefig.pad_inches``), from one draw instead of two: Matplotlib's
    tight saving draws the figure once to measure it and once more to save it.
    """
    import matplotlib.pyplot as plt

    data = png_bytes(fig, dpi=dpi)
    plt.close(fig)  # a no-op for figures pyplot does not manage
    path.write_bytes(data)
    return Figure(name=path.name, caption=caption, data=base64.b64encode(data).decode("ascii"))


def png_bytes(fig: Any, *, dpi: int = 110, compress_level: int = 3) -> bytes:
    """The figure as PNG bytes, cropped like ``bbox_inches="tight"``, drawn once (named internal API)."""
    import matplotlib as mpl
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    before = fig.dpi
    fig.dpi = dpi
    try:
        canvas.draw()
        content = fig.get_tightbbox(canvas.get_renderer())
        pixels = np.asarray(canvas.buffer_rgba())
    finally:
        fig.dpi = before
    width_in, height_in = fig.get_size_inches()
    if content.x0 < -0.01 or content.y0 < -0.01 or content.x1 > width_in + 0.01 or content.y1 > height_in + 0.01:
        buf = io.BytesIO()  # something lies outside the figure, where nothing was drawn: let matplotlib do it
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        return buf.getvalue()
    box = content.padded(mpl.rcParams["savefig.pad_inches"])
    height, width = pixels.shape[:2]
    x0, x1 = round(box.x0 * dpi), round(box.x1 * dpi)
    top, bottom = height - round(box.y1 * dpi), height - round(box.y0 * dpi)
    colour = np.round(np.asarray(mpl.colors.to_rgba(fig.get_facecolor())) * 255).astype(np.uint8)
    opaque = bool(pixels[..., 3].min() == 255 and colour[3] == 255)
    channels = 3 if opaque else 4
    out = np.empty((bottom - top, x1 - x0, channels), dtype=np.uint8)
    out[...] = colour[:channels]
    src_y, src_x = slice(max(top, 0), min(bottom, height)), slice(max(x0, 0), min(x1, width))
    dst_y = slice(src_y.start - top, src_y.stop - top)
    dst_x = slice(src_x.start - x0, src_x.stop - x0)
    out[dst_y, dst_x] = pixels[src_y, src_x, :channels]
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="png", compress_level=compress_level, dpi=(dpi, dpi))
    return buf.getvalue()


def file_figure(path: Path, caption: str, *, mime: str, collapsed: str | None = None) -> Figure:
    """Embed an image file that is already written (e.g. a GIF); ``collapsed``: folded into a ``<details>``."""
    return Figure(name=path.name, caption=caption, data=base64.b64encode(path.read_bytes()).decode("ascii"),
                  mime=mime, collapsed=collapsed)


def frames_slider(key: str, frames: list[Any], labels: list[str], caption: str, *, fps: float = 4.0,
                  quality: int = 85, method: int = 2) -> Slider:
    """A :class:`Slider` of RGB(A) pixel arrays ``(H, W, 3|4)`` of one size, encoded as WebP (in threads).

    ``method`` is WebP's speed/size trade-off (0 fast … 6 small): 2 encodes in about half
    the time of 4 for a few percent more bytes.
    """
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    def encode(pixels: Any) -> str:
        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels[..., :3])).save(buf, format="WEBP", quality=quality,
                                                                     method=method)
        return base64.b64encode(buf.getvalue()).decode("ascii")

    # Pillow's encoder releases the GIL: frames are encoded side by side (2 threads: 35% less
    # time even on a busy 2-core machine)
    with ThreadPoolExecutor(max_workers=ENCODER_THREADS) as pool:
        encoded = list(pool.map(encode, frames))
    height, width = frames[0].shape[:2]
    return Slider(key=key, caption=caption, frames=tuple(encoded), labels=tuple(str(x) for x in labels),
                  width=int(width), height=int(height), fps=fps)


def format_cell(value: Any, float_format: str = "{:.3g}") -> str:
    """A table cell as text: floats with ``float_format``, missing values as an en dash."""
    if value is None:
        return "–"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral | bool):
        return "–" if math.isnan(value) else float_format.format(value)
    return str(value)


def frame_table(frame: Any, *, max_rows: int = 60, collapsed: str | None = None) -> Table:
    """A :class:`Table` of a DataFrame's first ``max_rows`` rows (the index is left out)."""
    head = frame.head(max_rows)
    rows = tuple(tuple(format_cell(v) for v in row) for row in head.itertuples(index=False, name=None))
    return Table(rows=rows, columns=tuple(str(c) for c in head.columns), collapsed=collapsed)


def mapping_table(mapping: dict[str, Any], *, heading: str | None = None) -> Table:
    """A key/value :class:`Table` (keys as row headers)."""
    rows = tuple((str(k), str(v)) for k, v in mapping.items())
    return Table(rows=rows, row_headers=True, heading=heading)


# --------------------------------------------------------------------------- rendering
def template_text(name: str) -> str:
    """The text of a file in ``actconf/templates`` (from the installed package)."""
    return resources.files(TEMPLATE_PACKAGE).joinpath(TEMPLATE_FOLDER, name).read_text(encoding="utf-8")


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(template_text),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.tests["strong"] = lambda value: isinstance(value, Strong)
    return env


def render_page(sections: list[Section], *, title: str, heading: str, subtitle: str) -> str:
    """The whole HTML page: head with the stylesheet inlined, navigation, every section."""
    template = _environment().get_template(PAGE_TEMPLATE)
    return template.render(sections=sections, title=title, heading=heading, subtitle=subtitle)
