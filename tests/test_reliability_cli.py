"""The command line under abuse, and import-lightgbm under kills and malformed model text.

* ``smm-bench evaluate`` with stdout closed, full (/dev/full) or a closed pipe exits non-zero
  with one ``error:`` line; closed stdin, JSON nested 100,000 deep, a 5,000-digit number and
  hypothesis-generated JSON of every shape give exit 0 with valid output or exit 1 with one
  ``error:`` line naming the input or the parameter, never a traceback.
* A second collector on a store is one ``error:`` line, not a traceback.
* An import SIGKILLed mid-way leaves a staging folder that the next import removes.
* The LightGBM text parser is as strict as LightGBM: text mutated line-break by line-break,
  byte by byte, number by number is checked against LightGBM's own loader (in a child
  process, which may crash on text LightGBM does not validate): whatever we accept, LightGBM
  accepts and predicts identically; whatever LightGBM refuses, we refuse.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import dfs_inputs, ps_inputs, synthetic_target, train_cv
from fuzzing import CASES, fuzz, scaled
from hypothesis import given
from hypothesis import strategies as st

from smm_bench_plugin.cli import main
from smm_bench_plugin.lgbm_text import parse_model_string

CLI = [sys.executable, "-m", "smm_bench_plugin.cli"]


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-2000:]
    return lines[0]


def _config(name: str = "smm_ps_mini") -> dict:
    import smm_bench_plugin as smm

    b = smm.load(name)
    return dict(b.configspace.get_default_configuration())


# ----- output that cannot be written, input that cannot be read ----------------------------------

@pytest.mark.parametrize("redirect, message", [
    ("exec 1>&-", "standard output is closed"),
    ("exec 1>/dev/full", "cannot write the output: No space left on device"),
])
def test_unwritable_stdout_is_an_error(tmp_path, redirect, message):
    (tmp_path / "c.json").write_text(json.dumps(_config()))
    cmd = " ".join(CLI + ["evaluate", "smm_ps_mini", "--config", str(tmp_path / "c.json")])
    out = subprocess.run(["bash", "-c", f"{redirect}; {cmd}"], capture_output=False, stderr=subprocess.PIPE,
                         text=True, timeout=120)
    CASES["cli_abuse"] += 1
    assert out.returncode == 1 and message in _one_error_line(out.stderr)


def test_closed_pipe_on_stdout_is_an_error(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps([_config()] * 2000))
    proc = subprocess.Popen(CLI + ["evaluate", "smm_ps_mini", "--config", str(tmp_path / "c.json")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before the answer is written
    stderr = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    CASES["cli_abuse"] += 1
    assert "cannot write the output: Broken pipe" in _one_error_line(stderr)


def test_config_file_that_is_a_fifo_is_refused_at_once(tmp_path):
    fifo = tmp_path / "c.json"
    os.mkfifo(fifo)  # nobody writes to it: opening it for reading would wait forever
    out = subprocess.run(CLI + ["evaluate", "smm_ps_mini", "--config", str(fifo)], capture_output=True, text=True,
                         timeout=120)
    CASES["cli_abuse"] += 1
    assert out.returncode == 1
    assert f"--config {fifo}: is a FIFO (named pipe), not a regular file; to pass JSON through a pipe, leave out " \
           "--config" in _one_error_line(out.stderr)


def test_closed_stdin_is_an_error():
    cmd = " ".join(CLI + ["evaluate", "smm_ps_mini"])
    out = subprocess.run(["bash", "-c", f"exec 0<&-; {cmd}"], capture_output=True, text=True, timeout=120)
    CASES["cli_abuse"] += 1
    assert out.returncode == 1 and "standard input is closed; pass --config FILE" in _one_error_line(out.stderr)


@pytest.mark.parametrize("text, message", [
    ("[" * 100_000 + "]" * 100_000, "configuration input (standard input): JSON nested too deeply to parse"),
    ("HUGE", "configuration 0: w0_l00=inf is not finite"),  # a 5,001-digit integer, beyond Python's int parsing
    ("\xff", "configuration input (standard input): not UTF-8 text (byte 0xff at offset 0)"),
    ("", "configuration input (standard input): invalid JSON"),
    ("[]", "empty batch"),
    ("null", "configuration 0: a configuration must be a dict"),
    ("[[0.5]]", "configuration 0: a configuration must be a dict"),
])
def test_malformed_stdin_is_one_line_naming_the_input(text, message):
    if text == "HUGE":
        text = json.dumps(_config()).replace('"w0_l00": 0.5', '"w0_l00": 1' + "0" * 5000)
    out = subprocess.run(CLI + ["evaluate", "smm_ps_mini"], input=text.encode("latin-1"), capture_output=True,
                         timeout=120)
    CASES["cli_abuse"] += 1
    assert out.returncode == 1 and message in _one_error_line(out.stderr.decode()), out.stderr[-500:]


def _json_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8))
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                        max_leaves=8)


def test_generated_inputs_exit_cleanly(ps_scenario, monkeypatch, capsys):
    """In-process: arbitrary JSON, mutated configurations and arbitrary text on stdin."""
    from smm_bench_plugin import Benchmark

    good = dict(Benchmark(ps_scenario).configspace.get_default_configuration())
    names = sorted(good)

    def mutated():
        return st.tuples(st.sampled_from(names), _json_values()).map(lambda kv: json.dumps({**good, kv[0]: kv[1]}))

    inputs = st.one_of(_json_values().map(json.dumps), mutated(), st.text(max_size=40),
                       st.just(json.dumps(good)), st.lists(st.just(good), max_size=3).map(json.dumps))

    @fuzz(200)
    @given(inputs)
    def check(text):
        CASES["cli_inputs"] += 1
        monkeypatch.setattr(sys, "stdin", io.StringIO(text))
        code = main(["evaluate", str(ps_scenario)])
        out, err = capsys.readouterr()
        if code == 0:
            result = json.loads(out)
            assert isinstance(result, list) and result and not err
            assert all(math.isfinite(v) for row in result for v in row.values())
        else:
            assert code == 1 and not out
            line = _one_error_line(err)
            assert "configuration" in line or "empty batch" in line, line

    check()


# ----- a second collector ------------------------------------------------------------------------

def test_second_collector_on_a_store_is_one_error_line(tmp_path):
    from smm_bench_collection.store import ResultStore
    from smm_bench_collection.synthetic import SYNTHETIC_FAMILY

    with ResultStore(tmp_path / "store", "ps", SYNTHETIC_FAMILY):  # the first collector holds the lock
        out = subprocess.run(CLI + ["collect", "--space", "ps", "--family", "synthetic", "--sampler", "random",
                                    "--budget", "2", "--out", str(tmp_path / "store")],
                             capture_output=True, text=True, timeout=300)
    CASES["cli_abuse"] += 1
    assert out.returncode == 1
    assert f"error: another process is writing to the store {tmp_path / 'store'}" in _one_error_line(out.stderr)


# ----- import-lightgbm: killed imports ------------------------------------------------------------

def test_import_killed_mid_way_leaves_nothing_after_the_next_import(authors_ps, isolated_data_dir):
    root = isolated_data_dir / "scenarios"
    rng = random.Random(3)
    kills = leftovers = 0
    for _ in range(scaled(4)):
        proc = subprocess.Popen(CLI + ["import-lightgbm", str(authors_ps), "--space", "ps", "--name", "killed",
                                       "--force"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and not list(root.glob(".staging-*")):  # wait until it is building
            time.sleep(0.01)
        time.sleep(rng.uniform(0, 0.5))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait(timeout=60)
        leftovers += bool(list(root.glob(".staging-*")))
    assert kills and leftovers, (kills, leftovers)  # the kills did land while building
    out = subprocess.run(CLI + ["import-lightgbm", str(authors_ps), "--space", "ps"], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not list(root.glob(".staging-*")) and not list(root.glob(".trash-*"))
    CASES["import_kills"] += kills


# ----- the LightGBM text parser against LightGBM -------------------------------------------------

_LGB_CHILD = r"""
import json, sys
import numpy as np
import lightgbm as lgb
texts = json.load(open(sys.argv[1]))
X = np.load(sys.argv[2])
start = int(sys.argv[3])
for i in range(start, len(texts)):
    print(f"TRY {i}", flush=True)
    try:
        pred = lgb.Booster(model_str=texts[i]).predict(X)
        print("OK " + json.dumps([float(v) for v in pred]), flush=True)
    except Exception as e:
        print("REFUSED " + type(e).__name__, flush=True)
