"""A wheel built from the repository, installed in a clean venv (core dependencies only, no
onnx / lightgbm), finds its search spaces and loads + evaluates a scenario created in a
temporary SMM_BENCH_DATA_DIR. Editable installs cannot catch missing package data.

The venv is slow to make, so: ``.ci/run`` builds it and passes its interpreter in
``SMM_BENCH_WHEEL_PYTHON``; locally ``SMM_BENCH_SLOW=1`` makes this test build it itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import skip_unless_ci

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

_SMOKE = r"""
import json, sys, importlib.util
import smm_bench_plugin as smm
from smm_bench_plugin import spaces
assert "site-packages" in smm.__file__, smm.__file__
dims = {s: len(list(spaces.load_configspace(s).values())) for s in spaces.SPACES}
names = smm.list_scenarios()
b = smm.load("smm_ps")
c = json.loads(sys.argv[1])
bundled = {}
for name in ("smm_ps_mini", "smm_dfs_mini"):  # the default scenarios of a plain pip install
    mini = smm.load(name)
    assert "site-packages" in str(mini.path), mini.path
    bundled[name] = mini.evaluate(dict(mini.configspace.get_default_configuration()))[0]
print(json.dumps({"dims": dims, "names": names, "result": b.evaluate(c), "bundled": bundled,
                  "onnx_installed": importlib.util.find_spec("onnx") is not None,
                  "lightgbm_installed": importlib.util.find_spec("lightgbm") is not None}))
"""


@pytest.fixture(scope="module")
def wheel_python(tmp_path_factory) -> str:
    given = os.environ.get("SMM_BENCH_WHEEL_PYTHON")
    if given:
        return given
    if os.environ.get("SMM_BENCH_SLOW") != "1":
        skip_unless_ci("wheel smoke test: .ci/run sets SMM_BENCH_WHEEL_PYTHON; locally set SMM_BENCH_SLOW=1")
    d = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(d / "dist")],
                   check=True, timeout=900)
    subprocess.run([sys.executable, "-m", "venv", str(d / "venv")], check=True, timeout=300)
    py = d / "venv" / "bin" / "python"
    wheel = next((d / "dist").glob("smm_bench_plugin-*.whl"))
    subprocess.run([str(py), "-m", "pip", "install", "-q", str(wheel)], check=True, timeout=1800)
    return str(py)


def test_wheel_in_clean_venv(wheel_python, authors_ps, tmp_path):
    from smm_bench_plugin.importer import import_lightgbm

    import_lightgbm(authors_ps, "ps")  # into this test's SMM_BENCH_DATA_DIR
    import smm_bench_plugin as smm

    bench = smm.load("smm_ps")
    config = dict(bench.configspace.sample_configuration())
    res = subprocess.run([wheel_python, "-c", _SMOKE, json.dumps(config)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300, env=dict(os.environ, PYTHONPATH=""))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["dims"] == {"ps": 64, "dfs": 95}
    assert out["names"] == ["smm_dfs_mini", "smm_dfs_mini_mf", "smm_ps", "smm_ps_mini", "smm_ps_mini_mf"]
    assert out["result"] == bench.evaluate(config)
    for name, values in out["bundled"].items():  # the wheel's copy is the repository's scenario
        mini = smm.load(name)
        assert values == mini.evaluate(dict(mini.configspace.get_default_configuration()))[0]
    assert not out["lightgbm_installed"] and not out["onnx_installed"]  # loading needs onnxruntime only
