"""The collection driver: sampler -> executor -> store, resumable by replay.

``collect`` runs one sampler run (space, sampler, seed) for ``budget`` configurations and
writes every evaluated configuration to the store the moment its result arrives.

Resume = run the same command again. The sampler is rebuilt from its seed and replayed: each
``ask()`` yields the same configs as before, those already in the store are not evaluated
again, their stored objective accuracy is told instead, and the run continues on the same
trajectory. Only configs that were in flight when the process died are evaluated again. The
budget counts configs asked by this run (stored or new); raising it continues the run.
Every stored row carries its slot in the run (generation, batch index), and the store, not
the replay, is the truth about a slot: a replayed or restored sampler can ask the same
configuration up to float round-off, so a re-asked slot whose configuration agrees with the
stored one within ``SLOT_TOLERANCE`` reuses the stored row, and one that disagrees further
stops the run with an error instead of forking a second trajectory into the same slots. That
happens to a CMA-family run replayed on another BLAS kernel than it was collected on: from
round 1 the same seed draws other configurations (``smm_bench_plugin.blas``).

Replaying TPE costs as much sampling time as the original run (Optuna's TPE is O(n) per trial),
so after every ``tell`` the driver also writes a sampler checkpoint
(``samplers/<sampler>-seed<seed>.pkl``, atomic, pickle: only resume folders you wrote). Resume
starts from it and replays only the rounds after it; a missing or unreadable checkpoint just
means a longer replay, and so does a checkpoint whose last round has no rows in the store (a
checkpoint committed without its shards). Checkpoint and replay give the same trajectory (tested).
Measured (``python -m smm_bench_collection.replay --blas-kernel K <run folder>``): every bundled
CMA-ES and CatCMA run replays from its seed on the kernel it was collected on and diverges at
round 1 on the other (which run on which kernel: docs/PROVENANCE.md). A checkpoint resumes a run exactly on any
kernel, but the rounds after a resume on another kernel follow that kernel's draws, so rows
record their kernel (``versions["blas"]``), ``replay`` names it, and resuming a CMA-ES or
CatCMA run on another kernel than its latest rows warns (``samplers.BLAS_DEPENDENT``).
``smm-bench collect --blas-kernel K`` (and the plan's) keeps a run on kernel K on any machine that
can run K (elsewhere the command stops and says so).
"""
from __future__ import annotations

import os
import pickle
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import pyarrow.compute as pc
from smm_bench_plugin.blas import CORETYPE_VARIABLE, blas_kernel, kernel_name

from .executors import Executor, LocalExecutor, make_executor
from .samplers import BLAS_DEPENDENT, SAMPLERS, Sampler, make_sampler, sampler_from_state
from .space import FloatParam, Space, load_space
from .store import SLOT_COLUMNS, Record, ResultStore, RowMeta, latest_kernel, slot_holders
from .types import EvaluatorFactory, EvaluatorSpec


@dataclass
class CollectSummary:
    out_dir: str
    space: str
    family_id: str
    sampler: str
    seed: int
    budget: int
    asked: int  # configs asked by this run (= budget unless the run was interrupted)
    evaluated: int  # evaluated in this call
    reused: int  # taken from the store (resume, or the same config seen in another run)
    generations: int
    best_objective: float
    best_test: float  # test accuracy of the config with the best objective
    seconds: float
    rows_in_store: int


class _Progress:
    """rich progress bar: configs done / budget, configs/s of real evaluations, ETA, best so far."""

    def __init__(self, enabled: bool, budget: int, label: str):
        self.enabled = enabled
        self._start = time.perf_counter()
        self._evaluated = 0
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            TextColumn("best {task.fields[best]}"),
        )
        self._task = self._bar.add_task(label, total=budget, rate="-- cfg/s", best="--")

    def __enter__(self):
        if self.enabled:
            self._bar.__enter__()
        return self

    def __exit__(self, *exc):
        if self.enabled:
            self._bar.__exit__(*exc)

    def advance(self, n: int, evaluated: int, best: float, best_test: float) -> None:
        self._evaluated += evaluated
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self._start, 1e-9)
        self._bar.update(self._task, advance=n, rate=f"{self._evaluated / elapsed:.2f} cfg/s",
                         best=f"{best:.3f} (test {best_test:.3f})" if best >= 0 else "--")


CHECKPOINT_DIR = "samplers"
CHECKPOINT_FORMAT = 1


