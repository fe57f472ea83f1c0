"""Fuzzing the public API (issue 7): every valid configuration gives finite numbers in the
target range that equal LightGBM's own prediction; every malformed input is refused with a
ValueError/TypeError naming the parameter, never an onnxruntime exception, never a number.

Scenarios of both spaces are built here from real ``lightgbm.CVBooster`` objects on
synthetic data through the training-side exporter (``smm_bench_surrogates.export``), with
a cost target (range [0, inf)) beside the two accuracies, so every target role is covered.

Case counts: the default (CI) profile is derandomized (a fixed seed) and runs >= 10,000
generated cases in total (``test_zz_case_count`` checks it); ``SMM_BENCH_FUZZ=nightly``
multiplies every budget by 10 and draws fresh random seeds.
"""

from __future__ import annotations

import math
import os
from collections import Counter

import numpy as np
import pytest
from conftest import dfs_inputs, ps_inputs, synthetic_target, train_cv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smm_bench_plugin import Benchmark
from smm_bench_plugin.scenario import Target

NIGHTLY = os.environ.get("SMM_BENCH_FUZZ", "") == "nightly"
SCALE = 10 if NIGHTLY else 1
CASES: Counter = Counter()  # examples actually executed, per test (checked by test_zz_case_count)
MIN_TOTAL_CASES = 10_000


def fuzz(n: int):
    """Hypothesis settings: ``n`` examples (x10 nightly), fixed seed unless nightly."""
    return settings(max_examples=n * SCALE, derandomize=not NIGHTLY, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])


TARGETS = (Target("acc", "objective", 0.0, 1.0), Target("acc_test", "test", 0.0, 1.0),
           Target("eval_seconds", "cost", 0.0, math.inf, "minimize"))


def _build(space: str, folder):
    from smm_bench_surrogates.export import export_cv_boosters

    rng = np.random.default_rng(7 if space == "ps" else 8)
    X = ps_inputs(rng, 1200) if space == "ps" else dfs_inputs(rng, 1200)
    cats = range(32) if space == "dfs" else ()
    models = [(TARGETS[0], train_cv(X, synthetic_target(X, rng), rounds=8, categorical=cats)),
              (TARGETS[1], train_cv(X, synthetic_target(X, rng, 0.1), rounds=8, categorical=cats)),
              (TARGETS[2], train_cv(X, 200 * (X[:, -1] - 0.8) + rng.normal(0, 5, len(X)), rounds=8))]
    export_cv_boosters(folder, name=f"fuzz_{space}", space=space, models=models)
    return Benchmark(folder), [cvb for _, cvb in models]


@pytest.fixture(scope="module", params=["ps", "dfs"])
def scenario(request, tmp_path_factory):
    return _build(request.param, tmp_path_factory.mktemp(f"fuzz_{request.param}") / "scenario")


def _config_strategy(bench: Benchmark):
    """Every configuration of the space, bounds included (floats drawn on the closed interval)."""
    enc = bench._encoder
    fields = {n: st.floats(float(lo), float(hi)) for n, lo, hi in zip(enc.cont_names, enc.lower, enc.upper)}
    fields.update({n: st.sampled_from(ch) for n, ch in zip(enc.cat_names, enc.cat_choices)})
    return st.fixed_dictionaries(fields)


def _reference(bench: Benchmark, boosters, configs: list[dict]) -> np.ndarray:
    """LightGBM's own answer: fold mean of every CVBooster, clipped to the target range."""
    x_cat, x_cont = bench.encode(configs)
    X = np.hstack([x_cat - 1, x_cont]).astype(np.float64)
    return np.stack([np.array(b.predict(X)).mean(0).clip(t.lower, t.upper) for t, b in zip(TARGETS, boosters)], 1)


def test_valid_configs_give_finite_in_range_values_equal_to_lightgbm(scenario):
    bench, boosters = scenario
    lower = np.array([t.lower for t in bench.targets])
    upper = np.array([t.upper for t in bench.targets])

    seen: list[tuple[dict, np.ndarray]] = []

    @fuzz(1000)
    @given(_config_strategy(bench))
    def check(cfg):
        CASES["valid"] += 1
        out = bench.evaluate(cfg)
        assert len(out) == 1 and list(out[0]) == list(bench.target_names)
        y = np.array(list(out[0].values()))
        assert all(type(v) is float for v in out[0].values())
        assert np.isfinite(y).all() and (y >= lower).all() and (y <= upper).all()
        assert bench.objective(cfg) == y[0] and bench.test(cfg) == y[1]
        seen.append((cfg, y))

    check()
    # never a wrong number: LightGBM's own prediction for every generated config (one batch)
    ref = _reference(bench, boosters, [c for c, _ in seen])
    assert np.abs(np.array([y for _, y in seen]) - ref).max() <= 1e-12


