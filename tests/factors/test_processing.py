"""Cross-sectional processing (SPEC §4): hand-checked cases, the loop twins, orthogonality of
the neutralised residuals, and the pipeline description."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from etfflow.engine.schemas import BOARDS
from etfflow.exceptions import EtfflowError
from etfflow.factors import processing_nb as nb
from etfflow.factors import processing_ref as R
from etfflow.factors.processing import (
    ProcessingError,
    fill_group_median,
    mask_universe,
    neutralize,
    strip,
    winsorize_mad,
    zscore,
)
from etfflow.factors.processing_pipeline import STEP_ORDER, Step, apply_steps, describe, parse_steps
from tests.helpers import examples

EXAMPLES = examples(60)  # the thorough profile's count under ETFFLOW_HYPOTHESIS=thorough
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
NAN = np.nan


def same(a: np.ndarray, b: np.ndarray, *, rtol: float = 1e-12, scale: np.ndarray | None = None):
    """Equal NaN pattern and values equal to ``rtol`` times the row scale (``scale`` per row,
    default: largest |value| of the row of ``b``, at least 1)."""
    assert a.shape == b.shape
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    if scale is None:
        scale = np.nanmax(np.where(np.isfinite(b), np.abs(b), 0.0), axis=1, initial=0.0)
    tol = rtol * np.maximum(scale, 1.0)[:, None]
    ok = np.isnan(b) | (np.abs(a - b) <= tol)
    assert ok.all(), f"max diff {np.nanmax(np.abs(a - b))} at {np.argwhere(~ok)[:5].tolist()}"


def row_scale(x: np.ndarray) -> np.ndarray:
    return np.nanmax(np.where(np.isfinite(x), np.abs(x), 0.0), axis=1, initial=0.0)


def row_spread(x: np.ndarray) -> np.ndarray:
    """max - min of each row's finite values (at least 1e-8 of its largest |value|): the
    scale of residuals, which are differences of the factor's values."""
    ok = np.isfinite(x)
    hi = np.max(np.where(ok, x, -np.inf), axis=1, initial=-np.inf)
    lo = np.min(np.where(ok, x, np.inf), axis=1, initial=np.inf)
    spread = np.where(ok.any(axis=1), hi - lo, 0.0)
    return np.maximum(spread, 1e-8 * row_scale(x))


# --------------------------------------------------------------------------- hand cases
def test_winsor_clips_a_known_outlier():
    # median 3, |x - 3| = 2 1 0 1 97 -> MAD 1; band 3 ± 2
    x = np.array([[1.0, 2.0, 3.0, 4.0, 100.0], [-50.0, 2.0, 3.0, NAN, 4.0]])
    out = winsorize_mad(x, k=2.0)
    np.testing.assert_array_equal(out[0], [1.0, 2.0, 3.0, 4.0, 5.0])
    # row 2: median 2.5, deviations 52.5 .5 .5 1.5 -> MAD 1.0; band 0.5 .. 4.5
    np.testing.assert_array_equal(out[1], [0.5, 2.0, 3.0, NAN, 4.0])
    scaled = winsorize_mad(x, k=2.0, scaled=True)
    assert scaled[0, 4] == pytest.approx(3.0 + 2.0 * 1.4826)
    # the default k = 5 keeps 4 and clips 100 to 3 + 5
    assert winsorize_mad(x)[0, 4] == 8.0


def test_winsor_zero_mad_and_empty_rows_unchanged():
    x = np.array([[0.0, 0.0, 0.0, 7.0, NAN], [NAN, NAN, NAN, NAN, NAN], [1.0, np.inf, 2, 3, 4]])
    out = winsorize_mad(x, k=1.0)
    np.testing.assert_array_equal(out[0], x[0])
    assert np.isnan(out[1]).all()
    # inf is missing: it neither enters the median (2.5, MAD 1) nor survives
    np.testing.assert_array_equal(out[2], [1.5, NAN, 2.0, 3.0, 3.5])


