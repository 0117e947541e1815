"""TopoRenderer against SciPy's griddata / interpolators, masks, degenerate input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.interpolate import CloughTocher2DInterpolator, griddata

from actconf.errors import InvalidInputError, InvalidParameterError
from actconf.render import TopoRenderer, get_renderer


def _grid(r):
    return tuple(np.meshgrid(r.xs, r.ys))


def _layouts():
    rng = np.random.default_rng(123)
    yield "uniform128", rng.random((128, 2))
    yield "clustered40", np.clip(rng.normal(0.5, 0.15, (40, 2)), 0, 1)
    # a SOM-like regular grid: many cocircular points and pixel/neuron distance ties
    g = np.linspace(0, 1, 6)
    yield "regular36", np.column_stack([np.repeat(g, 6), np.tile(g, 6)])
    yield "unnormalised25", rng.normal(0, 30, (25, 2))


LAYOUTS = list(_layouts())


@pytest.mark.parametrize(("name", "pos"), LAYOUTS, ids=[n for n, _ in LAYOUTS])
def test_linear_equals_griddata(name, pos):
    rng = np.random.default_rng(7)
    r = TopoRenderer(pos, resolution=60)
    values = rng.standard_normal((4, len(pos))) * 3
    images = r.render(values)
    gx, gy = _grid(r)
    for v, img in zip(values, images, strict=True):
        ref = griddata(pos, v, (gx, gy), method="linear")
        # same blank pixels (outside the hull) and the same values inside
        np.testing.assert_array_equal(np.isnan(img), np.isnan(ref))
        assert np.nanmax(np.abs(img - ref)) <= 1e-9


@pytest.mark.parametrize(("name", "pos"), LAYOUTS, ids=[n for n, _ in LAYOUTS])
def test_nearest_equals_griddata_inside_hull(name, pos):
    rng = np.random.default_rng(8)
    r = TopoRenderer(pos, resolution=50, method="nearest")
    v = rng.standard_normal(len(pos))
    img = r.render(v)
    gx, gy = _grid(r)
    ref = griddata(pos, v, (gx, gy), method="nearest")
    hull = ~np.isnan(griddata(pos, v, (gx, gy), method="linear"))
    np.testing.assert_array_equal(r.mask, hull)
    np.testing.assert_array_equal(img[hull], ref[hull])
    # and without a mask nearest extrapolates everywhere, exactly like griddata
    full = TopoRenderer(pos, resolution=50, method="nearest", mask=None).render(v)
    np.testing.assert_array_equal(full, ref)


@pytest.mark.parametrize(("name", "pos"), LAYOUTS[:3], ids=[n for n, _ in LAYOUTS[:3]])
def test_cubic_equals_clough_tocher(name, pos):
    rng = np.random.default_rng(9)
    r = TopoRenderer(pos, resolution=40, method="cubic")
    assert isinstance(r.operator, np.ndarray)  # dense: every pixel depends on all neurons
    v = rng.standard_normal(len(pos))
    img = r.render(v)
    gx, gy = _grid(r)
    # the converged interpolant: equal to rounding error
    tight = CloughTocher2DInterpolator(pos, v, tol=1e-12, maxiter=100_000)(gx, gy)
    np.testing.assert_array_equal(np.isnan(img), np.isnan(tight))
    assert np.nanmax(np.abs(img - tight)) <= 1e-9
    # griddata's cubic stops its gradient iteration at tol=1e-6: equal up to that
    ref = griddata(pos, v, (gx, gy), method="cubic")
    np.testing.assert_array_equal(np.isnan(img), np.isnan(ref))
    assert np.nanmax(np.abs(img - ref)) <= 1e-5 * np.abs(v).max()


def test_batch_shapes_and_linearity():
    rng = np.random.default_rng(0)
    pos = rng.random((30, 2))
    r = TopoRenderer(pos, resolution=20)
    vals = rng.standard_normal((2, 3, 30))
    out = r.render(vals)
    assert out.shape == (2, 3, 20, 20)
    # a stack equals rendering each map alone
    np.testing.assert_allclose(out[1, 2], r.render(vals[1, 2]), atol=1e-12, equal_nan=True)
    # xarray / lists go through np.asarray
    assert r.render(vals[0, 0].tolist()).shape == (20, 20)
    assert r.render(np.zeros((0, 30))).shape == (0, 20, 20)


def test_linear_operator_is_sparse_rows_sum_to_one():
    pos = np.random.default_rng(1).random((64, 2))
    r = TopoRenderer(pos, resolution=30)
    assert sp.issparse(r.operator)
    assert r.operator.shape == (r.mask.sum(), 64)
    assert r.operator.getnnz(axis=1).max() <= 3
    np.testing.assert_allclose(np.asarray(r.operator.sum(axis=1)).ravel(), 1.0, atol=1e-12)
    np.testing.assert_array_equal(r.pixel_index, np.flatnonzero(r.mask))


@pytest.mark.parametrize(("name", "pos"), LAYOUTS, ids=[n for n, _ in LAYOUTS])
@pytest.mark.parametrize("mask", ["hull", "circle", None])
def test_barycentric_operator_equals_scipys_interpolator_weights(name, pos, mask):
    from scipy.interpolate import LinearNDInterpolator
    from scipy.spatial import Delaunay

    r = TopoRenderer(pos, resolution=47, mask=mask)
    gx, gy = _grid(r)
    points = np.column_stack([gx.ravel(), gy.ravel()])[r.pixel_index]
    tri = Delaunay(pos)
    inside = ~np.isnan(LinearNDInterpolator(tri, np.ones(len(pos)))(points))
    query = points.copy()
    query[~inside] = r._project_to_hull(tri, points[~inside])
    # reference: SciPy's interpolator applied to every unit vector (the dense way)
    ref = LinearNDInterpolator(tri, np.eye(len(pos)))(query)
    assert not np.isnan(ref).any()
    np.testing.assert_array_equal(r.operator.toarray(), ref)  # bit for bit
    assert r.operator.getnnz(axis=1).max() <= 3


def test_linear_operator_build_needs_no_dense_matrix():
    import tracemalloc

    pos = np.random.default_rng(3).random((2048, 2))
    tracemalloc.start()
    r = TopoRenderer(pos, resolution=256)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    # a dense (pixels x neurons) float64 matrix would be 256**2 * 2048 * 8 bytes = 1.07 GB
    assert peak < 100e6, peak
    assert r.operator.nnz <= 3 * r.mask.sum()


def test_grid_spans_bounding_box_and_extent_matches_imshow():
    pos = np.array([[0.1, 0.2], [0.9, 0.3], [0.5, 0.8], [0.5, 0.5]])
    r = TopoRenderer(pos, resolution=11)
    assert r.xs[0] == pytest.approx(0.1) and r.xs[-1] == pytest.approx(0.9)
    assert r.ys[0] == pytest.approx(0.2) and r.ys[-1] == pytest.approx(0.8)
    assert r.extent == pytest.approx((0.06, 0.94, 0.17, 0.83))
    # a neuron's value appears at its own pixel when it sits on a pixel centre
    v = np.array([1.0, 2.0, 3.0, 4.0])
    img = r.render(v)
    assert img[0, 0] == pytest.approx(1.0)  # (0.1, 0.2) is pixel (row 0, col 0)
    assert img[-1, 5] == pytest.approx(3.0)  # (0.5, 0.8): row 10, column 5
    assert img[5, 5] == pytest.approx(4.0)  # (0.5, 0.5): row 5, column 5


def test_explicit_extent():
    pos = np.random.default_rng(2).random((20, 2)) * 0.5 + 0.25
    r = TopoRenderer(pos, resolution=21, extent=(0, 1, 0, 1), mask=None)
    np.testing.assert_allclose(r.xs, np.linspace(0, 1, 21))
    assert r.mask.all()
    with pytest.raises(InvalidParameterError, match="'extent'"):
        TopoRenderer(pos, extent=(1, 0, 0, 1))


def test_masks():
    rng = np.random.default_rng(3)
    pos = rng.random((50, 2))
    v = rng.standard_normal(50)
    hull = TopoRenderer(pos, resolution=40, mask="hull")
    circ = TopoRenderer(pos, resolution=40, mask="circle")
    none = TopoRenderer(pos, resolution=40, mask=None)
    assert 0.5 < hull.mask.mean() < 1
    assert none.mask.all() and not np.isnan(none.render(v)).any()
    # circle: exactly the pixels within the enclosing circle, which is inscribed in the grid
    cx, cy, rad = circ.circle
    gx, gy = np.meshgrid(circ.xs, circ.ys)
    np.testing.assert_array_equal(circ.mask, np.hypot(gx - cx, gy - cy) <= rad * (1 + 1e-9))
    assert circ.xs[0] == pytest.approx(cx - rad) and circ.ys[-1] == pytest.approx(cy + rad)
    assert np.all(np.hypot(pos[:, 0] - cx, pos[:, 1] - cy) <= rad + 1e-12)
    img = circ.render(v)
    assert np.isnan(img[~circ.mask]).all() and not np.isnan(img[circ.mask]).any()


@pytest.mark.parametrize("method", ["linear", "cubic"])
def test_continuation_outside_hull_is_continuous_and_bounded(method):
    rng = np.random.default_rng(4)
    pos = rng.random((40, 2))
    v = rng.standard_normal(40)
    none = TopoRenderer(pos, resolution=50, mask=None, method=method)
    hull = TopoRenderer(pos, resolution=50, mask="hull", method=method)
    a, b = none.render(v), hull.render(v)
    # inside the hull nothing changes
    np.testing.assert_allclose(a[hull.mask], b[hull.mask], atol=1e-12)
    outside = ~hull.mask
    assert outside.any()
    if method == "linear":
        # boundary values are convex combinations of hull vertices' values
        assert a[outside].min() >= v.min() - 1e-9 and a[outside].max() <= v.max() + 1e-9
    # continuity: neighbouring pixels across the hull boundary differ like neighbours inside
    jumps_inside = np.nanmax(np.abs(np.diff(b, axis=1)))
    assert np.max(np.abs(np.diff(a, axis=1))) <= 1.5 * jumps_inside + 1e-9


def test_nan_values_become_gaps():
    rng = np.random.default_rng(5)
    pos = rng.random((30, 2))
    v = rng.standard_normal(30)
    v[4] = np.nan
    r = TopoRenderer(pos, resolution=40)
    img = r.render(v)
    gx, gy = _grid(r)
    ref = griddata(pos, v, (gx, gy), method="linear")
    np.testing.assert_array_equal(np.isnan(img), np.isnan(ref))  # the same holes as griddata
    assert np.isnan(img[r.mask]).any() and not np.isnan(img[r.mask]).all()
    # pixels that do not touch neuron 4 keep their values
    col = r.operator[:, 4].toarray().ravel()
    flat = img.reshape(-1)[r.pixel_index]
    np.testing.assert_array_equal(np.isnan(flat), col != 0)
    # an all-NaN map (a group too small to average) is empty
    assert np.isnan(r.render(np.full(30, np.nan))).all()


def test_value_errors():
    pos = np.random.default_rng(6).random((10, 2))
    r = TopoRenderer(pos, resolution=10)
    with pytest.raises(InvalidInputError, match=r"one entry per neuron \(10.*shape \(3, 11\)"):
        r.render(np.zeros((3, 11)))
    with pytest.raises(InvalidInputError):
        r.render(1.0)
    with pytest.raises(InvalidParameterError, match="'values'"):
        r.render(["a", "b"])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"resolution": 1}, "'resolution' parameter of TopoRenderer\\(\\) must be an int >= 2"),
        ({"resolution": 10.5}, "'resolution'"),
        ({"method": "spline"}, "'method' parameter .* one of 'linear', 'cubic', 'nearest'"),
        ({"mask": "head"}, "'mask'"),
    ],
)
def test_parameter_errors(kwargs, match):
    pos = np.random.default_rng(6).random((10, 2))
    with pytest.raises(InvalidParameterError, match=match):
        TopoRenderer(pos, **kwargs)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((5, 3)), np.zeros((0, 2)), np.array([[0.0, np.nan], [1, 1], [0, 1]]), "layout"],
)
def test_bad_positions(bad):
    with pytest.raises(InvalidParameterError, match="'layout_or_positions'"):
        TopoRenderer(bad)


def test_accepts_layout_like_object():
    class FakeLayout:
        positions = np.random.default_rng(0).random((12, 2))

    r = TopoRenderer(FakeLayout(), resolution=15)
    np.testing.assert_array_equal(r.positions, FakeLayout.positions)
    assert r.n_neurons == 12


@pytest.mark.parametrize(
    "pos",
    [np.array([[0.2, 0.3]]), np.array([[0.0, 0.0], [1.0, 1.0]]), np.column_stack([np.linspace(0, 1, 8)] * 2)],
    ids=["one", "two", "collinear"],
)
def test_degenerate_layouts(pos):
    for method in ("linear", "cubic"):
        with pytest.raises(InvalidInputError, match="not all on one line.*method='nearest'"):
            TopoRenderer(pos, method=method)
    with pytest.raises(InvalidInputError, match="mask='hull'"):
        TopoRenderer(pos, method="nearest", mask="hull")
    # the documented fallback works and gives each pixel its nearest neuron's value
    v = np.arange(len(pos), dtype=float)
    for mask in ("circle", None):
        r = TopoRenderer(pos, method="nearest", mask=mask, resolution=21)
        img = r.render(v)
        assert np.isfinite(img[r.mask]).all() and r.mask.any()
        assert set(np.unique(img[r.mask])) <= set(v)
        assert r.xs[-1] > r.xs[0] and r.ys[-1] > r.ys[0]  # a zero-width axis is padded
    if len(pos) == 1:
        assert np.all(TopoRenderer(pos, method="nearest", mask=None).render(v) == 0.0)


def test_duplicate_positions_match_griddata():
    rng = np.random.default_rng(11)
    pos = rng.random((20, 2))
    pos[5] = pos[2]
    v = rng.standard_normal(20)
    r = TopoRenderer(pos, resolution=30)
    gx, gy = _grid(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = griddata(pos, v, (gx, gy), method="linear")
    assert np.nanmax(np.abs(r.render(v) - ref)) <= 1e-9


def test_get_renderer_caches():
    pos = np.random.default_rng(12).random((16, 2))
    a = get_renderer(pos, resolution=12)
    b = get_renderer(pos.copy(), resolution=12)
    c = get_renderer(pos, resolution=13)
    assert a is b and a is not c
    moved = pos.copy()
    moved[0, 0] += 1e-3
    assert get_renderer(moved, resolution=12) is not a


# ---------------------------------------------------------------------- display paths
@pytest.mark.parametrize("method", ["linear", "cubic", "nearest"])
@pytest.mark.parametrize("mask", ["hull", "circle", None])
def test_float32_render_matches_float64(method, mask):
    rng = np.random.default_rng(21)
    pos = rng.random((40, 2))
    values = rng.standard_normal((3, 5, 40)) * 4
    values[1, 2, 7] = np.nan
    r = TopoRenderer(pos, resolution=33, method=method, mask=mask)
    exact = r.render(values)
    single = r.render(values, dtype=np.float32)
    assert single.dtype == np.float32 and single.shape == exact.shape == (3, 5, 33, 33)
    np.testing.assert_array_equal(np.isnan(single), np.isnan(exact))
    scale = np.nanmax(np.abs(exact))
    assert np.nanmax(np.abs(single - exact)) <= 1e-6 * scale
    assert r.render(values, dtype="float64").dtype == np.float64


@pytest.mark.parametrize("dtype", [np.float16, np.int32, "complex128", "nonsense"])
def test_render_dtype_is_checked(dtype):
    r = TopoRenderer(np.random.default_rng(0).random((10, 2)), resolution=8)
    with pytest.raises(InvalidParameterError, match="'dtype'.*float64 or numpy.float32"):
        r.render(np.zeros(10), dtype=dtype)


def _adjacent_colours_only(got, ref, cmap):
    """Pixels of got that differ from ref hold the neighbouring colour of the colormap."""
    table = cmap(np.arange(cmap.N), bytes=True).astype(int)
    diff = (got != ref).any(-1)
    for a, b in zip(got[diff], ref[diff], strict=True):
        ia = np.flatnonzero((table == a).all(1))
        ib = np.flatnonzero((table == b).all(1))
        assert ia.size and ib.size and np.abs(ia[:, None] - ib[None, :]).min() == 1, (a, b)
    return diff.mean()


@pytest.fixture(params=["numpy", "compiled"])
def rgba_engine(request, monkeypatch):
    """render_rgba through its NumPy path or through the compiled colour loop (numba)."""
    import sys

    import actconf.render as render

    if request.param == "numpy":
        monkeypatch.delitem(sys.modules, "actconf._colour_kernel", raising=False)
        monkeypatch.setattr(render, "KERNEL_MIN_PIXEL_MAPS", float("inf"))
    else:
        pytest.importorskip("numba")
        monkeypatch.setattr(render, "KERNEL_MIN_PIXEL_MAPS", 0)
    return request.param


@pytest.mark.parametrize("method", ["linear", "cubic", "nearest"])
def test_render_rgba_matches_matplotlib_colormap(method, rgba_engine):
    from matplotlib import colormaps
    from matplotlib.colors import Normalize

    rng = np.random.default_rng(22)
    pos = rng.random((60, 2))
    values = rng.standard_normal((4, 3, 60))
    values[2, 1, 4] = np.nan
    r = TopoRenderer(pos, resolution=41, method=method)
    cmap, norm = colormaps["RdBu_r"], Normalize(-1.5, 1.5)
    ref = cmap(norm(r.render(values)), bytes=True)  # what display code does today, in float64
    got = r.render_rgba(values, cmap=cmap, norm=norm)
    assert got.dtype == np.uint8 and got.shape == ref.shape == (4, 3, 41, 41, 4)
    # masked pixels and pixels depending on the NaN value: the bad colour, exactly as matplotlib
    bad = np.isnan(r.render(values))
    assert bad.any() and np.all(got[bad] == ref[bad]) and np.all(got[bad] == 0)
    # values beyond the limits take the end colours (under/over default to them)
    assert (np.abs(values) > 1.5).any()
    assert _adjacent_colours_only(got, ref, cmap) < 1e-3


def test_render_rgba_norms_and_extremes(rgba_engine):
    from matplotlib import colormaps
    from matplotlib.colors import CenteredNorm, Normalize, TwoSlopeNorm

    rng = np.random.default_rng(23)
    pos = rng.random((50, 2))
    values = rng.standard_normal((6, 50)) * 2
    r = TopoRenderer(pos, resolution=37, mask="circle")
    float_maps = r.render(values)
    cmap = colormaps["viridis"].with_extremes(under="black", over="magenta", bad="yellow")
    for norm in (Normalize(-1, 1), Normalize(-1, 1, clip=True), CenteredNorm(0.2, 1.0), TwoSlopeNorm(0, -3, 1)):
        ref = cmap(norm(float_maps), bytes=True)
        got = r.render_rgba(values, cmap=cmap, norm=norm)
        for colour in ("black", "magenta", "yellow"):  # under, over and bad pixels agree exactly
            rgba = (np.array(matplotlib_rgba(colour)) * 255).astype(np.uint8)
            np.testing.assert_array_equal((got == rgba).all(-1), (ref == rgba).all(-1), err_msg=f"{norm} {colour}")
        assert _adjacent_colours_only(got, ref, cmap) < 1e-3
    by_name = r.render_rgba(values, cmap="viridis", norm=Normalize(-1, 1))
    np.testing.assert_array_equal(by_name[:, ~r.mask], 0)  # viridis' bad colour: transparent


def matplotlib_rgba(colour):
    from matplotlib.colors import to_rgba

    return to_rgba(colour)


@pytest.mark.parametrize("method", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("mask", ["hull", "circle", None])
def test_compiled_colour_loop_equals_the_numpy_path(method, mask, monkeypatch):
    pytest.importorskip("numba")
    import sys

    from matplotlib import colormaps
    from matplotlib.colors import CenteredNorm, Normalize

    import actconf.render as render

    rng = np.random.default_rng(26)
    pos = rng.random((45, 2))
    values = rng.standard_normal((7, 45)) * 1.5
    values[1, :5] = np.nan
    values[2] = np.round(values[2] * 4) / 4  # values on colour boundaries and on the limits
    values[3] = 1.0  # a constant map at the upper limit
    r = TopoRenderer(pos, resolution=23, method=method, mask=mask)
    viridis = colormaps["viridis"]
    special = viridis.with_extremes(under="black", over="magenta", bad="yellow")
    cases = [(viridis, Normalize(-1, 1)), (special, Normalize(-1, 1)), (special, Normalize(-1, 1, clip=True)),
             (special, CenteredNorm(0.2, 1.0)), (special, Normalize(0.5, 0.5)), (colormaps["RdBu_r"].resampled(7),
                                                                                 Normalize(-2, 2))]
    calls = []
    for cmap, norm in cases:
        monkeypatch.delitem(sys.modules, "actconf._colour_kernel", raising=False)
        monkeypatch.setattr(render, "KERNEL_MIN_PIXEL_MAPS", float("inf"))
        ref = r.render_rgba(values, cmap=cmap, norm=norm)
        assert "actconf._colour_kernel" not in sys.modules  # below the threshold: NumPy only
        monkeypatch.setattr(render, "KERNEL_MIN_PIXEL_MAPS", 0)
        got = r.render_rgba(values, cmap=cmap, norm=norm)
        kernel = sys.modules["actconf._colour_kernel"]
        calls.append(kernel)
        np.testing.assert_array_equal(got, ref, err_msg=f"{cmap.name} {norm}")
    assert len(calls) == len(cases)


def test_colour_loop_threads_split_maps_without_changing_pixels(monkeypatch):
    """Split over threads (maps in uneven chunks), the compiled loop writes the NumPy path's pixels."""
    pytest.importorskip("numba")
    import sys

    from matplotlib.colors import Normalize

    import actconf.render as render

    rng = np.random.default_rng(27)
    r = TopoRenderer(rng.random((60, 2)), resolution=31)
    values = rng.standard_normal((11, 60))
    values[4, :3] = np.nan
    monkeypatch.delitem(sys.modules, "actconf._colour_kernel", raising=False)
    monkeypatch.setattr(render, "KERNEL_MIN_PIXEL_MAPS", float("inf"))
    ref = r.render_rgba(values, cmap="magma", norm=Normalize(-1.5, 1.5))
    monkeypatch.setattr(render, "KERNEL_MIN_PIXEL_MAPS", 0)
    kernel = pytest.importorskip("actconf._colour_kernel")
    monkeypatch.setattr(kernel, "THREAD_MIN_PIXEL_MAPS", 0)
    kernel._prepare()  # the disk cache is switched on for the compiled function, not for the wrapper below
    seen = []
    original = kernel._colour_loop

    def counting(*args):
        seen.append(args[2].shape[0])
        return original(*args)

    monkeypatch.setattr(kernel, "_colour_loop", counting)
    for threads in (1, 3, 4):
        monkeypatch.setattr(kernel, "_threads", lambda threads=threads: threads)
        seen.clear()
        got = r.render_rgba(values, cmap="magma", norm=Normalize(-1.5, 1.5))
        np.testing.assert_array_equal(got, ref, err_msg=f"{threads} threads")
        assert sorted(seen) == sorted(np.diff(np.linspace(0, 11, threads + 1).astype(int)).tolist())


