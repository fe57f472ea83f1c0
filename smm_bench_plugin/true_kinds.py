"""The same benchmark answered by true evaluations: a table of the stored ones, or live merges.

A surrogate scenario is trained on the true evaluations of one model family (its
``meta.json`` provenance names the family and the collection folder). Two more kinds of
benchmark answer with those evaluations instead of the surrogate, behind the same API
(``evaluate``, ``objective``, ``test``, ``evaluate_array``, ``configspace``), the same
target names and the same input validation:

- ``kind="table"`` (:class:`TableBenchmark`): the stored evaluations as a tabular benchmark.
  A lookup is exact (a configuration is in the table or it is not, to the last bit), values
  come back bit for bit as stored, and :meth:`TableBenchmark.configs` lists what can be asked.
  Needs pyarrow and the collection folder (a checkout of the repository, or ``data=``).
- ``kind="live"`` (:class:`LiveBenchmark`): each configuration is merged and judged for real
  by the family's evaluator (the ``[collect]`` extra). Results go to a result store as they
  arrive (``collection/truth.py``), so a configuration is never paid twice and a killed run
  resumes with the same call.

    import smm_bench_plugin as smm
    table = smm.load("smm_ps_mini", kind="table")
    config = table.configs()[0]
    table.evaluate(config)          # [{"gsm8k_ja_mini": ..., "mgsm_ja_mini": ..., "eval_seconds": ...}]

Neither kind is imported by ``import smm_bench_plugin``; what they need is imported when one
is loaded, through :func:`~smm_bench_plugin.optional.require`.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .benchmark import Benchmark
from .optional import require

__all__ = ["TableBenchmark", "LiveBenchmark", "TrueBenchmark"]


class TrueBenchmark(Benchmark):
    """A scenario whose targets are answered by true evaluations of its family (see module doc).

    Subclasses implement :meth:`_true_rows`: store rows (``objective_acc``, ``test_acc``,
    ``eval_seconds``) for validated configurations."""

    kind = "true"
    extra = "compare"  # the extra that brings what this kind imports

    def __init__(self, folder: str | os.PathLike, **kwargs: Any) -> None:
        super().__init__(folder, **kwargs)
        provenance = self.meta.get("provenance") or {}
        self.family_id: str | None = provenance.get("family_id")
        if not self.family_id or self.meta.get("space") not in ("ps", "dfs"):
            raise ValueError(f"scenario {self.name!r} records no family of true evaluations (meta.json "
                             f"provenance.family_id and space ps/dfs); kind={self.kind!r} needs a scenario "
                             f"trained on collected data, such as smm_ps_mini or smm_dfs_mini")
        self.space: str = self.meta["space"]
        store = require("smm_bench_collection.store", self.extra, f"kind={self.kind!r}")
        self._columns = [store.TARGET_COLUMNS[t.role] for t in self.targets]

    def _open_model(self, session, objective_session) -> None:
        """No graph answers: the values come from true evaluations."""
        self._objective_feed = None

    def _run(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        rows = self._true_rows(self.decode(x_cat, x_cont))
        return np.array([[row[c] for c in self._columns] for row in rows], dtype=np.float64).reshape(
            len(rows), len(self._columns))

    def _true_rows(self, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, family {self.family_id}, targets {list(self.target_names)})"


class TableBenchmark(TrueBenchmark):
    """The stored true evaluations of a scenario's family, as a tabular benchmark.

    ``data``: the collection folder (a store, or a folder of stores); default: the folder the
    scenario's provenance names, in the repository this package was installed from."""

    kind = "table"

    def __init__(self, folder: str | os.PathLike, *, data: str | os.PathLike | None = None, **kwargs: Any) -> None:
        super().__init__(folder, **kwargs)
        store = require("smm_bench_collection.store", "compare", "kind='table'")
        self.data = Path(data) if data is not None else _default_dataset(self.meta, self.name)
        try:
            table = store.read_stores(self.data)
        except FileNotFoundError as e:
            raise FileNotFoundError(f"data: {e}; kind='table' reads the collected true evaluations "
                                    "(collection/data/mini_ps or mini_dfs in the repository)") from None
        families = set(table.column("family_id").to_pylist())
        spaces = set(table.column("space").to_pylist())
        if families != {self.family_id} or spaces != {self.space}:
            raise ValueError(f"data: {self.data} holds family {sorted(families)} space {sorted(spaces)}; scenario "
                             f"{self.name!r} was trained on family {self.family_id!r} space {self.space!r}")
        self._x_cat, self._x_cont = self._stored_arrays(table)
        self._ids: tuple[str, ...] = tuple(table.column("config_id").to_pylist())
        self._values = {c: table.column(c).to_pylist() for c in set(self._columns)}
        self._row_of = {self._row_key(c, f): i for i, (c, f) in enumerate(zip(self._x_cat, self._x_cont))}
        self._row_of_id = {cid: i for i, cid in enumerate(self._ids)}

    def _stored_arrays(self, table) -> tuple[np.ndarray, np.ndarray]:
        """The stored configurations in the graph's layout (YAHPO codes, floats as stored)."""
        codes = [{c: i + 1 for i, c in enumerate(ch)} for ch in self._encoder.cat_choices]
        x_cat = np.array([[code[v] for v in table.column(n).to_pylist()] for n, code in zip(self.cat_names, codes)],
                         dtype=np.int32).T.reshape(table.num_rows, len(self.cat_names))
        x_cont = np.column_stack([table.column(n).to_numpy() for n in self.cont_names]).astype(np.float64)
        return x_cat, x_cont.reshape(table.num_rows, len(self.cont_names))

    @staticmethod
    def _row_key(x_cat: np.ndarray, x_cont: np.ndarray) -> bytes:
        return x_cat.tobytes() + x_cont.tobytes()

    def __len__(self) -> int:
        return len(self._ids)

    @property
    def config_ids(self) -> tuple[str, ...]:
        """The stored configurations' ids (``config_id`` of the collection schema), in table order."""
        return self._ids

    def configs(self) -> list[dict[str, Any]]:
        """Every stored configuration, as a dict to pass to :meth:`evaluate` (table order)."""
        return self.decode(self._x_cat, self._x_cont)

    def config(self, config_id: str) -> dict[str, Any]:
        """The stored configuration with this id."""
        i = self._index_of_id(config_id)
        return self.decode(self._x_cat[i:i + 1], self._x_cont[i:i + 1])[0]

    def lookup(self, config_id: str) -> dict[str, float]:
        """Every target's stored value for the configuration with this id."""
        i = self._index_of_id(config_id)
        return {name: self._values[c][i] for name, c in zip(self.target_names, self._columns)}

    def _index_of_id(self, config_id: str) -> int:
        try:
            return self._row_of_id[config_id]
        except (KeyError, TypeError):
            raise KeyError(f"config_id {config_id!r} is not in the table of {len(self)} true evaluations of "
                           f"{self.name!r} (family {self.family_id}); table.config_ids lists them") from None

    def _run(self, x_cat: np.ndarray, x_cont: np.ndarray) -> np.ndarray:
        index = []
        for r, key in enumerate(map(self._row_key, x_cat, x_cont)):
            i = self._row_of.get(key)
            if i is None:
                self._not_stored(r, x_cat[r], x_cont[r])
            index.append(i)
        return np.array([[self._values[c][i] for c in self._columns] for i in index],
                        dtype=np.float64).reshape(len(index), len(self._columns))

    def _not_stored(self, r: int, x_cat: np.ndarray, x_cont: np.ndarray):
        """KeyError for configuration ``r``, naming where the nearest stored configuration differs."""
        cat_diff = (self._x_cat != x_cat).sum(axis=1)
        cont_diff = np.abs(self._x_cont - x_cont).max(axis=1) if self.cont_names else np.zeros(len(self))
        near = int(np.lexsort((cont_diff, cat_diff))[0])
        asked, stored = self.decode(np.stack([x_cat, self._x_cat[near]]), np.stack([x_cont, self._x_cont[near]]))
        differ = [n for n in self.hyperparameter_names if asked[n] != stored[n]]
        first = max(differ, key=lambda n: (n in self.cat_names, abs(asked[n] - stored[n]) if n in self.cont_names
                                           else 0.0))
        raise KeyError(f"configuration {r} is not in the table of {len(self)} true evaluations of {self.name!r} "
                       f"(family {self.family_id}; a lookup is exact): the nearest stored configuration "
                       f"{self._ids[near]} differs in {len(differ)} hyperparameter(s), most in {first} "
                       f"({asked[first]!r} asked, {stored[first]!r} stored); table.configs() lists the stored ones")


