"""Every op of the graph engine against MXNet 1.9.1's own: a small symbol per case, built here with
mx.sym, bound with grad_req='write', run forward (is_train) and backward on random inputs; ParamKit
loads the same symbol JSON (SymbolJSON) and inputs through `ParamKitBench graph-check` and must give
the same outputs, parameter and data gradients, and aux states (BatchNorm's moving statistics)."""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")

REPO = Path(__file__).resolve().parents[2]
BENCH_BIN = Path(os.environ.get("PARAMKIT_BENCH_BIN", REPO / ".build/release/ParamKitBench"))

data = mx.sym.Variable("data")


def conv(**kw):
    return mx.sym.Convolution(data=data, name="conv", num_filter=4, **kw)


def pool(**kw):
    return mx.sym.Pooling(data=data, name="pool", **kw)


def bn(**kw):
    return mx.sym.BatchNorm(data=data, name="bn", **kw)


CASES = {
    # Convolution: every kernel shape the backbones use, strides, pads per axis, no_bias.
    "conv3x3": (lambda: conv(kernel=(3, 3), pad=(1, 1)), (2, 3, 13, 11)),
    "conv1x1": (lambda: conv(kernel=(1, 1)), (2, 5, 7, 6)),
    "conv1x3": (lambda: conv(kernel=(1, 3), pad=(0, 1)), (1, 3, 9, 10)),
    "conv3x1": (lambda: conv(kernel=(3, 1), pad=(1, 0)), (1, 3, 9, 10)),
    "conv1x7": (lambda: conv(kernel=(1, 7), pad=(0, 3)), (1, 4, 8, 12)),
    "conv7x1": (lambda: conv(kernel=(7, 1), pad=(3, 0)), (1, 4, 12, 8)),
    "conv5x5": (lambda: conv(kernel=(5, 5), pad=(2, 2)), (1, 3, 11, 9)),
    "conv7x7s2_nobias": (lambda: conv(kernel=(7, 7), stride=(2, 2), pad=(3, 3), no_bias=True), (1, 3, 23, 19)),
    "conv3x3s2_valid": (lambda: conv(kernel=(3, 3), stride=(2, 2)), (2, 3, 15, 12)),
    "conv1x1s2_nobias": (lambda: conv(kernel=(1, 1), stride=(2, 2), no_bias=True), (1, 6, 9, 9)),
    # Pooling: max and avg, both conventions, padding, global; avg's count_include_pad rule.
    "max2x2": (lambda: pool(pool_type="max", kernel=(2, 2), stride=(2, 2)), (2, 3, 9, 8)),
    "max3x3s2_pad1": (lambda: pool(pool_type="max", kernel=(3, 3), stride=(2, 2), pad=(1, 1)), (1, 3, 11, 10)),
    "max3x3s2_full": (lambda: pool(pool_type="max", kernel=(3, 3), stride=(2, 2), pooling_convention="full"), (1, 3, 10, 12)),
    "avg3x3s1_pad1": (lambda: pool(pool_type="avg", kernel=(3, 3), stride=(1, 1), pad=(1, 1)), (1, 3, 8, 7)),
    "avg3x3s1_pad1_exclude": (lambda: pool(pool_type="avg", kernel=(3, 3), stride=(1, 1), pad=(1, 1), count_include_pad=False), (1, 3, 8, 7)),
    "avg3x3s2_full": (lambda: pool(pool_type="avg", kernel=(3, 3), stride=(2, 2), pooling_convention="full"), (1, 2, 10, 12)),
    "avg5x5s3_pad2": (lambda: pool(pool_type="avg", kernel=(5, 5), stride=(3, 3), pad=(2, 2)), (1, 2, 11, 13)),
    "global_avg": (lambda: pool(pool_type="avg", kernel=(1, 1), global_pool=True), (2, 4, 5, 7)),
    "global_max": (lambda: pool(pool_type="max", kernel=(1, 1), global_pool=True), (2, 4, 5, 7)),
    # BatchNorm: batch statistics with and without fix_gamma, the moving statistics (use_global_stats).
    "bn_train": (lambda: bn(fix_gamma=False, eps=2e-5, momentum=0.9), (2, 4, 5, 6)),
    "bn_fix_gamma": (lambda: bn(), (3, 3, 4, 4)),
    "bn_global_stats": (lambda: bn(fix_gamma=False, use_global_stats=True, eps=1e-5), (2, 4, 5, 6)),
    "bn_fc_input": (lambda: bn(fix_gamma=False, momentum=0.8), (6, 5)),
    # Concat, residual add, Flatten + FullyConnected, Activation.
    "concat": (lambda: mx.sym.Concat(mx.sym.Convolution(data, num_filter=2, kernel=(1, 1), name="a"),
                                     mx.sym.Convolution(data, num_filter=3, kernel=(3, 3), pad=(1, 1), name="b"),
                                     data, dim=1, name="concat"), (2, 3, 6, 5)),
    "residual_add": (lambda: mx.sym.Activation(
        mx.sym.elemwise_add(mx.sym.Convolution(data, num_filter=3, kernel=(3, 3), pad=(1, 1), no_bias=True, name="c"), data,
                            name="add"), act_type="relu", name="relu"), (2, 3, 6, 5)),
    "flatten_fc_nobias": (lambda: mx.sym.FullyConnected(mx.sym.Flatten(data, name="flat"), num_hidden=5, no_bias=True, name="fc"),
                          (3, 2, 3, 4)),
    "fc_relu": (lambda: mx.sym.Activation(mx.sym.FullyConnected(data, num_hidden=7, name="fc"), act_type="relu", name="relu"),
                (4, 6)),
    # Losses as the reference uses them.
    "softmax_multi_output_valid": (lambda: mx.sym.SoftmaxOutput(
        mx.sym.Reshape(data, shape=(0, 2, -1, 0), name="reshape"), mx.sym.Variable("label"),
        multi_output=True, use_ignore=True, ignore_label=-1, normalization="valid", name="prob"), (1, 6, 4, 5)),
    "softmax_batch": (lambda: mx.sym.SoftmaxOutput(data, mx.sym.Variable("label"), normalization="batch", name="prob"), (8, 4)),
    "smooth_l1_makeloss": (lambda: mx.sym.MakeLoss(
        mx.sym.Variable("weight") * mx.sym.smooth_l1(data - mx.sym.Variable("target"), scalar=3.0, name="l1"),
        grad_scale=1.0 / 16, name="loss"), (2, 8, 3, 3)),
}


