"""Multi-fidelity optimisers for ``smm-bench compare`` on a multi-fidelity scenario, from real libraries.

Each runs against a :class:`CostEvaluator`: every call evaluates a batch at one fidelity
(``n_items``), bills the scenario's predicted seconds at that fidelity (its cost target) to the
run, and ends the run (:class:`~.optimizers.BudgetExhausted`) once the simulated seconds reach the
budget. An evaluation at a higher rung costs that rung's full price: the optimisers here restart a
promoted configuration, they do not continue it.

* ``hyperband`` / ``sh``: Optuna's ``HyperbandPruner`` / ``SuccessiveHalvingPruner`` with a random
  sampler: each trial walks up the ladder, reporting each rung (step = ``n_items``), until pruned;
* ``bohb``: the same Hyperband pruner with Optuna's TPE sampler (Optuna's BOHB analogue);
* ``smac-hb`` / ``smac-mf``: SMAC3's ``HyperbandFacade`` (random configurations, Hyperband) and
  ``MultiFidelityFacade`` (random forest + Hyperband, BOHB-like), extra ``[smac]``;
* ``dehb``: DEHB (``dehb`` package, extra ``[dehb]``, its own venv: it pins numpy < 2), on the unit
  cube, categoricals through the relaxed encoding as DE.

All use eta = 2 and the scenario's ladder as budgets, so every requested fidelity is a rung.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from .optimizers import TPE_SETTINGS, ArraySpace, BudgetExhausted

__all__ = ["CostEvaluator", "MF_OPTIMIZERS", "MF_LIBRARIES", "ETA"]

ETA = 2


class CostEvaluator:
    """Evaluates batches of one run at a fidelity, bills simulated seconds, records the trajectory.

    For every evaluation it keeps the fidelity, the value the optimiser saw, the simulated cost
    and the configuration's FULL-fidelity objective (computed for the record, not billed and not
    shown to the optimiser): the run's incumbent is the best value seen at the highest fidelity
    reached so far, and its full-fidelity objective is what the comparison plots.
    """

    def __init__(self, bench, cost_budget: float) -> None:
        if not cost_budget > 0:
            raise ValueError(f"cost budget must be > 0 seconds, got {cost_budget}")
        self.bench = bench
        self.cost_budget = float(cost_budget)
        self.full = bench.max_fidelity
        roles = {t.role: i for i, t in enumerate(bench.targets)}
        self._obj, self._cost, self._test = roles["objective"], roles["cost"], roles.get("test")
        self.fidelity: list[np.ndarray] = []
        self.seen: list[np.ndarray] = []
        self.cost: list[np.ndarray] = []
        self.full_objective: list[np.ndarray] = []
        self.full_test: list[np.ndarray] = []
        self.spent = 0.0
        self.benchmark_seconds = 0.0
        self.best_row = None
        self._best_key = (-math.inf, -math.inf)

    @property
    def n(self) -> int:
        return int(sum(len(f) for f in self.fidelity))

    def __call__(self, x_cat: np.ndarray, x_cont: np.ndarray, fidelity: int | None = None) -> np.ndarray:
        """Objective values at ``fidelity`` (default the full one) of the rows, in order; the batch is
        cut after the row that reaches the budget, and then the run ends."""
        if self.spent >= self.cost_budget:
            raise BudgetExhausted
        k = self.full if fidelity is None else int(fidelity)
        t0 = time.perf_counter()
        out = self.bench.evaluate_array(x_cat, x_cont, fidelity=k)
        full = out if k == self.full else self.bench.evaluate_array(x_cat, x_cont)
        self.benchmark_seconds += time.perf_counter() - t0
        cum = self.spent + np.cumsum(out[:, self._cost])
        over = np.flatnonzero(cum >= self.cost_budget)
        m = len(out) if not over.size else int(over[0]) + 1
        self.fidelity.append(np.full(m, k))
        self.seen.append(out[:m, self._obj])
        self.cost.append(out[:m, self._cost])
        self.full_objective.append(full[:m, self._obj])
        self.full_test.append(full[:m, self._test] if self._test is not None else np.full(m, np.nan))
        for i in range(m):
            key = (k, out[i, self._obj])
            if key > self._best_key:
                self._best_key, self.best_row = key, (np.array(x_cat[i]), np.array(x_cont[i]))
        self.spent = float(cum[m - 1])
        if m < len(out) or self.spent >= self.cost_budget:
            raise BudgetExhausted
        return out[:, self._obj]

    def trajectory(self) -> dict[str, np.ndarray]:
        """Per evaluation: cumulative simulated seconds, fidelity, seen value, and the incumbent's
        full-fidelity objective and test (incumbent: best seen at the highest fidelity so far)."""
        fid = np.concatenate(self.fidelity) if self.fidelity else np.zeros(0, int)
        seen = np.concatenate(self.seen) if self.seen else np.zeros(0)
        full = np.concatenate(self.full_objective) if self.full_objective else np.zeros(0)
        test = np.concatenate(self.full_test) if self.full_test else np.zeros(0)
        inc_full, inc_test = np.empty(len(fid)), np.empty(len(fid))
        best, cur = (-math.inf, -math.inf), 0
        for i, key in enumerate(zip(fid.tolist(), seen.tolist())):
            if key > best:
                best, cur = key, i
            inc_full[i], inc_test[i] = full[cur], test[cur]
        return {"cost": np.cumsum(np.concatenate(self.cost)) if self.cost else np.zeros(0), "fidelity": fid,
                "seen": seen, "incumbent_full": inc_full, "incumbent_test": inc_test}


class FullFidelity:
    """A single-fidelity optimiser's view of a :class:`CostEvaluator`: every call at the full fidelity."""

    def __init__(self, ev: CostEvaluator) -> None:
        self._ev = ev

    def __call__(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        return self._ev(x_cat, x_cont)


# ----- Optuna: Hyperband / successive halving pruners ---------------------------------------------

def _optuna_ladder(space: ArraySpace, ev: CostEvaluator, seed: int, sampler_name: str, pruner_name: str) -> None:
    import logging
    import warnings

    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    optuna.logging.set_verbosity(logging.WARNING)
    ladder = ev.bench.ladder
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        sampler = (optuna.samplers.TPESampler(seed=seed, **TPE_SETTINGS) if sampler_name == "tpe"
                   else optuna.samplers.RandomSampler(seed=seed))
    if pruner_name == "hyperband":
        pruner = optuna.pruners.HyperbandPruner(min_resource=ladder[0], max_resource=ladder[-1], reduction_factor=ETA)
    else:
        pruner = optuna.pruners.SuccessiveHalvingPruner(min_resource=ladder[0], reduction_factor=ETA)
    # a fixed name: HyperbandPruner assigns trials to brackets by a hash of the study's name (default: random)
    study = optuna.create_study(study_name=f"smm-{sampler_name}-{pruner_name}-{seed}", direction="maximize",
                                sampler=sampler, pruner=pruner)
    dists = {n: CategoricalDistribution(list(ch)) for n, ch in zip(space.cat_names, space.cat_choices)}
    dists.update({n: FloatDistribution(float(lo), float(hi)) for n, lo, hi in zip(space.cont_names, space.lower, space.upper)})
    codes = [{c: i + 1 for i, c in enumerate(ch)} for ch in space.cat_choices]
    while True:
        trial = study.ask(dists)
        p = trial.params
        x_cat = np.array([[code[p[n]] for n, code in zip(space.cat_names, codes)]], dtype=np.int32).reshape(1, space.n_cat)
        x_cont = np.array([[p[n] for n in space.cont_names]], dtype=np.float64)
        value = None
        for k in ladder:
            value = float(ev(x_cat, x_cont, k)[0])
            trial.report(value, k)
            if k < ladder[-1] and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, value)