def test_configspace_samples_and_configuration_objects(scenario):
    """What the ConfigSpace itself samples (as Configuration objects and as dicts)."""
    bench, boosters = scenario
    cs = bench.configspace
    cs.seed(3)
    confs = cs.sample_configuration(500)
    CASES["configspace"] += len(confs)
    res = bench.evaluate(confs)
    assert res == bench.evaluate([dict(c) for c in confs])
    y = np.array([list(r.values()) for r in res])
    assert np.isfinite(y).all() and (y >= 0).all() and (y[:, :2] <= 1).all()
    assert np.abs(y - _reference(bench, boosters, [dict(c) for c in confs])).max() <= 1e-12


# ----- malformed configurations ------------------------------------------------------------

_JUNK = st.one_of(st.text(max_size=5), st.none(), st.booleans(), st.lists(st.integers(), max_size=2),
                  st.dictionaries(st.text(max_size=2), st.integers(), max_size=1), st.complex_numbers(),
                  st.binary(max_size=3), st.sets(st.integers(), max_size=1))


def _corruptions(bench: Benchmark):
    """(kind, name, mutate) triples: one defect per configuration, naming the parameter."""
    enc = bench._encoder
    names = list(enc.cont_names) + list(enc.cat_names)
    cont = st.sampled_from(range(len(enc.cont_names)))
    out_of_range = cont.flatmap(lambda i: st.tuples(st.just(i), st.one_of(
        st.floats(float(enc.upper[i]), 1e300, exclude_min=True),
        st.floats(-1e300, float(enc.lower[i]), exclude_max=True),
        st.sampled_from([math.nan, math.inf, -math.inf, float("-nan")]),
        st.integers(int(enc.upper[i]) + 1, 10 ** 400), st.integers(-(10 ** 400), int(math.floor(enc.lower[i])) - 1))))
    kinds = [
        st.tuples(st.just("missing"), st.sampled_from(names), st.none()),
        st.tuples(st.just("extra"), st.text(min_size=1, max_size=12).filter(lambda s: s not in names), st.none()),
        st.tuples(st.just("renamed"), st.sampled_from(names), st.sampled_from(["_x", "X", " ", ".0"])),
        st.tuples(st.just("range"), out_of_range, st.none()),
        st.tuples(st.just("cont_type"), st.sampled_from(enc.cont_names), _JUNK),
    ]
    if enc.cat_names:
        valid = {c for choices in enc.cat_choices for c in choices}
        kinds.append(st.tuples(st.just("category"), st.sampled_from(enc.cat_names), st.one_of(
            st.text(max_size=6), st.integers(0, 3), st.floats(), _JUNK,
        ).filter(lambda v: not (isinstance(v, str) and v in valid))))  # _JUNK's text can be "A", too
    return st.one_of(kinds)


def _apply(bench: Benchmark, cfg: dict, defect) -> tuple[dict, list[str]]:
    kind, a, b = defect
    cfg = dict(cfg)
    if kind == "missing":
        del cfg[a]
        return cfg, [a]
    if kind == "extra":
        cfg[a] = 0.5
        return cfg, [a]
    if kind == "renamed":
        cfg[a + b] = cfg.pop(a)
        return cfg, [a, a + b]
    if kind == "range":
        i, v = a
        name = bench.cont_names[i]
        cfg[name] = v
        return cfg, [name]
    cfg[a] = b
    return cfg, [a]


def test_malformed_configs_are_refused_naming_the_parameter(scenario):
    bench, _ = scenario
    good = dict(bench.configspace.get_default_configuration())

    @fuzz(1800)
    @given(_corruptions(bench), st.integers(0, 3), st.booleans())
    def check(defect, position, as_batch):
        CASES["malformed_config"] += 1
        bad, names = _apply(bench, good, defect)
        batch = [good] * position + [bad] + [good] * (3 - position)
        calls = [((lambda: bench.evaluate(batch)), position) if as_batch else ((lambda: bench.evaluate(bad)), 0),
                 ((lambda: bench.objective(bad)), 0)]
        for call, where in calls:
            with pytest.raises((ValueError, TypeError)) as info:
                call()
            msg = str(info.value)
            assert all(n in msg for n in names), (defect, msg)
            assert msg.startswith(f"configuration {where}: "), msg  # the position within the batch

    check()


