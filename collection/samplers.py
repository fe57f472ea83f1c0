"""The data collection's ask/tell samplers, those of the paper: random, model-wise random, CMA-ES, Sep-CMA, CatCMA, TPE (and
our DFS addition, random stratified by distance from the default).

Interface (like cmaes/Optuna): ``ask()`` returns one batch (a CMA generation, a TPE batch of 8,
a chunk of random draws) as plain ``{name: value}`` dicts; ``tell(configs, values)`` takes that
batch back with objective accuracies, which are *maximised*.

Resumption is by deterministic replay, not by pickled state: a fresh sampler with the same seed,
asked again and told the stored values of the configs it re-asks, walks the same trajectory. This
needs (1) every random draw to come from the sampler's own seeded generator and (2) ``tell`` to
use exactly the internal vector that ``ask`` produced. So each sampler remembers the internal
representation of the configs of its open batch and never re-encodes a config from its values
(a round trip through [lower, upper] or a categorical would not be bit-exact).

Internal coordinates of the CMA family: every float is mapped to the unit interval (mean 0.5,
sigma0 = 1/6, bounds [0, 1], i.e. Optuna's ``CmaEsSampler`` convention of sigma0 = range / 6);
other hyperparameters are the ``cmaes`` defaults (population 4 + floor(3 ln n)). For CMA/Sep-CMA
on DFS a categorical with K choices is a float u in [0, 1] read as choice ``min(floor(u K), K-1)``
(the usual integer relaxation); CatCMA handles the categoricals natively.
"""
from __future__ import annotations

import logging
import pickle
import math
import warnings
from abc import ABC, abstractmethod
from typing import Sequence

import numpy as np

from smm_bench_plugin.optimizers import CMA_SIGMA0, INDEPENDENT_TPE, INDEPENDENT_TPE_LABEL, TPE_BATCH

from .space import FloatParam, Space, load_space
from .types import Config

# Samplers that draw through the eigendecomposition of a full covariance (numpy's LAPACK): the same
# seed walks another trajectory on another BLAS kernel (smm_bench_plugin.blas). Sep-CMA (diagonal
# covariance), TPE and the random samplers draw the same on Haswell and SkylakeX (tested).
BLAS_DEPENDENT = ("cmaes", "catcma")
DEFAULT_BATCH = TPE_BATCH  # also the chunk of random draws per ask()

_FloatTuple = tuple[tuple[str, object], ...]


def _key(config: Config) -> _FloatTuple:
    return tuple(sorted(config.items()))


class Sampler(ABC):
    """One optimiser run over one space with one seed."""

    name: str = "base"

    def __init__(self, space: Space | str, seed: int):
        self.space = load_space(space)
        self.seed = int(seed)
        self.generation = 0  # number of completed ask/tell rounds
        self._pending: dict[_FloatTuple, object] | None = None
        self._pending_order: list[_FloatTuple] = []

    @property
    def batch_size(self) -> int:
        """How many configs one ``ask()`` returns."""
        return DEFAULT_BATCH

    def ask(self) -> list[Config]:
        if self._pending is not None:
            raise RuntimeError("tell() the previous batch before asking a new one")
        internals, configs = self._ask_batch()
        self._pending = {}
        self._pending_order = []
        for internal, config in zip(internals, configs):
            key = _key(config)
            self._pending[key] = internal
            self._pending_order.append(key)
        return configs

    def tell(self, configs: Sequence[Config], values: Sequence[float]) -> None:
        """Report the objective accuracies (higher is better) of the last batch, in any order."""
        if self._pending is None:
            raise RuntimeError("tell() without a preceding ask()")
        if len(configs) != len(values):
            raise ValueError(f"{len(configs)} configs but {len(values)} values")
        keys = [_key(dict(c)) for c in configs]
        if sorted(keys) != sorted(self._pending_order):
            raise ValueError("tell() must receive exactly the configs of the last ask()")
        values = [float(v) for v in values]
        if any(math.isnan(v) for v in values):
            raise ValueError("objective values must not be NaN")
        internals = [self._pending[k] for k in keys]
        self._tell_batch(internals, list(configs), values)
        self._pending = None
        self._pending_order = []
        self.generation += 1

    def state_dict(self) -> bytes:
        """The exact sampler state (pickle) between rounds; see :func:`sampler_from_state`."""
        if self._pending is not None:
            raise RuntimeError("state_dict() between ask() and tell() is not supported")
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @abstractmethod
    def _ask_batch(self) -> tuple[list[object], list[Config]]: ...

    def _tell_batch(self, internals: list[object], configs: list[Config], values: list[float]) -> None:
        """Model-free samplers ignore results."""