def run_hyperband(space: ArraySpace, ev: CostEvaluator, seed: int) -> None:
    """Optuna ``HyperbandPruner`` (eta 2, the ladder's min/max) over a random sampler."""
    _optuna_ladder(space, ev, seed, "random", "hyperband")


def run_bohb(space: ArraySpace, ev: CostEvaluator, seed: int) -> None:
    """Optuna ``HyperbandPruner`` over the TPE sampler (Optuna's BOHB analogue)."""
    _optuna_ladder(space, ev, seed, "tpe", "hyperband")


def run_sh(space: ArraySpace, ev: CostEvaluator, seed: int) -> None:
    """Optuna ``SuccessiveHalvingPruner`` (eta 2, min resource the lowest rung) over a random sampler."""
    _optuna_ladder(space, ev, seed, "random", "sh")


# ----- SMAC3 ----------------------------------------------------------------------------------

def _smac(space: ArraySpace, ev: CostEvaluator, seed: int, facade_name: str) -> None:
    import logging

    from smac import HyperbandFacade, MultiFidelityFacade, Scenario
    from smac.runhistory.dataclasses import TrialValue

    logging.getLogger("smac").setLevel(logging.ERROR)
    bench = ev.bench
    facade = {"smac-hb": HyperbandFacade, "smac-mf": MultiFidelityFacade}[facade_name]
    scenario = Scenario(bench.configspace, deterministic=True, n_trials=10**7, min_budget=bench.min_fidelity,
                        max_budget=bench.max_fidelity, seed=seed, output_directory=_scratch(f"{facade_name}-{seed}"))
    smac = facade(scenario, lambda config, seed=0, budget=None: 0.0,
                  intensifier=facade.get_intensifier(scenario, eta=ETA), overwrite=True, logging_level=40)
    while True:
        info = smac.ask()
        x_cat, x_cont = bench.encode(dict(info.config))
        value = float(ev(x_cat, x_cont, int(round(info.budget)))[0])
        smac.tell(info, TrialValue(cost=1.0 - value))


