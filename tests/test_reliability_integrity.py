"""A scenario that cannot be silently altered (its integrity record), files that are never
half-read, and the in-place upgrade of folders written before the record existed.

Every corruption class is tried on copies of real scenarios (imported from LightGBM CV
ensembles, both spaces): bit flips, cuts and insertions in every file; field edits,
deletions and swaps in every JSON file; files replaced by a FIFO, a link to /dev/zero, a
directory, another scenario's file (with and without a re-computed sha256), or bytes that are
not UTF-8. Each copy must either be refused with an error naming the damaged file (at load, or for
model.onnx where it opens on the first call that needs it), or load and answer exactly as the original (same targets, same space, same bits on probe rows): 0
silent wrong results, 0 hangs, 0 errors without the file's name.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fuzzing import CASES, fuzz, scaled
from hypothesis import given
from hypothesis import strategies as st

import smm_bench_plugin as smm
from smm_bench_plugin.benchmark import Benchmark
from smm_bench_plugin.scenario import CONTRACT_KEY
from smm_bench_plugin.upgrade import upgrade_scenario

JSON_FILES = ("config_space.json", "encoding.json", "meta.json")
GRAPHS = ("model.onnx", "objective.onnx")
FILES = GRAPHS + JSON_FILES


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def _rehash(folder: Path) -> None:
    meta = json.loads((folder / "meta.json").read_text())
    for name, key in (("model.onnx", "model_sha256"), ("objective.onnx", "objective_model_sha256")):
        if (folder / name).is_file():
            meta[key] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))


def _answers(bench: Benchmark) -> dict:
    """Everything a user gets from a scenario: labels, space, and the bits on probe rows."""
    enc = bench._encoder
    x_cat, x_cont = enc.probe_rows(n_random=61)
    return {"targets": bench.targets, "names": (enc.cat_names, enc.cont_names), "choices": enc.cat_choices,
            "bounds": (enc.lower.tobytes(), enc.upper.tobytes()),
            "y": bench.evaluate_array(x_cat, x_cont).tobytes(),
            "objective": bench.objective_array(x_cat, x_cont).tobytes(),
            "space_doc": bench.space_doc}


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


def _load_with_deadline(folder: Path, seconds: int = 60):
    """Benchmark(folder), or Hang if it has not returned within ``seconds`` (a FIFO open, a /dev/zero read)."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        return Benchmark(folder)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture(scope="module", params=["ps", "dfs"])
def original(request, ps_scenario, dfs_scenario):
    folder = ps_scenario if request.param == "ps" else dfs_scenario
    return folder, _answers(Benchmark(folder)), dfs_scenario if request.param == "ps" else ps_scenario


# ----- the corruption classes --------------------------------------------------------------------

