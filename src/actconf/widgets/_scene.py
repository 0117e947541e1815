"""What the explorer sends to the browser: maps as colour indices, charts as numbers.

The browser side (``explorer.js``) draws everything itself, so that a slider move
never waits for the kernel. This module turns computed values into that wire
format ("scene" dicts of JSON values and ``bytes`` buffers):

- :func:`map_grid_scene` — a grid of maps for every snapshot: one uint8 colour
  index per pixel the layout draws (matplotlib's 256-colour table of the colormap,
  exactly as ``cmap(norm(value), bytes=True)`` picks it; pixels outside the drawn
  region are not sent), a bit mask of missing pixels (empty when no map misses a
  pixel inside the drawn region), the drawn region and outline of the layout, the
  colour table, colour-bar ticks and the labels and notes of every map;
- :func:`chart_scene` — a line chart (axes limits, ticks, lines with optional
  bands, horizontal reference lines) whose marker follows the slider;
- :func:`scatter_scene` — per-snapshot points as float32 arrays with colours.

Nothing here computes statistics or draws: values come from :mod:`actconf.naps`,
:mod:`actconf.analysis` and :mod:`actconf.confidence` through the explorer's states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Colours of the colour tables (matplotlib's default number of colours).
N_COLOURS = 256
#: Bytes of float64 temporaries per block while maps are rendered and quantised.
_BLOCK_BYTES = 32 << 20


# ---------------------------------------------------------------------------- colours
def colour_table(cmap: str) -> bytes:
    """RGBA uint8 table (256 x 4) of a matplotlib colormap: index i is ``cmap(i / 255)``."""
    from matplotlib import colormaps

    return colormaps[cmap](np.arange(N_COLOURS), bytes=True).astype(np.uint8).tobytes()


def colour_indices(images: np.ndarray, lo: Any, hi: Any) -> np.ndarray:
    """Colour-table indices (uint8) of float ``images`` between the limits ``lo``/``hi``.

    The same index matplotlib's ``Colormap.__call__`` picks for ``Normalize(lo, hi)``:
    ``floor(256 * (v - lo) / (hi - lo))`` clipped to 0..255 (values below ``lo`` take
    the lowest colour, above ``hi`` the highest). NaN becomes 0 (see :func:`nan_bits`).
    Float32 images are scaled in single precision: a value within rounding of a boundary
    between two colours may take the neighbouring one.
    """
    images = np.asarray(images)
    dtype = np.float32 if images.dtype == np.float32 else np.float64  # float32 maps: half the memory traffic
    lo = np.asarray(lo, dtype=np.float64)
    scale = (N_COLOURS / (np.asarray(hi, dtype=np.float64) - lo)).astype(dtype)
    with np.errstate(over="ignore"):  # beyond the limits: the highest colour
        x = np.subtract(images, lo.astype(dtype), dtype=dtype)
        x *= scale
    np.fmax(x, 0, out=x)  # fmax/fmin ignore NaN: NaN and -inf -> 0, +inf -> the highest colour
    np.fmin(x, N_COLOURS - 1, out=x)
    return x.astype(np.uint8)  # truncation: floor of the non-negative values


def nan_bits(images: np.ndarray) -> np.ndarray:
    """Missing pixels of ``images (..., H, W)`` packed 8 per byte, row-major per map (``np.packbits``)."""
    flat = np.isnan(images).reshape(*images.shape[:-2], -1)
    return np.packbits(flat, axis=-1)


def ticks(lo: float, hi: float, n: int = 5) -> list[list[Any]]:
    """Round tick values within ``[lo, hi]`` and their labels, as ``[[value, "label"], ...]``."""
    from matplotlib.ticker import MaxNLocator

    if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
        return []
    values = [float(v) for v in MaxNLocator(n).tick_values(lo, hi)]
    span = hi - lo
    values = [v for v in values if lo - 1e-9 * span <= v <= hi + 1e-9 * span]
    step = values[1] - values[0] if len(values) > 1 else span
    decimals = max(0, int(-np.floor(np.log10(step))) if step > 0 else 0)
    return [[v, _tick_label(v, decimals)] for v in values]


def _tick_label(value: float, decimals: int) -> str:
    text = f"{value:.{decimals}f}"
    if text.startswith("-") and float(text) == 0:
        text = text[1:]
    return text.replace("-", "−")


# ---------------------------------------------------------------------------- maps
@dataclass
class MapFrames:
    """Every map of every frame as colour indices, for the browser and for checks.

    ``indices`` (F, R, C, H, W) uint8 with image row 0 at the *top* (as drawn),
    ``nan`` the missing pixels (F, R, C, ceil(H*W/8)) packed bits, ``valid`` (H, W)
    the pixels the layout's mask draws, ``lut`` the colour table bytes.
    """

    indices: np.ndarray
    nan: np.ndarray
    valid: np.ndarray
    lut: bytes

    @property
    def nbytes(self) -> int:
        return int(self.indices.nbytes + self.nan.nbytes)

    def rgba(self, frame: int) -> np.ndarray:
        """The maps of ``frame`` as the browser colours them: (R, C, H, W, 4) uint8, missing pixels transparent."""
        table = np.frombuffer(self.lut, dtype=np.uint8).reshape(N_COLOURS, 4)
        out = table[self.indices[frame]].copy()
        h, w = self.indices.shape[-2:]
        missing = np.unpackbits(self.nan[frame], axis=-1, count=h * w).reshape(*self.indices.shape[1:]).astype(bool)
        out[missing] = 0
        return out


def map_frames(values: np.ndarray, renderer: Any, limits: np.ndarray, cmap: str) -> MapFrames:
    """Render and colour-map NAP values ``(F, R, C, n)`` with per-row limits ``(R, 2)``, in blocks.

    A map whose values are all finite (and far from overflowing single precision) is
    missing exactly the pixels outside the layout's mask: its bits are the layout's,
    packed once; only the other maps (e.g. groups too small, all NaN) are looked at.
    """
    f, r, c = values.shape[:3]
    h, w = renderer.shape
    indices = np.empty((f, r, c, h, w), dtype=np.uint8)
    valid = np.asarray(renderer.mask, dtype=bool)[::-1, :]
    nan = np.empty((f, r, c, (h * w + 7) // 8), dtype=np.uint8)
    nan[...] = np.packbits(~valid.ravel())  # the missing pixels of a finite map: outside the mask
    with np.errstate(invalid="ignore"):
        plain = (np.abs(values) < 1e30).all(axis=-1)  # False for NaN
    lo = np.asarray(limits, dtype=float)[:, 0][:, None, None, None]
    hi = np.asarray(limits, dtype=float)[:, 1][:, None, None, None]
    step = max(1, _BLOCK_BYTES // max(1, r * c * h * w * 4))
    for start in range(0, f, step):
        stop = min(f, start + step)
        # single precision is enough for 256 colours; row 0 at the top
        images = renderer.render(values[start:stop], dtype=np.float32)[..., ::-1, :]
        indices[start:stop] = colour_indices(images, lo, hi)
        other = ~plain[start:stop]
        if other.any():
            nan[start:stop][other] = nan_bits(images[other])
    return MapFrames(indices, nan, valid, colour_table(cmap))


def wire_frames(frames: MapFrames) -> tuple[bytes, bytes]:
    """The colour indices and missing-pixel bits as sent: indices of the drawn pixels only
    (row-major per map), and no bits (``b""``) when every missing pixel lies outside the
    drawn region (which the page knows from ``valid``)."""
    valid = frames.valid.ravel()
    flat = frames.indices.reshape(*frames.indices.shape[:-2], -1)
    indices = flat[..., valid] if not valid.all() else flat
    outside = np.packbits(~valid)
    nan = b"" if (frames.nan == outside).all() else frames.nan.tobytes()
    return np.ascontiguousarray(indices).tobytes(), nan


def outline(renderer: Any) -> dict[str, Any] | None:
    """The drawn region's outline in image fractions (x right, y down): a polygon or a circle."""
    x0, x1, y0, y1 = renderer.extent

    def frac(x: Any, y: Any) -> tuple[Any, Any]:
        return (np.asarray(x) - x0) / (x1 - x0), 1 - (np.asarray(y) - y0) / (y1 - y0)

    if renderer.mask_kind == "circle":
        cx, cy, rad = renderer.circle
        fx, fy = frac(cx, cy)
        return {"circle": [float(fx), float(fy), float(rad / (x1 - x0)), float(rad / (y1 - y0))]}
    if renderer.mask_kind is None:
        return None
    from scipy.spatial import ConvexHull, QhullError

    try:
        hull = ConvexHull(renderer.positions)
    except QhullError:
        return None
    fx, fy = frac(*renderer.positions[hull.vertices].T)
    return {"polygon": np.round(np.column_stack([fx, fy]), 5).tolist()}