def _scratch(name: str) -> str:
    """A throwaway output folder for a library that insists on writing one (SMAC)."""
    import tempfile

    return tempfile.mkdtemp(prefix=f"smm-{name}-")


def run_smac_hb(space: ArraySpace, ev: CostEvaluator, seed: int) -> None:
    """SMAC3 ``HyperbandFacade`` (random configurations, Hyperband with eta 2 over the ladder)."""
    _smac(space, ev, seed, "smac-hb")


def run_smac_mf(space: ArraySpace, ev: CostEvaluator, seed: int) -> None:
    """SMAC3 ``MultiFidelityFacade`` (random forest + Hyperband, eta 2 over the ladder)."""
    _smac(space, ev, seed, "smac-mf")


# ----- DEHB -------------------------------------------------------------------------------------

def run_dehb(space: ArraySpace, ev: CostEvaluator, seed: int) -> None:
    """DEHB (eta 2, the ladder's min/max fidelity) on the unit cube, ask/tell; categoricals relaxed as DE's."""
    from dehb import DEHB

    bench = ev.bench
    # save_freq="end": DEHB writes its history only at the end of its own run(), which ask/tell never calls
    opt = DEHB(dimensions=space.n_cat + space.n_cont, min_fidelity=bench.min_fidelity,
               max_fidelity=bench.max_fidelity, eta=ETA, n_workers=1, seed=seed, save_freq="end",
               log_level="ERROR", output_path=_scratch(f"dehb-{seed}"))
    while True:
        job = opt.ask()
        x_cat, x_cont = space.relaxed_decode(np.asarray(job["config"], dtype=np.float64))
        value = float(ev(x_cat, x_cont, int(round(job["fidelity"])))[0])
        opt.tell(job, {"fitness": 1.0 - value, "cost": 1.0})


MF_OPTIMIZERS: dict[str, Callable[[ArraySpace, CostEvaluator, int], None]] = {
    "hyperband": run_hyperband, "bohb": run_bohb, "sh": run_sh,
    "smac-hb": run_smac_hb, "smac-mf": run_smac_mf, "dehb": run_dehb,
}
#: the library each needs, and the extra that installs it
MF_LIBRARIES = {"hyperband": ("optuna", "compare"), "bohb": ("optuna", "compare"), "sh": ("optuna", "compare"),
                "smac-hb": ("smac", "smac"), "smac-mf": ("smac", "smac"), "dehb": ("dehb", "dehb")}
