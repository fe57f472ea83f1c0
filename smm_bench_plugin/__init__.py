"""SMM-Bench runtime: surrogate benchmarks for model-merging optimisation, served by onnxruntime.

>>> import smm_bench_plugin as smm
>>> bench = smm.load("smm_ps")                      # a name from smm.list_scenarios() or a folder
>>> bench.evaluate(bench.configspace.sample_configuration())   # [{"gsm8k_ja": ..., "mgsm_ja": ...}]

Importing this package pulls in numpy only; onnxruntime is imported when a scenario loads,
ConfigSpace when ``Benchmark.configspace`` is first used. It never imports torch,
transformers, lightgbm or optuna.
"""

from .benchmark import Benchmark
from .kinds import load
from .paths import data_dir, list_scenarios

__all__ = ["Benchmark", "load", "list_scenarios", "data_dir", "__version__"]
__version__ = "0.1.0"  # the one home of the version: setup.cfg reads it (attr:)
