"""The layers import one way (docs/ARCHITECTURE.md, "Layers and contracts").

Two checks: the import-linter contracts of ``.importlinter`` (every import, lazy ones too), and
what importing the runtime really loads (module-level imports only, which the contracts cannot
tell apart from the lazy imports that the ``[compare]`` extra's modules make on purpose).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import skip_unless_ci

REPO = Path(__file__).resolve().parents[1]

# Never loaded by importing any runtime module: the layers above it, the training and collection
# libraries, and the optimiser and plotting libraries that only a running comparison needs.
NOT_AT_IMPORT = ("smm_bench_collection", "smm_bench_surrogates", "bench", "torch", "transformers", "tokenizers",
                 "lightgbm", "ray", "pandas", "optuna", "cmaes", "scipy", "smac", "dehb", "matplotlib", "pyarrow",
                 "onnx")
# adapters whose ecosystem library (not installed in the main venv) is their first import
ECOSYSTEM_ADAPTERS = {"smm_bench_plugin.carps_adapter": "carps", "smm_bench_plugin.hpoglue_adapter": "hpoglue"}


def test_import_contracts_hold():
    try:
        from importlinter.cli import lint_imports
    except ModuleNotFoundError:
        skip_unless_ci("import-linter is not installed (pip install -e '.[test]')")
    code = lint_imports(config_filename=str(REPO / ".importlinter"), no_cache=True, no_logo=True)
    assert code == 0, "an import contract is broken: run lint-imports for the offending imports"


_IMPORT_ALL = r"""
import importlib, json, pkgutil, sys
import smm_bench_plugin
skipped = {}
adapters = json.loads(sys.argv[1])
for info in pkgutil.walk_packages(smm_bench_plugin.__path__, "smm_bench_plugin."):
    try:
        importlib.import_module(info.name)
    except ModuleNotFoundError as e:
        if adapters.get(info.name) != e.name:
            raise
        skipped[info.name] = e.name
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(json.loads(sys.argv[2])))
print(json.dumps({"loaded": loaded, "skipped": skipped,
                  "modules": sorted(m for m in sys.modules if m.startswith("smm_bench_plugin."))}))
"""


def test_importing_any_runtime_module_loads_no_heavy_layer():
    res = subprocess.run([sys.executable, "-c", _IMPORT_ALL, json.dumps(ECOSYSTEM_ADAPTERS), json.dumps(NOT_AT_IMPORT)],
                         capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["loaded"] == []
    assert {"smm_bench_plugin.cli", "smm_bench_plugin.compare", "smm_bench_plugin.optimizers",
            "smm_bench_plugin.onnx_export"} <= set(out["modules"])  # the walk reached the whole package


def test_cli_with_the_plugin_commands_loads_no_heavy_layer():
    """``smm-bench --help`` lists ``collect`` and ``train``: registering them costs no heavy import."""
    code = ("import json, sys, contextlib, io\n"
            "from smm_bench_plugin.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
            "    try:\n"
            "        main(['--help'])\n"
            "    except SystemExit:\n"
            "        pass\n"
            f"heavy = {[m for m in NOT_AT_IMPORT if not m.startswith('smm_bench_')]!r}\n"
            "print(json.dumps({'help': out.getvalue(), 'loaded': sorted({m.split('.')[0] for m in sys.modules} & set(heavy))}))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert "collect" in out["help"] and "train" in out["help"]
    assert out["loaded"] == []
