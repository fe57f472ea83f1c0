"""Configurations are read exactly as the user holds them, arguments are checked where they
enter, and a Benchmark travels to other processes.

* Any Mapping (dict subclasses with ``__missing__`` such as ``defaultdict`` and ``Counter``,
  ``ChainMap``, ``MappingProxyType``, ``UserDict``, hand-written Mappings, one that answers
  every key), a pandas Series and a ConfigSpace Configuration give exactly what a plain dict of
  the items they hold gives, or the plain dict's error; none is ever mutated and none has an
  absent key looked up (hypothesis fuzz on the bundled scenarios of both spaces).
* Masked arrays are refused where a value is masked (the graph would read what is under the
  mask), used as they are where none is.
* ``load`` / ``Benchmark`` / ``import_lightgbm`` / ``upgrade_scenario`` refuse bad arguments
  naming the parameter; ``intra_op_threads`` is bounded by the CPU count.
* A Benchmark pickles and deep-copies (by folder and settings) and works in spawned workers.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pickle
import shutil
import time
import types
from collections import ChainMap, Counter, OrderedDict, UserDict, defaultdict
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import numpy as np
import pytest
from fuzzing import CASES, fuzz
from hypothesis import given
from hypothesis import strategies as st

import smm_bench_plugin as smm
from smm_bench_plugin import Benchmark


@pytest.fixture(scope="module", params=["smm_ps_mini", "smm_dfs_mini"])
def bundled(request):
    return smm.load(request.param)


# ----- every kind of mapping ---------------------------------------------------------------------

class PlainMapping(Mapping):
    """A hand-written Mapping: only what it holds."""

    def __init__(self, items):
        self._items = dict(items)

    def __getitem__(self, key):
        return self._items[key]

    def __iter__(self):
        return iter(self._items)

    def __len__(self):
        return len(self._items)


class AnswersEverything(PlainMapping):
    """Lists its own keys but answers any key (as defaultdict does, without being a dict)."""

    def __getitem__(self, key):
        return self._items.get(key, 0.5)


class MissingDict(dict):
    def __missing__(self, key):
        self[key] = 0.5
        return 0.5


class GetitemDict(dict):
    """A dict whose own ``__getitem__`` answers every key (no ``__missing__``)."""

    def __getitem__(self, key):
        return dict.__getitem__(self, key) if key in self else 0.5


class DefaultUserDict(UserDict):
    def __missing__(self, key):
        return 0.5


def _kinds(names: list[str]):
    """(label, build(items) -> mapping) for every mapping type a user may pass."""
    def chain(items):
        keys = list(items)
        half = len(keys) // 2
        return ChainMap({k: items[k] for k in keys[:half]}, {k: items[k] for k in keys[half:]})

    def series(items):
        import pandas as pd

        return pd.Series(list(items.values()), index=list(items.keys()), dtype=object)

    return [
        ("dict", dict),
        ("defaultdict-float", lambda items: defaultdict(float, items)),
        ("defaultdict-valid", lambda items: defaultdict(lambda: 0.5, items)),
        ("defaultdict-choice", lambda items: defaultdict(lambda: "A", items)),
        ("counter", lambda items: Counter(items)),
        ("ordereddict", OrderedDict),
        ("chainmap", chain),
        ("mappingproxy", lambda items: types.MappingProxyType(dict(items))),
        ("userdict-missing", DefaultUserDict),
        ("dict-missing", MissingDict),
        ("dict-getitem", GetitemDict),
        ("mapping", PlainMapping),
        ("mapping-answers-everything", AnswersEverything),
        ("series", series),
    ]


def _held_items(m) -> dict:
    """What the mapping holds, read without ever asking for a key it does not list."""
    if hasattr(m, "index") and hasattr(m, "tolist"):
        return dict(zip(list(m.index), m.tolist()))
    if isinstance(m, (dict, UserDict)):
        return dict(m.items()) if not isinstance(m, UserDict) else dict(m.data)
    if isinstance(m, ChainMap):
        return {k: v for d in reversed(m.maps) for k, v in d.items()}
    if isinstance(m, PlainMapping):
        return dict(m._items)
    return dict(m.items())


def _valid_configs(bench):
    enc = bench._encoder
    fields = {n: st.floats(float(lo), float(hi)) for n, lo, hi in zip(enc.cont_names, enc.lower, enc.upper)}
    fields.update({n: st.sampled_from(ch) for n, ch in zip(enc.cat_names, enc.cat_choices)})
    return st.fixed_dictionaries(fields)


def test_every_mapping_kind_gives_the_plain_dict_answer_and_is_never_mutated(bundled):
    names = sorted(bundled.hyperparameter_names)
    kinds = _kinds(names)

    @fuzz(400)
    @given(st.sampled_from(range(len(kinds))), _valid_configs(bundled),
           st.sets(st.sampled_from(names), max_size=len(names)), st.booleans())
    def check(kind, items, dropped, extra):
        label, build = kinds[kind]
        for n in dropped:
            del items[n]
        if extra:
            items["not_a_hyperparameter"] = 0.5
        if not items:
            return
        mapping = build(items)
        before = _held_items(mapping)
        CASES["mapping_kinds"] += 1
        try:
            want = bundled.evaluate(dict(before))
        except (ValueError, TypeError) as e:
            with pytest.raises(type(e)) as info:
                bundled.evaluate(mapping)
            assert str(info.value) == str(e), (label, str(info.value), str(e))
            with pytest.raises(type(e)):
                bundled.objective(mapping)
        else:
            assert bundled.evaluate(mapping) == want, label
            assert bundled.objective(mapping) == want[0][bundled.objective_name], label
        assert _held_items(mapping) == before, f"{label} was mutated"
        assert len(mapping) == len(before), f"{label} was mutated"

    check()


def test_defaultdict_with_missing_keys_is_refused_and_left_alone(bundled):
    """The reported case: a defaultdict holding one value used to evaluate (to 0.0) and gain 63 keys."""
    name = bundled.cont_names[0]
    d = defaultdict(float, {name: float(bundled._encoder.lower[0])})
    with pytest.raises(ValueError, match=r"configuration 0: missing hyperparameter\(s\)"):
        bundled.objective(d)
    with pytest.raises(ValueError, match=r"configuration 0: missing hyperparameter\(s\)"):
        bundled.evaluate([d])
    assert dict(d) == {name: float(bundled._encoder.lower[0])}


def test_pandas_series_and_configurations_are_read_like_dicts(bundled):
    import pandas as pd

    cs = bundled.configspace
    cs.seed(5)
    confs = cs.sample_configuration(50)
    plain = [dict(c) for c in confs]
    CASES["mapping_kinds"] += 3 * len(plain)
    want = bundled.evaluate(plain)
    assert bundled.evaluate(list(confs)) == want
    series = [pd.Series(c) for c in plain]  # PS: float64, DFS: object dtype
    assert bundled.evaluate(series) == want
    assert [bundled.objective(s) for s in series] == [w[bundled.objective_name] for w in want]
    frame = pd.DataFrame(plain)
    assert bundled.evaluate([row for _, row in frame.iterrows()]) == want
    twice = pd.Series(list(plain[0].values()) + [0.5], index=list(plain[0]) + [bundled.cont_names[0]])
    with pytest.raises(ValueError, match=rf"configuration 0: the Series has label\(s\) {bundled.cont_names[0]} more "
                                         "than once"):
        bundled.evaluate(twice)
    with pytest.raises(TypeError, match="a pandas Series, got DataFrame"):
        bundled.evaluate(frame)


def test_importing_the_package_does_not_import_pandas():
    import subprocess
    import sys

    code = "import sys, smm_bench_plugin as s; s.load('smm_ps_mini'); print(sorted(m for m in ('pandas', 'torch', " \
           "'lightgbm', 'optuna', 'onnx') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stdout + out.stderr


# ----- masked arrays -----------------------------------------------------------------------------

def test_masked_arrays_are_refused_where_a_value_is_masked(bundled):
    confs = [dict(c) for c in bundled.configspace.sample_configuration(8)]
    x_cat, x_cont = bundled.encode(confs)
    want = bundled.evaluate_array(x_cat, x_cont)
    masked = np.ma.array(x_cont, mask=np.zeros_like(x_cont, bool))
    masked[3, 5] = np.ma.masked  # the value under the mask stays valid: ignoring the mask would "work"
    for call in (bundled.evaluate_array, bundled.objective_array, bundled.decode):
        with pytest.raises(ValueError, match=r"x_cont is a masked array with 1 masked value\(s\) \(first at "
                                             r"\(3, 5\)\)"):
            call(x_cat, masked)
    assert np.array_equal(bundled.evaluate_array(np.ma.array(x_cat), np.ma.array(x_cont)), want)  # nothing masked
    if bundled.cat_names:
        with pytest.raises(ValueError, match="x_cat is a masked array"):
            bundled.evaluate_array(np.ma.array(x_cat, mask=x_cat == 2), x_cont)
    config = dict(confs[0])
    config[bundled.cont_names[0]] = np.ma.masked
    with pytest.raises(TypeError, match=rf"configuration 0: {bundled.cont_names[0]} must be a real number"):
        bundled.evaluate(config)


# ----- arguments of the public entry points ------------------------------------------------------

@pytest.mark.parametrize("value", [None, "", 3, 2.5, b"smm_ps_mini", ["smm_ps_mini"]])
def test_load_names_its_argument(value):
    with pytest.raises(TypeError, match=r"name_or_path must be a scenario name or folder .* got "):
        smm.load(value)
    with pytest.raises(TypeError, match=r"folder must be a scenario folder .* got "):
        Benchmark(value)


@pytest.mark.parametrize("threads", [0, -1, 100_000, 2 ** 40, 1.5, True, "2", None])
def test_thread_count_is_bounded_by_the_cpu_count_and_named(threads):
    start = time.perf_counter()
    with pytest.raises(ValueError, match=rf"intra_op_threads must be an integer from 1 to {os.cpu_count()}"):
        smm.load("smm_ps_mini", intra_op_threads=threads)
    with pytest.raises(ValueError, match="intra_op_threads must be an integer from 1 to"):
        Benchmark(smm.load("smm_ps_mini").path, intra_op_threads=threads)
    assert time.perf_counter() - start < 30  # refused before any session (100,000 threads took minutes)


def test_import_upgrade_and_yahpo_name_their_arguments(authors_ps, tmp_path):
    from smm_bench_plugin.importer import import_lightgbm
    from smm_bench_plugin.upgrade import upgrade_scenario

    for kwargs, pattern in [(dict(source=None, space="ps"), "source must be the folder"),
                            (dict(source=authors_ps, space=None), "unknown space None"),
                            (dict(source=authors_ps, space="ps", name=5), "name must be a scenario name"),
                            (dict(source=authors_ps, space="ps", force="yes"), "force must be True or False"),
                            (dict(source=authors_ps, space="ps", name="../x"), "invalid scenario name")]:
        with pytest.raises((TypeError, ValueError), match=pattern):
            import_lightgbm(**kwargs)
    with pytest.raises(TypeError, match="folder must be a scenario folder"):
        upgrade_scenario(None)
    with pytest.raises(ValueError, match="check_rows must be a positive integer"):
        upgrade_scenario(tmp_path, check_rows=0)
    from smm_bench_plugin import yahpo

    for names in (5, b"smm_ps_mini", {"smm_ps_mini": 1}):
        with pytest.raises(TypeError, match="names must be a scenario name or folder, a list of them, or None"):
            yahpo.register(names)
    with pytest.raises(TypeError, match="basedir must be a folder"):
        yahpo.register("smm_ps_mini", basedir=3)


# ----- pickling and copying ----------------------------------------------------------------------

def _objectives(bench, configs):
    return [bench.objective(c) for c in configs]


def test_benchmark_pickles_and_copies_by_folder_and_settings(bundled, tmp_path):
    configs = [dict(c) for c in bundled.configspace.sample_configuration(20)]
    want = bundled.evaluate(configs)
    for twin in (pickle.loads(pickle.dumps(bundled)), copy.deepcopy(bundled), copy.copy(bundled)):
        assert twin is not bundled and twin.path == bundled.path and twin._threads == bundled._threads
        assert twin.evaluate(configs) == want
    assert len(pickle.dumps(bundled)) < 1000  # the folder and settings, not the model
    # a scenario that changed between pickling and loading is refused, naming the folder
    moved = shutil.copytree(bundled.path, tmp_path / "s")
    data = pickle.dumps(Benchmark(moved))
    import onnx

    model = onnx.load(moved / "model.onnx")  # another model of the same scenario: one more metadata entry
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, "note": "retrained"})
    (moved / "model.onnx").write_bytes(model.SerializeToString())
    meta = json.loads((moved / "meta.json").read_text())
    meta["model_sha256"] = hashlib.sha256((moved / "model.onnx").read_bytes()).hexdigest()
    (moved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf"{moved}: the scenario changed since this Benchmark was pickled"):
        pickle.loads(data)


def test_benchmark_goes_to_spawned_worker_processes(bundled):
    configs = [dict(c) for c in bundled.configspace.sample_configuration(24)]
    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        parts = list(pool.map(_objectives, [bundled] * 3, [configs[i::3] for i in range(3)]))
    assert [v for part in parts for v in part] == [v for i in range(3) for v in _objectives(bundled, configs[i::3])]
