"""Importer of the authors' release format: parity with their loader, all-or-nothing
registration, clear errors, and safety under concurrent imports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import dfs_inputs, ps_inputs, reference_predict, user_scenario_names, write_authors_folder

import smm_bench_plugin as smm
from smm_bench_plugin.importer import import_lightgbm
from smm_bench_plugin.spaces import ps_names

FILES = ("train_acc_ja_best_model.json", "test_acc_ja_best_model.json")


def _registered(data_dir: Path) -> list[str]:
    root = data_dir / "scenarios"
    return sorted(p.name for p in root.iterdir() if p.name != ".lock") if root.exists() else []


@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_import_matches_authors_loader(space, authors_ps, authors_dfs, isolated_data_dir):
    folder = authors_ps if space == "ps" else authors_dfs
    path = import_lightgbm(folder, space)
    assert path == isolated_data_dir / "scenarios" / f"smm_{space}"
    assert user_scenario_names() == [f"smm_{space}"]
    bench = smm.load(f"smm_{space}")
    rng = np.random.default_rng(11)
    X = ps_inputs(rng, 10_000) if space == "ps" else dfs_inputs(rng, 10_000)
    n_cat = len(bench.cat_names)
    out = bench.evaluate_array((X[:, :n_cat] + 1).astype(np.int32), X[:, n_cat:])
    for j, f in enumerate(FILES):
        assert np.abs(out[:, j] - reference_predict(folder / f, X)).max() <= 1e-12
    meta = bench.meta
    assert meta["provenance"]["source_files"][FILES[0]]["sha256"]
    assert list(meta["provenance"]["columns"].items())[0] == (bench.hyperparameter_names[0], "w_0_0" if space == "ps" else "layer_0")
    assert set(_registered(isolated_data_dir)) == {f"smm_{space}"}  # no staging leftovers


def test_import_dfs_with_categorical_splits(tmp_path):
    folder = write_authors_folder(tmp_path / "cat", "dfs", n=800, rounds=8, categorical=True)
    bench = smm.load(import_lightgbm(folder, "dfs"))
    configs = [dict(c) for c in bench.configspace.sample_configuration(300)]
    x_cat, x_cont = bench.encode(configs)
    X = np.hstack([x_cat - 1, x_cont]).astype(np.float64)  # "A"=0, "B"=1, "none"=2
    out = bench.evaluate_array(x_cat, x_cont)
    assert np.abs(out[:, 0] - reference_predict(folder / FILES[0], X)).max() <= 1e-12


def test_dfs_code_mapping_is_used(authors_dfs):
    """Switching one slot from "A" to "none" must equal the authors' model with code 0 -> 2."""
    bench = smm.load(import_lightgbm(authors_dfs, "dfs"))
    rng = np.random.default_rng(12)
    X = dfs_inputs(rng, 500)
    cfgs = bench.decode((X[:, :32] + 1).astype(np.int32), X[:, 32:])
    assert {cfgs[i][f"slot{j:02d}"] for i in range(50) for j in range(32)} == {"A", "B", "none"}
    assert cfgs[0]["slot05"] == ("A", "B", "none")[int(X[0, 5])]
    got = np.array([r["gsm8k_ja"] for r in bench.evaluate(cfgs)])
    assert np.abs(got - reference_predict(authors_dfs / FILES[0], X)).max() <= 1e-12


def _broken_copy(src: Path, dst: Path, fn) -> Path:
    shutil.copytree(src, dst)
    fn(dst)
    return dst


@pytest.mark.parametrize(
    "breakage, space, exc, pattern",
    [
        (lambda d: (d / FILES[1]).unlink(), "ps", FileNotFoundError, "lacks test_acc_ja_best_model.json"),
        (lambda d: (d / "label.json").unlink(), "ps", FileNotFoundError, "lacks label.json"),
        (lambda d: None, "dfs", ValueError, "lists 64 columns; space 'dfs' has 95.*Wrong --space"),
        (lambda d: (d / FILES[0]).write_text((d / FILES[0]).read_text()[:5000]), "ps", ValueError,
         "train_acc_ja_best_model.json: CVBooster JSON: invalid JSON"),
        (lambda d: (d / FILES[1]).write_text('{"boosters": ["tree\\nbroken"], "best_iteration": 1}'), "ps", ValueError,
         "truncated LightGBM model text"),
        (lambda d: (d / "label.json").write_text('{"y": []}'), "ps", ValueError, "key 'x'"),
        (lambda d: (d / "label.json").write_text("[1, 2"), "ps", ValueError, r"label\.json: invalid JSON"),
        (lambda d: (d / "label.json").write_text(json.dumps({"x": ps_names()[::-1]})), "ps", ValueError,
         "column 0 is labelled 'w1_l31'.*column 0 is 'w0_l00'.*64 column"),
    ],
    ids=["missing-model", "missing-labels", "wrong-space", "corrupt-json", "corrupt-model", "labels-no-x", "labels-bad-json",
         "labels-our-names-reordered"],
)
def test_errors_register_nothing(authors_ps, tmp_path, isolated_data_dir, breakage, space, exc, pattern):
    broken = _broken_copy(authors_ps, tmp_path / "broken", breakage)
    with pytest.raises(exc, match=pattern):
        import_lightgbm(broken, space)
    assert _registered(isolated_data_dir) == []
    assert user_scenario_names() == []


