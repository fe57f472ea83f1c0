"""The public API on scenarios built at test time: loading, evaluation paths agree with each
other and with LightGBM, plain floats come out, and every bad input is refused with a
message that names the parameter and what is allowed."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
from conftest import reference_predict

import smm_bench_plugin as smm
from smm_bench_plugin.benchmark import Benchmark


@pytest.fixture(scope="module")
def ps(ps_scenario):
    return Benchmark(ps_scenario)


@pytest.fixture(scope="module")
def dfs(dfs_scenario):
    return Benchmark(dfs_scenario)


def _default(bench) -> dict:
    return dict(bench.configspace.get_default_configuration())


def test_metadata(ps, dfs):
    assert ps.target_names == ("gsm8k_ja", "mgsm_ja")
    assert ps.objective_name == "gsm8k_ja" and ps.test_name == "mgsm_ja"
    assert len(ps.cont_names) == 64 and ps.cat_names == ()
    assert len(dfs.cat_names) == 32 and len(dfs.cont_names) == 63
    assert any("2509.02555" in c for c in ps.citation)
    assert ps.meta["model_sha256"] and ps.meta["library_versions"]["onnx"]
    assert "Benchmark('smm_ps'" in repr(ps)


def test_evaluate_paths_agree_and_return_plain_floats(dfs, authors_dfs):
    configs = [dict(c) for c in dfs.configspace.sample_configuration(50)]
    res = dfs.evaluate(configs)
    assert len(res) == 50 and all(type(v) is float for r in res for v in r.values())
    x_cat, x_cont = dfs.encode(configs)
    arr = dfs.evaluate_array(x_cat, x_cont)
    assert np.array_equal(arr, np.array([[r["gsm8k_ja"], r["mgsm_ja"]] for r in res]))
    one = configs[7]
    assert dfs.evaluate(one) == [res[7]]
    assert type(dfs.objective(one)) is float and dfs.objective(one) == res[7]["gsm8k_ja"]
    assert dfs.test(one) == res[7]["mgsm_ja"]
    # a ConfigSpace Configuration works as well as a dict
    conf = dfs.configspace.sample_configuration()
    assert dfs.evaluate(conf) == dfs.evaluate(dict(conf))
    # and decode() is the inverse of encode()
    assert dfs.decode(x_cat, x_cont) == [{k: (v if isinstance(v, str) else float(v)) for k, v in c.items()}
                                         for c in configs]
    # encode() takes one configuration as evaluate() does; decode() validates what it decodes
    assert [a.tolist() for a in dfs.encode(one)] == [x_cat[7:8].tolist(), x_cont[7:8].tolist()]
    with pytest.raises(ValueError, match="slot00 code 0 is not an allowed code; allowed: 1='A'"):
        dfs.decode(np.zeros_like(x_cat), x_cont)
    with pytest.raises(ValueError, match=r"scale01=7.0 is out of range; allowed range \[0.4, 1.5\]"):
        dfs.decode(x_cat, np.full_like(x_cont, 7.0))
    with pytest.raises(ValueError, match="x_cat has 0 rows but x_cont has 50"):
        dfs.decode(x_cat[:0], x_cont)
    # against the authors' loader: slot codes A=0, B=1, none=2 then scales
    X = np.hstack([x_cat - 1, x_cont]).astype(np.float64)
    for j, f in enumerate(("train_acc_ja_best_model.json", "test_acc_ja_best_model.json")):
        assert np.abs(arr[:, j] - reference_predict(authors_dfs / f, X)).max() <= 1e-12


def test_repeated_calls_are_identical(ps):
    c = dict(ps.configspace.sample_configuration())
    assert len({ps.objective(c) for _ in range(20)}) == 1


def test_load_by_name_path_and_listing(ps_scenario, isolated_data_dir):
    assert smm.load(ps_scenario).name == "smm_ps"
    assert "smm_ps" not in smm.list_scenarios()
    target = isolated_data_dir / "scenarios" / "my_ps"
    shutil.copytree(ps_scenario, target)
    assert "my_ps" in smm.list_scenarios()
    assert smm.load("my_ps").path == target
    with pytest.raises(FileNotFoundError, match="no scenario 'nope'.*available: .*my_ps"):
        smm.load("nope")


def test_threads_option(ps_scenario):
    b = smm.load(ps_scenario, intra_op_threads=2)
    c = _default(b)
    assert b.objective(c) == Benchmark(ps_scenario).objective(c)
    with pytest.raises(ValueError, match="intra_op_threads"):
        smm.load(ps_scenario, intra_op_threads=0)


def test_tampered_model_is_refused(ps_scenario, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(ps_scenario, copy)
    with open(copy / "model.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="sha256"):
        Benchmark(copy)


# ----- validation: every bad input gives an error naming the parameter and what is allowed -----

def _bad(bench, **changes):
    c = _default(bench)
    for k, v in changes.items():
        if v is _DROP:
            del c[k]
        else:
            c[k] = v
    return c


_DROP = object()


@pytest.mark.parametrize(
    "changes, exc, pattern",
    [
        ({"w0_l03": _DROP}, ValueError, r"missing hyperparameter\(s\) w0_l03"),
        ({"w9_l99": 0.5}, ValueError, r"unknown hyperparameter\(s\) w9_l99"),
        ({"w1_l31": 1.5}, ValueError, r"w1_l31=1\.5 is out of range; allowed range \[0\.0, 1\.0\]"),
        ({"w0_l00": -1e-9}, ValueError, r"w0_l00=.* is out of range; allowed range \[0\.0, 1\.0\]"),
        ({"w0_l05": math.nan}, ValueError, r"w0_l05=nan is not finite; allowed range \[0\.0, 1\.0\]"),
        ({"w0_l05": math.inf}, ValueError, r"w0_l05=inf is not finite"),
        ({"w0_l07": "0.5"}, TypeError, r"w0_l07 must be a real number in \[0\.0, 1\.0\], got '0\.5'"),
        ({"w0_l07": True}, TypeError, r"w0_l07 must be a real number"),
        ({"w0_l07": None}, TypeError, r"w0_l07 must be a real number"),
    ],
)
def test_ps_config_errors(ps, changes, exc, pattern):
    with pytest.raises(exc, match=pattern):
        ps.evaluate(_bad(ps, **changes))
    with pytest.raises(exc, match=pattern):
        ps.objective(_bad(ps, **changes))


@pytest.mark.parametrize("kind", sorted(set(np.typecodes["Float"] + np.typecodes["AllInteger"])))
def test_every_numpy_real_scalar_is_a_real_number(ps, kind):
    """np.longdouble, np.longlong, np.intc, ... are real numbers like float and int: the value
    they hold decides, not the platform alias numpy picked for them."""
    scalar_type = np.dtype(kind).type
    value = 0.5 if np.dtype(kind).kind == "f" else 1
    assert ps.evaluate(_bad(ps, w0_l07=scalar_type(value))) == ps.evaluate(_bad(ps, w0_l07=value))
    with pytest.raises(ValueError, match=r"w0_l07=2\.0 is out of range; allowed range \[0\.0, 1\.0\]"):
        ps.evaluate(_bad(ps, w0_l07=scalar_type(2)))


@pytest.mark.parametrize("value", [np.bool_(True), np.complex128(0.5), complex(0.5), np.datetime64(1, "s")])
def test_bool_complex_and_dates_are_not_real_numbers(ps, value):
    with pytest.raises(TypeError, match=r"w0_l07 must be a real number in \[0\.0, 1\.0\]"):
        ps.evaluate(_bad(ps, w0_l07=value))


@pytest.mark.parametrize(
    "changes, exc, pattern",
    [
        ({"slot03": "C"}, ValueError, r"slot03='C' is not an allowed choice; allowed: 'A', 'B', 'none'"),
        ({"slot03": 1}, ValueError, r"slot03=1 is not an allowed choice; allowed: 'A', 'B', 'none'"),
        ({"slot03": ["A"]}, ValueError, r"slot03=\['A'\] is not an allowed choice"),
        ({"scale63": 0.3}, ValueError, r"scale63=0\.3 is out of range; allowed range \[0\.4, 1\.5\]"),
        ({"scale01": "x"}, TypeError, r"scale01 must be a real number in \[0\.4, 1\.5\]"),
        ({"slot31": _DROP}, ValueError, r"missing hyperparameter\(s\) slot31"),
    ],
)
def test_dfs_config_errors(dfs, changes, exc, pattern):
    with pytest.raises(exc, match=pattern):
        dfs.evaluate([_default(dfs), _bad(dfs, **changes)])


def test_batch_and_type_errors(ps):
    with pytest.raises(ValueError, match="empty batch"):
        ps.evaluate([])
    with pytest.raises(TypeError, match="configuration 0: a configuration must be a dict, a Mapping, a "
                                        "ConfigSpace.Configuration or a pandas Series, got list"):
        ps.evaluate([[0.5] * 64])
    with pytest.raises(TypeError, match="one configuration"):
        ps.objective([_default(ps)])
    with pytest.raises(ValueError, match="configuration 1: w0_l00"):
        ps.evaluate([_default(ps), _bad(ps, w0_l00=2.0)])


def test_array_errors(dfs):
    x_cat, x_cont = dfs.encode([_default(dfs)] * 3)
    ok = dfs.evaluate_array(x_cat, x_cont)
    assert ok.shape == (3, 2) and ok.dtype == np.float64
    assert np.array_equal(dfs.evaluate_array(x_cat.astype(np.int64), x_cont.astype(np.float32)), ok)
    cases = [
        ((x_cat[:, :31], x_cont), r"x_cat must have shape \(N, 32\)"),
        ((x_cat, x_cont[:, :5]), r"x_cont must have shape \(N, 63\)"),
        ((x_cat[:2], x_cont), "x_cat has 2 rows but x_cont has 3"),
        ((x_cat[:0], x_cont[:0]), "empty batch"),
        ((x_cat.astype(np.float64), x_cont), "x_cat must have an integer dtype"),
        ((x_cat, x_cont.astype(np.int64)), "x_cont must have a float dtype"),
        ((np.where(np.arange(32) == 4, 4, x_cat).astype(np.int32), x_cont),
         r"slot04 code 4 is not an allowed code; allowed: 1='A', 2='B', 3='none'"),
        ((np.where(np.arange(32) == 4, 0, x_cat).astype(np.int32), x_cont), "slot04 code 0"),
        ((x_cat, np.where(np.arange(63) == 9, np.nan, x_cont)), r"scale10=nan is not finite; allowed range \[0\.4, 1\.5\]"),
        ((x_cat, np.where(np.arange(63) == 0, 1.6, x_cont)), r"row 0: scale01=1\.6 is out of range"),
    ]
    for (a, b), pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            dfs.evaluate_array(a, b)
    with pytest.raises(TypeError, match="numpy arrays"):
        dfs.evaluate_array(x_cat.tolist(), x_cont)


def test_scenario_files_follow_the_contract(dfs_scenario):
    import onnxruntime as ort

    meta = json.loads((dfs_scenario / "meta.json").read_text())
    assert [t["role"] for t in meta["targets"]] == ["objective", "test"]
    assert json.loads((dfs_scenario / "encoding.json").read_text())["slot00"] == {"#na#": 0, "A": 1, "B": 2, "none": 3}
    cs = json.loads((dfs_scenario / "config_space.json").read_text())
    assert cs["json_format_version"] == 0.4
    sess = ort.InferenceSession(str(dfs_scenario / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [(i.name, i.type) for i in sess.get_inputs()] == [("x_cat", "tensor(int32)"), ("x_cont", "tensor(double)")]
    assert sess.get_inputs()[0].shape[1] == 32 and sess.get_inputs()[1].shape[1] == 63
    out = sess.get_outputs()
    assert len(out) == 1 and out[0].type == "tensor(double)" and out[0].shape[1] == 2


def test_out_of_range_errors_name_the_parameter_property(dfs):
    """Any single continuous value pushed outside its bounds is reported by name and range."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    names = dfs.cont_names

    @settings(max_examples=60, deadline=None)
    @given(st.integers(0, len(names) - 1), st.one_of(st.floats(1.5, 1e6, exclude_min=True),
                                                     st.floats(-1e6, 0.4, exclude_max=True),
                                                     st.sampled_from([math.nan, math.inf, -math.inf])))
    def check(i, value):
        c = _default(dfs)
        c[names[i]] = value
        with pytest.raises(ValueError, match=rf"{names[i]}=.*allowed range \[0\.4, 1\.5\]"):
            dfs.evaluate(c)

    check()


