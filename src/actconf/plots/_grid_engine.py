"""The drawing engine behind map grids, animations and the explorer: draw once, then swap pixels.

:class:`Blitter` is the one blitting helper: it draws a figure once without its
changing ("dynamic") artists, keeps that as the background, and from then on
restores the background and redraws only the given artists. :class:`MapGridFigure`
lays out a grid of maps (:class:`~actconf.plots._panels.Panels`) with colour bars,
shows one frame (:meth:`~MapGridFigure.show`) for static figures, and blits frames
(:meth:`~MapGridFigure.blit`) for :mod:`actconf.animate` and :mod:`actconf.widgets`,
which also use :class:`Blitter` for their own figures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..render import TopoRenderer
from ._figure import new_figure
from ._mapaxes import draw_map_axes, draw_map_image, draw_markers
from ._panels import Panels
from ._style import MapStyle

# widest size note a map shows: its screen box is reserved once, when frozen
_NOTE_TEMPLATE = "n=88 · 0.00–1.00 (ÅgÉ)"
_MAX_SPRITES = 20_000


class Blitter:
    """Redraw only some artists of a figure over a background drawn once.

    Parameters
    ----------
    fig : matplotlib Figure
        With an Agg canvas (as :func:`~actconf.plots._figure.new_figure` makes).
    dynamic : list of Artist
        The artists that change between frames; hidden while the background is drawn.

    Notes
    -----
    :meth:`freeze` fixes the layout (the layout engine is switched off after one
    full draw), so artists must not move or resize afterwards; texts must stay in
    the space reserved for them.
    """

    def __init__(self, fig: Any, dynamic: list[Any]) -> None:
        self.fig = fig
        self.dynamic = list(dynamic)
        self._background = None

    def freeze(self) -> None:
        """Lay out and draw the figure once without the dynamic artists; keep it as background."""
        canvas = self.fig.canvas
        canvas.draw()  # the layout engine places everything once, dynamic artists included
        self.fig.set_layout_engine("none")
        for artist in self.dynamic:
            artist.set_visible(False)
        canvas.draw()
        self._background = canvas.copy_from_bbox(self.fig.bbox)
        for artist in self.dynamic:
            artist.set_visible(True)

    def restore(self) -> None:
        """Put the background back (freezing first if needed)."""
        if self._background is None:
            self.freeze()
        self.fig.canvas.restore_region(self._background)

    def draw_artist(self, artist: Any) -> None:
        """Draw one artist onto the canvas as it is now."""
        if artist.axes is not None:
            artist.axes.draw_artist(artist)
        else:
            self.fig.draw_artist(artist)

    def draw(self, artists: list[Any] | None = None) -> np.ndarray:
        """Restore the background, draw ``artists`` (default: the dynamic ones) and return the pixels."""
        self.restore()
        for artist in self.dynamic if artists is None else artists:
            self.draw_artist(artist)
        return self.pixels()

    def pixels(self) -> np.ndarray:
        """The canvas pixels ``(H_px, W_px, 4)`` uint8 (a view; copy it to keep it)."""
        return np.asarray(self.fig.canvas.buffer_rgba())


class MapGridFigure:
    """A figure with a grid of maps whose image data can be swapped in place.

    Parameters
    ----------
    panels : Panels
        What the grid shows (its rows and columns give the grid's shape).
    renderer : TopoRenderer
    limits : array of shape (R, 2)
        Colour limits per row (identical rows for a shared scale).
    style : MapStyle
        With ``cmap``, ``markers`` and ``panel_size`` set (see
        :meth:`MapStyle.with_defaults`); ``share="row"`` gives one colour bar per row.
    fig : matplotlib Figure, optional
        An empty figure to fill (default: a new one sized for the grid).
    """

    def __init__(self, panels: Panels, renderer: TopoRenderer, *, limits: np.ndarray, style: MapStyle,
                 fig: Any = None) -> None:
        from matplotlib import colormaps
        from matplotlib.colors import Normalize

        self.panels = panels
        self.renderer = renderer
        self.limits = np.asarray(limits, dtype=float)
        self.shape = (len(panels.row_labels), len(panels.col_labels))
        self.fig = fig if fig is not None else new_figure(self._figsize(style.panel_size), dpi=style.dpi)
        self.cmap = colormaps[style.cmap].with_extremes(bad=(0, 0, 0, 0))
        self.norms = [Normalize(*self.limits[i]) for i in range(self.shape[0])]
        r, c = self.shape
        gs = self.fig.add_gridspec(r, c + 1, width_ratios=[1] * c + [0.07 * (1 if c > 1 else 2)])
        self.axes = np.empty(self.shape, dtype=object)
        self.images = np.empty(self.shape, dtype=object)
        self.note_texts = np.empty(self.shape, dtype=object)
        for i, j in np.ndindex(*self.shape):
            self._add_panel(gs[i, j], i, j, bool(style.markers))
        self.colorbars = self._add_colorbars(gs, per_row=style.share == "row" and r > 1)
        self.title = self.fig.suptitle("", fontsize=10)
        self.blitter: Blitter | None = None

    # -- building ------------------------------------------------------------------------
    def _figsize(self, panel_size: float) -> tuple[float, float]:
        r, c = len(self.panels.row_labels), len(self.panels.col_labels)
        has_rows = any(self.panels.row_labels)
        return c * panel_size + (0.9 if has_rows else 0.2) + 0.9, r * (panel_size + 0.25) + 0.75

    def _add_panel(self, spec: Any, i: int, j: int, markers: bool) -> None:
        ax = self.fig.add_subplot(spec)
        self.axes[i, j] = ax
        draw_map_axes(ax, self.renderer)
        self.images[i, j] = draw_map_image(ax, self.renderer, np.full(self.renderer.shape, np.nan), cmap=self.cmap,
                                           norm=self.norms[i])
        if markers:
            draw_markers(ax, self.renderer, size=1.2, alpha=0.45)
        self.note_texts[i, j] = ax.text(0.5, -0.02, "", transform=ax.transAxes, ha="center", va="top",
                                        fontsize=7, color="0.35")
        if i == 0 and self.panels.col_labels[j]:
            ax.set_title(self.panels.col_labels[j], fontsize=9, pad=3)
        if j == 0 and self.panels.row_labels[i]:
            ax.set_ylabel(self.panels.row_labels[i], fontsize=9)

    def _add_colorbars(self, gs: Any, *, per_row: bool) -> list[Any]:
        r, c = self.shape
        quantity = self.panels.quantity
        if not per_row:
            cb = self.fig.colorbar(self.images[0, 0], cax=self.fig.add_subplot(gs[:, c]))
            cb.set_label(quantity, fontsize=8)
            cb.ax.tick_params(labelsize=7)
            return [cb]
        colorbars = []
        for i in range(r):
            cb = self.fig.colorbar(self.images[i, 0], cax=self.fig.add_subplot(gs[i, c]))
            cb.ax.tick_params(labelsize=7)
            colorbars.append(cb)
        colorbars[r // 2].set_label(quantity, fontsize=8)
        return colorbars

    # -- static use ------------------------------------------------------------------------
    def show(self, images: np.ndarray, notes: np.ndarray, title: str) -> None:
        """Set float images ``(R, C, H, W)``, the size notes ``(R, C)`` and the title."""
        for idx in np.ndindex(*self.shape):
            self.images[idx].set_data(images[idx])
            self.note_texts[idx].set_text(notes[idx])
        self.title.set_text(title)

    # -- fast frame updates -------------------------------------------------------------------
    def to_rgba(self, images: np.ndarray) -> np.ndarray:
        """Colour-map float images ``(..., R, C, H, W)`` to uint8 RGBA with the grid's norms.

        NaN pixels become transparent. Precomputing frames this way makes a frame
        update a pure copy of pixels.
        """
        out = np.empty(images.shape + (4,), dtype=np.uint8)
        for i in range(self.shape[0]):
            out[..., i, :, :, :, :] = self.cmap(self.norms[i](images[..., i, :, :, :]), bytes=True)
        return out

    def freeze(self) -> None:
        """Draw everything except the frame-dependent artists once and keep it as background.

        After this, :meth:`blit` redraws only images (with their outlines and
        markers), size notes and the title. The layout is fixed from here on (no
        re-layout per frame), and images are drawn without resampling filters.
        """
        if not self.title.get_text():
            self.title.set_text(" ")  # reserve the title's space in the layout
        # outlines and markers lie over the images: left out of the background and drawn after them, once
        self._overlays = [p for ax in self.axes.ravel() for p in ax.patches] + \
            [ln for ax in self.axes.ravel() for ln in ax.lines]
        self.blitter = Blitter(self.fig, [*self.images.ravel(), *self._overlays, *self.note_texts.ravel(),
                                          self.title])
        self.blitter.freeze()
        for im in self.images.ravel():
            im.set_interpolation("nearest")  # frames are shown near 1:1; 3x cheaper than antialiasing
        self._reserve_text_boxes()
        self._sprites: dict[tuple, Any] = {}

    def _reserve_text_boxes(self) -> None:
        """Fixed screen regions of the size notes and the title (rendered texts are cached per region)."""
        from matplotlib.transforms import Bbox

        renderer = self.fig.canvas.get_renderer()
        self._note_boxes = np.empty(self.shape, dtype=object)
        for idx in np.ndindex(*self.shape):
            ax_box = self.axes[idx].get_window_extent(renderer)
            text = self.note_texts[idx]
            old = text.get_text()
            text.set_text(_NOTE_TEMPLATE)
            tb = text.get_window_extent(renderer)
            text.set_text(old)
            self._note_boxes[idx] = Bbox.from_extents(ax_box.x0, tb.y0 - 1, ax_box.x1, tb.y1 + 1)
        fb = self.fig.bbox
        tb = self.title.get_window_extent(renderer)
        self._title_box = Bbox.from_extents(fb.x0, max(fb.y0, tb.y0 - 2), fb.x1, min(fb.y1, tb.y1 + 2))

    def _draw_text(self, key: tuple, artist: Any, text: str, box: Any) -> None:
        """Draw ``artist`` showing ``text`` (from the sprite cache when possible)."""
        canvas = self.fig.canvas
        artist.set_text(text)
        sprite = self._sprites.get((key, text))
        if sprite is not None:
            canvas.restore_region(sprite)
            return
        self.blitter.draw_artist(artist)
        sprite = canvas.copy_from_bbox(box)
        if len(self._sprites) < _MAX_SPRITES:
            self._sprites[(key, text)] = sprite

    def blit(self, images: np.ndarray, notes: np.ndarray | None = None, title: str | None = None) -> np.ndarray:
        """Show one frame: ``images`` (R, C, H, W) floats or (R, C, H, W, 4) uint8 RGBA.

        Restores the frozen background, draws only the changing artists and returns
        the canvas pixels (H_px, W_px, 4) uint8 (a view; copy it to keep it).
        """
        if self.blitter is None:
            self.freeze()
        self.blitter.restore()
        for idx in np.ndindex(*self.shape):
            self.images[idx].set_data(images[idx])
            self.blitter.draw_artist(self.images[idx])
        for artist in self._overlays:
            self.blitter.draw_artist(artist)
        for idx in np.ndindex(*self.shape):
            text = self.note_texts[idx].get_text() if notes is None else str(notes[idx])
            self._draw_text(("note", idx), self.note_texts[idx], text, self._note_boxes[idx])
        self._draw_text(("title",), self.title, self.title.get_text() if title is None else title, self._title_box)
        return self.blitter.pixels()