class RandomSampler(Sampler):
    """Uniform random search: floats uniform in their bounds, categoricals uniform over choices."""

    name = "random"

    def __init__(self, space: Space | str, seed: int, batch_size: int = DEFAULT_BATCH):
        super().__init__(space, seed)
        self._rng = np.random.default_rng(self.seed)
        self._batch = int(batch_size)

    @property
    def batch_size(self) -> int:
        return self._batch

    def _draw(self) -> Config:
        config: Config = {}
        for p in self.space.params:
            if isinstance(p, FloatParam):
                config[p.name] = float(self._rng.uniform(p.lower, p.upper))
            else:
                config[p.name] = p.choices[int(self._rng.integers(len(p.choices)))]
        return config

    def _ask_batch(self):
        configs = [self._draw() for _ in range(self._batch)]
        return [None] * len(configs), configs


class ModelwiseRandomSampler(RandomSampler):
    """Uniform random search in the 2-D model-wise PS subspace (the paper's +1,500 configs).

    One weight per source, broadcast to all 32 layers: ``w0_l*`` = u0, ``w1_l*`` = u1.
    """

    name = "random_modelwise"

    def __init__(self, space: Space | str, seed: int, batch_size: int = DEFAULT_BATCH):
        super().__init__(space, seed, batch_size)
        groups: dict[str, list[FloatParam]] = {}
        for p in self.space.params:
            if not isinstance(p, FloatParam) or not p.name.startswith("w") or "_l" not in p.name:
                raise ValueError("random_modelwise needs the PS space (floats w{m}_l{ll})")
            groups.setdefault(p.name.split("_l")[0], []).append(p)
        self._groups = groups

    def _draw(self) -> Config:
        config: Config = {}
        for source in sorted(self._groups):
            params = self._groups[source]
            lo, hi = params[0].lower, params[0].upper
            value = float(self._rng.uniform(lo, hi))
            for p in params:
                config[p.name] = value
        return dict(sorted(config.items()))


class StratifiedRandomSampler(RandomSampler):
    """DFS random search stratified by distance from the default (model A itself).

    Why: uniform random paths insert ~21 of 32 layers (each slot is "none" with p = 1/3) and
    rescale every position, so neither uniform random nor the model-based runs come near model
    A; a surrogate then extrapolates at the space's default configuration, where a user's
    optimiser typically starts. Here the number of inserted layers k is uniform in 0..32 (the
    slots chosen uniformly, each from A or B), and the scales are pulled towards 1.0 by a
    uniform strength s: scale = 1 + s (u - 1) with u uniform in the bounds. k = 0, s = 0 is the
    default; k ~ 21, s = 1 is uniform random. Not one of the paper's samplers: an
    addition to its mix, recorded per row like every sampler.
    """

    name = "random_stratified"

    def __init__(self, space: Space | str, seed: int, batch_size: int = DEFAULT_BATCH):
        super().__init__(space, seed, batch_size)
        self._slots = self.space.categoricals
        if not self._slots or any("none" not in p.choices for p in self._slots):
            raise ValueError("random_stratified needs the DFS space (slots with a 'none' choice)")

    def _draw(self) -> Config:
        rng = self._rng
        k = int(rng.integers(len(self._slots) + 1))
        inserted = set(rng.choice(len(self._slots), size=k, replace=False).tolist())
        strength = float(rng.uniform())
        config: Config = {}
        for i, p in enumerate(self._slots):
            sources = [c for c in p.choices if c != "none"]
            config[p.name] = sources[int(rng.integers(len(sources)))] if i in inserted else "none"
        for p in self.space.floats:
            u = float(rng.uniform(p.lower, p.upper))
            config[p.name] = min(max(1.0 + strength * (u - 1.0), p.lower), p.upper)
        return dict(sorted(config.items()))