def test_fill_group_median_by_hand():
    x = np.array([[1.0, 4.0, NAN, 10.0, NAN, NAN, 5.0, NAN]])
    g = np.array([[0, 0, 0, 1, 1, 2, -1, -1]], dtype=np.int16)
    out = fill_group_median(x, g)
    # group 0: median(1, 4) = 2.5; group 1: 10; group 2 has no value; -1 has no group
    np.testing.assert_array_equal(out, [[1.0, 4.0, 2.5, 10.0, 10.0, NAN, 5.0, NAN]])


def test_fill_respects_the_universe():
    x = np.array([[1.0, 3.0, 100.0, NAN, NAN]])
    g = np.zeros((1, 5), dtype=np.int32)
    u = np.array([[True, True, False, True, False]])
    out = fill_group_median(x, g, universe=u)
    # 100 is outside: it is masked and does not pull the median up; cell 4 stays NaN
    np.testing.assert_array_equal(out, [[1.0, 3.0, NAN, 2.0, NAN]])


def test_zscore_by_hand_and_degenerate_rows():
    x = np.array(
        [
            [1.0, 2.0, 3.0, NAN],
            [5.0, 5.0, 5.0, 5.0],
            [0.1, 0.1, NAN, 0.1],
            [NAN, 7.0, NAN, NAN],
            [1e8 + 1, 1e8 + 2, 1e8 + 3, NAN],
        ]
    )
    out = zscore(x)
    np.testing.assert_allclose(out[0], [-1.0, 0.0, 1.0, NAN])
    assert np.isnan(out[1:4]).all()  # constant rows and a single value: NaN, never inf
    np.testing.assert_allclose(out[4], [-1.0, 0.0, 1.0, NAN], atol=1e-8)
    # ddof = 1
    np.testing.assert_allclose(zscore(np.array([[0.0, 2.0]])), [[-np.sqrt(0.5), np.sqrt(0.5)]])


def test_mask_universe():
    x = np.arange(6.0).reshape(2, 3)
    u = np.array([[True, False, True], [False, True, True]])
    np.testing.assert_array_equal(mask_universe(x, u), [[0, NAN, 2], [NAN, 4, 5]])


def _design_panel(seed: int, t: int = 4, n: int = 60, n_ind: int = 5, n_brd: int = 3):
    rng = np.random.default_rng(seed)
    g = rng.integers(0, n_ind, size=(t, n)).astype(np.int16)
    b = rng.integers(0, n_brd, size=(t, n)).astype(np.int16)
    lc = rng.normal(22.0, 1.0, size=(t, n))
    return rng, g, b, lc


def test_neutralize_an_exact_linear_function_gives_zeros():
    rng, g, b, lc = _design_panel(0)
    ind_eff = rng.normal(size=5)
    brd_eff = rng.normal(size=3)
    x = 2.0 + ind_eff[g] + 0.7 * lc + brd_eff[b]
    x[0, :3] = NAN
    out = neutralize(x, groups=g, log_cap=lc, boards=b)
    assert np.isnan(out[0, :3]).all()
    np.testing.assert_allclose(out[np.isfinite(x)], 0.0, atol=1e-10)
    # without board effects in x, the model without boards also fits exactly
    x2 = ind_eff[g] - 3.0 * lc
    np.testing.assert_allclose(neutralize(x2, groups=g, log_cap=lc), 0.0, atol=1e-10)


def test_neutralize_by_hand_industry_only():
    x = np.array([[1.0, 2.0, 4.0, 8.0, 9.0]])
    g = np.array([0, 0, 1, 1, -1])
    out = neutralize(x, groups=g, log_cap=None)
    np.testing.assert_allclose(out, [[-0.5, 0.5, -2.0, 2.0, NAN]])
    # one stock alone in its industry has residual 0 (its dummy absorbs it)
    g2 = np.array([0, 0, 0, 0, 1])
    out2 = neutralize(x, groups=g2, log_cap=None)
    assert out2[0, 4] == 0.0
    np.testing.assert_allclose(out2[0, :4], x[0, :4] - x[0, :4].mean())


def test_neutralize_too_few_stocks_gives_nan():
    # 2 industries + log cap = 3 regressors (with the intercept): needs 4 valid cells
    x = np.array([[1.0, 2.0, 4.0, 7.0], [1.0, 2.0, 4.0, NAN]])
    g = np.array([0, 0, 1, 1])
    lc = np.array([[1.0, 2.0, 3.0, 5.0]] * 2)
    out = neutralize(x, groups=g, log_cap=lc)
    assert np.isfinite(out[0]).all()
    assert np.isnan(out[1]).all()