# ----- objective.onnx: the objective alone, equal to the full graph's column -----

@pytest.mark.parametrize("which", ["ps", "dfs"])
def test_objective_graph_equals_full_graph_column(which, ps, dfs):
    bench = ps if which == "ps" else dfs
    assert (bench.path / "objective.onnx").is_file() and bench.meta["objective_model_sha256"]
    assert bench._objective_feed is not None
    col = bench.target_names.index(bench.objective_name)
    cs = bench.configspace
    cs.seed(5)
    configs = [dict(c) for c in cs.sample_configuration(1200)]
    x_cat, x_cont = bench.encode(configs)
    full = bench.evaluate_array(x_cat, x_cont)[:, col]
    for size in (1, 7, 64, 1200):
        parts = [bench.objective_array(x_cat[i:i + size], x_cont[i:i + size]) for i in range(0, 1200, size)]
        assert np.array_equal(np.concatenate(parts), full), size
    singles = [bench.objective(c) for c in configs[:150]]
    assert all(type(v) is float for v in singles)
    assert singles == [bench.evaluate(c)[0][bench.objective_name] for c in configs[:150]]
    with pytest.raises(ValueError, match="w0_l00|layer_0|scale"):
        bad = x_cont.copy()
        bad[3, 0] = 7.0
        bench.objective_array(x_cat, bad)


