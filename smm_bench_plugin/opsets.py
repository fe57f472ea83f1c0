"""The ONNX opsets of every graph this package writes (tree ensembles, derived features, fidelity).

One home, so the converter's graph and the derived-feature nodes spliced into it always agree:
onnxruntime rejects a model whose nodes need a newer opset than the model declares.
"""

ONNX_OPSET = 21  # the default domain
ONNX_ML_OPSET = 5  # ai.onnx.ml: TreeEnsemble
