"""The optimisers of ``smm-bench compare``, each a loop over batched ask -> evaluate -> tell.

Every optimiser works on arrays (``x_cat`` YAHPO codes 1..K, ``x_cont`` floats), not dicts,
so a whole batch (a CMA generation, a DE population, 8 TPE trials, 256 random draws) is one
``Benchmark.evaluate_array`` call: per-config Python overhead would otherwise dominate the
microsecond-cheap surrogate. The loop ends when the :class:`Evaluator` raises
:class:`BudgetExhausted` after recording the last allowed evaluation.

Optimiser libraries (cmaes, optuna, scipy) are imported inside the functions: the runtime
core must not pull them in (they are the ``[compare]`` extra).

Encodings: PS is continuous. On DFS, ``catcma`` and ``tpe`` handle the categoricals natively;
``random`` samples them uniformly; ``cmaes``, ``sepcma`` and ``de`` see a *relaxed* encoding
(each categorical is a float u in [0, 1], decoded to choice ``floor(u * K)``), the usual
integer relaxation, marked "relaxed" in the output.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["ArraySpace", "Evaluator", "BudgetExhausted", "OPTIMIZERS", "RELAXED", "CMA_SIGMA0", "TPE_SETTINGS",
           "TPE_BATCH", "RANDOM_BATCH", "import_libraries", "DE_POPULATION", "default_optimizers", "check_optimizer",
           "hostable_optimizers"]

CMA_SIGMA0 = 1.0 / 6.0  # on the unit cube, as the data collection (collection/samplers.py) uses
TPE_BATCH = 8  # the paper's TPE batch (SPEC §4)
RANDOM_BATCH = 256
DE_POPULATION = 64  # the paper's SciPy DE population (Figure 2)
# Optuna 5's TPE defaults, pinned so a future Optuna does not silently change the comparison.
# multivariate=True also matters for speed: independent TPE is ~5x slower per trial at 64 dims.
TPE_SETTINGS = {"n_startup_trials": 10, "n_ei_candidates": 24, "multivariate": True, "group": False,
                "constant_liar": False}


class BudgetExhausted(Exception):
    """Raised by :class:`Evaluator` once the run's budget of evaluations is used up."""


