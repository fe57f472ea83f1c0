"""The ``smm-bench`` CLI end to end (as a subprocess, the way users run it) and the
runtime's import hygiene (no torch / transformers / lightgbm / optuna)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "transformers", "lightgbm", "optuna")


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "smm_bench_plugin.cli", *args], input=stdin, capture_output=True,
                          text=True, timeout=300, env=dict(os.environ, COLUMNS="200"))


def test_cli_import_list_info_evaluate(authors_ps, tmp_path):
    res = _cli("list")
    assert res.returncode == 0 and "smm_ps_mini" in res.stdout and "bundled" in res.stdout
    assert "smm_ps " not in res.stdout
    res = _cli("import-lightgbm", str(authors_ps), "--space", "ps")
    assert res.returncode == 0, res.stderr
    assert "imported scenario smm_ps" in res.stdout
    res = _cli("list")
    assert re.search(r"\bsmm_ps\s+\S\s+user\b", res.stdout), res.stdout  # its own row: name, then source 'user'
    res = _cli("info", "smm_ps")
    assert res.returncode == 0 and "gsm8k_ja" in res.stdout and "role=objective" in res.stdout and "2509.02555" in res.stdout

    import smm_bench_plugin as smm

    bench = smm.load("smm_ps")
    configs = [dict(c) for c in bench.configspace.sample_configuration(3)]
    expected = bench.evaluate(configs)
    f = tmp_path / "c.json"
    f.write_text(json.dumps(configs))
    res = _cli("evaluate", "smm_ps", "--config", str(f))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == expected  # JSON floats round-trip exactly
    res = _cli("evaluate", "smm_ps", stdin=json.dumps(configs[1]))
    assert json.loads(res.stdout) == [expected[1]]


def test_cli_errors_are_one_clear_line(authors_ps):
    assert _cli("import-lightgbm", str(authors_ps), "--space", "ps").returncode == 0
    res = _cli("evaluate", "smm_ps", stdin=json.dumps({"w0_l00": 0.5}))
    assert res.returncode == 1 and "missing hyperparameter(s) w0_l01" in res.stderr and "Traceback" not in res.stderr
    res = _cli("evaluate", "smm_ps", stdin="{oops")
    assert res.returncode == 1 and "not valid JSON" in res.stderr
    res = _cli("info", "nope")
    assert res.returncode == 1 and "no scenario 'nope'" in res.stderr
    res = _cli("import-lightgbm", str(authors_ps), "--space", "dfs")
    assert res.returncode == 1 and "Wrong --space" in res.stderr
    res = _cli("import-lightgbm", str(authors_ps), "--space", "xx")
    assert res.returncode == 2 and "invalid choice" in res.stderr


def test_cli_prints_paths_with_brackets_as_they_are(ps_scenario, tmp_path):
    """Scenario folders and descriptions are data, not rich markup: '[old]' must not vanish."""
    import shutil

    folder = tmp_path / "[old]" / "sc"
    shutil.copytree(ps_scenario, folder)
    res = _cli("info", str(folder))
    assert res.returncode == 0, res.stderr
    assert f"path: {folder}" in res.stdout


def test_console_script_is_installed():
    import shutil

    # The script pip installed beside this interpreter: CI calls the venv's python without
    # activating the venv, so its bin/ folder need not be on PATH.
    bin_dir = Path(sys.executable).parent
    exe = shutil.which("smm-bench", path=str(bin_dir)) or shutil.which("smm-bench")
    if exe is None:
        pytest.fail(f"no smm-bench console script in {bin_dir} or on PATH; install the package (pip install -e .)")
    res = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0
    for cmd in ("list", "info", "evaluate", "import-lightgbm"):
        assert cmd in res.stdout


def test_runtime_never_imports_heavy_layers(ps_scenario):
    code = (
        "import sys, json\n"
        "import smm_bench_plugin as smm\n"
        "from smm_bench_plugin import cli\n"
        f"b = smm.load({str(ps_scenario)!r})\n"
        "c = dict(b.configspace.get_default_configuration())\n"
        "b.evaluate(c); b.objective(c)\n"
        "smm.list_scenarios()\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == []
    code = (
        "import sys, json\n"
        "from smm_bench_plugin.cli import main\n"
        f"assert main(['info', {str(ps_scenario)!r}]) == 0\n"
        "assert main(['list']) == 0\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout.splitlines()[-1]) == []


def test_cli_choices_match_the_layers_they_call():
    """The runtime CLI cannot import the heavy layers at parse time, so it spells their choices
    out; they must stay the same lists."""
    from smm_bench_collection.samplers import SAMPLERS
    from smm_bench_plugin.cli import _COMMANDS
    from smm_bench_surrogates.train import DERIVED_CHOICES, ENSEMBLES

    def choices(command: str, option: str) -> tuple:
        _, arguments, _ = _COMMANDS[command]
        return next(tuple(kw["choices"]) for names, kw in arguments if option in names)

    assert choices("collect", "--sampler") == SAMPLERS
    assert choices("train", "--ensemble") == ENSEMBLES
    assert choices("train", "--derived") == DERIVED_CHOICES
    import inspect

    from smm_bench_surrogates.train import train_scenario

    defaults = inspect.signature(train_scenario).parameters
    for option in ("ensemble", "derived"):  # the same defaults as the layer's own API
        _, arguments, _ = _COMMANDS["train"]
        given = next(kw["default"] for names, kw in arguments if f"--{option}" in names)
        assert given == defaults[option].default, option


def test_default_data_dir_is_the_platform_user_data_dir(tmp_path, monkeypatch):
    """Without SMM_BENCH_DATA_DIR, imports go to platformdirs' user data dir (here under a fake HOME)."""
    from smm_bench_plugin.paths import data_dir, user_scenarios_dir

    monkeypatch.delenv("SMM_BENCH_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    assert data_dir() == tmp_path / ".local" / "share" / "smm-bench"  # Linux layout
    assert user_scenarios_dir() == data_dir() / "scenarios"


def test_cli_import_name_and_force(authors_ps, isolated_data_dir):
    res = _cli("import-lightgbm", str(authors_ps), "--space", "ps", "--name", "mine")
    assert res.returncode == 0 and "imported scenario mine" in res.stdout, res.stderr
    assert (isolated_data_dir / "scenarios" / "mine" / "model.onnx").is_file()
    res = _cli("import-lightgbm", str(authors_ps), "--space", "ps", "--name", "mine")
    assert res.returncode == 1 and "--force" in res.stderr and "Traceback" not in res.stderr
    res = _cli("import-lightgbm", str(authors_ps), "--space", "ps", "--name", "mine", "--force")
    assert res.returncode == 0, res.stderr