def test_strip_itself_and_affine_copies_gives_zeros():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3, 40))
    x[1, 5] = NAN
    np.testing.assert_allclose(strip(x, x)[np.isfinite(x)], 0.0, atol=1e-12)
    np.testing.assert_allclose(strip(x, -2.0 * x + 7.0)[np.isfinite(x)], 0.0, atol=1e-12)
    assert np.isnan(strip(x, x)[1, 5])
    # a constant control only removes the mean
    c = np.full_like(x, 3.0)
    np.testing.assert_allclose(strip(x, c), x - np.nanmean(x, axis=1, keepdims=True))
    # several controls at once == the loop reference
    c2 = rng.normal(size=x.shape)
    same(strip(x, {"a": c2, "b": x**2}), R.strip_ref(x, [c2, x**2]), rtol=1e-10)


def test_residual_is_orthogonal_on_a_realistic_panel():
    rng, g, b, lc = _design_panel(7, t=3, n=800, n_ind=30, n_brd=4)
    x = rng.standard_t(3, size=g.shape) * 1e-3 + 1e8  # heavy tails on a large offset
    x[rng.random(x.shape) < 0.05] = NAN
    g[rng.random(g.shape) < 0.02] = -1
    e = neutralize(x, groups=g, log_cap=lc, boards=b)
    check_orthogonal(e, x, groups=g, conts=[lc], boards=b)


def safe_norm(v: np.ndarray) -> float:
    """Euclidean norm without underflow for tiny values."""
    top = float(np.max(np.abs(v), initial=0.0))
    return top * float(np.linalg.norm(v / top)) if top > 0 else 0.0


def check_orthogonal(e, x, *, groups, conts, boards, rtol=1e-10):
    """``|X'e| <= rtol·||X_j||·||x||`` for every column of the full design, per date."""
    for t in range(e.shape[0]):
        valid = np.isfinite(e[t])
        if not valid.any():
            continue
        design = R.design_ref(t, valid, groups=groups, conts=conts, boards=boards)
        xv = x[t, valid]
        scale = np.linalg.norm(design, axis=0) * max(safe_norm(xv - xv.mean()), 1e-300)
        np.testing.assert_array_less(np.abs(design.T @ e[t, valid]), rtol * scale + 1e-300)


# --------------------------------------------------------------------------- selection
@SETTINGS
@given(
    st.lists(
        st.floats(allow_nan=False, allow_infinity=False, width=64),
        min_size=1,
        max_size=300,
    )
    | st.lists(st.sampled_from([0.0, -0.0, 1.0, -1.0, 5e-324, 1e300, -1e300]), min_size=1),
)
def test_median_matches_numpy_on_any_finite_floats(values):
    """The radix selection behind winsor and fill: huge ranges, subnormals, ±0, ties."""
    a = np.array(values)
    with np.errstate(over="ignore"):
        expect = np.median(a)
    counts = np.empty(256, dtype=np.int64)
    got = nb.median_inplace(a.copy(), a.size, counts)
    assert got == expect or (np.isinf(got) and np.isinf(expect) and got == expect)