def map_grid_scene(frames: MapFrames, *, key: str, renderer: Any, limits: np.ndarray, share_rows: bool,
                   row_labels: list[str], col_labels: list[str], notes: np.ndarray, title: str,
                   quantity: str, cmap: str, remote_frame: int | None = None) -> dict[str, Any]:
    """The wire format of a map grid (see the module docstring).

    With ``remote_frame``, ``frames`` holds that frame only (frames over the
    explorer's budget): the browser asks the kernel for the others. ``indices`` and
    ``nan`` as :func:`wire_frames` makes them.
    """
    f, r, c, h, w = frames.indices.shape
    if remote_frame is not None:
        f = len(notes)
    bars = [ticks(*limits[i]) for i in range(r)] if share_rows else [ticks(*limits[0])]
    return {
        "key": key, "frames": f, "rows": list(row_labels), "cols": list(col_labels), "height": h, "width": w,
        **dict(zip(("indices", "nan"), wire_frames(frames), strict=True)),
        "valid": np.packbits(frames.valid.ravel()).tobytes(), "outline": outline(renderer),
        "lut": frames.lut, "cmap": cmap, "limits": np.asarray(limits, dtype=float).tolist(),
        "share_rows": bool(share_rows), "ticks": bars, "quantity": quantity, "title": title,
        "notes": np.asarray(notes, dtype=object).astype(str).tolist(),
        "remote": remote_frame is not None, "frame": -1 if remote_frame is None else int(remote_frame),
    }


