"""The one session factory: its settings are what make a scenario's bits reproducible."""
import numpy as np
import pytest

from smm_bench_plugin.derived_features import feature_model
from smm_bench_plugin.sessions import open_session


def test_sessions_are_sequential_single_threaded_and_deterministic_by_default():
    import onnxruntime as ort

    session = open_session(feature_model("dfs-path-v1", 32, 63))
    opts = session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1
    assert opts.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL and opts.use_deterministic_compute
    rows = np.random.default_rng(0).random((4, 63)) + 0.5
    out = session.run(None, {"cat_codes": np.zeros((4, 32)), "cont": rows})[0]
    assert out.shape == (4, 12) and np.isfinite(out).all()


@pytest.mark.parametrize("threads", [0, -1, 1.0, True, "2", 100_000, 2 ** 40])
def test_bad_thread_counts_are_refused_by_name(threads):
    with pytest.raises(ValueError, match="intra_op_threads must be an integer from 1 to"):
        open_session(feature_model("dfs-path-v1", 32, 63), threads)


def test_unloadable_bytes_raise_a_value_error_naming_the_model(tmp_path):
    with pytest.raises(ValueError, match="my graph: onnxruntime cannot load this model"):
        open_session(b"not an onnx graph", label="my graph")
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match=f"{bad}: onnxruntime cannot load"):
        open_session(bad)