def test_colour_loop_runs_only_for_sparse_operators_with_three_weights(monkeypatch):
    kernel = pytest.importorskip("actconf._colour_kernel")
    from matplotlib.colors import Normalize

    import actconf.render as render

    ran = []
    monkeypatch.setattr(kernel, "colour_maps", lambda *a: ran.append(a[2].shape))
    monkeypatch.setattr(render, "KERNEL_MIN_PIXEL_MAPS", 0)
    pos = np.random.default_rng(27).random((20, 2))
    TopoRenderer(pos, resolution=9, method="cubic").render_rgba(np.zeros((2, 20)), cmap="viridis",
                                                                  norm=Normalize(-1, 1))
    assert ran == []  # dense operator: NumPy path
    TopoRenderer(pos, resolution=9).render_rgba(np.zeros((2, 20)), cmap="viridis", norm=Normalize(-1, 1))
    assert ran == [(2, 22)]  # the neuron values, the NaN input of masked pixels, the zero of the padding
    indptr, indices = np.array([0, 1, 5]), np.array([0, 1, 2, 3, 4])
    assert kernel.padded_operator(indptr, indices, np.ones(5), 9) is None  # 4 weights in a row
    index, weight = kernel.padded_operator(np.array([0, 1, 3]), np.array([4, 2, 0]), np.array([1.0, 0.25, 0.75]), 9)
    np.testing.assert_array_equal(index, [[4, 9, 9], [2, 0, 9]])
    np.testing.assert_array_equal(weight, [[1, 0, 0], [0.25, 0.75, 0]])


