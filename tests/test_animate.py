"""animate_maps: one GIF frame per snapshot, titles from the run, MP4 via (fake) ffmpeg."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import os
import stat
import sys

import numpy as np
import pytest
from PIL import Image

from actconf.animate import animate_maps, find_ffmpeg
from actconf.errors import InvalidParameterError, MissingDataError
from actconf.render import TopoRenderer
from actconf.testing import synthetic_naps

pytestmark = pytest.mark.synthetic_arrays(sizes=(40,))  # the synthetic_run fixture: one layer of 40 neurons


@pytest.fixture(scope="module")
def pos():
    return np.random.default_rng(1).random((40, 2))


def test_gif_one_frame_per_snapshot(pos, tmp_path):
    nap = synthetic_naps(by="class", n_snapshots=5)
    out = animate_maps(nap, pos, tmp_path / "maps.gif", progress=False, fps=5)
    with Image.open(out) as im:
        assert im.n_frames == 5
        assert im.info["duration"] == 200
        frames = []
        for k in range(im.n_frames):
            im.seek(k)
            frames.append(np.asarray(im.convert("RGB"), dtype=np.int16))
    # frames differ (the maps change) but share size and static parts
    assert all(f.shape == frames[0].shape for f in frames)
    assert np.abs(frames[0] - frames[1]).sum() > 0


def test_gif_frames_show_the_rendered_maps(pos, tmp_path):
    """A frame whose maps are all +max shows the colormap's top colour inside the hull."""
    nap = synthetic_naps(by="class", n_snapshots=2)
    nap[1] = np.abs(nap[1]).max()  # constant maps at the upper limit in the last frame
    nap[0] = -np.abs(nap[1]).max()
    out = animate_maps(nap, pos, tmp_path / "c.gif", progress=False)
    with Image.open(out) as im:
        im.seek(1)
        last = np.asarray(im.convert("RGB"), dtype=int)
        im.seek(0)
        first = np.asarray(im.convert("RGB"), dtype=int)
    from matplotlib import colormaps

    top = (np.array(colormaps["RdBu_r"](1.0)[:3]) * 255).round()
    bottom = (np.array(colormaps["RdBu_r"](0.0)[:3]) * 255).round()
    assert (np.abs(last - top).sum(-1) < 12).mean() > 0.1
    assert (np.abs(first - bottom).sum(-1) < 12).mean() > 0.1


def test_mp4_pipes_frames_to_ffmpeg(pos, tmp_path, monkeypatch):
    """A stand-in ffmpeg records the raw frames it receives."""
    log = tmp_path / "received.txt"
    fake = tmp_path / "ffmpeg"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "args = sys.argv[1:]\n"
        "w, h = map(int, args[args.index('-s') + 1].split('x'))\n"
        "data = sys.stdin.buffer.read()\n"
        f"open({str(log)!r}, 'w').write(f'{{w}} {{h}} {{len(data)}}')\n"
        "open(args[-1], 'wb').write(b'mp4')\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("ACTCONF_FFMPEG", str(fake))
    assert find_ffmpeg() == str(fake)
    nap = synthetic_naps(by="class", n_snapshots=3)
    out = animate_maps(nap, pos, tmp_path / "maps.mp4", progress=False)
    assert out.read_bytes() == b"mp4"
    w, h, n = map(int, log.read_text().split())
    assert w % 2 == 0 and h % 2 == 0 and n == 3 * w * h * 3  # three RGB frames