def labels_for(name, shape, rng):
    if name == "softmax_multi_output_valid":
        n, c, h, w = shape
        return {"label": rng.integers(-1, 2, size=(n, (c // 2) * h * w)).astype(np.float32)}
    if name == "softmax_batch":
        return {"label": rng.integers(0, shape[1], size=(shape[0],)).astype(np.float32)}
    if name == "smooth_l1_makeloss":
        return {"target": rng.normal(0, 0.5, size=shape).astype(np.float32),
                "weight": (rng.random(shape) < 0.5).astype(np.float32)}
    return {}


@pytest.mark.parametrize("name", sorted(CASES))
def test_op_matches_mxnet(name, tmp_path):
    if not BENCH_BIN.is_file():
        pytest.fail(f"ParamKitBench not found at {BENCH_BIN}: build it with `swift build -c release`", pytrace=False)
    build, shape = CASES[name]
    sym = build()
    rng = np.random.default_rng(sum(map(ord, name)))
    labels = labels_for(name, shape, rng)
    shapes = {"data": shape, **{k: v.shape for k, v in labels.items()}}
    ex = sym.simple_bind(mx.cpu(), grad_req="write", **shapes)
    feed = {}
    for key, arr in ex.arg_dict.items():
        if key in labels:
            value = labels[key]
        elif key == "data":
            value = rng.normal(0, 1, size=arr.shape).astype(np.float32)
        else:
            value = rng.normal(0, 0.5, size=arr.shape).astype(np.float32)
        arr[:] = value
        feed["arg:" + key] = mx.nd.array(value)
    for key, arr in ex.aux_dict.items():
        value = (rng.random(arr.shape) + 0.5 if key.endswith("var") else rng.normal(0, 0.3, size=arr.shape)).astype(np.float32)
        arr[:] = value
        feed["aux:" + key] = mx.nd.array(value)
    ex.forward(is_train=True)
    out = ex.outputs[0].asnumpy()
    is_loss = name.startswith("softmax") or name.startswith("smooth_l1")
    if is_loss:
        ex.backward()
    else:
        head = rng.normal(0, 1, size=out.shape).astype(np.float32)
        ex.backward(out_grads=[mx.nd.array(head)])
        feed["arg:head_grad." + sym.name] = mx.nd.array(head)
    symbol_file, in_file, out_file = tmp_path / "op-symbol.json", tmp_path / "in.params", tmp_path / "out.params"
    sym.save(str(symbol_file))
    mx.nd.save(str(in_file), feed)
    proc = subprocess.run([str(BENCH_BIN), "graph-check", str(symbol_file), str(in_file), str(out_file)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = {k: v.asnumpy() for k, v in mx.nd.load(str(out_file)).items()}

    def close(what, mine, theirs):
        scale = max(float(np.abs(theirs).max()), 1e-6)
        err = float(np.abs(mine - theirs).max()) / scale
        assert mine.shape == theirs.shape, f"{what}: shape {mine.shape}, MXNet {theirs.shape}"
        assert err <= 2e-5, f"{what}: max |Δ| {err:.2e} of the largest |value| ({scale:.3g})"

    close("output", got["arg:out." + sym.name], out)
    compared = 0
    for key, grad in ex.grad_dict.items():
        if key in labels:
            continue
        close(f"gradient of {key}", got["arg:grad." + key], grad.asnumpy())
        compared += 1
    assert compared >= 1
    for key, arr in ex.aux_dict.items():
        after = arr.asnumpy()
        if "global_stats" not in name:   # a training pass on batch statistics moves them
            assert not np.array_equal(after, feed["aux:" + key].asnumpy()), f"MXNet left {key} unchanged"
        close(f"aux {key} after the pass", got["aux:" + key], after)


def test_unknown_op_and_bad_references_are_errors_naming_the_node(tmp_path):
    import json
    if not BENCH_BIN.is_file():
        pytest.fail(f"ParamKitBench not found at {BENCH_BIN}", pytrace=False)
    sym = mx.sym.LeakyReLU(mx.sym.Convolution(data, num_filter=2, kernel=(1, 1), name="c"), name="leaky")
    good = json.loads(sym.tojson())
    feed = {"arg:data": mx.nd.ones((1, 1, 2, 2)), "arg:c_weight": mx.nd.ones((2, 1, 1, 1)), "arg:c_bias": mx.nd.zeros((2,))}
    mx.nd.save(str(tmp_path / "in.params"), feed)

    def run(doc):
        (tmp_path / "s.json").write_text(json.dumps(doc))
        return subprocess.run([str(BENCH_BIN), "graph-check", str(tmp_path / "s.json"), str(tmp_path / "in.params"),
                               str(tmp_path / "out.params")], capture_output=True, text=True, timeout=60)

    proc = run(good)
    assert proc.returncode == 2 and "node 'leaky'" in proc.stderr and "unknown op 'LeakyReLU'" in proc.stderr, proc.stderr
    cyclic = json.loads(sym.tojson())
    cyclic["nodes"][3]["inputs"][0] = [3, 0, 0]   # the convolution reads itself
    proc = run(cyclic)
    assert proc.returncode == 2 and "node 'c'" in proc.stderr and "not an earlier node" in proc.stderr, proc.stderr
    misfit = mx.sym.Convolution(data, num_filter=2, kernel=(5, 5), name="c")
    proc = run(json.loads(misfit.tojson()))
    assert proc.returncode == 2 and "node 'c'" in proc.stderr and "does not fit" in proc.stderr, proc.stderr
    assert not (tmp_path / "out.params").exists()