def test_non_configs_are_refused(scenario):
    bench, _ = scenario
    for junk in ([], (), [[0.5] * 64], "w0_l00", 3, None, [None], {1, 2}, np.zeros(3), iter([{}])):
        CASES["non_config"] += 1
        with pytest.raises((ValueError, TypeError)):
            bench.evaluate(junk)


# ----- the bundled scenarios (no LightGBM reference: in range, consistent, refused alike) ----

@pytest.fixture(scope="module", params=["smm_ps_mini", "smm_dfs_mini"])
def bundled(request):
    from smm_bench_plugin import load

    return load(request.param)


def test_bundled_valid_configs_are_finite_in_range_and_batch_consistent(bundled):
    lower = np.array([t.lower for t in bundled.targets])
    upper = np.array([t.upper for t in bundled.targets])
    seen: list[tuple[dict, list[float]]] = []

    @fuzz(500)
    @given(_config_strategy(bundled))
    def check(cfg):
        CASES["bundled_valid"] += 1
        out = bundled.evaluate(cfg)[0]
        y = np.array(list(out.values()))
        assert all(type(v) is float for v in out.values())
        assert np.isfinite(y).all() and (y >= lower).all() and (y <= upper).all()
        seen.append((cfg, list(out.values())))

    check()
    # one batch of everything seen gives the same numbers as the single calls, bit for bit
    batch = bundled.evaluate([c for c, _ in seen])
    assert [list(d.values()) for d in batch] == [y for _, y in seen]


def test_bundled_malformed_configs_are_refused_naming_the_parameter(bundled):
    good = dict(bundled.configspace.get_default_configuration())

    @fuzz(300)
    @given(_corruptions(bundled))
    def check(defect):
        CASES["bundled_malformed"] += 1
        bad, names = _apply(bundled, good, defect)
        with pytest.raises((ValueError, TypeError)) as info:
            bundled.evaluate(bad)
        assert all(n in str(info.value) for n in names), (defect, str(info.value))

    check()


# ----- arrays ------------------------------------------------------------------------------

_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, np.float16, np.float32, np.float64,
           np.bool_, np.complex128, np.object_, np.str_, "datetime64[s]"]


def _arrays_are_valid(enc, xc, xo) -> bool:
    """The array contract, written out independently of the validator: two 2-D arrays of the
    space's widths and the same positive row count, integer codes 1..K, finite floats in range."""
    if xc.ndim != 2 or xo.ndim != 2 or xc.shape[1] != len(enc.cat_names) or xo.shape[1] != len(enc.cont_names):
        return False
    if xc.shape[0] != xo.shape[0] or xo.shape[0] == 0 or xc.dtype.kind not in "iu" or xo.dtype.kind != "f":
        return False
    if len(enc.cat_names) and ((xc < 1) | (xc > enc._n_levels)).any():
        return False
    return bool(np.isfinite(xo).all() and (xo >= enc.lower).all() and (xo <= enc.upper).all())