def _json_paths(doc, path=()):
    """Every (path, value) inside a JSON document."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _json_paths(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _json_paths(v, path + (i,))


_JSON_VALUES = [None, True, False, 0, 1, -1, 0.5, 1.0, 2.0, 3.0, 1e300, "", "A", "B", "none", "x", [], {}, [1],
                {"name": "x"}]


def _corrupt(folder: Path, other: Path, kind: str, file: str, rng: random.Random) -> str:
    """Apply one corruption of ``kind`` to ``folder/file``; returns a description."""
    path = folder / file
    if kind in ("bitflip", "cut", "insert", "delete-byte"):
        data = bytearray(path.read_bytes())
        at = rng.randrange(len(data))
        if kind == "bitflip":
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "cut":
            data = data[:at]
        elif kind == "insert":
            data[at:at] = bytes([rng.randrange(256)])
        else:
            del data[at]
        path.write_bytes(bytes(data))
        return f"{kind} at {at}"
    if kind == "json-edit":
        doc = json.loads(path.read_text())
        paths = [p for p, _ in _json_paths(doc) if p]
        if not paths:  # an empty document ({} is PS's encoding.json): add something
            doc[rng.choice(["w0_l00", "slot00", "x"])] = rng.choice(_JSON_VALUES)
            path.write_text(json.dumps(doc))
            return "json add"
        target = rng.choice(paths)
        parent = doc
        for key in target[:-1]:
            parent = parent[key]
        action = rng.choice(["set", "delete", "swap"])
        last = target[-1]
        if action == "delete":
            del parent[last]
        elif action == "swap" and isinstance(parent, list) and len(parent) > 1:
            j = rng.randrange(len(parent))
            parent[last], parent[j] = parent[j], parent[last]
        else:
            parent[last] = rng.choice(_JSON_VALUES)
        path.write_text(json.dumps(doc, indent=2))
        return f"json {action} {target}"
    if kind == "fifo":
        path.unlink()
        os.mkfifo(path)
        return "fifo"
    if kind == "dev-zero":
        path.unlink()
        path.symlink_to("/dev/zero")
        return "link to /dev/zero"
    if kind == "directory":
        path.unlink()
        path.mkdir()
        return "directory"
    if kind == "not-utf8":
        data = bytearray(path.read_bytes())
        data[rng.randrange(len(data))] = 0xFF
        path.write_bytes(bytes(data))
        return "0xff byte"
    if kind in ("foreign", "foreign-rehashed"):
        shutil.copyfile(other / file, path)
        if kind == "foreign-rehashed":
            _rehash(folder)
        return kind
    raise AssertionError(kind)


KINDS = ("bitflip", "cut", "insert", "delete-byte", "json-edit", "fifo", "dev-zero", "directory", "not-utf8",
         "foreign", "foreign-rehashed")
OUTCOMES = ("refused naming the file", "accepted, same answers")


def test_every_corruption_is_refused_naming_the_file_or_changes_nothing(original, tmp_path_factory):
    folder, want, other = original
    counts: dict = {}

    @fuzz(150)
    @given(st.sampled_from(KINDS), st.sampled_from(FILES), st.integers(0, 2 ** 32))
    def check(kind, file, seed):
        if kind in ("json-edit", "not-utf8") and file in GRAPHS:
            kind = "bitflip"
        copy = _copy(folder, tmp_path_factory.mktemp("corrupt") / "s")
        what = _corrupt(copy, other, kind, file, random.Random(seed))
        CASES["corrupted_scenarios"] += 1
        try:  # refused at load, or where model.onnx opens on first use (objective.onnx alone opens at load)
            got = _answers(_load_with_deadline(copy))
        except Hang:
            pytest.fail(f"{kind} of {file} ({what}): load did not return")
        except (ValueError, TypeError, OSError) as e:
            message = str(e)
            assert str(copy / file) in message or (file == "meta.json" and str(copy) in message), \
                f"{kind} of {file} ({what}): error does not name the file: {message}"
            counts[(kind, OUTCOMES[0])] = counts.get((kind, OUTCOMES[0]), 0) + 1
        else:
            assert got == want, f"{kind} of {file} ({what}) was accepted and changed the answers"
            counts[(kind, OUTCOMES[1])] = counts.get((kind, OUTCOMES[1]), 0) + 1
        finally:
            shutil.rmtree(copy.parent, ignore_errors=True)

    check()
    print(f"{folder.name}: {sum(counts.values())} corrupted copies: " + ", ".join(
        f"{k[0]} {k[1]} {v}" for k, v in sorted(counts.items())))


# ----- the reported cases ------------------------------------------------------------------------

def _edit_json(folder: Path, filename: str, edit) -> None:
    doc = json.loads((folder / filename).read_text())
    edit(doc)
    (folder / filename).write_text(json.dumps(doc, indent=2))


def test_raised_upper_bound_is_refused(ps_scenario, tmp_path):
    """Raising a bound to 2.0 used to accept w0_l00=1.9 and evaluate it as 1.0 (the graph clips)."""
    d = _copy(ps_scenario, tmp_path / "s")
    _edit_json(d, "config_space.json", lambda doc: next(h for h in doc["hyperparameters"]
                                                         if h["name"] == "w0_l00").update(upper=2.0))
    with pytest.raises(ValueError, match=r"config_space\.json: hyperparameters\[0\] \(w0_l00\)\.upper is 2\.0, but "
                                         r"\S*(?:model|objective)\.onnx was built for 1\.0"):
        Benchmark(d)


def test_one_bit_flip_in_a_bound_is_refused(ps_scenario, tmp_path):
    """'"upper": 1.0' -> '"upper": 3.0' is one flipped bit (0x31 -> 0x33) and still valid JSON."""
    d = _copy(ps_scenario, tmp_path / "s")
    data = bytearray((d / "config_space.json").read_bytes())
    at = data.index(b'"upper": 1.0') + len(b'"upper": ')
    data[at] ^= 0b10
    (d / "config_space.json").write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"config_space\.json: .*\.upper is 3\.0, but \S*(?:model|objective)\.onnx was built for "
                                         r"1\.0"):
        Benchmark(d)


def test_swapped_target_names_are_refused(ps_scenario, tmp_path):
    d = _copy(ps_scenario, tmp_path / "s")

    def swap(meta):
        a, b = meta["targets"][0], meta["targets"][1]
        a["name"], b["name"] = b["name"], a["name"]

    _edit_json(d, "meta.json", swap)
    with pytest.raises(ValueError, match=r'meta\.json: targets\[0\] \(gsm8k_ja\)\.name is "mgsm_ja", but '
                                         r'\S*(?:model|objective)\.onnx was built for "gsm8k_ja"'):
        Benchmark(d)


def test_dfs_choices_reversed_consistently_in_two_files_are_refused(dfs_scenario, tmp_path):
    """Reversing a slot's choices in config_space.json AND encoding.json kept them consistent with
    each other and changed predictions by up to 3.76: the graph's contract says otherwise."""
    d = _copy(dfs_scenario, tmp_path / "s")

    def reverse(doc):
        for h in doc["hyperparameters"]:
            if h["type"] == "categorical":
                h["choices"] = h["choices"][::-1]

    _edit_json(d, "config_space.json", reverse)
    _edit_json(d, "encoding.json", lambda enc: [enc.update({k: {"#na#": 0, **{c: i + 1 for i, c in enumerate(
        [c for c in v if c != "#na#"][::-1])}}}) for k, v in list(enc.items())])
    with pytest.raises(ValueError, match=r'config_space\.json: hyperparameters\[63\] \(slot00\)\.choices\[0\] is '
                                         r'"none", '
                                         r'but \S*(?:model|objective)\.onnx was built for "A"'):
        Benchmark(d)