def test_mp4_without_ffmpeg_is_a_clear_error(pos, tmp_path, monkeypatch):
    monkeypatch.delenv("ACTCONF_FFMPEG", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(MissingDataError, match="needs ffmpeg.*gif"):
        animate_maps(synthetic_naps(by="class"), pos, tmp_path / "x.mp4", progress=False)


def test_titles_from_run(pos, tmp_path, synthetic_run):
    run, layouts = synthetic_run
    from actconf.naps import naps

    nap = naps(run, "dense", by="class")
    renderer = TopoRenderer(layouts["dense"], resolution=40)
    # the title carries the run's snapshot label and accuracy: check via the helper
    from actconf.animate import _frame_titles

    titles = _frame_titles("t", ["a"] * run.n_snapshots, run, list(range(run.n_snapshots)))  # run snapshot ids
    assert titles[1] == "t · epoch 1 · batch 5 · acc " + f"{run.snapshots['accuracy'].iloc[1]:.3f}"
    out = animate_maps(nap, renderer, tmp_path / "run.gif", run=run, progress=False)
    with Image.open(out) as im:
        assert im.n_frames == run.n_snapshots


def test_bad_arguments(pos, tmp_path):
    nap = synthetic_naps(by="class")
    with pytest.raises(InvalidParameterError, match="suffix"):
        animate_maps(nap, pos, tmp_path / "x.avi")
    with pytest.raises(InvalidParameterError, match="'fps'"):
        animate_maps(nap, pos, tmp_path / "x.gif", fps=0)
    with pytest.raises(InvalidParameterError, match="'rows'"):
        animate_maps(nap, pos, tmp_path / "x.gif", rows="snapshot")
    assert not os.path.exists(tmp_path / "x.gif")


def test_snapshots_are_run_snapshot_ids(tmp_path, synthetic_run, monkeypatch):
    """NAPs of some snapshots: frames are chosen by run snapshot id and titled by the run's rows."""
    run, layouts = synthetic_run
    import actconf.animate as animate
    from actconf.naps import naps

    nap = naps(run, "dense", by="class", snapshots=[0, 3, 5])
    seen = []
    original = animate._frame_titles

    def spy(base, labels, run_, snapshots):
        seen.append(list(snapshots))
        return original(base, labels, run_, snapshots)

    monkeypatch.setattr(animate, "_frame_titles", spy)
    out = animate_maps(nap, layouts["dense"], tmp_path / "sub.gif", run=run, snapshots=[3, 5], progress=False)
    with Image.open(out) as im:
        assert im.n_frames == 2
    animate_maps(nap, layouts["dense"], tmp_path / "sub2.gif", run=run, progress=False)
    assert seen == [[3, 5], [0, 3, 5]]  # ids, so the titles come from run.snapshots rows 0, 3, 5
    titles = original("", ["?"] * 3, run, seen[1])
    assert titles[1].startswith(str(run.snapshots["label"].iloc[3]))
    with pytest.raises(InvalidParameterError, match="'snapshots'"):
        animate_maps(nap, layouts["dense"], tmp_path / "bad.gif", snapshots=[1], progress=False)


def test_style_and_deprecated_keywords(pos, tmp_path):
    from actconf.plots import MapStyle

    nap = synthetic_naps(by="class", n_snapshots=2)
    small = animate_maps(nap, pos, tmp_path / "small.gif", style=MapStyle(dpi=40), progress=False)
    with pytest.warns(DeprecationWarning, match="dpi= is deprecated"):
        old = animate_maps(nap, pos, tmp_path / "old.gif", dpi=40, progress=False)
    with Image.open(small) as a, Image.open(old) as b, Image.open(
            animate_maps(nap, pos, tmp_path / "default.gif", progress=False)) as c:
        assert a.size == b.size
        assert c.size[0] == pytest.approx(2 * a.size[0], abs=2)  # default dpi 80


def test_same_colour_convention_as_the_static_grid(pos, tmp_path):
    """Non-negative values (plain mean activations): the sequential scale from 0 of plot_map_grid, not
    the diverging one; the frame whose maps sit at the maximum shows the scale's top colour."""
    from matplotlib import colormaps

    from actconf.plots import plot_map_grid

    nap = np.abs(synthetic_naps(by="class", n_snapshots=2))
    nap[0] = 0.0
    nap[1] = float(nap.max()) if float(nap.max()) > 0 else 1.0
    static = plot_map_grid(nap, pos, rows="snapshot").axes[0].images[-1]
    assert static.get_cmap().name.startswith("Reds") and static.norm.vmin == 0.0
    out = animate_maps(nap, pos, tmp_path / "plain.gif", progress=False)
    with Image.open(out) as im:
        im.seek(1)
        top_frame = np.asarray(im.convert("RGB"), dtype=int)
        im.seek(0)
        zero_frame = np.asarray(im.convert("RGB"), dtype=int)
    top = (np.array(colormaps["Reds"](1.0)[:3]) * 255).round()
    bottom = (np.array(colormaps["Reds"](0.0)[:3]) * 255).round()
    blue = (np.array(colormaps["RdBu_r"](0.0)[:3]) * 255).round()
    assert (np.abs(top_frame - top).sum(-1) < 12).mean() > 0.1
    inside = np.abs(zero_frame - bottom).sum(-1) < 12  # zero is the scale's lightest colour
    assert inside.mean() > 0.1
    assert (np.abs(zero_frame - blue).sum(-1) < 12).mean() < 0.001  # nothing on the diverging scale's blue