"""


def _lightgbm_verdicts(texts: list[str], X: np.ndarray, tmp_path: Path) -> list[list[float] | None]:
    """LightGBM's predictions for each text, None where it refuses (or crashes: a child restarts after it)."""
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    np.save(tmp_path / "X.npy", X)
    verdicts: list = [None] * len(texts)
    start = 0
    while start < len(texts):
        out = subprocess.run([sys.executable, "-c", _LGB_CHILD, str(tmp_path / "texts.json"), str(tmp_path / "X.npy"),
                              str(start)], capture_output=True, text=True, timeout=600)
        current = start
        for line in out.stdout.splitlines():
            if line.startswith("TRY "):
                current = int(line[4:])
            elif line.startswith("OK "):
                verdicts[current] = json.loads(line[3:])
        start = current + 1  # past the last one tried: done, refused, or the one it crashed on
    return verdicts


def _ours(text: str, X: np.ndarray, n_cat: int) -> list[float] | None:
    from smm_bench_plugin.onnx_export import build_onnx
    from smm_bench_plugin.sessions import open_session

    try:
        model = parse_model_string(text)
    except (ValueError, NotImplementedError):
        return None
    n_cont = model.num_features - n_cat
    graph = build_onnx([[model], [model]], n_cat=n_cat, cont_lower=[-math.inf] * n_cont, cont_upper=[math.inf] * n_cont,
                       target_lower=[-math.inf] * 2, target_upper=[math.inf] * 2)
    x_cat = (X[:, :n_cat] + 1).astype(np.int32)
    feed = {"x_cat": x_cat, "x_cont": np.ascontiguousarray(X[:, n_cat:])}
    return open_session(graph).run(None, feed)[0][:, 0].tolist()