@pytest.mark.parametrize("file", FILES)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_special_files_are_refused_at_once_naming_the_file(ps_scenario, tmp_path, file, kind):
    d = _copy(ps_scenario, tmp_path / "s")
    _corrupt(d, d, kind, file, random.Random(0))
    CASES["special_files"] += 1
    what = {"fifo": "a FIFO (named pipe)", "dev-zero": "a character device", "directory": "a directory"}[kind]
    with pytest.raises(ValueError, match=re.escape(f"{d / file}: is {what}, not a regular file")):
        _load_with_deadline(d, 30)


@pytest.mark.parametrize("file", JSON_FILES)
def test_bytes_that_are_not_utf8_name_the_file_and_offset(ps_scenario, tmp_path, file):
    d = _copy(ps_scenario, tmp_path / "s")
    data = (d / file).read_bytes()
    at = min(10, len(data) - 1)  # PS's encoding.json is "{}\n"
    (d / file).write_bytes(data[:at] + b"\xe9" + data[at + 1:])
    with pytest.raises(ValueError, match=rf"{d / file}: not UTF-8 text \(byte 0xe9 at offset {at}\)"):
        Benchmark(d)


@pytest.mark.parametrize("file", JSON_FILES)
def test_oversized_and_deeply_nested_json_name_the_file(ps_scenario, tmp_path, file):
    d = _copy(ps_scenario, tmp_path / "big")
    with open(d / file, "r+b") as f:  # sparse: nothing is written, and nothing may be read
        f.truncate((64 << 20) + 1)
    with pytest.raises(ValueError, match=rf"{d / file}: 67,108,865 bytes, more than the 67,108,864 allowed"):
        Benchmark(d)
    d = _copy(ps_scenario, tmp_path / "deep")
    (d / file).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=rf"{d / file}: JSON nested too deeply to parse"):
        Benchmark(d)
    d = _copy(ps_scenario, tmp_path / "digits")  # 5,001 digits: beyond Python's int-parsing limit
    text = (d / file).read_text()
    text = ('{"w0_l00": {"#na#": 1' + "0" * 5000 + "}}" if file == "encoding.json" else
            re.sub(r'("upper": |"format_version": )[0-9.]+', lambda m: m.group(1) + "1" + "0" * 5000, text, count=1))
    (d / file).write_text(text)
    with pytest.raises(ValueError, match=rf"{d / file}: "):  # read as the float it denotes (inf), refused by name
        Benchmark(d)