def test_median_geometric_and_outliers():
    counts = np.empty(256, dtype=np.int64)
    for a in (
        2.0 ** np.arange(-1000, 1000, 7),
        np.r_[np.arange(1000.0), 1e300, -1e300],
        np.r_[np.zeros(500), 1.0],
        np.linspace(-1, 1, 1001) ** 3,
    ):
        assert nb.median_inplace(a.copy(), a.size, counts) == np.median(a)
        for k in (0, 1, a.size // 3, a.size - 1):
            hi, lo = nb.select_pair(a.copy(), a.size, k, counts)
            s = np.sort(a)
            assert hi == s[k]
            assert lo == (s[k - 1] if k else -np.inf)


# --------------------------------------------------------------------------- vs the twins
@st.composite
def panels(draw, *, max_t=5, max_n=30):
    """A random factor panel with NaN/inf, industries (some empty on a date, some with one
    stock, -1 ids), boards, a log cap on a coarse grid (exact collinearity or none), a
    universe and a control."""
    t = draw(st.integers(1, max_t))
    n = draw(st.integers(1, max_n))
    shape = (t, n)
    vals = st.one_of(
        st.floats(-1e3, 1e3, allow_nan=False),
        st.sampled_from([0.0, 1.0, -2.5, NAN, NAN, np.inf]),
    )
    x = draw(hnp.arrays(np.float64, shape, elements=vals))
    offset = draw(st.sampled_from([0.0, 0.0, 1e8]))
    x = x + offset
    n_ind = draw(st.integers(1, 6))
    n_brd = draw(st.integers(1, 4))
    g = draw(hnp.arrays(np.int16, shape, elements=st.integers(-1, n_ind - 1)))
    b = draw(hnp.arrays(np.int16, shape, elements=st.integers(-1, n_brd - 1)))
    lc = 20.0 + draw(hnp.arrays(np.int64, shape, elements=st.integers(0, 40))) / 4.0
    lc[draw(hnp.arrays(np.bool_, shape))] = NAN
    u = draw(hnp.arrays(np.bool_, shape))
    ctl = draw(hnp.arrays(np.int64, shape, elements=st.integers(-20, 20))) / 8.0
    return x, g, b, lc, u, ctl


@SETTINGS
@given(panels(), st.floats(0.5, 6.0), st.booleans())
def test_winsor_matches_reference(p, k, scaled):
    x = p[0]
    same(winsorize_mad(x, k=k, scaled=scaled), R.winsorize_mad_ref(x, k=k, scaled=scaled))


@SETTINGS
@given(panels(), st.booleans())
def test_fill_matches_reference(p, with_universe):
    x, g, _, _, u, _ = p
    uu = u if with_universe else None
    same(fill_group_median(x, g, universe=uu), R.fill_group_median_ref(x, g, universe=uu))


@SETTINGS
@given(panels())
def test_zscore_matches_reference(p):
    x = p[0]
    same(zscore(x), R.zscore_ref(x), rtol=1e-9, scale=np.ones(x.shape[0]))


@SETTINGS
@given(panels(), st.booleans(), st.booleans(), st.booleans())
def test_neutralize_matches_reference_and_is_orthogonal(p, use_g, use_lc, use_b):
    x, g, b, lc, _, _ = p
    kw = {
        "groups": g if use_g else None,
        "log_cap": lc if use_lc else None,
        "boards": b if use_b else None,
    }
    e = neutralize(x, **kw)
    ref = R.neutralize_ref(x, **kw)
    # residuals are differences of the factor's values: compare on the row's spread
    same(e, ref, rtol=1e-8, scale=row_spread(x))
    check_orthogonal(
        e,
        np.where(np.isfinite(x), x, NAN),
        groups=kw["groups"],
        conts=[lc] if use_lc else [],
        boards=kw["boards"],
        rtol=1e-10,
    )


@SETTINGS
@given(panels())
def test_strip_matches_reference(p):
    x, _, _, lc, _, ctl = p
    scale = row_spread(x)
    same(strip(x, ctl), R.strip_ref(x, [ctl]), rtol=1e-8, scale=scale)
    same(strip(x, [ctl, lc]), R.strip_ref(x, [ctl, lc]), rtol=1e-8, scale=scale)


def test_groups_per_stock_broadcast_like_per_date():
    rng, g, b, lc = _design_panel(11, t=3, n=50)
    x = rng.normal(size=g.shape)
    g1 = g[0]
    b1 = b[0]
    gt = np.broadcast_to(g1, g.shape).copy()
    bt = np.broadcast_to(b1, b.shape).copy()
    np.testing.assert_array_equal(
        neutralize(x, groups=g1, log_cap=lc, boards=b1),
        neutralize(x, groups=gt, log_cap=lc, boards=bt),
    )
    np.testing.assert_array_equal(fill_group_median(x, g1), fill_group_median(x, gt))


# --------------------------------------------------------------------------- pipelines
@SETTINGS
@given(
    panels(),
    st.lists(st.sampled_from(STEP_ORDER), unique=True),
    st.sampled_from(["industry_median", "drop"]),
    st.sampled_from(
        [
            ("industry", "log_cap"),
            ("industry", "log_cap", "board"),
            ("industry", "log_cap", "board_main"),
            ("log_cap",),
        ]
    ),
)
def test_apply_steps_equals_the_steps_one_by_one(p, names, method, regs):
    x, g, b, lc, u, ctl = p
    names = sorted(names, key=STEP_ORDER.index)
    params = {
        "winsor": {"k": 3.0},
        "fill": {"method": method},
        "neutralize": {"regressors": regs},
        "strip": {"controls": ("revs_20",)},
    }
    steps = [Step(nm, params.get(nm, {})) for nm in names]
    x0 = x.copy()
    got = apply_steps(
        x, steps, universe=u, groups=g, log_cap=lc, boards=b, controls={"revs_20": ctl}
    )
    np.testing.assert_array_equal(x, x0)  # input untouched
    want = x.copy()
    # board_main: the SZ main board (id 1) counted as the SH main board (id 0)
    main = np.where(b == BOARDS.index("SZ_MAIN"), BOARDS.index("SH_MAIN"), b)
    for nm in names:
        if nm == "universe":
            want = mask_universe(want, u)
        elif nm == "winsor":
            want = winsorize_mad(want, k=3.0)
        elif nm == "fill" and method == "industry_median":
            want = fill_group_median(want, g, universe=u if "universe" in names else None)
        elif nm == "zscore":
            want = zscore(want)
        elif nm == "neutralize":
            want = neutralize(
                want,
                groups=g if "industry" in regs else None,
                log_cap=lc,
                boards=b if "board" in regs else (main if "board_main" in regs else None),
            )
        elif nm == "strip":
            want = strip(want, ctl)
    np.testing.assert_array_equal(got, want)


def test_parse_and_describe_round_trip():
    steps = parse_steps("winsor,fill,zscore,neutralize")
    text = describe(steps)
    assert text == (
        "winsor(k=5,scaled=False)>fill(industry_median)>zscore>neutralize(industry,log_cap)"
    )
    assert parse_steps(text) == steps
    full = (
        "universe>winsor(k=3.25,scaled=True)>fill(drop)>zscore"
        ">neutralize(industry,log_cap,board)>strip(revs_20,mom_12m)"
    )
    assert describe(full) == full
    assert describe(parse_steps(full)) == full
    assert describe("") == "none"
    assert parse_steps("Winsorise(k=2) , neutralise(board,industry)") == (
        Step("winsor", {"k": 2.0, "scaled": False}),
        Step("neutralize", {"regressors": ("industry", "board")}),
    )
    assert parse_steps(["winsor", Step("zscore")]) == parse_steps("winsor>zscore")
    assert len({Step("winsor"), Step("winsor", {"k": 5})}) == 1  # hashable, defaults filled


@SETTINGS
@given(
    st.lists(st.sampled_from(STEP_ORDER), unique=True),
    st.floats(1e-3, 1e3, allow_nan=False),
    st.booleans(),
    st.lists(st.sampled_from(["industry", "log_cap", "board"]), min_size=1, unique=True),
    st.lists(st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), min_size=1, unique=True),
)
def test_describe_round_trips_any_pipeline(names, k, scaled, regs, ctls):
    params = {
        "winsor": {"k": k, "scaled": scaled},
        "neutralize": {"regressors": regs},
        "strip": {"controls": ctls},
        "fill": {"method": "drop" if scaled else "industry_median"},
    }
    steps = tuple(Step(nm, params.get(nm, {})) for nm in sorted(names, key=STEP_ORDER.index))
    assert parse_steps(describe(steps)) == steps


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("winsor,demean", "unknown processing step 'demean'; valid steps (in order): universe"),
        ("zscore,winsor", "step 'winsor' comes after 'zscore'"),
        ("zscore,winsor", "'winsor(k=5,scaled=False)>zscore'"),
        ("winsor,zscore,winsor", "step 'winsor' appears twice"),
        ("winsor(q=3)", "step 'winsor' has no parameter 'q'; valid: k, scaled"),
        ("winsor(k=-1)", "winsor k must be a positive number"),
        ("winsor(k=abc)", "winsor k must be a positive number"),
        ("winsor(scaled=maybe)", "winsor scaled must be True or False"),
        ("fill(mean)", "fill method 'mean' is unknown; valid: industry_median, drop"),
        ("neutralize(sector)", "choose one or more of industry, log_cap, board, board_main"),
        ("neutralize(board,board_main)", "board or board_main (main boards merged), not both"),
        ("strip", "strip needs the name of at least one control factor"),
        ("zscore(1)", "step 'zscore' takes no arguments"),
        ("winsor(k=3", "unbalanced '('"),
        ("winsor,,zscore", "empty step in pipeline 'winsor,,zscore'"),
        ("winsor>1x", "cannot read step '1x'"),
        ("revs_20", "unknown processing step 'revs_20'"),
    ],
)
def test_parse_errors_say_what_is_valid(spec, message):
    with pytest.raises(ProcessingError) as err:
        parse_steps(spec)
    assert message in str(err.value)
    assert isinstance(err.value, EtfflowError)


