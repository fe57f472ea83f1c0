"""The shipped search spaces: exact dims/bounds/defaults, in sync with their generator,
readable by ConfigSpace 1.x here and by ConfigSpace 0.6.1 in its own venv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import skip_unless_ci

from smm_bench_plugin import spaces

REPO = Path(__file__).resolve().parents[1]
CS061_VENV = Path(os.environ.get("SMM_BENCH_CS061_VENV", REPO / ".venv-cs061"))


def test_shipped_files_match_generator():
    for space in spaces.SPACES:
        shipped = json.loads(spaces.space_file(space).read_text())
        assert shipped == spaces.space_json(space), f"regenerate with: python -m smm_bench_plugin.spaces ({space})"
        desc = json.loads((spaces.space_file(space).parent / f"smm_{space}_descriptions.json").read_text())
        assert desc == spaces.descriptions(space)
        assert set(desc) == {hp["name"] for hp in shipped["hyperparameters"]}


def test_writer_format_is_0_6_1():
    for space in spaces.SPACES:
        doc = json.loads(spaces.space_file(space).read_text())
        assert doc["json_format_version"] == 0.4
        assert all("default" in hp and "default_value" not in hp for hp in doc["hyperparameters"])


def _check_ps(hps):
    names = [h[0] for h in hps]
    assert names == sorted(names) == [f"w{m}_l{l:02d}" for m in range(2) for l in range(32)]
    assert all(h[1:] == ("float", 0.0, 1.0, 0.5) for h in hps)


def _check_dfs(hps):
    names = [h[0] for h in hps]
    assert len(hps) == 95 and sorted(names) == names
    assert names[:63] == [f"scale{p:02d}" for p in range(1, 64)]
    assert names[63:] == [f"slot{i:02d}" for i in range(32)]
    assert all(h[1:] == ("float", 0.4, 1.5, 1.0) for h in hps[:63])
    assert all(h[1:] == ("cat", ("A", "B", "none"), "none") for h in hps[63:])


_DUMP = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import ConfigSpace as CS
from ConfigSpace.read_and_write import json as j
out = {"version": CS.__version__}
for space in ("ps", "dfs"):
    cs = j.read(open(sys.argv[1] + "/smm_%s.json" % space).read())
    hps = cs.get_hyperparameters() if hasattr(cs, "get_hyperparameters") else list(cs.values())
    rows = []
    for h in sorted(hps, key=lambda h: h.name):
        if hasattr(h, "choices"):
            rows.append([h.name, "cat", list(h.choices), h.default_value])
        else:
            rows.append([h.name, "float", float(h.lower), float(h.upper), float(h.default_value)])
    cs.sample_configuration(3)
    out[space] = rows
print(json.dumps(out))
"""


def _rows(doc):
    return [tuple(tuple(v) if isinstance(v, list) else v for v in r) for r in doc]


def _dump_with(python: str) -> dict:
    res = subprocess.run([python, "-c", _DUMP, str(spaces.space_file("ps").parent)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_spaces_load_in_configspace_1x():
    import ConfigSpace

    assert int(ConfigSpace.__version__.split(".")[0]) >= 1
    out = _dump_with(sys.executable)
    _check_ps(_rows(out["ps"]))
    _check_dfs(_rows(out["dfs"]))
    cs = spaces.load_configspace("dfs")
    assert dict(cs.get_default_configuration())["slot00"] == "none"


def _cs061_python() -> str:
    py = CS061_VENV / "bin" / "python"
    if not py.exists():
        try:
            subprocess.run([sys.executable, "-m", "venv", str(CS061_VENV)], check=True, capture_output=True, timeout=300)
            subprocess.run([str(py), "-m", "pip", "install", "-q", "ConfigSpace==0.6.1", "numpy<2"], check=True,
                           capture_output=True, timeout=900)
        except (subprocess.SubprocessError, OSError) as e:
            skip_unless_ci(f"cannot create the ConfigSpace 0.6.1 venv at {CS061_VENV}: {e}")
    return str(py)


@pytest.mark.slow  # builds a ConfigSpace 0.6.1 venv unless .ci/run made one
def test_spaces_load_in_configspace_0_6_1():
    out = _dump_with(_cs061_python())
    assert out["version"] == "0.6.1"
    _check_ps(_rows(out["ps"]))
    _check_dfs(_rows(out["dfs"]))


def test_dfs_code_mapping_is_the_authors_order():
    # authors' numeric codes 0, 1, 2 == "A", "B", "none"; YAHPO codes are these + 1
    assert spaces.DFS_CHOICES == ("A", "B", "none")
    from smm_bench_plugin.scenario import encoding_from_space

    enc = encoding_from_space(spaces.space_json("dfs"))
    assert enc["slot17"] == {"#na#": 0, "A": 1, "B": 2, "none": 3}