def test_objective_graph_is_checked_at_load_and_against_the_full_graph_on_first_use(ps_scenario, tmp_path, tmp_path_factory):
    from conftest import write_authors_folder

    from smm_bench_plugin.importer import import_lightgbm

    def copy(name):
        dst = tmp_path / name
        shutil.copytree(ps_scenario, dst)
        return dst

    tampered = copy("tampered")
    with open(tampered / "objective.onnx", "ab") as f:
        f.write(b"\0")
    with pytest.raises(ValueError, match="objective.onnx.*sha256"):
        Benchmark(tampered)

    missing = copy("missing")
    (missing / "objective.onnx").unlink()
    with pytest.raises(ValueError, match="objective.onnx: missing"):
        Benchmark(missing)

    # another PS surrogate's objective graph, with a matching sha256: caught by the probe rows
    other = import_lightgbm(write_authors_folder(tmp_path_factory.mktemp("other_authors"), "ps", seed=3), "ps",
                            name="other_ps")
    swapped = copy("swapped")
    shutil.copy(other / "objective.onnx", swapped / "objective.onnx")
    meta = json.loads((swapped / "meta.json").read_text())
    meta["objective_model_sha256"] = json.loads((other / "meta.json").read_text())["objective_model_sha256"]
    (swapped / "meta.json").write_text(json.dumps(meta))
    bench = Benchmark(swapped)  # objective.onnx alone opens at load; model.onnx on the first call needing it
    assert bench._full_runner is None
    with pytest.raises(ValueError, match="disagrees with model.onnx"):
        bench.evaluate(_default(bench))

    # the full graph in its place: wrong width, named
    wide = copy("wide")
    shutil.copy(ps_scenario / "model.onnx", wide / "objective.onnx")
    meta = json.loads((wide / "meta.json").read_text())
    meta["objective_model_sha256"] = meta["model_sha256"]
    (wide / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"objective.onnx: in its contract \(ONNX metadata\), outputs is "
                                         r"\[.*\], but model.onnx's contract implies \[\"gsm8k_ja\"\]"):
        Benchmark(wide)