class _UnitCubeCodec:
    """Maps internal unit-cube vectors to configs (never the other way; see module docstring)."""

    def __init__(self, space: Space, categorical_as_float: bool):
        self.space = space
        self.cats = [] if categorical_as_float else space.categoricals
        self.float_dims = list(space.params) if categorical_as_float else space.floats

    @property
    def n_cont(self) -> int:
        return len(self.float_dims)

    def decode(self, x: np.ndarray, c: np.ndarray | None = None) -> Config:
        config: Config = {}
        for u, p in zip(x, self.float_dims):
            u = min(max(float(u), 0.0), 1.0)
            if isinstance(p, FloatParam):
                config[p.name] = min(p.upper, max(p.lower, p.lower + u * (p.upper - p.lower)))
            else:
                k = len(p.choices)
                config[p.name] = p.choices[min(int(math.floor(u * k)), k - 1)]
        if c is not None:
            for row, p in zip(c, self.cats):
                config[p.name] = p.choices[int(np.argmax(row[: len(p.choices)]))]
        return dict(sorted(config.items()))


def _optimizer_state(optimizer) -> dict:
    """Exact state of a ``cmaes`` optimizer. Its own pickling drops the RNG (re-seeded at random
    on load) and stores C as a triangle, which would break bit-exact resumption."""
    state = dict(optimizer.__dict__)
    state["_rng"] = optimizer._rng.get_state()
    return {"cls": type(optimizer), "state": state}


def _optimizer_from_state(saved: dict):
    optimizer = saved["cls"].__new__(saved["cls"])
    state = dict(saved["state"])
    rng = np.random.RandomState()
    rng.set_state(state.pop("_rng"))
    optimizer.__dict__.update(state)
    optimizer._rng = rng
    return optimizer


class _CMAFamily(Sampler):
    optimizer_cls_name = "CMA"

    def __init__(self, space: Space | str, seed: int, population_size: int | None = None):
        super().__init__(space, seed)
        import cmaes

        self._codec = _UnitCubeCodec(self.space, categorical_as_float=True)
        n = self._codec.n_cont
        cls = getattr(cmaes, self.optimizer_cls_name)
        self._optimizer = cls(
            mean=np.full(n, 0.5),
            sigma=CMA_SIGMA0,
            bounds=np.tile([0.0, 1.0], (n, 1)),
            seed=self.seed,
            population_size=population_size,
        )

    @property
    def batch_size(self) -> int:
        return int(self._optimizer.population_size)

    def _ask_batch(self):
        xs = [self._optimizer.ask() for _ in range(self.batch_size)]
        return xs, [self._codec.decode(x) for x in xs]

    def _tell_batch(self, internals, configs, values):
        # cmaes minimises; accuracies are maximised.
        self._optimizer.tell([(x, -v) for x, v in zip(internals, values)])

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_optimizer"] = _optimizer_state(self._optimizer)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["_optimizer"] = _optimizer_from_state(state["_optimizer"])
        self.__dict__.update(state)


class CMASampler(_CMAFamily):
    """CMA-ES (``cmaes.CMA``), full covariance."""

    name = "cmaes"
    optimizer_cls_name = "CMA"


class SepCMASampler(_CMAFamily):
    """Separable CMA-ES (``cmaes.SepCMA``), diagonal covariance."""

    name = "sepcma"
    optimizer_cls_name = "SepCMA"


class CatCMASampler(Sampler):
    """CatCMA (``cmaes.CatCMA``, cmaes >= 0.11): Gaussian over floats, categorical distribution
    over the slots. DFS only (it needs at least one categorical and two floats)."""

    name = "catcma"

    def __init__(self, space: Space | str, seed: int, population_size: int | None = None):
        super().__init__(space, seed)
        from cmaes import CatCMA

        self._codec = _UnitCubeCodec(self.space, categorical_as_float=False)
        if not self._codec.cats:
            raise ValueError("catcma needs categorical hyperparameters (use it on the DFS space)")
        n = self._codec.n_cont
        self._optimizer = CatCMA(
            mean=np.full(n, 0.5),
            sigma=CMA_SIGMA0,
            cat_num=np.array([len(p.choices) for p in self._codec.cats]),
            bounds=np.tile([0.0, 1.0], (n, 1)),
            seed=self.seed,
            population_size=population_size,
        )

    @property
    def batch_size(self) -> int:
        return int(self._optimizer.population_size)

    def _ask_batch(self):
        pairs = [self._optimizer.ask() for _ in range(self.batch_size)]
        return pairs, [self._codec.decode(x, c) for x, c in pairs]

    def _tell_batch(self, internals, configs, values):
        self._optimizer.tell([((x, c), -v) for (x, c), v in zip(internals, values)])

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_optimizer"] = _optimizer_state(self._optimizer)
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        state["_optimizer"] = _optimizer_from_state(state["_optimizer"])
        self.__dict__.update(state)


