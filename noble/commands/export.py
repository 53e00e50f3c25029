"""``noble export``: write a trained model as an ONNX file (model card embedded; onnxruntime runs it)."""
from __future__ import annotations

# Imports inside the functions are deliberate: `noble --help` and every other subcommand start without loading
# torch, the simulators or the pipeline; each command loads only what it runs.

import argparse
from pathlib import Path


def register(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="export a trained model to ONNX",
        description="Export the embedding + FNO of a model directory to ONNX (inputs amplitude_nA [B] and raw "
        "features [B, F], output voltage_mV [B, L]); the model card is embedded as metadata.",
    )
    parser.add_argument("--onnx", nargs=2, metavar=("MODEL_DIR", "OUT.onnx"), type=Path, required=True)
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: noble.export.OPSET)")
    parser.add_argument("--no-check", action="store_true", help="skip the onnxruntime vs PyTorch comparison")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from noble.checkpoint import load_model
    from noble.export import OPSET, OnnxNoble, export_onnx

    model_dir, out = args.onnx
    path = export_onnx(model_dir, out, opset=args.opset or OPSET)
    print(f"{path}: ONNX opset {args.opset or OPSET}, {path.stat().st_size / 1e6:.1f} MB")
    if not args.no_check:
        model = load_model(model_dir)
        amps = np.array([-0.11, 0.02, 0.1, 0.28])
        hofs = [model.train_hofs[0]] * amps.size
        torch_v = model.predict(amps, hofs=hofs)
        onnx_v = OnnxNoble(path).predict(amps, model.features_for_hofs(hofs))
        rel = float(np.linalg.norm(onnx_v - torch_v) / np.linalg.norm(torch_v))
        print(f"onnxruntime vs PyTorch on 4 traces: relative difference {rel:.2e}")
    return 0
