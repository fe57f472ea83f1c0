"""The real mini family end to end: 200 true evaluations per space through the CLI, schema-valid.

This is the issue-3 acceptance run ("collection of 200 mini configs per space runs in CI
time and the dataset validates against its schema"); it uses the committed mini weights.
"""
import json
import os

import pytest

from smm_bench_collection.family import MINI_DIR
from smm_bench_collection.store import read_dataset, validate
from smm_bench_plugin.cli import main as cli_main

pytestmark = [pytest.mark.slow,  # 2 x 200 real evaluations on Ray
              pytest.mark.skipif(not (MINI_DIR / "A" / "model.safetensors").exists(),
                                 reason="the mini family has not been built (python -m smm_bench_collection.mini.build)")]


BUDGET = int(os.environ.get("SMM_BENCH_MINI_BUDGET", "200"))  # smaller only for a quick local check


@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_collect_200_mini_configs(space, tmp_path):
    """Through the CLI on the Ray executor (2 workers: the 2-core CI machine, and Ray on the real family)."""
    out = tmp_path / f"mini_{space}"
    assert cli_main(["collect", "--space", space, "--family", "mini", "--sampler", "random", "--budget", str(BUDGET),
                     "--out", str(out), "--seed", "11", "--executor", "ray", "--workers", "2"]) == 0
    report = validate(out)
    assert report.ok, report.errors
    table = read_dataset(out)
    assert table.num_rows == BUDGET
    assert set(table.column("objective_n_items").to_pylist()) == {256}
    assert set(table.column("test_n_items").to_pylist()) == {128}
    versions = json.loads(table.column("versions")[0].as_py())
    assert "torch" in versions and "transformers" in versions
