"""Corrupt or mismatched scenario files fail at LOAD with a clear error, and a bad
authors' folder never leaves a partially registered scenario. (Missing author files, a PS
folder imported as DFS, corrupt JSON and a plain sha256 mismatch are covered in
test_runtime_importer.py / test_runtime_benchmark.py; this adds the rest.)"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from conftest import user_scenario_names
from smm_bench_plugin.benchmark import Benchmark
from smm_bench_plugin.importer import import_lightgbm
from smm_bench_plugin.scenario import space_tables


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _rehash(folder: Path) -> None:
    """Make meta.json's sha256 agree with model.onnx (as a careless hand edit would), so the
    checks after the sha256 one are what must catch the damage."""
    meta = json.loads((folder / "meta.json").read_text())
    meta["model_sha256"] = hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    (folder / "meta.json").write_text(json.dumps(meta))


def _load_and_use(folder: Path) -> Benchmark:
    """Benchmark(folder) and one call of the full graph: where the scenario ships objective.onnx,
    model.onnx opens (and is checked) on the first call that needs it, not at load."""
    bench = Benchmark(folder)
    bench.evaluate_array(*bench._encoder.probe_rows())
    return bench


@pytest.mark.parametrize("cut", [0, 1, 100, 0.5, -1])
def test_truncated_model_is_refused_even_with_a_matching_sha(ps_scenario, tmp_path, cut):
    d = _copy(ps_scenario, tmp_path / "s")
    data = (d / "model.onnx").read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else (len(data) + cut if cut < 0 else cut)
    (d / "model.onnx").write_bytes(data[:n])
    with pytest.raises(ValueError, match="sha256"):
        Benchmark(d)
    _rehash(d)
    with pytest.raises(ValueError, match=r"model\.onnx.*(cannot load|inputs|input)"):
        _load_and_use(d)


def test_foreign_model_of_the_other_space_is_refused(ps_scenario, dfs_scenario, tmp_path):
    d = _copy(ps_scenario, tmp_path / "s")
    shutil.copy(dfs_scenario / "model.onnx", d / "model.onnx")
    with pytest.raises(ValueError, match="sha256"):
        Benchmark(d)
    _rehash(d)
    with pytest.raises(ValueError, match=r"model\.onnx: in its contract \(ONNX metadata\), config_space\.name is \"smm_dfs\", "
                                         r"but objective\.onnx's contract implies \"smm_ps\""):
        _load_and_use(d)


def test_non_onnx_bytes_are_refused(ps_scenario, tmp_path):
    d = _copy(ps_scenario, tmp_path / "s")
    (d / "model.onnx").write_bytes(b"\x08\x07" + bytes(range(256)) * 10)
    _rehash(d)
    with pytest.raises(ValueError, match="onnxruntime cannot load"):
        _load_and_use(d)


def test_config_space_of_the_wrong_space_is_refused(ps_scenario, dfs_scenario, tmp_path):
    d = _copy(ps_scenario, tmp_path / "s")
    shutil.copy(dfs_scenario / "config_space.json", d / "config_space.json")
    with pytest.raises(ValueError, match=r"config_space\.json: name is \"smm_dfs\", but "
                                         r"\S*(?:model|objective)\.onnx was built for \"smm_ps\""):
        Benchmark(d)


def test_sha_that_does_not_match_names_both_digests(ps_scenario, tmp_path):
    d = _copy(ps_scenario, tmp_path / "s")
    meta = json.loads((d / "meta.json").read_text())
    meta["model_sha256"] = "0" * 64
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="sha256 [0-9a-f]{64} does not match meta.json model_sha256 0{64}"):
        Benchmark(d)


@pytest.mark.parametrize(
    "edit, pattern",
    [
        (lambda e: e["slot07"].pop("B"), r"slot07 lacks level\(s\) \['B'\]"),
        (lambda e: e["slot00"].pop("#na#"), r"slot00 lacks level\(s\) \['#na#'\]"),
        (lambda e: e["slot31"].update(C=4), r"slot31 has unknown level\(s\) \['C'\]"),
        (lambda e: e["slot03"].update(A=2, B=1), r"slot03 numbers \['A', 'B'\] differently"),
        (lambda e: e.pop("slot12"), "hyperparameter slot12 is missing"),
        (lambda e: e.update(scale01={"#na#": 0}), "scale01 is not a categorical"),
    ],
    ids=["missing-level", "missing-na", "extra-level", "renumbered", "missing-hp", "not-categorical"],
)
def test_encoding_json_must_match_the_space(dfs_scenario, tmp_path, edit, pattern):
    d = _copy(dfs_scenario, tmp_path / "s")
    enc = json.loads((d / "encoding.json").read_text())
    edit(enc)
    (d / "encoding.json").write_text(json.dumps(enc))
    with pytest.raises(ValueError, match=pattern):
        Benchmark(d)


def test_missing_files_are_named(ps_scenario, tmp_path):
    for f, exc in (("encoding.json", FileNotFoundError), ("meta.json", FileNotFoundError),
                   ("config_space.json", FileNotFoundError), ("model.onnx", FileNotFoundError)):
        d = _copy(ps_scenario, tmp_path / f)
        (d / f).unlink()
        with pytest.raises(exc, match=f.replace(".", r"\.")):
            Benchmark(d)


def test_dfs_folder_imported_as_ps_registers_nothing(authors_dfs, isolated_data_dir):
    with pytest.raises(ValueError, match="lists 95 columns; space 'ps' has 64.*Wrong --space"):
        import_lightgbm(authors_dfs, "ps")
    assert user_scenario_names() == []
    root = isolated_data_dir / "scenarios"
    assert not root.exists() or [p.name for p in root.iterdir()] == [".lock"]


def test_folder_mixing_both_spaces_registers_nothing(authors_ps, authors_dfs, tmp_path, isolated_data_dir):
    """label.json and one model from PS, the other model from DFS: refused, nothing left behind."""
    d = _copy(authors_ps, tmp_path / "mixed")
    shutil.copy(authors_dfs / "test_acc_ja_best_model.json", d / "test_acc_ja_best_model.json")
    with pytest.raises(ValueError, match="test_acc_ja_best_model.json: the models use 95 features.*Wrong --space"):
        import_lightgbm(d, "ps")
    assert user_scenario_names() == []
    root = isolated_data_dir / "scenarios"
    assert not root.exists() or [p.name for p in root.iterdir()] == [".lock"]


@pytest.mark.parametrize("text, message", [
    ("{not json", r"config_space\.json: invalid JSON"),
    ("[1, 2]", r"config_space\.json: expected a JSON object"),
])
def test_unreadable_config_space_json_names_the_file(ps_scenario, tmp_path, text, message):
    d = _copy(ps_scenario, tmp_path / "s")
    (d / "config_space.json").write_text(text)
    with pytest.raises(ValueError, match=message):
        Benchmark(d)


@pytest.mark.parametrize("key", ["targets", "cont_names", "model_sha256"])
def test_meta_json_missing_a_key_names_the_file_and_key(ps_scenario, tmp_path, key):
    d = _copy(ps_scenario, tmp_path / "s")
    meta = json.loads((d / "meta.json").read_text())
    del meta[key]
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=rf"meta\.json: missing key\(s\) {key}"):
        Benchmark(d)


def _edit_json(folder: Path, filename: str, edit) -> None:
    doc = json.loads((folder / filename).read_text())
    edit(doc)
    (folder / filename).write_text(json.dumps(doc))


def _float_hp(doc: dict, name: str = "w0_l05") -> dict:
    return next(hp for hp in doc["hyperparameters"] if hp["name"] == name)


_EDITED = " is {found}, but \\S*(?:model|objective)\\.onnx was built for {wanted}; the scenario's files were edited"


@pytest.mark.parametrize("edit, field, found, wanted, semantic", [
    (lambda d: _float_hp(d).pop("lower"), "lower", "absent", "0.0", "w0_l05: float hyperparameter lacks key 'lower'"),
    (lambda d: _float_hp(d).update(lower="low"), "lower", '"low"', "0.0", "w0_l05: bounds must be numbers"),
    (lambda d: _float_hp(d).update(lower=1.0, upper=0.0), "lower", "1.0", "0.0",
     r"w0_l05: bounds must be finite with lower < upper, got \[1\.0, 0\.0\]"),
    (lambda d: _float_hp(d).update(upper=2.0), "upper", "2.0", "1.0", None),
    (lambda d: _float_hp(d).update(name="w0_l05x"), "name", '"w0_l05x"', '"w0_l05"', None),
    (lambda d: _float_hp(d).pop("name"), "name", "absent", '"w0_l05"', r"hyperparameters\[5\] has no 'name'"),
    (lambda d: _float_hp(d).update(default=0.25), "default", "0.25", "0.5", None),
], ids=["no-lower", "lower-not-a-number", "lower-above-upper", "upper-raised", "renamed", "name-key-gone",
        "default-changed"])
def test_edited_hyperparameter_in_config_space_is_refused_naming_file_and_field(ps_scenario, tmp_path, edit, field,
                                                                                found, wanted, semantic):
    """Any edit, even one that still makes a valid space, is refused naming the file and the field;
    a space that is not even valid also fails its own check naming the parameter."""
    d = _copy(ps_scenario, tmp_path / "s")
    _edit_json(d, "config_space.json", edit)
    with pytest.raises(ValueError, match=r"config_space\.json: hyperparameters\[5\] \(w0_l05\)\." + field
                       + _EDITED.format(found=re.escape(found), wanted=re.escape(wanted))):
        Benchmark(d)
    if semantic:
        with pytest.raises(ValueError, match=semantic):
            space_tables(json.loads((d / "config_space.json").read_text()))


@pytest.mark.parametrize("edit, field, found, wanted", [
    (lambda m: m["targets"][0].pop("name"), r"targets\[0\] \(gsm8k_ja\)\.name", "absent", '"gsm8k_ja"'),
    (lambda m: m["targets"][1].update(lower=2.0, upper=1.0), r"targets\[1\] \(mgsm_ja\)\.lower", "2.0", "0.0"),
    (lambda m: m["targets"][0].update(role="goal"), r"targets\[0\] \(gsm8k_ja\)\.role", '"goal"', '"objective"'),
    (lambda m: m.update(targets={"a": 1}), "targets", '{"a": 1}', '[{"description"'),
    (lambda m: m["targets"][0].update(direction="minimize"), r"targets\[0\] \(gsm8k_ja\)\.direction", '"minimize"',
     '"maximize"'),
    (lambda m: m["targets"][1].update(direction="accuracy"), r"targets\[1\] \(mgsm_ja\)\.direction", '"accuracy"',
     '"maximize"'),
    (lambda m: m["targets"].reverse(), r"targets\[0\] \(gsm8k_ja\)\.name", '"mgsm_ja"', '"gsm8k_ja"'),
    (lambda m: m["targets"][1].update(upper=3.0), r"targets\[1\] \(mgsm_ja\)\.upper", "3.0", "1.0"),
    (lambda m: m["cont_names"].reverse(), r"cont_names\[0\]", '"w1_l31"', '"w0_l00"'),
    (lambda m: m.update(space="dfs"), "space", '"dfs"', '"ps"'),
], ids=["target-without-name", "target-bounds-reversed", "unknown-role", "targets-not-a-list", "objective-minimised",
        "direction-not-a-direction", "targets-swapped", "target-upper-raised", "columns-reordered", "space-renamed"])
def test_edited_target_or_column_in_meta_json_is_refused_naming_file_and_field(ps_scenario, tmp_path, edit, field,
                                                                               found, wanted):
    d = _copy(ps_scenario, tmp_path / "s")
    _edit_json(d, "meta.json", edit)
    with pytest.raises(ValueError, match=r"meta\.json: " + field + " is " + re.escape(found)
                       + ".*, but \\S*(?:model|objective)\\.onnx was built for " + re.escape(wanted)):
        Benchmark(d)


def test_meta_json_fields_that_reach_no_number_may_change(ps_scenario, tmp_path):
    """description, citation, provenance and quality are not part of the contract: training adds its
    export check to quality after writing, and none of them changes a prediction."""
    d = _copy(ps_scenario, tmp_path / "s")
    _edit_json(d, "meta.json", lambda m: m.update(description="mine", citation=[], quality={"note": 1},
                                                  provenance={}))
    b = Benchmark(d)
    cfg = dict(b.configspace.get_default_configuration())
    assert b.evaluate(cfg) == Benchmark(ps_scenario).evaluate(cfg)


def test_cli_names_a_folder_given_as_config_file(tmp_path, capsys):
    from smm_bench_plugin.cli import main

    assert main(["evaluate", "smm_ps_mini", "--config", str(tmp_path)]) == 1
    assert f"error: --config {tmp_path}: is a directory, not a regular file; to pass JSON through a pipe" \
        in capsys.readouterr().err
