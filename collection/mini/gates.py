"""Measure the mini family's gates and write its model card.

    python -m smm_bench_collection.mini.gates [--data collection/data] [--random 500] [--cmaes 1000]

The gates say whether the mini twin is a meaningful merging problem:

* each model learned its job: base >= 80% on bare equations, math expert >= 70% on English
  word problems (number right), Japanese expert >= 95% Japanese responses;
* no parent solves the target alone: each <= 0.15 on the Japanese-math objective;
* merging matters: over uniform random PS configs the objective's std >= 0.05 with <= 10%
  exact zeros, and the best of a CMA-ES run beats the best parent by >= 0.15 with answers
  that are computed, not guessed (accuracy against the item's own gold vs against shuffled
  golds, beside the guessing floor);
* a true evaluation is deterministic: same config -> bit-identical per-item results.

The random and CMA-ES evaluations go through the normal collection driver into the PS dataset,
so the gates cost no evaluation that the dataset does not keep.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from ..collect import collect, family_factory
from ..evaluate import MergeEvaluator
from ..family import MINI_DIR, mini_family
from ..judge import extract_answer, is_japanese
from ..plan import run_folder
from ..store import ResultStore, StoreLockedError, unpack_bits
from ..types import Config
from . import corpora

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
GATES = {"base_bare_equations": 0.80, "math_english_problems": 0.70, "ja_japanese_rate": 0.95,
         "parent_objective_max": 0.15, "random_std_min": 0.05, "random_zero_share_max": 0.10,
         "cmaes_margin_over_best_parent": 0.15}


def corner(m: int | None) -> Config:
    """The PS config of a pure source (m = 0 Japanese expert, 1 math expert) or of the base (None)."""
    return {f"w{s}_l{l:02d}": float(m == s) for s in range(2) for l in range(32)}


def skill_rate(ev: MergeEvaluator, config: Config, items, what: str) -> tuple[float, list[str]]:
    """Share of ``items`` answered with the right last number (``what="number"``) or in Japanese."""
    tok = ev.family.tokenizer
    rows = [[tok.bos_token_id] + tok(corpora.QA_FORMAT.format(question=it.question), add_special_tokens=False)["input_ids"]
            for it in items]
    texts = ev.generate(ev.prepare(config), rows)
    if what == "number":
        ok = [extract_answer(t) == it.answer_number for t, it in zip(texts, items)]
    else:
        ok = [is_japanese(t) for t in texts]
    return float(np.mean(ok)), texts[:3]


def shuffled_gold_accuracy(texts: list[str], golds: list[float], seed: int = 0, rounds: int = 20) -> float:
    """Accuracy if each response were judged against another item's gold: what guessing would score."""
    rng = np.random.default_rng(seed)
    nums = [extract_answer(t) for t in texts]
    ja = [is_japanese(t) for t in texts]
    accs = []
    for _ in range(rounds):
        perm = rng.permutation(len(golds))
        accs.append(np.mean([n == golds[p] and j for n, j, p in zip(nums, ja, perm)]))
    return float(np.mean(accs))


def guessing_floor(items) -> float:
    """Best constant guess: the share of the most frequent gold answer."""
    values, counts = np.unique([it.answer_number for it in items], return_counts=True)
    return float(counts.max() / len(items))


def first_rows_of_run(data_dir: Path, factory, sampler: str, n: int, seed: int = 0) -> list[dict]:
    """The first ``n`` configurations (in asking order) of a PS sampler run of the dataset.

    Collects what is missing; if a plan runner is writing that run right now, waits for it.
    """
    folder = run_folder(data_dir / "mini_ps", sampler, seed)

    def rows() -> list[dict]:
        return sorted(run_rows(data_dir, factory, sampler, seed), key=lambda r: (r["generation"], r["batch_index"]))

    while len(rows()) < n:
        try:
            collect("ps", factory, sampler, n, folder, seed=seed, progress=False)
        except StoreLockedError:
            time.sleep(30)
    return rows()[:n]