def test_a_graph_without_contract_is_refused(ps_scenario, tmp_path):
    import onnx

    d = _copy(ps_scenario, tmp_path / "s")
    model = onnx.load(d / "model.onnx")
    onnx.helper.set_model_props(model, {})
    (d / "model.onnx").write_bytes(model.SerializeToString())
    _rehash(d)
    bench = Benchmark(d)  # objective.onnx alone opens at load; model.onnx on the first call that needs it
    with pytest.raises(ValueError, match=rf"{d / 'model.onnx'}: the graph carries no {CONTRACT_KEY} metadata"):
        bench.evaluate_array(*bench._encoder.probe_rows())
    (d / "objective.onnx").unlink()  # without objective.onnx, model.onnx is opened (and refused) at load
    meta = json.loads((d / "meta.json").read_text())
    del meta["objective_model_sha256"]
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf"{d / 'model.onnx'}: the graph carries no {CONTRACT_KEY} metadata"):
        Benchmark(d)


# ----- format 1 folders and their upgrade ------------------------------------------------------

def _downgrade(folder: Path) -> None:
    """What an older version wrote: graphs without contract, format_version 1."""
    import onnx

    for name in GRAPHS:
        if (folder / name).is_file():
            model = onnx.load(folder / name)
            onnx.helper.set_model_props(model, {p.key: p.value for p in model.metadata_props if p.key != CONTRACT_KEY})
            (folder / name).write_bytes(model.SerializeToString())
    _rehash(folder)
    _edit_json(folder, "meta.json", lambda m: m.update(format_version=1))


def test_format_1_folder_is_refused_with_the_upgrade_command(ps_scenario, tmp_path):
    d = _copy(ps_scenario, tmp_path / "old")
    _downgrade(d)
    with pytest.raises(ValueError, match=rf"{d / 'meta.json'}: format_version 1 has no integrity record .* upgrade it "
                                         rf"in place with: smm-bench upgrade-scenario {d} "):
        Benchmark(d)


def test_upgrade_restores_the_exported_bytes_and_answers(original, tmp_path):
    folder, want, _ = original
    d = _copy(folder, tmp_path / "old")
    _downgrade(d)
    done = upgrade_scenario(d, check_rows=2000)
    assert (done.from_version, done.to_version, done.rows_checked) == (1, 2, 2003)
    for name in GRAPHS:  # the same contract stamped on the same graph: the exported file, byte for byte
        assert (d / name).read_bytes() == (folder / name).read_bytes()
    assert _answers(Benchmark(d)) == want
    assert upgrade_scenario(d).rows_checked == 0  # already current: nothing done
    assert sorted(p.name for p in d.iterdir()) == sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("edit, message", [
    (lambda d: _edit_json(d, "config_space.json", lambda doc: doc["hyperparameters"][0].update(upper=2.0)),
     r"config_space\.json: hyperparameters\[0\] \(w0_l00\)\.upper is 2\.0, but space 'ps' has 1\.0"),
    (lambda d: _edit_json(d, "meta.json", lambda m: m["targets"][1].update(upper=3.0)),
     r"model\.onnx: target_upper differs from meta\.json \(mgsm_ja: 3\.0 in meta\.json, 1\.0 in the graph\)"),
    (lambda d: _edit_json(d, "meta.json", lambda m: m["cont_names"].reverse()),
     r"config_space\.json and meta\.json disagree on the hyperparameter names"),
], ids=["bound-raised", "target-bound-raised", "columns-reordered"])
def test_upgrade_refuses_a_folder_edited_after_export(ps_scenario, tmp_path, edit, message):
    d = _copy(ps_scenario, tmp_path / "old")
    _downgrade(d)
    edit(d)
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    with pytest.raises(ValueError, match=message):
        upgrade_scenario(d)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before  # nothing written


