"""Every example of README.md (and of docs/api.md) runs, prints what its comments say, and the
example output on the front page is what the current code computes.

A newcomer copies these blocks first; a block that fails, or a comment naming keys the code does
not print, costs the benchmark its first user. Each Python block runs in a fresh interpreter and
each shell line in a fresh shell, in an empty folder, with the console scripts of this
interpreter's environment first on PATH (CI calls ``.venv-ci/main/bin/python -m pytest`` without
activating it). Runs of ``smm-bench compare`` get a small budget appended (argparse keeps the
last value). A block preceded by ``<!-- readme-test: skip (why) -->`` is not run: the ones that
build virtual environments or run the whole CI.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = ("README.md", "docs/api.md")
SKIP = re.compile(r"<!-- readme-test: skip \((?P<why>[^)]+)\) -->\s*$")
FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<code>.*?)^```$", re.S | re.M)
QUOTED = re.compile(r"'([A-Za-z_][\w.]*)'")
SMALL_COMPARE = ["--budget", "40", "--seeds", "1", "--jobs", "1", "--quiet"]
COMPARE_FILES = ("trajectories.csv", "summary.json", "best_configs.json", "table.md", "best_so_far.png")

sys.path.insert(0, str(REPO / "examples"))
from make_output import BEGIN, END, OUTPUT  # noqa: E402


def code_blocks(document: str) -> list[tuple[str, str, str | None]]:
    """``(language, code, why skipped or None)`` of every fenced block of a document."""
    text = (REPO / document).read_text(encoding="utf-8")
    blocks = []
    for m in FENCE.finditer(text):
        before = text[:m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = SKIP.search(before)
        blocks.append((m["lang"], m["code"], skip["why"] if skip else None))
    return blocks


def _blocks(lang: str) -> list:
    return [pytest.param(code, id=f"{doc}-{lang}{i}", marks=pytest.mark.skip(reason=why) if why else ())
            for doc in DOCUMENTS for i, (lg, code, why) in enumerate(code_blocks(doc)) if lg == lang]


def _env() -> dict[str, str]:
    """This interpreter's environment first on PATH: ``python`` and ``smm-bench`` are its own."""
    return dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
                OMP_NUM_THREADS="1")


def _promised(code: str) -> set[str]:
    """The keys and names a block's comments promise in its output ('gsm8k_ja_mini', ...)."""
    return {k for line in code.splitlines() if "#" in line for k in QUOTED.findall(line.split("#", 1)[1])}


def test_the_documents_have_examples_and_skip_only_the_set_up():
    blocks = [b for doc in DOCUMENTS for b in code_blocks(doc)]
    assert {lang for lang, _, _ in blocks} == {"python", "bash"}
    skipped = [code for _, code, why in blocks if why]
    assert all("venv" in code or ".ci/run" in code or "DIR" in code for code in skipped), skipped
    assert sum(why is None for _, _, why in blocks) >= 4


@pytest.mark.parametrize("code", _blocks("python"))
def test_python_example_runs_and_prints_what_it_promises(code, tmp_path):
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=_env(), capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    missing = sorted(k for k in _promised(code) if k not in proc.stdout)
    assert not missing, f"the comments promise {missing}, the output is:\n{proc.stdout[-3000:]}"


@pytest.mark.parametrize("code", _blocks("bash"))
def test_shell_example_runs_and_prints_what_it_promises(code, tmp_path):
    for line in code.replace("\\\n", " ").splitlines():  # a continued line is one command
        command = line.split(" #", 1)[0].strip()
        if not command or command.startswith("#"):
            continue
        words = shlex.split(command)
        if words[:2] == ["smm-bench", "compare"]:
            command += " " + " ".join(SMALL_COMPARE)
        proc = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
        missing = sorted(k for k in _promised(line) if k not in proc.stdout)
        assert not missing, f"{command}: the comment promises {missing}, the output is:\n{proc.stdout[-3000:]}"
        if words[:2] == ["smm-bench", "compare"]:
            out = tmp_path / (words[words.index("--out") + 1] if "--out" in words else "smm-compare")
            assert {f for f in COMPARE_FILES if not (out / f).is_file()} == set(), command


def test_readme_example_table_is_examples_output():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert block.strip() == (OUTPUT / "table.md").read_text(encoding="utf-8").strip(), \
        "README's example table differs from examples/output/table.md: run `python examples/make_output.py`"
    assert "(examples/output/best_so_far.png)" in text and (OUTPUT / "best_so_far.png").is_file()


def _rerun(optimizers: list[str]) -> tuple[dict, dict]:
    """The stored example's per-optimiser figures, and the same optimisers run again by this code."""
    from smm_bench_plugin.compare import compare

    stored = json.loads((OUTPUT / "summary.json").read_text())
    again = compare(stored["scenario"], optimizers, budget=stored["budget"], seeds=stored["seeds"]).summary()
    return stored, again


FIGURES = ("encoding", "runs", "best_objective_mean", "best_objective_std", "test_at_best_mean", "test_at_best_std")


def test_examples_output_is_what_the_code_computes_now():
    """random, Sep-CMA-ES and DE draw the same on every BLAS kernel and take seconds: rerun them."""
    stored, again = _rerun(["random", "sepcma", "de"])
    for name, figures in again["optimizers"].items():
        assert {k: stored["optimizers"][name][k] for k in FIGURES} == {k: figures[k] for k in FIGURES}, \
            f"{name} differs from examples/output: run `python examples/make_output.py`"


@pytest.mark.slow
def test_examples_output_tpe_and_cmaes_are_what_the_code_computes_now():
    """TPE takes most of the example's time; CMA-ES draws per BLAS kernel, so it is compared on the
    kernel that made the example only."""
    from smm_bench_plugin.blas import blas_kernel

    stored = json.loads((OUTPUT / "summary.json").read_text())
    same_kernel = stored["library_versions"].get("blas") == blas_kernel()
    stored, again = _rerun(["tpe", "cmaes"] if same_kernel else ["tpe"])
    for name, figures in again["optimizers"].items():
        assert {k: stored["optimizers"][name][k] for k in FIGURES} == {k: figures[k] for k in FIGURES}, \
            f"{name} differs from examples/output: run `python examples/make_output.py`"