def run_rows(data_dir: Path, factory, sampler: str, seed: int = 0) -> list[dict]:
    """Every row collected so far by a PS sampler run of the dataset (no collection)."""
    folder = run_folder(data_dir / "mini_ps", sampler, seed)
    if not (folder / "STORE.json").exists():
        return []
    return ResultStore(folder, "ps", factory.family_id, writable=False).read().to_pylist()


def random_std_estimate(rows: list[dict], n_boot: int = 2000, seed: int = 0) -> dict:
    """The objective's std over ALL uniform random PS rows collected so far, with a seeded
    95% bootstrap interval: how precisely the 500-config gate value estimates the family's
    spread. Reported beside the gate; the gate itself is judged as set before collection."""
    acc = np.array([r["objective_acc"] for r in rows], dtype=float)
    if acc.size < 2:
        return {"n": int(acc.size)}
    rng = np.random.default_rng(seed)
    boot = np.array([rng.choice(acc, acc.size).std() for _ in range(n_boot)])
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return {"n": int(acc.size), "std": float(acc.std()), "ci95": [float(lo), float(hi)]}


def run_gates(data_dir: Path, n_random: int, n_cmaes: int, models_dir: Path = MINI_DIR) -> dict:
    t0 = time.time()
    fam = mini_family(models_dir)
    ev = MergeEvaluator("ps", fam, engine="fast")
    report: dict = {"family_id": fam.family_id, "machine": platform.processor() or platform.machine()}

    # 1. skills of each model
    base_eq, s1 = skill_rate(ev, corner(None), corpora.bare_equation_items(200), "number")
    math_en, s2 = skill_rate(ev, corner(1), corpora.english_problem_items(200), "number")
    ja_rate, s3 = skill_rate(ev, corner(0), corpora.japanese_instruction_items(200), "japanese")
    report["skills"] = {"base_bare_equations": base_eq, "math_english_problems": math_en,
                        "ja_japanese_rate": ja_rate, "samples": {"base": s1, "math": s2, "ja": s3}}

    # 2. parents on the target
    parents = {}
    for name, m in (("base", None), ("ja_expert", 0), ("math_expert", 1)):
        r = ev.evaluate(corner(m))
        texts = ev.responses(corner(m), ev._rows["objective"][:3])
        parents[name] = {"objective": r.objective.accuracy, "test": r.test.accuracy,
                         "objective_number_ok": r.objective.number_ok_rate,
                         "objective_japanese": r.objective.japanese_rate, "samples": texts}
    report["parents"] = parents
    best_parent = max(parents["ja_expert"]["objective"], parents["math_expert"]["objective"])

    # 3. random PS configs and a CMA-ES run, through the collection driver into the dataset
    factory = family_factory("ps", f"mini:{models_dir}")
    random_rows = first_rows_of_run(data_dir, factory, "random", n_random)
    cma_rows = first_rows_of_run(data_dir, factory, "cmaes", n_cmaes)
    random_acc = np.array([r["objective_acc"] for r in random_rows])
    report["random"] = {"n": int(random_acc.size), "mean": float(random_acc.mean()), "std": float(random_acc.std()),
                        "max": float(random_acc.max()), "zero_share": float((random_acc == 0).mean()),
                        "seconds_per_eval": float(np.median([r["eval_seconds"] for r in random_rows]))}
    report["random_all"] = random_std_estimate(run_rows(data_dir, factory, "random"))
    best_row = max(cma_rows, key=lambda r: r["objective_acc"])
    best_config = {k: best_row[k] for k in corner(None)}
    texts = ev.responses(best_config, ev._rows["objective"])
    report["cmaes"] = {"n": len(cma_rows), "best_objective": best_row["objective_acc"],
                       "best_test": best_row["test_acc"], "margin_over_best_parent": best_row["objective_acc"] - best_parent,
                       "shuffled_gold_accuracy": shuffled_gold_accuracy(texts, fam.objective.golds),
                       "guessing_floor": guessing_floor(fam.objective.items), "samples": texts[:5],
                       "best_config": best_config}

    # 4. determinism: a fresh evaluator reproduces the stored per-item bits exactly
    fresh = MergeEvaluator("ps", mini_family(models_dir), engine="fast").evaluate(best_config)
    stored = unpack_bits(best_row["objective_correct_bits"], fresh.objective.n_items)
    report["deterministic"] = bool(np.array_equal(stored, fresh.objective.correct))

    report["gates"] = {
        "base_bare_equations": base_eq >= GATES["base_bare_equations"],
        "math_english_problems": math_en >= GATES["math_english_problems"],
        "ja_japanese_rate": ja_rate >= GATES["ja_japanese_rate"],
        "parents_fail_target": max(parents["ja_expert"]["objective"], parents["math_expert"]["objective"])
        <= GATES["parent_objective_max"],
        "random_std": report["random"]["std"] >= GATES["random_std_min"],
        "random_zero_share": report["random"]["zero_share"] <= GATES["random_zero_share_max"],
        "cmaes_margin": report["cmaes"]["margin_over_best_parent"] >= GATES["cmaes_margin_over_best_parent"],
        "computed_not_guessed": report["cmaes"]["shuffled_gold_accuracy"] < 0.5 * best_row["objective_acc"],
        "deterministic": report["deterministic"],
    }
    report["seconds"] = time.time() - t0
    return report