_UPGRADE = "import sys; from smm_bench_plugin.upgrade import upgrade_scenario; upgrade_scenario(sys.argv[1])"


@pytest.mark.slow  # a kill loop
def test_upgrade_killed_at_random_moments_resumes_to_the_same_folder(dfs_scenario, tmp_path):
    d = _copy(dfs_scenario, tmp_path / "old")
    _downgrade(d)
    rng = random.Random(7)
    kills = 0
    for _ in range(scaled(6)):
        proc = subprocess.Popen([sys.executable, "-c", _UPGRADE, str(d)], stderr=subprocess.PIPE)
        try:
            proc.wait(timeout=rng.uniform(0.5, 4.0))
        except subprocess.TimeoutExpired:
            proc.kill()
            kills += 1
        proc.wait()
        meta = json.loads((d / "meta.json").read_text())  # always whole: the old or the new one
        assert meta["format_version"] in (1, 2)
    CASES["upgrade_kills"] += kills
    out = subprocess.run([sys.executable, "-c", _UPGRADE, str(d)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert sorted(p.name for p in d.iterdir()) == sorted(p.name for p in dfs_scenario.iterdir())
    for name in FILES:
        assert (d / name).read_bytes() == (dfs_scenario / name).read_bytes() or name == "meta.json"
    assert _answers(Benchmark(d)) == _answers(Benchmark(dfs_scenario))
    print(f"upgrade: {kills} SIGKILLs, then resumed to the exported bytes")


@pytest.mark.parametrize("replaced_before_kill", [0, 1, 2])
def test_upgrade_stopped_between_its_renames_is_finished_by_the_next_run(ps_scenario, tmp_path, monkeypatch,
                                                                           replaced_before_kill):
    """Stopped after 0, 1 or 2 of its 3 renames (the new graphs, then meta.json): the folder is refused
    or still the old one, and the next run completes it to the exported bytes."""
    import smm_bench_plugin.upgrade as up

    d = _copy(ps_scenario, tmp_path / "old")
    _downgrade(d)
    real, done = os.replace, []

    def stop_after(src, dst):
        if Path(dst).name in FILES:
            if len(done) == replaced_before_kill:
                raise KeyboardInterrupt("stopped")
            done.append(dst)
        real(src, dst)

    monkeypatch.setattr(up.os, "replace", stop_after)
    with pytest.raises(KeyboardInterrupt):
        upgrade_scenario(d)
    monkeypatch.setattr(up.os, "replace", real)
    assert json.loads((d / "meta.json").read_text())["format_version"] == 1  # meta.json moves last
    upgrade_scenario(d)
    for name in GRAPHS:
        assert (d / name).read_bytes() == (ps_scenario / name).read_bytes()
    assert not list(d.glob("*.upgrade*"))
    assert _answers(Benchmark(d)) == _answers(Benchmark(ps_scenario))


def test_cli_upgrade_scenario(ps_scenario, tmp_path, capsys):
    from smm_bench_plugin.cli import main

    d = _copy(ps_scenario, tmp_path / "old")
    _downgrade(d)
    assert main(["upgrade-scenario", str(d), "--check-rows", "500"]) == 0
    out = capsys.readouterr().out
    assert f"{d}: format 1 -> 2; model.onnx sha256 " in out and "predictions bit-identical on 503 rows" in out
    assert main(["upgrade-scenario", str(d)]) == 0
    assert f"{d}: already format 2 (verified)" in capsys.readouterr().out


def test_bundled_scenarios_carry_their_contract():
    """Retrained bundled scenarios must be written by the exporter (which stamps the contract) or upgraded."""
    from smm_bench_plugin.paths import scenario_entries

    bundled = [e.name for e in scenario_entries() if e.source == "bundled"]
    assert {"smm_ps_mini", "smm_dfs_mini", "smm_ps_mini_mf", "smm_dfs_mini_mf"} <= set(bundled)
    for name in bundled:
        bench = smm.load(name)
        assert bench.meta["format_version"] == 2
        assert bench._contract["outputs"] == list(bench.target_names)
        assert bench._contract.get("fidelity") == bench.meta.get("fidelity")
        assert np.isfinite(bench.objective(dict(bench.configspace.get_default_configuration())))


# ----- multi-fidelity scenarios: the fidelity is part of the record ------------------------------

@pytest.fixture(scope="module")
def mf_trained(tmp_path_factory):
    """A multi-fidelity scenario as its training command writes it (a synthetic store: 64 objective
    items, so the ladder is cut to the rungs it has; one Optuna trial per tree target)."""
    import smm_bench_collection.fidelity as fidelity
    from smm_bench_collection.collect import collect, family_factory
    from smm_bench_surrogates.multifidelity import main as train_mf

    root = tmp_path_factory.mktemp("mf-train")
    collect("ps", family_factory("ps", "synthetic"), "random", 160, root / "store", seed=0, progress=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(fidelity, "LADDER", (16, 32, 64))
        assert train_mf(["--data", str(root / "store"), "--space", "ps", "--out", str(root / "mf"),
                         "--trials", "1"]) == 0
    return root / "mf"


def test_multifidelity_training_writes_format_2_with_the_fidelity_in_the_record(mf_trained):
    bench = smm.load(mf_trained)
    assert bench.meta["format_version"] == 2 and bench.ladder == (16, 32, 64)
    assert bench._contract["fidelity"] == bench.meta["fidelity"]
    assert upgrade_scenario(mf_trained).rows_checked == 0  # current: verified, nothing to do


@pytest.mark.parametrize("edit, field", [
    (lambda f: f.update(ladder=[16, 32, 48, 64]), r"fidelity\.ladder\[2\] is 48"),
    (lambda f: f["noise_scale"].__setitem__(0, 0.5), r"fidelity\.noise_scale\[0\] is 0\.5"),
    (lambda f: f.update(name="n_examples"), r"fidelity\.name is \"n_examples\""),
], ids=["rung-added", "noise-scale-changed", "renamed"])
def test_an_edited_fidelity_is_refused_naming_meta_json(mf_trained, tmp_path, edit, field):
    d = _copy(mf_trained, tmp_path / "s")
    _edit_json(d, "meta.json", lambda m: edit(m["fidelity"]))
    with pytest.raises(ValueError, match=rf"{d / 'meta.json'}: {field}.*, but {d}/(?:model|objective)\.onnx was built for"):
        smm.load(d)


def test_a_single_fidelity_scenario_given_a_fidelity_is_refused(ps_scenario, mf_trained, tmp_path):
    d = _copy(ps_scenario, tmp_path / "s")
    _edit_json(d, "meta.json", lambda m: m.update(fidelity=json.loads((mf_trained / "meta.json").read_text())["fidelity"]))
    with pytest.raises(ValueError, match=rf"{d / 'meta.json'}: fidelity is .*, but .* was built for absent"):
        smm.load(d)


def test_a_multifidelity_benchmark_pickles_and_copies_as_itself(mf_trained):
    import copy
    import pickle

    bench = smm.load(mf_trained)
    config = dict(bench.configspace.get_default_configuration())
    for twin in (pickle.loads(pickle.dumps(bench)), copy.deepcopy(bench)):
        assert type(twin) is type(bench) and twin.ladder == bench.ladder
        assert [twin.objective(config, fidelity=k) for k in twin.ladder] == \
            [bench.objective(config, fidelity=k) for k in bench.ladder]


@pytest.mark.parametrize("budget", ["16", b"16", True, [16], float("nan")])
def test_a_budget_that_is_not_a_number_is_refused_naming_it(mf_bench, budget):
    with pytest.raises((TypeError, ValueError), match="budget must be a"):
        mf_bench.rung_at_most(budget)


def test_a_masked_fidelity_is_refused_naming_it(mf_bench):
    bench = mf_bench
    x_cat, x_cont = bench._encoder.probe_rows(n_random=1)
    rungs = np.resize(np.asarray(bench.ladder), len(x_cont))
    masked = np.ma.masked_array(rungs, mask=np.arange(len(rungs)) == 2)
    with pytest.raises(ValueError, match=r"fidelity is a masked array with 1 masked value\(s\) \(first at \(2,\)\)"):
        bench.objective_array(x_cat, x_cont, fidelity=masked)
    clear = np.ma.masked_array(rungs, mask=False)
    assert bench.objective_array(x_cat, x_cont, fidelity=clear).tobytes() == \
        bench.objective_array(x_cat, x_cont, fidelity=rungs).tobytes()


_FIDELITY = st.one_of(
    st.none(), st.integers(-300, 300), st.sampled_from([16, 32, 64, 16.0, 64.0, np.int64(32), np.float32(16)]),
    st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=4), st.binary(max_size=4),
    st.dictionaries(st.sampled_from(["n_items", "N_items", "epochs", ""]), st.sampled_from([16, 64, 20, None, "16"]),
                    max_size=2),
    st.lists(st.sampled_from([16, 32, 64, 8, 16.5, None, "32"]), max_size=5),
    st.builds(lambda v, n, t: np.full(n, v).astype(t), st.sampled_from([16, 32, 64, 17]), st.integers(0, 4),
              st.sampled_from([np.int32, np.float64, np.float32, np.bool_, object, str])))


@pytest.fixture(scope="module")
def mf_bench(mf_trained):
    return smm.load(mf_trained)


@fuzz(300)
@given(fidelity=_FIDELITY)
def test_any_fidelity_gives_a_rung_or_an_error_naming_it(mf_bench, fidelity):
    """Every fidelity argument either selects rungs of the ladder or is refused naming the fidelity."""
    bench = mf_bench
    x_cat, x_cont = bench._encoder.probe_rows(n_random=0)  # 3 rows
    CASES["mf_fidelity"] += 1
    try:
        y = bench.objective_array(x_cat, x_cont, fidelity=fidelity)
    except (ValueError, TypeError) as e:
        assert "fidelity" in str(e) or "n_items" in str(e), str(e)
        return
    ladder = np.resize(np.asarray(fidelity if fidelity is not None and not isinstance(fidelity, dict) else
                                  (fidelity or {}).get("n_items") or 64, dtype=np.float64), 3)
    assert np.isin(ladder, bench.ladder).all()
    assert y.tobytes() == bench.objective_array(x_cat, x_cont, fidelity=ladder).tobytes()


def test_multifidelity_upgrade_restores_the_exported_bytes(mf_trained, tmp_path):
    d = _copy(mf_trained, tmp_path / "old")
    _downgrade(d)
    done = upgrade_scenario(d, check_rows=300)
    assert (done.from_version, done.rows_checked) == (1, 303)
    for name in GRAPHS:
        assert (d / name).read_bytes() == (mf_trained / name).read_bytes()


def test_multifidelity_upgrade_checks_the_fidelity_against_the_graph(mf_trained, tmp_path):
    d = _copy(mf_trained, tmp_path / "old")
    _downgrade(d)
    _edit_json(d, "meta.json", lambda m: m["fidelity"]["noise_scale"].__setitem__(0, 9.0))
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    with pytest.raises(ValueError, match=r"model\.onnx: mf_noise_scale differs from meta\.json "
                                         r"\(fidelity\.noise_scale\[0\]: 9\.0 in meta\.json"):
        upgrade_scenario(d)
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
