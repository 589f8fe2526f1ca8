"""One training step of ParamKit's engine against MXNet 1.9.1, on the whole tiny-vgg network, and
on vgg16 at a small input (so every engine path of the full-size network runs: Winograd F(4×4, 3×3)
convolutions from 64 to 512 channels, the AVX-512 GEMM in the convolutions and the 25088→4096 fc6).

bench/mx_train_step.py --dump-init writes MXNet's seeded initial parameters, the input batch, the
gradients of one forward/backward and the parameters after one SGD update. `ParamKitBench
engine-step` runs the same step from the same files; the gradients and the updated parameters
must agree tensor by tensor.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest

from cases import REPO

BENCH_BIN = Path(os.environ.get("PARAMKIT_BENCH_BIN", REPO / ".build/release/ParamKitBench"))
MX_TRAIN_STEP = REPO / "bench/mx_train_step.py"

# Gradients: per tensor, max|mx − pk| ≤ GRAD_RTOL · max|mx| + GRAD_ATOL. MXNet runs the convolutions
# on oneDNN (direct) and ParamKit on im2col or Winograd with its own or OpenBLAS's sgemm; all are
# float32 but sum the products in different orders (Winograd also through its tile transforms, about
# 1e-5 relative per layer), and through ~15 layers of forward and backward (and the loss
# normalisations) those reassociation errors compound. Observed: tiny-vgg about 7e-6 relative at
# worst, vgg16 at 96×128 about 7e-6, so 1e-4 still catches any real formula error (those show up at 1e-2).
# The absolute term covers tensors that are (nearly) all zero, e.g. biases of dead ReLU channels.
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-7
# Parameters after one update: w' = w − lr·(clip(g) + wd·w) with lr = 1e-3, so the gradient's
# differences enter scaled down by lr; what remains is the float32 rounding of w itself.
ARG_RTOL, ARG_ATOL = 1e-5, 1e-6

TINY = ("tiny-vgg", 64, 96)
VGG16 = ("vgg16", 96, 128)
CASES = [(TINY, "rpn", "FIXED_PARAMS"), (TINY, "rcnn", "FIXED_PARAMS"), (TINY, "rpn", "FIXED_PARAMS_SHARED"),
         (VGG16, "rpn", "FIXED_PARAMS"), (VGG16, "rcnn", "FIXED_PARAMS")]


def run(cmd, what):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"{what} exited {proc.returncode}: {' '.join(map(str, cmd))}\n"
                                  f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def load(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(str(path)).items()}


def compare(actual, expected, prefix, rtol, atol, what):
    """Same set of PREFIX keys; every tensor within rtol·max|expected| + atol. Returns the worst
    relative difference seen (for the failure message and for calibrating the tolerances)."""
    mine = {k for k in actual if k.startswith(prefix)}
    theirs = {k for k in expected if k.startswith(prefix)}
    assert mine == theirs, (f"{what}: keys only in ParamKit {sorted(mine - theirs)}, "
                            f"only in MXNet {sorted(theirs - mine)}")
    bad, worst = [], 0.0
    for key in sorted(theirs):
        a, b = actual[key], expected[key]
        assert a.dtype == np.float32 and a.shape == b.shape, (
            f"{what} {key}: ParamKit {a.dtype}{a.shape}, MXNet {b.dtype}{b.shape}")
        scale = float(np.abs(b).max()) if b.size else 0.0
        diff = float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) if b.size else 0.0
        if scale > 0:
            worst = max(worst, diff / scale)
        if not diff <= rtol * scale + atol:  # also catches NaN
            bad.append(f"{key}: max|Δ| {diff:.3g}, max|MXNet| {scale:.3g}, "
                       f"bound {rtol * scale + atol:.3g}")
    assert not bad, f"{what}: {len(bad)} of {len(theirs)} tensors differ:\n  " + "\n  ".join(bad)
    return worst


@pytest.mark.parametrize("net,stage,freeze", CASES, ids=[f"{n[0]}-{s}-{f}" for n, s, f in CASES])
def test_engine_step_matches_mxnet(tmp_path, net, stage, freeze):
    name, height, width = net
    if not BENCH_BIN.is_file():
        pytest.fail(f"ParamKitBench not found at {BENCH_BIN}: build it with `swift build -c release`, "
                    f"or point PARAMKIT_BENCH_BIN at it", pytrace=False)
    dump, out = tmp_path / "mxnet", tmp_path / "paramkit"
    out.mkdir()
    # The interpreter running these tests is the one with mxnet (formats.py imports it too).
    run([sys.executable, MX_TRAIN_STEP, "--net", name, "--stage", stage, "--height", height,
         "--width", width, "--freeze", freeze, "--no-dropout", "--dump-init", dump], "mx_train_step.py")
    run([BENCH_BIN, "engine-step", dump, stage, out], "ParamKitBench engine-step")

    meta = json.loads((dump / f"{stage}_meta.json").read_text())
    fixed = set(meta["fixed_param_names"])
    assert fixed, f"{freeze} froze nothing"
    initial = load(dump / f"{stage}_params.params")
    mx_grads, pk_grads = load(dump / f"{stage}_grads.params"), load(out / f"{stage}_grads.params")
    mx_after, pk_after = load(dump / f"{stage}_after1.params"), load(out / f"{stage}_after1.params")

    # Frozen parameters get no gradient and come out of the step bit for bit as they went in.
    assert not {k for k in pk_grads if k.startswith("grad:") and k[5:] in fixed}, "ParamKit has grads of frozen params"
    for param in sorted(fixed):
        key = "arg:" + param
        for who, after in (("MXNet", mx_after), ("ParamKit", pk_after)):
            assert key in after, f"{who}: {key} missing after the step"
            assert np.array_equal(after[key], initial[key]), f"{who} changed frozen {key}"
    if freeze == "FIXED_PARAMS_SHARED":
        convs = sorted(k for k in pk_grads if k.startswith("grad:conv"))
        assert not convs, f"ParamKit computed gradients of the frozen trunk: {convs}"

    worst_grad = compare(pk_grads, mx_grads, "grad:", GRAD_RTOL, GRAD_ATOL, f"{stage} gradients")
    worst_arg = compare(pk_after, mx_after, "arg:", ARG_RTOL, ARG_ATOL, f"{stage} params after one step")
    print(f"{name} {stage} {freeze}: worst relative difference grads {worst_grad:.2g}, params {worst_arg:.2g}")