_BREAKS = ["\f", "\v", "\r", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", " ", "\t", "", "\n\n", "=", "\x00"]
_DIGITS = ["\u0661", "_", "+", " ", "e", ".", "x", "-", "9", "0", "nan", "inf"]


def _mutations(text: str, rng: random.Random, n: int) -> list[str]:
    """Line breaks replaced, characters inserted or deleted, digits replaced, lines dropped or doubled."""
    end = text.index("\nend of trees")
    newlines = [i for i, c in enumerate(text[:end]) if c == "\n"]
    digits = [i for i, c in enumerate(text[:end]) if c.isdigit()]
    out = []
    for _ in range(n):
        kind = rng.randrange(5)
        if kind == 0:
            i = rng.choice(newlines)
            out.append(text[:i] + rng.choice(_BREAKS) + text[i + 1:])
        elif kind == 1:
            i = rng.choice(digits)
            out.append(text[:i] + rng.choice(_DIGITS) + text[i + 1:])
        elif kind == 2:
            i = rng.randrange(end)
            out.append(text[:i] + chr(rng.choice([32, 61, 45, 48, 10, 12])) + text[i:])
        elif kind == 3:
            i = rng.randrange(end)
            out.append(text[:i] + text[i + 1:])
        else:
            lines = text[:end].split("\n")
            j = rng.randrange(1, len(lines))
            lines[j:j + 1] = [] if rng.random() < 0.5 else [lines[j], lines[j]]
            out.append("\n".join(lines) + text[end:])
    return out


@pytest.mark.parametrize("space", ["ps", "dfs"])
def test_parser_is_as_strict_as_lightgbm(space, tmp_path):
    rng = np.random.default_rng(1)
    X = ps_inputs(rng, 300) if space == "ps" else dfs_inputs(rng, 300)
    cats = range(32) if space == "dfs" else ()
    cvb = train_cv(X, synthetic_target(X, rng), rounds=3, leaves=5, categorical=cats, nfold=2)
    text = cvb.boosters[0].model_to_string()
    n_cat = 32 if space == "dfs" else 0
    probe = X[:50]
    cut = text.index("\n", 10)
    form_feed = text[:cut] + "\f" + text[cut + 1:]  # the reported case: LightGBM aborts on it
    texts = _mutations(text, random.Random(7), scaled(150))
    mine = [_ours(t, probe, n_cat) for t in texts]
    accepted = [i for i, m in enumerate(mine) if m is not None]
    # what we refuse is refused, whatever LightGBM does; what we accept, LightGBM must accept alike
    theirs = _lightgbm_verdicts([text, form_feed] + [texts[i] for i in accepted], probe, tmp_path)
    assert theirs[0] is not None and np.allclose(_ours(text, probe, n_cat), theirs[0], rtol=0, atol=1e-12)
    assert theirs[1] is None and _ours(form_feed, probe, n_cat) is None
    for i, lgb_pred in zip(accepted, theirs[2:]):
        assert lgb_pred is not None, f"text {i}: we accept what LightGBM refuses: {_diff(text, texts[i])}"
        assert np.allclose(mine[i], lgb_pred, rtol=0, atol=1e-12), f"text {i}: predictions {_diff(text, texts[i])}"
    CASES["lightgbm_texts"] += len(texts) + 2
    print(f"{space}: {len(texts)} mutated model texts: {len(texts) - len(accepted)} refused, {len(accepted)} "
          "accepted, each accepted by LightGBM with the same predictions")


def _diff(a: str, b: str) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return f"at {i}: {a[max(0, i - 30):i + 30]!r} -> {b[max(0, i - 30):i + 30]!r}"