def test_full_graph_opens_on_first_use_only(ps_scenario, tmp_path, tmp_path_factory):
    """objective() alone never opens model.onnx (its load time and memory are the full graph's); the
    first evaluate() opens it, checked: another surrogate's full graph with a matching sha256 is refused."""
    from conftest import write_authors_folder

    from smm_bench_plugin.importer import import_lightgbm

    bench = Benchmark(ps_scenario)
    config = _default(bench)
    value = bench.objective(config)
    assert bench._full_runner is None
    assert bench.evaluate(config)[0][bench.objective_name] == value and bench._full_runner is not None

    other = import_lightgbm(write_authors_folder(tmp_path_factory.mktemp("other_full"), "ps", seed=4), "ps",
                            name="other_full")
    swapped = tmp_path / "swapped_full"
    shutil.copytree(ps_scenario, swapped)
    shutil.copy(other / "model.onnx", swapped / "model.onnx")
    meta = json.loads((swapped / "meta.json").read_text())
    meta["model_sha256"] = json.loads((other / "meta.json").read_text())["model_sha256"]
    (swapped / "meta.json").write_text(json.dumps(meta))
    bench = Benchmark(swapped)
    assert bench.objective(config) == value  # objective.onnx is the scenario's own
    with pytest.raises(ValueError, match="model.onnx"):
        bench.evaluate(config)


def test_scenario_without_objective_graph_still_works(ps_scenario, ps, tmp_path):
    """objective.onnx is optional (older scenarios, single-target ones): the full graph answers."""
    old = tmp_path / "old"
    shutil.copytree(ps_scenario, old)
    (old / "objective.onnx").unlink()
    meta = json.loads((old / "meta.json").read_text())
    del meta["objective_model_sha256"]
    (old / "meta.json").write_text(json.dumps(meta))
    b = Benchmark(old)
    assert b._objective_feed is None
    c = _default(b)
    assert b.objective(c) == ps.objective(c)
    x_cat, x_cont = b.encode([c, c])
    assert np.array_equal(b.objective_array(x_cat, x_cont), ps.objective_array(x_cat, x_cont))