class LiveBenchmark(TrueBenchmark):
    """Each configuration merged and judged for real by the scenario's family (needs ``[collect]``).

    ``store``: the result store the evaluations go to (default: ``live/<name>`` under the data
    directory, :func:`smm_bench_plugin.data_dir`); a configuration already there is read back.
    ``progress`` prints a line per real evaluation (each takes seconds)."""

    kind = "live"
    extra = "collect"

    def __init__(self, folder: str | os.PathLike, *, store: str | os.PathLike | None = None,
                 progress: bool = False, **kwargs: Any) -> None:
        super().__init__(folder, **kwargs)
        require("torch", self.extra, "kind='live'")
        truth = require("smm_bench_collection.truth", self.extra, "kind='live'")
        collect = require("smm_bench_collection.collect", self.extra, "kind='live'")
        family = self.family_id.split("-", 1)[0]  # "mini-v1" -> the "mini" family
        factory = collect.family_factory(self.space, family)
        if factory.family_id != self.family_id:
            raise ValueError(f"scenario {self.name!r} was trained on family {self.family_id!r}, but this "
                             f"installation's {family!r} family is {factory.family_id!r}")
        from .paths import data_dir

        self.store = Path(store) if store is not None else data_dir() / "live" / self.name
        self._truth = truth.TrueEvaluations(self.store, self.space, sampler="live", factory=factory)
        self.progress = progress

    @property
    def evaluated(self) -> int:
        """Real evaluations made so far by this object (the rest were read back from its store)."""
        return self._truth.evaluated

    def _true_rows(self, configs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return self._truth.evaluate(configs, progress=self.progress)

    def close(self) -> None:
        """Release the evaluator (and its workers)."""
        self._truth.close()


def _default_dataset(meta: dict[str, Any], name: str) -> Path:
    """The collection folder a scenario's provenance names, in this package's repository."""
    dataset = (meta.get("provenance") or {}).get("dataset")
    if not dataset:
        raise ValueError(f"scenario {name!r} records no dataset (meta.json provenance.dataset); pass data=FOLDER")
    collection = require("smm_bench_collection", "compare", "kind='table'")
    repository = Path(collection.__file__).resolve().parent.parent
    path = repository / dataset
    if not path.is_dir():
        raise FileNotFoundError(f"data: {path} is missing; kind='table' reads {dataset} of a checkout of the "
                                f"smm-bench-plugin repository (pip install -e .), or pass data=FOLDER")
    return path