# ---------------------------------------------------------------------------- charts
def _finite_limits(arrays: list[np.ndarray], pad: float, fixed: tuple[float, float] | None) -> tuple[float, float]:
    if fixed is not None:
        return fixed
    finite = np.concatenate([np.asarray(a, dtype=float).ravel() for a in arrays] or [np.zeros(0)])
    finite = finite[np.isfinite(finite)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    extra = pad * (hi - lo) if hi > lo else 0.05
    return lo - extra, hi + extra


def _numbers(values: Any) -> list[float | None]:
    """JSON numbers (None for NaN)."""
    return [float(v) if np.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def line(x: Any, y: Any, *, label: str, color: str, width: float = 1.5, band: tuple[Any, Any] | None = None,
         dash: str | None = None, marker: bool = False) -> dict[str, Any]:
    """One line of a chart; ``marker=True``: the slider's dot sits on it."""
    out = {"x": _numbers(x), "y": _numbers(y), "label": label, "color": color, "width": width, "dash": dash,
           "marker": marker}
    if band is not None:
        out["band"] = [_numbers(band[0]), _numbers(band[1])]
    return out


def chart_scene(name: str, lines: list[dict[str, Any]], *, xlabel: str, ylabel: str, title: str = "",
                ylim: tuple[float, float] | None = None, references: list[dict[str, Any]] | None = None,
                legend: bool = False, height: int = 150) -> dict[str, Any]:
    """A line chart whose marker (and a vertical line) follow the slider.

    ``references`` are horizontal lines ``{"y": value, "label": ..., "color": ...}``
    (e.g. zero, or an untrained baseline).
    """
    xs = [np.asarray(ln["x"], dtype=float) for ln in lines]
    ys = [np.asarray(ln["y"], dtype=float) for ln in lines]
    ys += [np.asarray(b, dtype=float) for ln in lines for b in ln.get("band", [])]
    ys += [np.asarray([ref["y"]], dtype=float) for ref in references or []]
    xlim = _finite_limits(xs, 0.02, None)
    ylim = _finite_limits(ys, 0.06, ylim)
    return {"name": name, "title": title, "xlabel": xlabel, "ylabel": ylabel, "xlim": list(xlim),
            "ylim": list(ylim), "xticks": ticks(*xlim), "yticks": ticks(*ylim), "lines": lines,
            "references": list(references or []), "legend": bool(legend), "height": int(height)}


def scatter_scene(x: np.ndarray, y: np.ndarray, *, colors: np.ndarray, palette: list[str],
                  legend: list[list[Any]], xlabel: str, ylabel: str, titles: list[str]) -> dict[str, Any]:
    """Per-snapshot points ``(F, N)``; ``colors`` (F, N) indices into ``palette``."""
    xlim = _finite_limits([x], 0.03, None)
    ylim = _finite_limits([y], 0.05, None)
    f, n = x.shape
    return {"frames": int(f), "n": int(n), "x": np.ascontiguousarray(x, dtype="<f4").tobytes(),
            "y": np.ascontiguousarray(y, dtype="<f4").tobytes(),
            "colors": np.ascontiguousarray(colors, dtype=np.uint8).tobytes(), "palette": list(palette),
            "legend": legend, "xlim": list(xlim), "ylim": list(ylim), "xticks": ticks(*xlim),
            "yticks": ticks(*ylim), "xlabel": xlabel, "ylabel": ylabel, "titles": list(titles)}