def test_arrays_of_any_shape_and_dtype(scenario):
    """Random shapes and dtypes: a batch the contract allows gives what the dict path gives for
    the same values; anything else is a ValueError/TypeError naming the array; never an
    onnxruntime error."""
    bench, _ = scenario
    enc = bench._encoder
    n_cat, n_cont = len(bench.cat_names), len(bench.cont_names)
    confs = [dict(c) for c in bench.configspace.sample_configuration(64)]
    xc_ok, xo_ok = bench.encode(confs)

    dims = st.integers(0, 3)

    @fuzz(1200)
    @given(st.integers(0, 70), dims, dims, st.sampled_from(_DTYPES), st.sampled_from(_DTYPES),
           st.integers(-1, 1), st.integers(-1, 1), st.integers(0, 8), st.booleans())
    def check(n, nd_cat, nd_cont, dt_cat, dt_cont, dw_cat, dw_cont, poke, fortran):
        rows = max(1, min(n, 64))
        xc = xc_ok[:rows].copy()
        xo = xo_ok[:rows].copy()
        if dw_cat:
            xc = np.ones((rows, max(n_cat + dw_cat, 0)), np.int32)
        if dw_cont:
            xo = np.full((rows, max(n_cont + dw_cont, 0)), 0.5)
        if n == 0:
            xc, xo = xc[:0], xo[:0]
        if n == 70:
            xc = xc[:-1] if len(xc) > 1 else xc[:0]
        shape_c = [xc.shape, xc.shape[1:], (1, *xc.shape), xc.shape][nd_cat]
        shape_o = [xo.shape, xo.shape[1:], (1, *xo.shape), xo.shape][nd_cont]
        try:
            xc2 = xc.reshape(shape_c).astype(dt_cat)
            xo2 = xo.reshape(shape_o).astype(dt_cont)
        except (ValueError, TypeError):
            return  # numpy cannot build this input: nothing reaches the API
        if poke and xo2.dtype.kind == "f" and xo2.ndim == 2 and xo2.size:
            xo2 = xo2.copy()
            with np.errstate(over="ignore"):
                xo2.flat[poke % xo2.size] = [np.nan, np.inf, -np.inf, 2.0, -1.0, 1e300, -0.0, 0.5][poke - 1]
        if fortran:
            xc2, xo2 = np.asfortranarray(xc2), np.asfortranarray(xo2)
        with np.errstate(invalid="ignore"):
            valid = _arrays_are_valid(enc, xc2, xo2)
        CASES["arrays"] += 1
        if not valid:
            with pytest.raises((ValueError, TypeError)) as info:
                bench.evaluate_array(xc2, xo2)
            msg = str(info.value)
            assert "x_cat" in msg or "x_cont" in msg or "empty batch" in msg or \
                any(name in msg for name in bench.hyperparameter_names), msg
            return
        y = bench.evaluate_array(xc2, xo2)
        assert y.shape == (len(xo2), len(bench.targets)) and y.dtype == np.float64 and np.isfinite(y).all()
        # the same values through the dict path (its own encoder): the same bits
        configs = [{**{c: enc.cat_choices[j][int(code) - 1] for j, (c, code) in enumerate(zip(enc.cat_names, rc))},
                    **{c: float(v) for c, v in zip(enc.cont_names, ro)}} for rc, ro in zip(xc2, xo2)]
        ref = np.array([[r[t] for t in bench.target_names] for r in bench.evaluate(configs)])
        assert np.array_equal(y, ref)

    check()


def test_array_values_out_of_range_name_the_column(scenario):
    bench, _ = scenario
    confs = [dict(c) for c in bench.configspace.sample_configuration(20)]
    xc, xo = bench.encode(confs)
    enc = bench._encoder

    @fuzz(1200)
    @given(st.integers(0, 19), st.integers(0, len(enc.cont_names) + len(enc.cat_names) - 1),
           st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(2 ** 31), 2 ** 31 - 1)))
    def check(row, col, value):
        c, o = xc.copy(), xo.copy()
        if col < len(enc.cont_names):
            name = enc.cont_names[col]
            v = float(value)
            if enc.lower[col] <= v <= enc.upper[col]:
                return
            o[row, col] = v
        else:
            j = col - len(enc.cont_names)
            name = enc.cat_names[j]
            v = int(value) if not isinstance(value, float) else 0
            if 1 <= v <= len(enc.cat_choices[j]):
                return
            c[row, j] = v
        CASES["array_values"] += 1
        with pytest.raises(ValueError, match=rf"row {row}: {name}"):
            bench.evaluate_array(c, o)

    check()


def test_huge_batch_equals_chunked_evaluation(scenario):
    """A 200k-row batch (both API paths) is evaluated, not refused, and equals 1k-row chunks."""
    bench, _ = scenario
    confs = [dict(c) for c in bench.configspace.sample_configuration(1000)]
    xc, xo = bench.encode(confs)
    reps = 200
    big_c, big_o = np.tile(xc, (reps, 1)), np.tile(xo, (reps, 1))
    y = bench.evaluate_array(big_c, big_o)
    CASES["huge_batch_rows"] += len(y)
    chunk = bench.evaluate_array(xc, xo)
    assert np.array_equal(y, np.tile(chunk, (reps, 1)))
    dicts = bench.evaluate(confs * 20)
    assert np.array_equal(np.array([list(d.values()) for d in dicts]), np.tile(chunk, (20, 1)))


def test_zz_case_count():
    """The default run really executed >= 10,000 generated cases (hypothesis may stop early
    when a strategy is exhausted; then this fails instead of silently testing less)."""
    fuzzed = sum(v for k, v in CASES.items() if k != "huge_batch_rows")
    if not CASES:
        pytest.skip("run with the other tests of this module")
    print(f"fuzzed API cases: {fuzzed} ({dict(CASES)})")  # shown with pytest -rA; quoted in docs/reliability.md
    assert fuzzed >= MIN_TOTAL_CASES * (SCALE if NIGHTLY else 1), dict(CASES)