def test_lut_indices_follow_matplotlib_exactly():
    from matplotlib import colormaps

    from actconf.render import colour_table, lut_indices

    cmap = colormaps["coolwarm"].with_extremes(under="k", over="w", bad="r")
    x = np.concatenate([np.random.default_rng(24).uniform(-0.3, 1.3, 5000),
                        [0.0, 1.0, -1e-12, 1 + 1e-12, np.nan, np.inf, -np.inf, 255.5 / 256, 0.5]])
    table, n = colour_table(cmap)
    got = table[lut_indices(x * n, n)].view(np.uint8).reshape(-1, 4)
    np.testing.assert_array_equal(got, cmap(x, bytes=True))


def test_render_rgba_checks_its_arguments():
    from matplotlib.colors import Normalize

    r = TopoRenderer(np.random.default_rng(25).random((10, 2)), resolution=8)
    v = np.zeros(10)
    with pytest.raises(InvalidParameterError, match="'norm'.*vmin and vmax set"):
        r.render_rgba(v, cmap="viridis", norm=Normalize())
    with pytest.raises(InvalidParameterError, match="'norm'.*Normalize"):
        r.render_rgba(v, cmap="viridis", norm=(0, 1))
    with pytest.raises(InvalidParameterError, match="vmin <= vmax"):
        r.render_rgba(v, cmap="viridis", norm=Normalize(1, 0))
    with pytest.raises(InvalidParameterError, match="'cmap'.*colormap"):
        r.render_rgba(v, cmap="no-such-map", norm=Normalize(0, 1))
    with pytest.raises(InvalidInputError, match="one entry per neuron"):
        r.render_rgba(np.zeros(11), cmap="viridis", norm=Normalize(0, 1))
    assert r.render_rgba(np.zeros((0, 10)), cmap="viridis", norm=Normalize(0, 1)).shape == (0, 8, 8, 4)


def test_build_limits_blas_threads_only_while_building(monkeypatch):
    from threadpoolctl import threadpool_info

    import actconf.render as render_mod

    before = sorted((i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas")
    seen = []
    original = TopoRenderer._operator

    def spy(self, *args):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
        return original(self, *args)

    monkeypatch.setattr(TopoRenderer, "_operator", spy)
    render_mod.TopoRenderer(np.random.default_rng(26).random((30, 2)), resolution=10)
    assert seen and set(seen) == {1}
    assert sorted((i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas") == before