# Deprecated in Optuna >= 4.9 (passing them warns, they go in 6.0) but unchanged: checked, not passed.
TPE_CHECKED = {"prior_weight": 1.0, "consider_magic_clip": True, "consider_endpoints": False}


class TPESampler(Sampler):
    """Optuna TPE through ``study.ask``/``study.tell`` in batches of 8, as in the paper.

    Pinned settings (:data:`smm_bench_plugin.optimizers.INDEPENDENT_TPE`, Optuna 3/4's defaults):
    independent TPE (``multivariate=False``,
    ``group=False``), ``constant_liar=False``, ``n_startup_trials=10``, ``n_ei_candidates=24``,
    ``gamma(n) = min(ceil(0.1 n), 25)``, default weights, ``prior_weight=1.0``,
    ``consider_prior=True``, ``consider_magic_clip=True``, ``consider_endpoints=False``. The
    last group is verified on the constructed sampler instead of passed, because Optuna >= 4.9
    deprecates passing them. A batch of 8 is asked from the same model (no liar), as in a
    synchronous batch-parallel run. ``smm-bench compare``'s "tpe" is the multivariate TPE of
    Optuna 5, another algorithm: figures and tables name this one :func:`sampler_label`.
    """

    name = "tpe"

    def __init__(self, space: Space | str, seed: int, batch_size: int = DEFAULT_BATCH):
        super().__init__(space, seed)
        import optuna
        from optuna.distributions import CategoricalDistribution, FloatDistribution
        from optuna.samplers._tpe.sampler import default_gamma, default_weights

        optuna.logging.set_verbosity(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=optuna.exceptions.ExperimentalWarning)
            sampler = optuna.samplers.TPESampler(seed=self.seed, gamma=None, **INDEPENDENT_TPE)
        sampler._gamma = default_gamma  # what gamma=None resolves to for one objective
        params = sampler._parzen_estimator_parameters
        for field, expected in TPE_CHECKED.items():
            if getattr(params, field) != expected:
                raise RuntimeError(f"Optuna {optuna.__version__} changed TPE {field}; pin it")
        if params.weights is not default_weights:
            raise RuntimeError(f"Optuna {optuna.__version__} changed TPE weights; pin them")
        self._study = optuna.create_study(direction="maximize", sampler=sampler)
        self._distributions = {
            p.name: (FloatDistribution(p.lower, p.upper) if isinstance(p, FloatParam)
                     else CategoricalDistribution(list(p.choices)))
            for p in self.space.params
        }
        self._batch = int(batch_size)

    @property
    def batch_size(self) -> int:
        return self._batch

    def _ask_batch(self):
        trials = [self._study.ask(self._distributions) for _ in range(self._batch)]
        return trials, [dict(sorted(trial.params.items())) for trial in trials]

    def _tell_batch(self, internals, configs, values):
        for trial, value in zip(internals, values):
            self._study.tell(trial, value)


_REGISTRY = {
    "random": RandomSampler,
    "random_modelwise": ModelwiseRandomSampler,
    "random_stratified": StratifiedRandomSampler,
    "cmaes": CMASampler,
    "sepcma": SepCMASampler,
    "catcma": CatCMASampler,
    "tpe": TPESampler,
}
#: The sampler names, as runs and stored rows record them.
SAMPLERS = tuple(_REGISTRY)


def sampler_label(name: str) -> str:
    """How a figure or table names sampler ``name``: the stored name, except the collection's TPE,
    which is not ``smm-bench compare``'s "tpe" (:class:`TPESampler`)."""
    return INDEPENDENT_TPE_LABEL if name == TPESampler.name else name


def make_sampler(name: str, space: Space | str, seed: int, **kwargs) -> Sampler:
    """Build a sampler by its CLI name (see :data:`SAMPLERS`)."""
    try:
        cls = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown sampler {name!r}; choose from {SAMPLERS}") from None
    return cls(space, seed, **kwargs)


def sampler_from_state(data: bytes) -> Sampler:
    """Restore :meth:`Sampler.state_dict` output. Pickle: only load checkpoints you wrote."""
    sampler = pickle.loads(data)
    if not isinstance(sampler, Sampler):
        raise TypeError("not a sampler checkpoint")
    return sampler