@dataclass(frozen=True)
class ArraySpace:
    """A scenario's space as arrays: levels per categorical, bounds per float (column order)."""

    cat_names: tuple[str, ...]
    cat_choices: tuple[tuple[str, ...], ...]
    cont_names: tuple[str, ...]
    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def of(cls, bench) -> ArraySpace:
        enc = bench._encoder  # the scenario's validated tables (same package)
        return cls(enc.cat_names, enc.cat_choices, enc.cont_names, enc.lower.copy(), enc.upper.copy())

    @property
    def n_cat(self) -> int:
        return len(self.cat_names)

    @property
    def n_cont(self) -> int:
        return len(self.cont_names)

    @property
    def levels(self) -> np.ndarray:
        return np.array([len(c) for c in self.cat_choices], dtype=np.int64)

    def cont_from_unit(self, u: np.ndarray) -> np.ndarray:
        u = np.clip(u, 0.0, 1.0)
        return np.clip(self.lower + u * (self.upper - self.lower), self.lower, self.upper)

    def relaxed_decode(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unit-cube rows [N, n_cat + n_cont] -> (x_cat codes, x_cont): category floor(u K) + 1."""
        u = np.clip(np.atleast_2d(u), 0.0, 1.0)
        k = self.levels
        x_cat = (np.minimum(np.floor(u[:, : self.n_cat] * k), k - 1) + 1).astype(np.int32)
        return x_cat, self.cont_from_unit(u[:, self.n_cat:])


class Evaluator:
    """Evaluates batches for one run, records objective/test values and benchmark time.

    Truncates a batch to the remaining budget and raises :class:`BudgetExhausted` once the
    budget is reached, so optimisers never need to count.
    """

    def __init__(self, bench, budget: int, on_progress: Callable[[int], None] | None = None,
                 keep_rows: bool = False) -> None:
        if budget < 1:
            raise ValueError(f"budget must be >= 1, got {budget}")
        self.bench = bench
        self.budget = int(budget)
        self._obj_col = bench.target_names.index(bench.objective_name)
        self._test_col = None if bench.test_name is None else bench.target_names.index(bench.test_name)
        self.objective = np.full(self.budget, np.nan)
        self.test = np.full(self.budget, np.nan)
        self.n = 0
        self.benchmark_seconds = 0.0
        self._on_progress = on_progress
        # the first row reaching the best objective (the incumbent a user would deploy): (x_cat, x_cont)
        self.best_row: tuple[np.ndarray, np.ndarray] | None = None
        self._best = -np.inf
        # ``keep_rows``: every evaluated row, in evaluation order, so that the top of a trajectory (not
        # only its best) can be decoded and evaluated for real
        self.x_cat = self.x_cont = None
        if keep_rows:
            enc = bench._encoder
            self.x_cat = np.zeros((self.budget, len(enc.cat_names)), dtype=np.int32)
            self.x_cont = np.zeros((self.budget, len(enc.cont_names)), dtype=np.float64)

    def __call__(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        """Objective values (maximise) of the evaluated rows."""
        room = self.budget - self.n
        if room <= 0:
            raise BudgetExhausted
        x_cat, x_cont = x_cat[:room], x_cont[:room]
        t0 = time.perf_counter()
        out = self.bench.evaluate_array(x_cat, x_cont)
        self.benchmark_seconds += time.perf_counter() - t0
        k = len(out)
        i = int(np.argmax(out[:, self._obj_col]))
        if self.best_row is None or out[i, self._obj_col] > self._best:
            self.best_row, self._best = (np.array(x_cat[i]), np.array(x_cont[i])), float(out[i, self._obj_col])
        if self.x_cat is not None:
            self.x_cat[self.n:self.n + k] = x_cat
            self.x_cont[self.n:self.n + k] = x_cont
        self.objective[self.n:self.n + k] = out[:, self._obj_col]
        if self._test_col is not None:
            self.test[self.n:self.n + k] = out[:, self._test_col]
        self.n += k
        if self._on_progress is not None:
            self._on_progress(k)
        if self.n >= self.budget:
            raise BudgetExhausted
        return out[:, self._obj_col]


# ----- the optimisers -----------------------------------------------------------------------

def run_random(space: ArraySpace, ev: Evaluator, seed: int) -> None:
    """Uniform random search."""
    rng = np.random.default_rng(seed)
    while True:
        x_cat = rng.integers(1, space.levels + 1, size=(RANDOM_BATCH, space.n_cat)).astype(np.int32)
        x_cont = rng.uniform(space.lower, space.upper, size=(RANDOM_BATCH, space.n_cont))
        ev(x_cat, x_cont)


def _run_cma_family(cls_name: str, space: ArraySpace, ev: Evaluator, seed: int) -> None:
    import cmaes

    dim = space.n_cat + space.n_cont
    opt = getattr(cmaes, cls_name)(mean=np.full(dim, 0.5), sigma=CMA_SIGMA0, bounds=np.tile([0.0, 1.0], (dim, 1)),
                                   seed=seed)
    while True:
        xs = np.array([opt.ask() for _ in range(opt.population_size)])
        values = ev(*space.relaxed_decode(xs))
        opt.tell([(x, -float(v)) for x, v in zip(xs, values)])  # cmaes minimises


def run_cmaes(space: ArraySpace, ev: Evaluator, seed: int) -> None:
    """CMA-ES (``cmaes.CMA``) on the unit cube, mean 0.5, sigma 1/6, default population."""
    _run_cma_family("CMA", space, ev, seed)


def run_sepcma(space: ArraySpace, ev: Evaluator, seed: int) -> None:
    """Separable CMA-ES (``cmaes.SepCMA``), as in the paper's Figure 2."""
    _run_cma_family("SepCMA", space, ev, seed)


def run_catcma(space: ArraySpace, ev: Evaluator, seed: int) -> None:
    """CatCMA (``cmaes.CatCMA``): Gaussian over the floats, categorical distribution over the choices."""
    from cmaes import CatCMA

    opt = CatCMA(mean=np.full(space.n_cont, 0.5), sigma=CMA_SIGMA0, cat_num=space.levels,
                 bounds=np.tile([0.0, 1.0], (space.n_cont, 1)), seed=seed)
    while True:
        pairs = [opt.ask() for _ in range(opt.population_size)]
        x_cont = space.cont_from_unit(np.array([x for x, _ in pairs]))
        x_cat = np.array([[int(np.argmax(row[:k])) + 1 for row, k in zip(c, space.levels)] for _, c in pairs],
                         dtype=np.int32).reshape(len(pairs), space.n_cat)
        values = ev(x_cat, x_cont)
        opt.tell([(pair, -float(v)) for pair, v in zip(pairs, values)])


def run_tpe(space: ArraySpace, ev: Evaluator, seed: int) -> None:
    """Optuna TPE (:data:`TPE_SETTINGS`) through ask/tell, batches of :data:`TPE_BATCH` from one model."""
    import logging
    import warnings

    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    optuna.logging.set_verbosity(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed, **TPE_SETTINGS)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists = {n: CategoricalDistribution(list(ch)) for n, ch in zip(space.cat_names, space.cat_choices)}
    dists.update({n: FloatDistribution(float(lo), float(hi))
                  for n, lo, hi in zip(space.cont_names, space.lower, space.upper)})
    codes = [{c: i + 1 for i, c in enumerate(ch)} for ch in space.cat_choices]
    while True:
        trials = [study.ask(dists) for _ in range(TPE_BATCH)]
        params = [t.params for t in trials]  # a deep copy per access: take it once
        x_cat = np.array([[code[p[n]] for n, code in zip(space.cat_names, codes)] for p in params],
                         dtype=np.int32).reshape(len(trials), space.n_cat)
        x_cont = np.array([[p[n] for n in space.cont_names] for p in params], dtype=np.float64)
        values = ev(x_cat, x_cont)
        for t, v in zip(trials, values):
            study.tell(t, float(v))


def run_de(space: ArraySpace, ev: Evaluator, seed: int) -> None:
    """SciPy differential evolution on the (relaxed) unit cube, vectorised (one population = one
    batch), no polishing, no convergence stop. SciPy's population is ``popsize * dim``, so it is
    :data:`DE_POPULATION` (the paper's 64) on PS and the dimension, 95, on DFS."""
    from scipy.optimize import differential_evolution

    dim = space.n_cat + space.n_cont
    popsize = max(1, round(DE_POPULATION / dim))  # scipy's population is popsize * dim

    def negative_objective(u: np.ndarray) -> np.ndarray:  # u: [dim, S]
        return -ev(*space.relaxed_decode(u.T))

    differential_evolution(negative_objective, [(0.0, 1.0)] * dim, popsize=popsize, maxiter=10**9, tol=0.0,
                           atol=0.0, polish=False, vectorized=True, updating="deferred", seed=seed,
                           init="latinhypercube")
    raise BudgetExhausted  # pragma: no cover - DE stops only through the budget


OPTIMIZERS: dict[str, Callable[[ArraySpace, Evaluator, int], None]] = {
    "random": run_random,
    "cmaes": run_cmaes,
    "sepcma": run_sepcma,
    "catcma": run_catcma,
    "tpe": run_tpe,
    "de": run_de,
}
#: Optimisers that see categoricals through the relaxed (floor) encoding.
RELAXED = frozenset({"cmaes", "sepcma", "de"})


_LIBRARIES = {"cmaes": "cmaes", "sepcma": "cmaes", "catcma": "cmaes", "tpe": "optuna", "de": "scipy.optimize"}


def import_libraries(names: list[str]) -> None:
    """Import the optimisers' libraries up front, so import time is not billed to the first run
    and a missing library fails before anything runs, naming the extra to install."""
    import importlib

    for name in names:
        module = _LIBRARIES.get(name)
        if module is None:
            continue
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as e:
            raise ModuleNotFoundError(f"optimizer {name!r} needs {e.name}: pip install 'smm-bench-plugin[compare]'",
                                      name=e.name) from None


def default_optimizers(space: ArraySpace) -> list[str]:
    """PS (continuous): random, cmaes, sepcma, tpe, de. With categoricals (DFS): random,
    catcma, tpe, de (DE on the relaxed encoding)."""
    if space.n_cat:
        return ["random", "catcma", "tpe", "de"]
    return ["random", "cmaes", "sepcma", "tpe", "de"]


def hostable_optimizers(space: ArraySpace) -> list[str]:
    """Every optimiser of :data:`OPTIMIZERS` that the space can host, in that order (on DFS the
    relaxed CMA-ES and Sep-CMA-ES too): what a check of where optimisers end must cover."""
    names = []
    for name in OPTIMIZERS:
        try:
            check_optimizer(name, space)
        except ValueError:
            continue
        names.append(name)
    return names


def check_optimizer(name: str, space: ArraySpace) -> None:
    """Raise a clear ValueError for an unknown optimiser or one the space cannot host."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; available: {', '.join(OPTIMIZERS)}")
    if name == "catcma" and (space.n_cat == 0 or space.n_cont < 2):
        raise ValueError("catcma needs categorical hyperparameters and at least two floats (use it on a DFS "
                         "scenario; on PS use cmaes or sepcma)")