def test_unknown_space_and_bad_name(authors_ps):
    with pytest.raises(ValueError, match="allowed: ps, dfs"):
        import_lightgbm(authors_ps, "xyz")
    with pytest.raises(ValueError, match="invalid scenario name"):
        import_lightgbm(authors_ps, "ps", name="../evil")


def test_feature_name_mismatch_is_refused(tmp_path, authors_ps, isolated_data_dir):
    d = _broken_copy(authors_ps, tmp_path / "names", lambda d: None)
    doc = json.loads((d / FILES[0]).read_text())
    doc["boosters"] = [b.replace("feature_names=Column_0 ", "feature_names=zzz ", 1) for b in doc["boosters"]]
    (d / FILES[0]).write_text(json.dumps(doc))
    with pytest.raises(ValueError, match="feature names"):
        import_lightgbm(d, "ps")
    assert _registered(isolated_data_dir) == []


def test_existing_scenario_needs_force(authors_ps, isolated_data_dir):
    first = import_lightgbm(authors_ps, "ps")
    sha = json.loads((first / "meta.json").read_text())["model_sha256"]
    with pytest.raises(FileExistsError, match="already exists.*force"):
        import_lightgbm(authors_ps, "ps")
    again = import_lightgbm(authors_ps, "ps", force=True)
    assert again == first and json.loads((again / "meta.json").read_text())["model_sha256"] == sha
    assert _registered(isolated_data_dir) == ["smm_ps"]


def _spawn(folder: Path, force: bool, env: dict) -> subprocess.Popen:
    code = ("import sys; from smm_bench_plugin.importer import import_lightgbm\n"
            "try:\n    import_lightgbm(sys.argv[1], 'ps', force=sys.argv[2] == '1')\n"
            "except FileExistsError:\n    sys.exit(3)\n")
    return subprocess.Popen([sys.executable, "-c", code, str(folder), "1" if force else "0"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


@pytest.mark.parametrize("force", [True, False])
def test_concurrent_imports_are_serialised(authors_ps, isolated_data_dir, force):
    env = dict(os.environ)
    procs = [_spawn(authors_ps, force, env) for _ in range(3)]
    codes = [p.wait(timeout=300) for p in procs]
    if force:
        assert codes == [0, 0, 0], [p.stderr.read() for p in procs]
    else:
        assert sorted(codes) == [0, 3, 3], [p.stderr.read() for p in procs]
    assert _registered(isolated_data_dir) == ["smm_ps"]
    bench = smm.load("smm_ps")  # the registered model is the authors' model, not a half-written one
    x_cat, x_cont = bench.encode(dict(bench.configspace.get_default_configuration()))
    assert bench.evaluate_array(x_cat, x_cont)[0, 0] == pytest.approx(
        reference_predict(authors_ps / FILES[0], x_cont)[0], abs=1e-12)


_HOLD_STAGING = """
import sys, time
from smm_bench_plugin.store import staging_folder
with staging_folder() as path:
    (path / "model.onnx").write_bytes(b"half")
    print(path, flush=True)
    time.sleep(600)
"""


def test_leftovers_of_killed_imports_are_cleaned(authors_ps, isolated_data_dir):
    """A staging folder whose import was SIGKILLed is removed by the next import however young it is;
    one held by a living import is kept; trash of an interrupted replacement is removed."""
    root = isolated_data_dir / "scenarios"
    procs = [subprocess.Popen([sys.executable, "-c", _HOLD_STAGING], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    try:
        killed, alive = (Path(p.stdout.readline().strip()) for p in procs)
        procs[0].kill()
        procs[0].wait(timeout=30)
        trash = root / ".trash-smm_ps-dead"
        trash.mkdir()
        assert killed.is_dir() and user_scenario_names() == []  # hidden folders are never scenarios
        import_lightgbm(authors_ps, "ps")
        assert not killed.exists() and not trash.exists() and alive.is_dir()
        procs[1].kill()
        procs[1].wait(timeout=30)
        import_lightgbm(authors_ps, "ps", name="again")
        assert sorted(p.name for p in root.iterdir()) == [".lock", "again", "smm_ps"]
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=30)
