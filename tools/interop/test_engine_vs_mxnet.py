"""One training step of ParamKit's engine against MXNet 1.9.1, on the whole tiny-vgg network, on
tiny-resnet (the reference's pre-activation ResNet-101 topology with few channels: BatchNorm on
moving statistics, bias-free convolutions, residual adds, 14×14 ROI pooling into stage 4), and
on vgg16 at a small input (so every engine path of the full-size network runs: Winograd F(4×4, 3×3)
convolutions from 64 to 512 channels, ParamKit's own GEMM in the convolutions and the 25088→4096 fc6),
once per kernel instruction set this CPU runs (PARAMKIT_ISA: the generic copy, whose products all go
to OpenBLAS, then AVX2 and AVX-512 with ParamKit's GEMM).

bench/mx_train_step.py --dump-init writes MXNet's seeded initial parameters, the input batch, the
gradients of one forward/backward, the parameters after one SGD update and (--dump-internals) every
ReLU and pooling output of the forward pass. `ParamKitBench engine-step` runs the same step from the
same files; the activations, the gradients and the updated parameters must agree tensor by tensor.

Decisions that flip. Two float32 implementations that sum in different orders agree only to
rounding, so a ReLU input within rounding of 0, or two max-pool (or ROI-pool) window values within
rounding of each other, can be decided one way by MXNet and the other by ParamKit. The gradient then
goes through (or to) a different element, and the weight gradient of the layer and of everything
below it moves by about one element's share of the sum (e.g. 1/768 at vgg16 conv3_1 on 24×32), far
above rounding: on one CPU the vgg16 RPN step had one ReLU flip in relu3_1 (a value of 1.1e-7 of
the layer's largest) and conv3_1's gradient differed by 2.3e-3 relative. Such a flip is not an
error of either side. So engine-step runs with --align: it finds every flipped decision against
MXNet's activations, takes MXNet's there, and reports each with its gap (how far apart MXNet's own
values were). The test prints every flip, requires each gap to be within the forward bound below
(a real error would show as a difference in the activations or a large gap), and compares the
rest tightly.
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

# The bounds, from the float32 error of each path. MXNet runs the convolutions on oneDNN (direct) and
# ParamKit on im2col, direct or Winograd with its own or OpenBLAS's sgemm; all sum in float32 in
# different orders. One layer's relative error, as a fraction of its largest magnitude: im2col/GEMM
# about u·√K (u = 6e-8, K ≤ 4608: ≤ 4e-6), Winograd F(4×4, 3×3) ≤ 1e-5 (its tile transforms scale
# entries by up to ~100; WinogradTests' bound, 5.7–9.5e-6 measured on vgg16 shapes).
# - Activations: each ReLU output within FWD_RTOL · max|mx|. One layer adds ≤ 1e-5 and the layers'
#   errors are independent roundings, so over ≤ 13 convolutions they add in quadrature to ≤ 3.6e-5.
# - Flips: a decision can only flip where the two sides' values are within their forward difference,
#   so every flip's gap must be ≤ FWD_RTOL of the layer's largest value.
# - Gradients: ≤ 16 layers forward and ≤ 16 backward, ≤ 1e-5 each, in quadrature √32·1e-5 ≈ 6e-5:
#   GRAD_RTOL = 1e-4. The absolute term covers tensors that are (nearly) all zero, e.g. biases of
#   dead ReLU channels. A formula error shows up at 1e-2 and above.
# Observed with flips aligned: activations ≤ 7e-6, gradients ≤ 7.3e-6 (vgg16, every ISA).
# - tiny-resnet: the same per-layer bound over its 94 convolutions (and as many BatchNorms, which
#   scale but add only rounding) before the RPN: √94·1e-5 ≈ 1e-4 forward, √200·1e-5 ≈ 1.4e-4 for
#   the gradients, with the same 2× margin as vgg's: 3e-4. Observed (mx_train_step.py keeps the
#   activations near 1): activations ≤ 3.4e-6, gradients ≤ 6e-6, every ISA.
FWD_RTOL = 4e-5
GRAD_RTOL, GRAD_ATOL = 1e-4, 1e-7
RESNET_FWD_RTOL, RESNET_GRAD_RTOL = 1e-4, 3e-4
# - tiny-inception: 70 Conv units before the RPN, at most 37 in a row (stem 5, mixed–mixed_2 3 each,
#   mixed_3 3, mixed_4–7 5 each), 10 more in a row in the R-CNN head; each BatchNorm on batch
#   statistics renormalises the error to the layer's scale, so the ResNet bounds (√94 layers) hold.
# - tiny-inception's R-CNN head is the exception. Its BatchNorms normalise over 128 rois × 17×17 (or
#   8×8) values per channel, and MXNet 1.9.1 sums them in float32: on a ReLU'd (128, 12, 17, 17)
#   input its BatchNorm is 8.6e-5 from a float64 computation (ParamKit sums in float64); ten such
#   layers follow each other, and 17×17 bins pooled from a 4×6 map repeat values, so the max pools
#   tie (thousands of flips, aligned). Measured on the step below, with MXNet's decisions taken:
#   ParamKit against itself, generic against AVX2 kernels (only the summation order differs), differs
#   by 2.5e-4 in activations and 2.9e-3 in gradients; against MXNet by 5.2e-4 and 4.6e-3. The bounds
#   are 4× those: INCEPTION_RCNN_FWD_RTOL 2e-3, INCEPTION_RCNN_GRAD_RTOL 2e-2. A wrong pad, pool
#   rule or BatchNorm term moves values by 1e-1 and more.
INCEPTION_RCNN_FWD_RTOL, INCEPTION_RCNN_GRAD_RTOL = 2e-3, 2e-2
# - Aux states after the step: moving = 0.9·moving + 0.1·batch statistic, so the forward's error
#   enters scaled by 0.1; a variance doubles the activation's relative error: AUX_RTOL = 2e-4.
AUX_RTOL = 2e-4
# Parameters after one update: w' = w − lr·(clip(g) + wd·w) with lr = 1e-3, so the gradient's
# differences enter scaled down by lr; what remains is the float32 rounding of w itself.
ARG_RTOL, ARG_ATOL = 1e-5, 1e-6

TINY = ("tiny-vgg", 64, 96)
VGG16 = ("vgg16", 96, 128)
TINY_RESNET = ("tiny-resnet", 64, 96)
TINY_INCEPTION = ("tiny-inception", 64, 96)
CASES = [(TINY, "rpn", "FIXED_PARAMS"), (TINY, "rcnn", "FIXED_PARAMS"), (TINY, "rpn", "FIXED_PARAMS_SHARED"),
         (VGG16, "rpn", "FIXED_PARAMS"), (VGG16, "rcnn", "FIXED_PARAMS"),
         (TINY_RESNET, "rpn", "FIXED_PARAMS"), (TINY_RESNET, "rcnn", "FIXED_PARAMS"),
         (TINY_RESNET, "rpn", "FIXED_PARAMS_SHARED"),
         (TINY_INCEPTION, "rpn", "FIXED_PARAMS"), (TINY_INCEPTION, "rcnn", "FIXED_PARAMS"),
         (TINY_INCEPTION, "rpn", "FIXED_PARAMS_SHARED"), (TINY_INCEPTION, "rcnn", "FIXED_PARAMS_SHARED")]


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


def cpu_isas():
    """The kernel ISAs this CPU runs, generic first (tools/isa.sh, as CKernels/isa.c decides)."""
    out = subprocess.run([str(REPO / "tools/isa.sh")], capture_output=True, text=True, check=True).stdout
    return out.split()


ISAS = cpu_isas()


@pytest.fixture(scope="module")
def mxnet_dumps(tmp_path_factory):
    """MXNet's step per case, made once and shared by the runs of every ISA."""
    made = {}

    def get(name, height, width, stage, freeze):
        key = (name, stage, freeze)
        if key not in made:
            dump = tmp_path_factory.mktemp(f"mxnet-{name}-{stage}-{freeze}")
            # The interpreter running these tests is the one with mxnet (formats.py imports it too).
            run([sys.executable, MX_TRAIN_STEP, "--net", name, "--stage", stage, "--height", height,
                 "--width", width, "--freeze", freeze, "--no-dropout", "--dump-init", dump,
                 "--dump-internals"], "mx_train_step.py")
            made[key] = dump
        return made[key]
    return get