def test_apply_steps_checks_inputs_first():
    x = np.zeros((2, 3))
    with pytest.raises(ProcessingError, match=r"needs groups=\.\.\."):
        apply_steps(x, "fill")
    with pytest.raises(ProcessingError, match=r"needs log_cap=\.\.\."):
        apply_steps(x, "zscore,neutralize", groups=np.zeros(3, dtype=np.int16))
    with pytest.raises(ProcessingError, match=r"needs boards=\.\.\."):
        apply_steps(x, "neutralize(industry,board)", groups=np.zeros(3, dtype=np.int16))
    with pytest.raises(ProcessingError, match=r"needs controls\['revs_20'\]; controls given: a"):
        apply_steps(x, "strip(revs_20)", controls={"a": x})
    with pytest.raises(ProcessingError, match=r"'log_cap' has shape \(3, 2\), expected \(2, 3\)"):
        apply_steps(x, "neutralize", groups=np.zeros(3, dtype=np.int16), log_cap=np.zeros((3, 2)))
    with pytest.raises(ProcessingError, match="must hold integer group ids"):
        fill_group_median(x, np.zeros((2, 3)))
    with pytest.raises(ProcessingError, match="holds id -2"):
        fill_group_median(x, np.full((2, 3), -2))
    with pytest.raises(ProcessingError, match="holds id 40000; ids must be <= 32,767"):
        neutralize(x, groups=np.full(3, 40000), log_cap=None)
    with pytest.raises(ProcessingError, match=r"'boards' has shape \(2,\), expected \(2, 3\)"):
        neutralize(x, groups=None, log_cap=None, boards=np.zeros(2, dtype=np.int8))
    with pytest.raises(ProcessingError, match="must be a bool array"):
        mask_universe(x, np.ones((2, 3)))
    with pytest.raises(ProcessingError, match="2-D"):
        zscore(np.zeros(3))
    # fill(drop) needs no groups and keeps NaN
    y = np.array([[1.0, NAN, 3.0]])
    np.testing.assert_array_equal(apply_steps(y, "fill(drop)"), y)


@pytest.mark.parametrize("threads", [2, 5, 40])
def test_thread_count_does_not_change_results(
    monkeypatch: pytest.MonkeyPatch, threads: int
) -> None:
    # dates are split into row ranges, one per thread; the result must not depend on it
    import etfflow.factors.processing as P

    rng = np.random.default_rng(13)
    x = rng.standard_t(3, (17, 60))
    x[rng.random(x.shape) < 0.1] = np.nan
    g = rng.integers(0, 5, x.shape).astype(np.int16)
    lc = rng.normal(22.0, 1.0, x.shape)
    steps = "winsor,fill,zscore,neutralize(industry,log_cap)"

    def run() -> list[np.ndarray]:
        return [
            apply_steps(x, steps, groups=g, log_cap=lc),
            winsorize_mad(x),
            fill_group_median(x, g),
            zscore(x),
            neutralize(x, groups=g, log_cap=lc),
        ]

    monkeypatch.setattr(P, "n_threads", lambda: 1)
    one = run()
    monkeypatch.setattr(P, "n_threads", lambda: threads)
    for a, b in zip(run(), one, strict=True):
        np.testing.assert_array_equal(a, b)
