"""Animations of map grids over training: GIF (Pillow) or MP4 (ffmpeg).

Every frame is one snapshot: the grid of maps of :func:`actconf.plots.plot_map_grid`
(e.g. one map per class, or classes x confidence bins), with the snapshot's
epoch/batch and accuracy in the title. All frames are rendered with one call of the
layout's interpolation operator, the colour scale is shared by all frames (so
colour change means activity change), and only the images, size notes and title
are redrawn per frame.

Colours follow the one convention of the static map grids
(:func:`actconf.plots.grid_colours`): signed values such as contrastive NAPs on the
diverging ``RdBu_r`` scale symmetric around 0, non-negative values such as plain
mean activations on the sequential ``Reds`` scale from 0 — so an animation and the
static figure of the same data look the same.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._validation import check_float, check_option
from .errors import InvalidInputError, MissingDataError

__all__ = ["animate_maps", "find_ffmpeg"]
# named internal API (for the report): grid_frames, GridFrames


def find_ffmpeg() -> str | None:
    """Path of an ``ffmpeg`` executable: ``$ACTCONF_FFMPEG``, ``ffmpeg`` on the PATH, or
    the binary of the ``imageio-ffmpeg`` package if installed; None if there is none."""
    env = os.environ.get("ACTCONF_FFMPEG")
    if env and Path(env).is_file():
        return env
    found = shutil.which("ffmpeg")
    if found:
        return found
    try:  # optional: a pip-installable ffmpeg binary
        import imageio_ffmpeg  # type: ignore[import-not-found]

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - absent or broken: no ffmpeg
        return None


def _frame_titles(base: str, labels: list[str], run: Any, snapshots: list[int | None]) -> list[str]:
    """Title per frame: base · snapshot label · accuracy (from the run's logs if known).

    ``snapshots`` are run snapshot ids (rows of ``run.snapshots``).
    """
    titles = []
    table = None
    if run is not None:
        try:
            table = run.snapshots
        except Exception:  # noqa: BLE001 - any run-like object without a table
            table = None
    for label, s in zip(labels, snapshots, strict=True):
        parts = [base] if base else []
        extra = ""
        if table is not None and s is not None and 0 <= s < len(table):
            row = table.iloc[s]
            if "label" in table.columns:
                label = str(row["label"])
            for key, name in (("accuracy", "acc"), ("val_accuracy", "val acc")):
                if key in table.columns and np.isfinite(row[key]):
                    extra += f" · {name} {row[key]:.3f}"
        parts.append(label + extra)
        titles.append(" · ".join(parts))
    return titles


def animate_maps(
    naps: Any,
    layout: Any,
    path: str | os.PathLike,
    *,
    run: Any = None,
    rows: str | None = None,
    cols: str | None = "auto",
    snapshots: Any = None,
    fps: float = 4.0,
    style: Any = None,
    progress: bool = True,
    **deprecated: Any,
) -> Path:
    """Write an animation of a map grid over snapshots (one frame per snapshot).

    Parameters
    ----------
    naps : xarray.DataArray (snapshot, group, neuron)
        NAPs over several snapshots (:func:`actconf.naps.naps`).
    layout : Layout, array (n_neurons, 2) or TopoRenderer
        Neuron positions of the NAPs' layer.
    path : path-like
        Output file; ``.gif`` (Pillow) or ``.mp4`` (needs ffmpeg, see
        :func:`find_ffmpeg`).
    run : Run, optional
        The run the NAPs come from: its snapshot table gives the frame titles
        (``"epoch 1 · batch 10"``) and the accuracy shown next to them.
    rows, cols : str or None
        The grid of each frame, as in :func:`actconf.plots.plot_map_grid` (not
        ``"snapshot"``: snapshots are the frames).
    snapshots : run snapshot selector, optional
        Which snapshots become frames, by the NAPs' ``snapshot`` coordinate, i.e.
        *run snapshot ids* (as in :func:`actconf.plots.plot_map_grid`: ids, lists
        of ids, ``"epochs"``, ``{"epoch": 3}``, ...); default all of the NAPs'.
    fps : float, default=4
        Frames per second.
    style : actconf.plots.MapStyle, optional
        The look, as in :func:`actconf.plots.plot_map_grid` (``vlim``, ``share``,
        ``markers``, ``cmap``, ``method``/``mask``, ``panel_size``); the colour
        limits cover all frames. Defaults as in :func:`~actconf.plots.plot_map_grid`
        (``RdBu_r`` symmetric around 0 for signed values, ``Reds`` from 0 for
        non-negative ones), and ``dpi=80``. The keywords ``vlim``, ``share``,
        ``markers``, ``cmap`` and ``dpi`` are deprecated aliases of its fields.
    progress : bool, default=True
        Show a progress bar while frames are drawn (in a notebook it becomes one
        line of text when done).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    MissingDataError
        ``.mp4`` requested but no ffmpeg found (write a ``.gif`` instead, or install
        ffmpeg, e.g. ``apt-get install ffmpeg`` or ``pip install imageio-ffmpeg``).
    """
    from .plots import style_with_aliases
    from .widgets import progress_bar

    caller = "animate_maps()"
    path = Path(path)
    fps = check_float("fps", fps, caller, min_value=0, min_inclusive=False, max_value=100)
    ffmpeg = _check_output(path, caller)
    style = style_with_aliases(style, deprecated, caller, _STYLE_KEYWORDS)
    frames = grid_frames(naps, layout, run=run, rows=rows, cols=cols, snapshots=snapshots,
                         style=style.with_defaults(dpi=80), caller=caller)
    path.parent.mkdir(parents=True, exist_ok=True)
    with progress_bar(len(frames), f"frames → {path.name}", enabled=progress) as bar:
        if ffmpeg is None:
            _write_gif(frames, path, fps, frames.cmap, bar)
        else:
            _write_mp4(frames, path, fps, ffmpeg, bar)
    return path


def grid_frames(naps: Any, layout: Any, *, run: Any = None, rows: str | None = None, cols: str | None = "auto",
                snapshots: Any = None, style: Any = None, quantity: str | None = None,
                caller: str = "grid_frames()") -> GridFrames:
    """Every frame of a map grid over snapshots, blitted from one frozen figure (named internal API).

    The frames of :func:`animate_maps` and of the report's sliders: the grid of
    :func:`actconf.plots.plot_map_grid` per snapshot, one colour scale for all
    frames, by the static grids' colour convention. ``quantity`` replaces the
    colour bar's label (e.g. a shorter one for a grid of one short row).
    """
    import dataclasses

    from .plots import (
        MapGridFigure,
        MapStyle,
        build_panels,
        check_panels_fit,
        drawn_values,
        grid_colours,
        map_renderer,
    )

    style = (style if style is not None else MapStyle()).with_defaults(markers=False, contours=0, panel_size=1.5)
    renderer = map_renderer(layout, style)
    panels = build_panels(naps, rows=rows, cols=cols, snapshots=snapshots, frames=True, caller=caller)
    check_panels_fit(panels, renderer, caller)
    if quantity is not None:
        panels = dataclasses.replace(panels, quantity=quantity)
    # the static grids' colour convention, on the values as drawn (smoothed above 512 neurons)
    style, limits = grid_colours(drawn_values(renderer, panels.values), style)
    grid = MapGridFigure(panels, renderer, limits=limits, style=style)
    titles = _frame_titles(panels.title, panels.frame_labels, run, panels.frame_snapshots)
    images = renderer.render(panels.values)  # every map of every frame in one product
    grid.show(images[0], panels.notes[0], titles[0])
    grid.freeze()
    prefix = f"{panels.title} · " if panels.title else ""
    labels = [t[len(prefix):] for t in titles]  # the snapshot part of each title
    return GridFrames(grid, images, panels.notes, titles, labels, str(style.cmap))


_STYLE_KEYWORDS = ("vlim", "share", "markers", "cmap", "dpi")


def _check_output(path: Path, caller: str) -> str | None:
    """Check the file type; for ``.mp4`` return the ffmpeg to use (or raise), for ``.gif`` None."""
    suffix = check_option("path suffix", path.suffix.lower(), (".gif", ".mp4"), caller)
    if suffix == ".gif":
        return None
    ffmpeg = find_ffmpeg()
    if ffmpeg is None:
        raise MissingDataError(
            f"{caller}: writing {path.name} needs ffmpeg, which was not found (not on the PATH, "
            "no $ACTCONF_FFMPEG, no imageio-ffmpeg package). Install it (apt-get install ffmpeg, "
            "or pip install imageio-ffmpeg) or write a .gif instead."
        )
    return ffmpeg


class GridFrames:
    """The frames of an animation, blitted one by one from a frozen map grid.

    ``titles`` are the frames' titles, ``labels`` their snapshot labels (with
    accuracy when the run is known), ``cmap`` the colormap used.
    """

    def __init__(self, grid: Any, images: np.ndarray, notes: np.ndarray, titles: list[str], labels: list[str],
                 cmap: str) -> None:
        self.grid, self.images, self.notes, self.titles = grid, images, notes, titles
        self.labels, self.cmap = labels, cmap

    def __len__(self) -> int:
        return len(self.titles)

    def rgba(self, k: int) -> np.ndarray:
        """Canvas pixels of frame ``k`` (a view of the canvas: use before the next frame)."""
        return self.grid.blit(self.images[k], self.notes[k], self.titles[k])


def _write_gif(frames: GridFrames, path: Path, fps: float, cmap: str, bar: Any) -> None:
    shots = []
    for k in range(len(frames)):
        shots.append(np.ascontiguousarray(frames.rgba(k)[..., :3]))
        bar.update()
    write_gif(shots, path, fps=fps, cmap=cmap)


def write_gif(pixels: Sequence[np.ndarray], path: Path, *, fps: float, cmap: str) -> Path:
    """Write RGB(A) frames ``(H, W, 3|4)`` of one size as a looping GIF (named internal API).

    One fixed palette for all frames: the colormap's colours plus greys (text,
    background, gaps), so that colours neither flicker nor band between frames.
    """
    from PIL import Image

    palette = _gif_palette(cmap)
    quantized = [Image.fromarray(np.ascontiguousarray(p[..., :3])).quantize(palette=palette,
                                                                             dither=Image.Dither.NONE)
                 for p in pixels]
    quantized[0].save(path, save_all=True, append_images=quantized[1:], duration=int(round(1000 / fps)),
                      loop=0, optimize=False, disposal=1)
    return Path(path)


def _gif_palette(cmap: str):
    from matplotlib import colormaps
    from PIL import Image

    lut = (colormaps[cmap](np.linspace(0, 1, 216))[:, :3] * 255).round().astype(np.uint8)
    greys = np.repeat(np.linspace(0, 255, 40).round().astype(np.uint8)[:, None], 3, axis=1)
    pal = Image.new("P", (1, 1))
    pal.putpalette(np.concatenate([lut, greys]).ravel().tolist())
    return pal


def _write_mp4(frames: GridFrames, path: Path, fps: float, ffmpeg: str, bar: Any) -> None:
    """Pipe raw RGB frames into ffmpeg (H.264, yuv420p, even frame size)."""
    first = frames.rgba(0)
    h, w = first.shape[:2]
    h2, w2 = h - h % 2, w - w % 2
    cmd = [ffmpeg, "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w2}x{h2}",
           "-r", f"{fps:g}", "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", str(path)]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        for k in range(len(frames)):
            rgba = first if k == 0 else frames.rgba(k)
            proc.stdin.write(np.ascontiguousarray(rgba[:h2, :w2, :3]).tobytes())
            bar.update()
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace")
        code = proc.wait()
    except BrokenPipeError:
        code = proc.wait()
        err = proc.stderr.read().decode(errors="replace")
    if code != 0:
        raise InvalidInputError(f"animate_maps(): ffmpeg failed (exit {code}) writing {path}: {err.strip()[:500]}")
