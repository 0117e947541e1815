"""Property-based tests (hypothesis): confidence measures, grouping and rendering.

Random shapes and values — including all-equal rows, zeros and extreme logits
(|z| up to 1e4) — checked against independent references: SciPy's ``softmax``,
``logsumexp`` and ``entropy`` for the measures, brute-force Python loops for the
grouping and the NAPs, SciPy's ``griddata`` for the maps. The examples are derandomized
(the same on every run) and few enough that the file runs in well under 30 s.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from actconf import testing
from actconf.confidence import confidence, mc_dropout
from actconf.errors import InvalidInputError
from actconf.naps import assign_groups, naps
from actconf.render import TopoRenderer

SETTINGS = settings(max_examples=40, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(SETTINGS, max_examples=15)


# --------------------------------------------------------------------------- strategies
@st.composite
def logits(draw, max_samples: int = 12, max_classes: int = 8) -> np.ndarray:
    """(n, k) logits: random, all-equal, zero, or extreme rows."""
    n = draw(st.integers(1, max_samples))
    k = draw(st.integers(2, max_classes))
    kind = draw(st.sampled_from(["random", "equal", "zeros", "extreme"]))
    if kind == "equal":
        return np.full((n, k), draw(st.floats(-50, 50)))
    if kind == "zeros":
        return np.zeros((n, k))
    scale = 1e4 if kind == "extreme" else 20.0
    return draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-scale, scale)))


def _softmax(z: np.ndarray) -> np.ndarray:
    return scipy.special.softmax(z, axis=-1)


# --------------------------------------------------------------------------- confidence measures
@SETTINGS
@given(z=logits())
def test_max_softmax_margin_entropy_match_scipy(z):
    p = _softmax(z)
    k = z.shape[1]
    top = np.sort(p, axis=1)[:, ::-1]
    expected = {
        "max_softmax": p.max(axis=1),
        "margin": top[:, 0] - top[:, 1],
        "entropy": 1.0 - scipy.stats.entropy(p, axis=1) / np.log(k),
    }
    for measure, want in expected.items():
        from_logits = confidence(z, measure=measure, from_logits=True)
        from_probs = confidence(p, measure=measure)
        np.testing.assert_allclose(from_logits, want, atol=1e-9, err_msg=measure)
        np.testing.assert_allclose(from_probs, want, atol=1e-9, err_msg=measure)
        assert np.all(np.isfinite(from_logits))
        assert np.all(from_logits >= -1e-12) and np.all(from_logits <= 1 + 1e-12)
    assert np.all(confidence(z, from_logits=True) >= 1 / k - 1e-12)


@SETTINGS
@given(z=logits())
def test_energy_is_logsumexp(z):
    got = confidence(z, measure="energy", from_logits=True)
    np.testing.assert_allclose(got, scipy.special.logsumexp(z, axis=1), rtol=1e-12, atol=1e-9)
    assert np.all(np.isfinite(got))


@SETTINGS
@given(n=st.integers(1, 10), k=st.integers(2, 8), value=st.floats(-1e4, 1e4))
def test_all_equal_logits_are_least_confident(n, k, value):
    z = np.full((n, k), value)
    np.testing.assert_allclose(confidence(z, from_logits=True), 1 / k, rtol=1e-12)
    np.testing.assert_allclose(confidence(z, measure="margin", from_logits=True), 0.0, atol=1e-12)
    np.testing.assert_allclose(confidence(z, measure="entropy", from_logits=True), 0.0, atol=1e-12)


@SETTINGS
@given(n=st.integers(1, 10), k=st.integers(2, 8), winner=st.integers(0, 7), big=st.floats(100, 1e4))
def test_one_dominant_logit_is_certain(n, k, winner, big):
    z = np.zeros((n, k))
    z[:, winner % k] = big
    for measure in ("max_softmax", "margin", "entropy"):
        np.testing.assert_allclose(confidence(z, measure=measure, from_logits=True), 1.0, atol=1e-12)


@settings(SETTINGS, max_examples=10)
@given(data=st.data())
def test_mc_dropout_matches_loops(data):
    mc = data.draw(st.integers(1, 5))
    z = data.draw(logits(max_samples=6, max_classes=5))
    noise = data.draw(hnp.arrays(np.float64, (mc, *z.shape), elements=st.floats(-3, 3)))
    p = _softmax(z[None] + noise)
    got = mc_dropout(p)
    for i in range(z.shape[0]):
        mean = [float(np.mean([p[m, i, c] for m in range(mc)])) for c in range(z.shape[1])]
        pred = int(np.argmax(mean))
        picked = [p[m, i, pred] for m in range(mc)]
        assert int(got["prediction"].values[i]) == pred
        assert got["confidence"].values[i] == pytest.approx(np.mean(picked), abs=1e-12)
        assert got["variance"].values[i] == pytest.approx(np.var(picked), abs=1e-12)


@FEW
@given(z=logits(), where=st.integers(0, 1000), bad=st.sampled_from([np.nan, np.inf, -np.inf]))
def test_non_finite_inputs_are_refused(z, where, bad):
    z = z.copy()
    z.flat[where % z.size] = bad
    with pytest.raises(InvalidInputError, match="NaN or infinite"):
        confidence(z, from_logits=True)


# --------------------------------------------------------------------------- grouping
@st.composite
def grouping_inputs(draw):
    s = draw(st.integers(1, 3))
    n = draw(st.integers(1, 25))
    k = draw(st.integers(1, 4))
    labels = np.array(draw(st.lists(st.integers(0, k - 1), min_size=n, max_size=n)))
    kind = draw(st.sampled_from(["random", "equal", "ties"]))
    if kind == "equal":
        conf = np.full((s, n), draw(st.floats(0, 1)))
    elif kind == "ties":
        conf = np.array(draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=s * n, max_size=s * n)),
                        dtype=float).reshape(s, n)
    else:
        conf = draw(hnp.arrays(np.float64, (s, n), elements=st.floats(0, 1)))
    return labels, k, conf


def _edge_bin(c: float, edges: list[float]) -> int:
    """Brute force: the bin [e_i, e_i+1) holding c; the last edge belongs to the last bin; -1 outside."""
    for i in range(len(edges) - 1):
        if edges[i] <= c < edges[i + 1]:
            return i
    return len(edges) - 2 if c == edges[-1] else -1


def _quantile_bins(row: np.ndarray, q: int) -> list[int]:
    """Brute force: sort (stable) and split like numpy.array_split."""
    order = sorted(range(len(row)), key=lambda i: (row[i], i))
    out = [0] * len(row)
    for b, part in enumerate(np.array_split(np.array(order, dtype=int), q)):
        for i in part:
            out[int(i)] = b
    return out


@SETTINGS
@given(inputs=grouping_inputs(), n_edges=st.integers(2, 6), quantiles=st.integers(1, 6))
def test_class_confidence_groups_match_loops(inputs, n_edges, quantiles):
    labels, k, conf = inputs
    edges = list(np.linspace(0.2, 1.0, n_edges))  # samples below 0.2 belong to no bin
    fixed = assign_groups(labels, confidence=conf, by="class+confidence", bins=edges,
                          class_names=[str(c) for c in range(k)])
    quant = assign_groups(labels, confidence=conf, by="class+confidence", bins=f"quantile:{quantiles}",
                          class_names=[str(c) for c in range(k)])
    nb = n_edges - 1
    assert fixed.n_groups == k * nb and quant.n_groups == k * quantiles
    for s in range(conf.shape[0]):
        qb = _quantile_bins(conf[s], quantiles)
        for i in range(len(labels)):
            b = _edge_bin(conf[s, i], edges)
            assert fixed.codes[s, i] == (-1 if b < 0 else labels[i] * nb + b)
            assert quant.codes[s, i] == labels[i] * quantiles + qb[i]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    arrays = testing.synthetic_arrays(n_snapshots=4, n_samples=30, n_classes=3, sizes=(5,))
    return testing.write_synthetic_run(tmp_path_factory.mktemp("props") / "run", **arrays), arrays


@FEW
@given(min_size=st.integers(1, 12), contrastive=st.booleans(), by=st.sampled_from(["class", "prediction"]))
def test_naps_match_loops(small_run, min_size, contrastive, by):
    run, arrays = small_run
    acts = arrays["activations"]["dense"]
    probs = scipy.special.softmax(arrays["logits"], axis=-1)
    got = naps(run, "dense", by=by, min_size=min_size, contrastive=contrastive)
    n_snap, n, n_neurons = acts.shape
    k = probs.shape[-1]
    for s in range(n_snap):
        key = arrays["labels"] if by == "class" else probs[s].argmax(axis=1)
        means = np.full((k, n_neurons), np.nan)
        for g in range(k):
            members = [i for i in range(n) if key[i] == g]
            assert int(got["size"].values[s, g]) == len(members)
            if len(members) >= min_size:
                means[g] = [sum(float(acts[s, i, j]) for i in members) / len(members) for j in range(n_neurons)]
        if contrastive:
            ok = [g for g in range(k) if np.isfinite(means[g]).all()]
            if ok:
                means = means - np.mean(means[ok], axis=0)
        np.testing.assert_allclose(got.values[s], means, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- rendering
@st.composite
def positions(draw, min_n: int = 3, max_n: int = 25):
    n = draw(st.integers(min_n, max_n))
    pos = draw(hnp.arrays(np.float64, (n, 2), elements=st.floats(0, 1), unique=False))
    # keep only layouts SciPy can triangulate (not all on one line, some area)
    assume(np.linalg.matrix_rank(pos - pos.mean(axis=0), tol=1e-3) == 2)
    return pos


@settings(SETTINGS, max_examples=25)
@given(pos=positions(), data=st.data(), resolution=st.integers(4, 24))
def test_linear_maps_match_griddata(pos, data, resolution):
    from scipy.interpolate import griddata

    kind = data.draw(st.sampled_from(["random", "equal", "zeros"]))
    values = {"random": data.draw(hnp.arrays(np.float64, len(pos), elements=st.floats(-5, 5))),
              "equal": np.full(len(pos), 2.5), "zeros": np.zeros(len(pos))}[kind]
    r = TopoRenderer(pos, resolution=resolution)
    image = r.render(values)
    gx, gy = np.meshgrid(r.xs, r.ys)
    want = griddata(pos, values, (gx, gy), method="linear")
    inside = np.isfinite(image)
    assert inside.any()
    # masked outside the hull, equal to griddata inside (a pixel on the hull edge may fall either way)
    assert np.all(np.isfinite(want[inside]) | ~r.mask[inside])
    both = inside & np.isfinite(want)
    np.testing.assert_allclose(image[both], want[both], atol=1e-7)
    assert (inside ^ np.isfinite(want)).sum() <= 2 * resolution
    # a convex combination of the neuron values
    assert image[inside].min() >= values.min() - 1e-9 and image[inside].max() <= values.max() + 1e-9
    if kind != "random":
        np.testing.assert_allclose(image[inside], values[0], atol=1e-12)


@SETTINGS
@given(n=st.integers(2, 12), data=st.data())
def test_collinear_layouts(n, data):
    a, b = data.draw(st.floats(-2, 2)), data.draw(st.floats(-1, 1))
    t = np.sort(data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1), unique=True)))
    pos = np.c_[t, a + b * t]
    values = data.draw(hnp.arrays(np.float64, n, elements=st.floats(-5, 5)))
    with pytest.raises(InvalidInputError, match="nearest"):
        TopoRenderer(pos, resolution=8)
    for mask in (None, "circle"):
        r = TopoRenderer(pos, resolution=8, method="nearest", mask=mask)
        image = r.render(values)
        drawn = image[r.mask]
        assert np.all(np.isfinite(drawn)) and not np.isfinite(image[~r.mask]).any()
        assert set(np.round(drawn, 12)) <= set(np.round(values, 12))


@FEW
@given(pos=positions(min_n=4, max_n=15), method=st.sampled_from(["linear", "cubic", "nearest"]),
       mask=st.sampled_from(["hull", "circle", None]))
def test_every_method_and_mask_is_finite_where_drawn(pos, method, mask):
    values = np.sin(7 * pos[:, 0]) + pos[:, 1]
    r = TopoRenderer(pos, resolution=12, method=method, mask=mask)
    image = r.render(values)
    assert image.shape == (12, 12)
    assert np.all(np.isfinite(image[r.mask])) and not np.isfinite(image[~r.mask]).any()
    if mask is None:
        assert r.mask.all()
    const = r.render(np.full(len(pos), -1.5))
    np.testing.assert_allclose(const[r.mask], -1.5, atol=1e-6)
