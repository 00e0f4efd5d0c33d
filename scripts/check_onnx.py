"""Checks exported files with the ONNX reference checker (onnx.checker, full check: types and shape
inference). Runs where the `onnx` Python package is installed (the GPU machine has it).

    python3 scripts/check_onnx.py model1.onnx [model2.onnx ...]
"""

import sys

import onnx


def main():
    failed = 0
    for path in sys.argv[1:]:
        model = onnx.load(path)
        try:
            onnx.checker.check_model(model, full_check=True)
            inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
            logits = next(o for o in inferred.graph.output if o.name == "logits")
            dims = [d.dim_param or d.dim_value for d in logits.type.tensor_type.shape.dim]
            opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
            print(f"OK     {path}: IR {model.ir_version}, opsets {opsets}, logits {dims}")
        except Exception as err:  # the checker raises several exception types
            failed += 1
            print(f"NOT OK {path}: {type(err).__name__}: {err}")
    print(f"onnx {onnx.__version__}: {len(sys.argv) - 1 - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