def save_model_a(config: Config, models_dir: Path = MINI_DIR) -> Path:
    """Model A of DFS (the EvoLLM-JP analog): the PS merge ``config`` of the experts, saved as weights."""
    from transformers import MistralForCausalLM

    fam = mini_family(models_dir)
    merged = MergeEvaluator("ps", fam, engine="hf").model_for(config)
    # the merger's parameters are views of one flat buffer; safetensors refuses shared storage,
    # so the weights are copied into a plain model before saving
    model = MistralForCausalLM(merged.config)
    model.load_state_dict({n: p.detach().clone() for n, p in merged.state_dict().items()})
    out = models_dir / "A"
    model.save_pretrained(str(out), safe_serialization=True)
    fam.tokenizer.save_pretrained(str(out))
    (out / "recipe.json").write_text(json.dumps({"how": "PS task arithmetic of base + w[0]*ja + w[1]*math",
                                                 "config": config}, indent=1))
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _random_all_lines(est: dict) -> list[str]:
    if "std" not in est:
        return []
    lo, hi = est["ci95"]
    return [f"All {est['n']:,} uniform random PS configs collected so far: std of objective {est['std']:.3f} "
            f"(95% bootstrap interval {lo:.3f}-{hi:.3f}). The gate above is judged on the first 500, as set "
            "before collection; this line says how close to the bar the family really is.", ""]


