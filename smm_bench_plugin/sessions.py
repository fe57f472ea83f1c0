"""One way to open an onnxruntime session, for every graph the project runs.

Why one: a scenario's bits depend on the session settings (thread count, execution mode,
deterministic compute). Training computes derived features with the same graph nodes the
scenario runs, so it must also use the same settings; keeping them here means the two can't
drift apart.
"""
from __future__ import annotations

import os
from numbers import Integral
from pathlib import Path

__all__ = ["check_threads", "open_session"]


def check_threads(intra_op_threads: object) -> int:
    """``intra_op_threads`` must be an integer from 1 to the number of CPUs: onnxruntime
    takes any number and spends minutes creating threads nobody can run."""
    most = os.cpu_count() or 1
    if isinstance(intra_op_threads, bool) or not isinstance(intra_op_threads, Integral) \
            or not 1 <= intra_op_threads <= most:
        raise ValueError(f"intra_op_threads must be an integer from 1 to {most} (this machine's CPU count), "
                         f"got {intra_op_threads!r}")
    return int(intra_op_threads)


def open_session(model: str | Path | bytes, intra_op_threads: int = 1, label: str | None = None):
    """An ``onnxruntime.InferenceSession`` on the CPU provider, sequential and deterministic.

    ``model`` is a file path or serialised ONNX bytes. A model onnxruntime can't load raises
    ``ValueError`` naming ``label`` (default: the path), not onnxruntime's own exception types.
    """
    check_threads(intra_op_threads)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = intra_op_threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.use_deterministic_compute = True
    opts.log_severity_level = 3
    source = model if isinstance(model, bytes) else str(model)
    try:
        return ort.InferenceSession(source, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types (InvalidProtobuf, Fail, ...)
        name = label or ("<model bytes>" if isinstance(model, bytes) else str(model))
        raise ValueError(f"{name}: onnxruntime cannot load this model ({type(e).__name__}: "
                         f"{str(e).strip()[:300]}); the scenario is corrupt") from None
