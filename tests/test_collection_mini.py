"""The real mini family end to end: 200 true evaluations per space through the CLI, schema-valid.

This is the issue-3 acceptance run ("collection of 200 mini configs per space runs in CI
time and the dataset validates against its schema"); it uses the committed mini weights.
"""
import json

import pytest

from smm_bench_collection.family import MINI_DIR
from smm_bench_collection.store import read_dataset, validate
from smm_bench_plugin.cli import main as cli_main

pytestmark = pytest.mark.skipif(not (MINI_DIR / "A" / "model.safetensors").exists(),
                                reason="the mini family has not been built (python -m smm_bench_collection.mini.build)")


@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_collect_200_mini_configs(space, tmp_path):
    out = tmp_path / f"mini_{space}"
    assert cli_main(["collect", "--space", space, "--family", "mini", "--sampler", "random", "--budget", "200",
                     "--out", str(out), "--seed", "11"]) == 0
    report = validate(out)
    assert report.ok, report.errors
    table = read_dataset(out)
    assert table.num_rows == 200
    assert set(table.column("objective_n_items").to_pylist()) == {256}
    assert set(table.column("test_n_items").to_pylist()) == {128}
    versions = json.loads(table.column("versions")[0].as_py())
    assert "torch" in versions and "transformers" in versions