def model_card(report: dict) -> str:
    """The model card: recipe, gates with measured values, samples."""
    g, sk, par, rnd, cma = report["gates"], report["skills"], report["parents"], report["random"], report["cmaes"]
    mark = lambda ok: "pass" if ok else "FAIL"  # noqa: E731
    lines = [
        "# The mini model family (SMM-Bench mini twin)",
        "",
        "Generated by `python -m smm_bench_collection.mini.gates`; numbers below come from that run",
        f"(family `{report['family_id']}`, {report['seconds'] / 60:.0f} min on `{report['machine']}`).",
        "",
        "## What it is",
        "A 32-layer `MistralForCausalLM` family small enough for CPU (hidden 32, 4 heads, 2 KV heads,",
        "char-level tokenizer), trained by `python -m smm_bench_collection.mini.build` from deterministic",
        "synthetic corpora (`corpora.py`): a **base** (bare arithmetic, English and Japanese text, word problems",
        "answered by a bare equation), a **math expert** (English word problems answered in English: the",
        "WizardMath analog) and a **Japanese expert** (Japanese instructions without arithmetic: the shisa",
        "analog). Experts update only decoder layers. DFS model **A** is a PS merge of the experts (the",
        "EvoLLM-JP analog, recipe in `models/A/recipe.json`); DFS model **B** is the Japanese expert.",
        "Objective (gsm8k-ja analog): 256 Japanese word problems; test (MGSM analog): 128 problems from",
        "held-out templates (a quarter with a first operand 10..12, outside the training range). Judged per item as [docs/collection.md](../../docs/collection.md) describes (Akiba et al.'s protocol): the last number right AND lid.176 p(ja) > 0.5.",
        "",
        "## Gates",
        "| gate | bar | measured | |",
        "|---|---|---|---|",
        f"| base: bare equations (number right) | >= 80% | {_pct(sk['base_bare_equations'])} | {mark(g['base_bare_equations'])} |",
        f"| math expert: English word problems | >= 70% | {_pct(sk['math_english_problems'])} | {mark(g['math_english_problems'])} |",
        f"| Japanese expert: Japanese responses | >= 95% | {_pct(sk['ja_japanese_rate'])} | {mark(g['ja_japanese_rate'])} |",
        f"| Japanese expert on the objective | <= 0.15 | {par['ja_expert']['objective']:.3f} | {mark(g['parents_fail_target'])} |",
        f"| math expert on the objective | <= 0.15 | {par['math_expert']['objective']:.3f} | {mark(g['parents_fail_target'])} |",
        f"| {rnd['n']} uniform random PS configs: std of objective | >= 0.05 | {rnd['std']:.3f} | {mark(g['random_std'])} |",
        f"| ... share of exact zeros | <= 10% | {_pct(rnd['zero_share'])} | {mark(g['random_zero_share'])} |",
        f"| CMA-ES ({cma['n']} evals): best minus best parent | >= 0.15 | {cma['margin_over_best_parent']:.3f} | {mark(g['cmaes_margin'])} |",
        f"| ... computed, not guessed: accuracy vs shuffled golds | < half the best | {cma['shuffled_gold_accuracy']:.3f} | {mark(g['computed_not_guessed'])} |",
        f"| same config -> bit-identical per-item result | yes | {report['deterministic']} | {mark(g['deterministic'])} |",
        "",
        *_random_all_lines(report.get("random_all", {})),
        f"Guessing floor (most frequent gold answer): {cma['guessing_floor']:.3f}.",
        f"Random PS configs: mean {rnd['mean']:.3f}, max {rnd['max']:.3f}. CMA-ES best: objective {cma['best_objective']:.3f}, test {cma['best_test']:.3f}.",
        "",
        "## Parents on the objective (and why they fail)",
        "| model | objective | number right | Japanese | test |",
        "|---|---|---|---|---|",
    ]
    for name, p in par.items():
        lines.append(f"| {name} | {p['objective']:.3f} | {_pct(p['objective_number_ok'])} | {_pct(p['objective_japanese'])} | {p['test']:.3f} |")
    lines += ["", "## Sample responses", "```"]
    for name, p in par.items():
        lines += [f"{name}: {s!r}" for s in p["samples"][:2]]
    lines += [f"cmaes best: {s!r}" for s in cma["samples"][:3]]
    lines += ["```", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA_DIR)
    ap.add_argument("--models", type=Path, default=MINI_DIR)
    ap.add_argument("--random", type=int, default=500)
    ap.add_argument("--cmaes", type=int, default=1000)
    a = ap.parse_args()
    report = run_gates(a.data, a.random, a.cmaes, a.models)
    here = Path(__file__).resolve().parent
    (here / "gates.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    (here / "MODEL_CARD.md").write_text(model_card(report))
    print(json.dumps(report["gates"], indent=1))


if __name__ == "__main__":
    main()