def check_activations(probe, internals, flips, fwd_rtol=FWD_RTOL):
    """Every ReLU output within FWD_RTOL of MXNet's, every flip a near-tie. Returns the worst
    relative activation difference."""
    relus = sorted(k for k in internals if (k.startswith("act:relu") or "_relu" in k) and k in probe)
    assert relus, "no ReLU activations to compare"
    bad, worst = [], 0.0
    for key in relus:
        a, b = probe[key], internals[key]
        assert a.shape == b.shape, f"{key}: ParamKit {a.shape}, MXNet {b.shape}"
        scale = float(np.abs(b).max())
        diff = float(np.abs(a.astype(np.float64) - b).max())
        worst = max(worst, diff / scale if scale else 0.0)
        if not diff <= fwd_rtol * scale + GRAD_ATOL:
            bad.append(f"{key}: max|Δ| {diff:.3g} of max {scale:.3g} (bound {fwd_rtol * scale:.3g})")
    for layer, f in flips.items():
        if f["flips"] and not f["max_gap"] <= fwd_rtol:
            bad.append(f"{layer}: {f['flips']} flipped decisions, MXNet's values {f['max_gap']:.3g} "
                       f"apart (relative), more than rounding can explain ({fwd_rtol})")
    assert not bad, "forward pass differs from MXNet's:\n  " + "\n  ".join(bad)
    return worst


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("net,stage,freeze", CASES, ids=[f"{n[0]}-{s}-{f}" for n, s, f in CASES])
def test_engine_step_matches_mxnet(tmp_path, mxnet_dumps, net, stage, freeze, isa):
    name, height, width = net
    if not BENCH_BIN.is_file():
        pytest.fail(f"ParamKitBench not found at {BENCH_BIN}: build it with `swift build -c release`, "
                    f"or point PARAMKIT_BENCH_BIN at it", pytrace=False)
    dump, out = mxnet_dumps(name, height, width, stage, freeze), tmp_path / "paramkit"
    out.mkdir()
    env = {**os.environ, "PARAMKIT_ISA": isa}
    proc = subprocess.run([str(BENCH_BIN), "engine-step", str(dump), stage, str(out), "--probe",
                           "--align", str(dump / f"{stage}_internals.params")],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, f"ParamKitBench engine-step exited {proc.returncode}:\n{proc.stderr}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["isa"] == isa, f"asked for {isa}, ran {report['isa']}"
    flips = report["layers"]
    assert any(k.startswith("pool") for k in flips) and any("relu" in k for k in flips), flips

    meta = json.loads((dump / f"{stage}_meta.json").read_text())
    fixed = set(meta["fixed_param_names"])
    assert fixed, f"{freeze} froze nothing"
    initial = load(dump / f"{stage}_params.params")
    mx_grads, pk_grads = load(dump / f"{stage}_grads.params"), load(out / f"{stage}_grads.params")
    mx_after, pk_after = load(dump / f"{stage}_after1.params"), load(out / f"{stage}_after1.params")

    # Frozen parameters get no gradient and come out of the step bit for bit as they went in. MXNet's
    # BatchNorm with fix_gamma (the fork's Inception) writes 1 into gamma in its forward, frozen or
    # not; ParamKit leaves a frozen one as it was (the value is never read): those are compared below
    # only for ParamKit, and every trainable one must be 1 on both sides.
    inception = name.endswith("inception")
    fix_gamma = {p for p in meta["arg_shapes"] if inception and p.endswith("_batchnorm_gamma")}
    assert not {k for k in pk_grads if k.startswith("grad:") and k[5:] in fixed}, "ParamKit has grads of frozen params"
    for param in sorted(fixed):
        key = "arg:" + param
        for who, after in (("MXNet", mx_after), ("ParamKit", pk_after)):
            assert key in after, f"{who}: {key} missing after the step"
            if who == "ParamKit" or param not in fix_gamma:
                assert np.array_equal(after[key], initial[key]), f"{who} changed frozen {key}"
    for param in sorted(fix_gamma - fixed):   # 1 from the forward, then weight decay: 1 − lr·wd
        assert np.array_equal(pk_after["arg:" + param], mx_after["arg:" + param]), f"{param}: ParamKit != MXNet after the step"
    # BatchNorm on moving statistics (use_global_stats, as the reference trains ResNet) leaves them as
    # they were; on batch statistics (the fork's Inception) the backward pass moves them as MXNet's
    # does, where a gradient passes (with FIXED_PARAMS_SHARED none passes the frozen trunk).
    for key in sorted(k for k in initial if k.startswith("aux:")):
        assert key in pk_after, f"ParamKit lost {key}"
        if not inception:
            assert np.array_equal(pk_after[key], initial[key]), f"ParamKit moved {key}"
    if inception:
        moved = [k for k in initial if k.startswith("aux:") and not np.array_equal(mx_after[k], initial[k])]
        # FIXED_PARAMS_SHARED freezes every conv and BatchNorm (substrings 'conv2' and 'batchnorm'): no gradient passes.
        assert moved or freeze == "FIXED_PARAMS_SHARED", "MXNet's training pass moved no BatchNorm statistics"
        worst_aux = compare(pk_after, mx_after, "aux:", AUX_RTOL, GRAD_ATOL, f"{stage} aux states after one step")
        print(f"aux states: {len(moved)} of {sum(k.startswith('aux:') for k in initial)} moved by MXNet; "
              f"worst relative difference {worst_aux:.2g}")
    if freeze == "FIXED_PARAMS_SHARED":
        convs = sorted(k for k in pk_grads if k.startswith(("grad:conv", "grad:stage", "grad:mixed")) and
                       (stage == "rpn" or not k.startswith(("grad:mixed_8", "grad:mixed_9", "grad:mixed_10"))))
        assert not convs, f"ParamKit computed gradients of the frozen trunk: {convs}"

    fwd_rtol, grad_rtol = (FWD_RTOL, GRAD_RTOL) if name.endswith("vgg") or name == "vgg16" else (RESNET_FWD_RTOL, RESNET_GRAD_RTOL)
    if inception and stage == "rcnn":
        fwd_rtol, grad_rtol = INCEPTION_RCNN_FWD_RTOL, INCEPTION_RCNN_GRAD_RTOL
    worst_fwd = check_activations(load(out / f"{stage}_probe.params"), load(dump / f"{stage}_internals.params"), flips,
                                  fwd_rtol)
    worst_grad = compare(pk_grads, mx_grads, "grad:", grad_rtol, GRAD_ATOL, f"{stage} gradients")
    skip = {"arg:" + p for p in fix_gamma & fixed}
    worst_arg = compare({k: v for k, v in pk_after.items() if k not in skip}, {k: v for k, v in mx_after.items() if k not in skip},
                        "arg:", ARG_RTOL, ARG_ATOL, f"{stage} params after one step")
    flipped = ", ".join(f"{k} {v['flips']} (gap {v['max_gap']:.2g})" for k, v in sorted(flips.items()) if v["flips"])
    print(f"{name} {stage} {freeze} [{isa}, gemm {report['gemm']}]: worst relative difference activations "
          f"{worst_fwd:.2g}, grads {worst_grad:.2g}, params {worst_arg:.2g}; flipped decisions aligned to "
          f"MXNet's: {flipped or 'none'}")