def _checkpoint_path(out_dir: str | Path, sampler_name: str, seed: int) -> Path:
    return Path(out_dir) / CHECKPOINT_DIR / f"{sampler_name}-seed{seed}.pkl"


def _write_checkpoint(path: Path, key: dict, sampler: Sampler, asked: int, generation: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = pickle.dumps({**key, "format": CHECKPOINT_FORMAT, "asked": asked, "generation": generation,
                            "state": sampler.state_dict()}, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}")
    with open(tmp, "wb") as f:
        f.write(payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read_checkpoint(path: Path, key: dict) -> tuple[Sampler, int, int] | None:
    if not path.exists():
        return None
    try:
        data = pickle.loads(path.read_bytes())
        if data.get("format") != CHECKPOINT_FORMAT or any(data.get(k) != v for k, v in key.items()):
            raise ValueError("checkpoint belongs to another run")
        return sampler_from_state(data["state"]), int(data["asked"]), int(data["generation"])
    except Exception as exc:  # noqa: BLE001 - a checkpoint is only a shortcut
        warnings.warn(f"ignoring sampler checkpoint {path} ({exc}); replaying the run instead")
        return None


SLOT_TOLERANCE = 1e-9  # a re-asked float may differ from the stored one by round-off, not more


def _run_rows(store: ResultStore, sampler_name: str, seed: int) -> list[dict]:
    """This run's stored rows (config, id, slot, accuracies), filtered in Arrow: one read per call.

    ``collect`` is called once per slice of a long run, so converting every row of a
    13,000-row store to Python twice per call cost about a second each time.
    """
    columns = [*store.space.names, "config_id", *SLOT_COLUMNS, "objective_acc", "test_acc", "timestamp", "versions"]
    table = store.read(columns=columns)
    mine = pc.and_(pc.equal(table.column("sampler"), sampler_name), pc.equal(table.column("run_seed"), seed))
    return table.filter(mine).to_pylist()


def _warn_on_kernel_change(rows: list[dict], sampler_name: str, seed: int, out_dir: str | Path) -> None:
    """Say so when a CMA-family run resumes on another BLAS kernel than its latest rows record.

    Why a warning, not an error: a checkpoint resumes the run exactly, and the rounds after it
    are a valid run of the same search; but they draw through this kernel, so the run will
    replay from its seed only in two parts. Pinning the kernel keeps a run on one.
    """
    if sampler_name not in BLAS_DEPENDENT or not rows:
        return
    now, last = blas_kernel(), latest_kernel(rows)
    was, here = kernel_name(last), kernel_name(now)
    if was is not None and here is not None and was != here:
        warnings.warn(f"{out_dir}: {sampler_name} seed {seed} was collected on {last} and resumes on {now}; "
                      f"its later rounds will draw through this kernel (smm_bench_plugin.blas). To stay on one "
                      f"kernel, pass --blas-kernel {was} (or start the process with {CORETYPE_VARIABLE}={was})")


def _stored_slots(rows: list[dict], names: list[str]) -> dict[tuple[int, int], tuple[str, dict]]:
    """The run's stored rows by slot: (generation, batch index) -> (config_id, config).

    A repeated slot resolves to its earliest row, the rule ``compact`` and ``replay`` use.
    """
    return {(g, b): (row["config_id"], {n: row[n] for n in names})
            for (_, _, g, b), row in slot_holders(rows).items()}


def config_deviation(space: Space, a: Mapping[str, Any], b: Mapping[str, Any]) -> float:
    """Largest |a - b| over the floats; 1.0 when a categorical differs. 0.0 means identical."""
    return max((abs(float(a[p.name]) - float(b[p.name])) if isinstance(p, FloatParam)
                else float(a[p.name] != b[p.name]) for p in space.params), default=0.0)


def _same_config(space: Space, a: dict, b: dict) -> bool:
    """Equal categoricals and floats within :data:`SLOT_TOLERANCE`."""
    return config_deviation(space, a, b) <= SLOT_TOLERANCE


def collect(space: str, family_factory: EvaluatorFactory, sampler_name: str, budget: int,
            out_dir: str | Path, seed: int = 0, executor: Executor | None = None,
            progress: bool = True, sampler_kwargs: dict[str, Any] | None = None,
            checkpoint: bool = True) -> CollectSummary:
    """Run (or resume) one sampler run of ``budget`` configs; every config is evaluated on both sets."""
    start = time.perf_counter()
    space_obj = load_space(space)
    if family_factory.space != space_obj.name:
        raise ValueError(f"factory evaluates space {family_factory.space!r}, not {space_obj.name!r}")
    if sampler_name not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler_name!r}; choose from {SAMPLERS}")
    if budget < 0:
        raise ValueError("budget must be >= 0")
    executor = executor or LocalExecutor()
    store = ResultStore(out_dir, space_obj, family_factory.family_id)  # takes the folder's writer lock
    known = store.objective_values()
    test_of = store.test_values()
    asked = evaluated = reused = generation = 0
    ckpt_path = _checkpoint_path(out_dir, sampler_name, seed)
    ckpt_key = {"sampler": sampler_name, "seed": seed, "space": space_obj.name,
                "family_id": family_factory.family_id, "sampler_kwargs": dict(sampler_kwargs or {})}
    restored = _read_checkpoint(ckpt_path, ckpt_key) if checkpoint else None
    run_rows = _run_rows(store, sampler_name, seed)
    _warn_on_kernel_change(run_rows, sampler_name, seed, out_dir)
    slots = _stored_slots(run_rows, store.space.names)
    if restored is not None and restored[2] > 0 and not any(g == restored[2] - 1 for g, _ in slots):
        warnings.warn(f"sampler checkpoint {ckpt_path} is at generation {restored[2]} but the store has no row of "
                      f"generation {restored[2] - 1}; replaying the run instead")
        restored = None
    if restored is not None:
        sampler, asked, generation = restored
        asked = min(asked, budget)
        reused = asked
    else:
        sampler = make_sampler(sampler_name, space_obj, seed, **(sampler_kwargs or {}))
    best, best_test = _best_of_run(run_rows, generation)
    started = False
    label = f"{space_obj.name}/{sampler_name}/seed {seed}"
    try:
        with _Progress(progress, budget, label) as bar:
            bar.advance(asked, 0, best, best_test)
            while asked < budget:
                configs = sampler.ask()
                take = configs[: budget - asked]  # the last round may be cut by the budget
                ids = [store.config_id(c) for c in take]
                for index, config in enumerate(take):  # a slot evaluated before: its stored row
                    stored = slots.get((generation, index))
                    if stored is not None and stored[0] != ids[index]:
                        if not _same_config(space_obj, config, stored[1]):
                            raise RuntimeError(
                                f"{out_dir}: resuming {sampler_name} seed {seed} asked, at generation {generation} "
                                f"slot {index}, a configuration that differs from the stored one by more than "
                                f"{SLOT_TOLERANCE}; the run cannot continue on its trajectory (was the sampler code "
                                f"or the checkpoint changed?). Start a new seed or a new folder.")
                        ids[index] = stored[0]
                todo, seen = [], set()
                for index, (config, cid) in enumerate(zip(take, ids)):
                    if cid not in known and cid not in seen:
                        todo.append((index, config))
                        seen.add(cid)
                n_reused = len(take) - len(todo)
                reused += n_reused
                for cid in ids:
                    if cid in known and cid not in seen and known[cid] > best:
                        best, best_test = known[cid], test_of[cid]
                bar.advance(n_reused, 0, best, best_test)
                if todo and not started:
                    executor.start(family_factory)  # lazily: a finished run needs no workers
                    started = True
                for done in (executor.map_batches(todo) if todo else ()):  # a batch: one durable write
                    store.append([Record(config, result, RowMeta(sampler_name, seed, generation, index))
                                  for index, config, result in done])
                    for index, config, result in done:
                        cid = ids[index]
                        known[cid] = result.objective.accuracy
                        test_of[cid] = result.test.accuracy
                        evaluated += 1
                        if result.objective.accuracy > best:
                            best, best_test = result.objective.accuracy, result.test.accuracy
                        bar.advance(1, 1, best, best_test)
                asked += len(take)
                generation += 1
                if len(take) == len(configs):
                    sampler.tell(configs, [known[cid] for cid in ids])
                    if checkpoint:
                        _write_checkpoint(ckpt_path, ckpt_key, sampler, asked, generation)
            store.compact()
    finally:
        store.close()
        if started:
            executor.close()
    return CollectSummary(
        out_dir=str(out_dir), space=space_obj.name, family_id=family_factory.family_id, sampler=sampler_name,
        seed=seed, budget=budget, asked=asked, evaluated=evaluated, reused=reused, generations=generation,
        best_objective=best, best_test=best_test, seconds=time.perf_counter() - start,
        rows_in_store=len(known),
    )


def _best_of_run(run_rows: list[dict], generations: int) -> tuple[float, float]:
    """Best objective (and its test accuracy) among the run's stored rows of the restored rounds."""
    mine = [r for r in run_rows if r["generation"] < generations]
    if not mine:
        return -1.0, -1.0
    top = max(mine, key=lambda r: r["objective_acc"])
    return top["objective_acc"], top["test_acc"]


# --- families and the CLI entry point ------------------------------------------------------

def build_merge_evaluator(space: str, family: str, gsm8k_ja: str | None = None, mgsm_ja: str | None = None,
                          **evaluator_kwargs):
    """Build the real merge-and-generate evaluator (``evaluate.MergeEvaluator``) in a worker."""
    from .evaluate import MergeEvaluator

    return MergeEvaluator(space, resolve_family(space, family, gsm8k_ja, mgsm_ja), **evaluator_kwargs)


def resolve_family(space: str, family: str, gsm8k_ja: str | None = None, mgsm_ja: str | None = None):
    """``"mini"`` -> the mini twin (``"mini:<models dir>"`` for another copy of it); ``"hf"`` -> the
    paper's 7B models; otherwise comma-separated model ids or folders: PS
    ``base,ja_source,math_source``, DFS ``model_A,model_B``."""
    from . import family as fam

    if family == "mini":
        return fam.mini_family()
    if family.startswith("mini:"):
        return fam.mini_family(models_dir=family[len("mini:"):])
    if family == "hf":
        ps, dfs = (fam.PS_7B, None) if space == "ps" else (None, fam.DFS_7B)
    else:
        ids = [s.strip() for s in family.split(",") if s.strip()]
        if space == "ps":
            if len(ids) != 3:
                raise ValueError("PS family needs 3 comma-separated models: base,ja_source,math_source")
            ps, dfs = {"base": ids[0], "sources": ids[1:]}, None
        else:
            if len(ids) != 2:
                raise ValueError("DFS family needs 2 comma-separated models: model_A,model_B")
            ps, dfs = None, {"A": ids[0], "B": ids[1]}
    return fam.hf_family(ps=ps, dfs=dfs, gsm8k_ja=gsm8k_ja, mgsm_ja=mgsm_ja)


def family_factory(space: str, family: str, gsm8k_ja: str | None = None, mgsm_ja: str | None = None,
                   **evaluator_kwargs) -> EvaluatorFactory:
    """A picklable factory for ``family``. ``"synthetic"`` is the infrastructure dry-run stand-in.

    The family is resolved once in the driver to learn its ``family_id`` (tokenizer and item
    lists only: model weights are loaded lazily, in the workers). ``evaluator_kwargs`` go to
    ``MergeEvaluator`` (e.g. ``device="cuda"``); the synthetic stand-in takes none.
    """
    if family == "synthetic":
        from .synthetic import synthetic_spec

        if {k: v for k, v in evaluator_kwargs.items() if not (k == "device" and v == "cpu")}:
            raise ValueError(f"the synthetic family takes no evaluator options, got {sorted(evaluator_kwargs)}")
        return synthetic_spec(space, batched=True)
    family_id = resolve_family(space, family, gsm8k_ja, mgsm_ja).family_id
    return EvaluatorSpec(space=space, family_id=family_id,
                         target="smm_bench_collection.collect:build_merge_evaluator",
                         kwargs={"space": space, "family": family, "gsm8k_ja": gsm8k_ja, "mgsm_ja": mgsm_ja,
                                 **evaluator_kwargs})


def cli_collect(space: str, family: str, sampler: str, budget: int, out: str | Path, executor: str = "local",
                seed: int = 0, workers: int | None = None, gsm8k_ja: str | None = None,
                mgsm_ja: str | None = None, progress: bool = True, device: str = "cpu",
                batch_size: int | None = None) -> CollectSummary:
    """Backend of ``smm-bench collect``; arguments mirror the CLI flags one to one."""
    if space not in ("ps", "dfs"):
        raise ValueError("--space must be 'ps' or 'dfs'")
    factory = family_factory(space, family, gsm8k_ja, mgsm_ja, **({"device": device} if device != "cpu" else {}))
    ex = make_executor(executor, batch_size=batch_size, **({"n_workers": workers} if executor == "ray" and workers else {}))
    return collect(space, factory, sampler, budget, out, seed=seed, executor=ex, progress=progress)
