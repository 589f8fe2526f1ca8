"""Writes the test fixtures with the real libraries, so a fresh clone needs nothing beside it.

    .venv-interop/bin/python tools/make_fixtures.py OUT_DIR     (tools/test.sh: .build/fixtures)

OUT_DIR gets the same files the shared fixture folder has, made here deterministically:
- MXNet 1.9.1 checkpoints (`mx.nd.save`): the tiny VGG RPN and R-CNN, their combine_model result,
  a tiny ResNet with BatchNorm aux states, one array per dtype, numpy-shape (V3), list, empty and
  sparse files, and a real classic-mode save of a 0-d array (which MXNet cannot load back);
- hand-built records MXNet reads (V1, pre-V1, a GPU context), each checked with `mx.nd.load`;
- the RPN checkpoint as HDF5 (h5py) and safetensors (safetensors), and two Keras-2-style weight
  files (fixed- and variable-length string attributes);
- damaged and quirky .params files, each with what MXNet 1.9.1 does with it (recorded by loading it);
- expected.json: per array its name, dtype, shape and the sha256 of its element bytes;
- golden/ops.h5: the outputs and gradients of MXNet's own operators for the engine's golden tests
  (Convolution, FullyConnected, Pooling, Activation, ROIPooling, SoftmaxOutput, smooth_l1, MakeLoss,
  sgd_mom_update, the SGD optimizer, MultiFactorScheduler, Proposal and MultiProposal).

The `ref_*` golden groups come from the reference example's Python code, which is not available
here: they are not written, and the tests that need them report themselves skipped."""
import hashlib
import json
import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("MXNET_ENGINE_TYPE", "NaiveEngine")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import h5py  # noqa: E402
import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402

LIST_MAGIC = 0x112
V1, V2 = 0xF993FAC8, 0xF993FAC9
BF16 = np.dtype([("bfloat16", np.uint16)])  # how MXNet 1.9.1 names bfloat16 in numpy
FLAGS = {"float32": 0, "float64": 1, "float16": 2, "uint8": 3, "int32": 4, "int8": 5, "int64": 6, "bool": 7}


# ---- expected.json entries ------------------------------------------------------------------------

def element_bytes(a):
    return np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()


def entry(name, dtype, array, **extra):
    return {"name": name, "dtype": dtype, "shape": list(array.shape), "sha256": hashlib.sha256(element_bytes(array)).hexdigest(),
            **extra}


def mx_entries(path):
    """Arrays as mx.nd.load returns them (bfloat16 as its uint16 bits)."""
    loaded = mx.nd.load(str(path))
    items = loaded.items() if isinstance(loaded, dict) else [(None, a) for a in loaded]
    out = []
    for name, nd in items:
        if nd.stype != "default":
            dense = nd.tostype("default").asnumpy()
            out.append({"name": name, "shape": list(dense.shape), "dense": entry(name, str(dense.dtype), dense)})
            continue
        if nd.dtype == BF16:
            bits = nd.astype("float32").asnumpy().view(np.uint32) >> 16
            out.append(entry(name, "bfloat16", bits.astype(np.uint16)))
        else:
            a = nd.asnumpy()
            out.append(entry(name, "bool" if a.dtype == np.bool_ else str(a.dtype), a))
    return out


# ---- hand-built .params ---------------------------------------------------------------------------

def record(array, magic=V2, ctx=(1, 0), flag=None, dims=None):
    dims = list(array.shape) if dims is None else dims
    flag = FLAGS[str(array.dtype)] if flag is None else flag
    if magic == V2:
        head = struct.pack("<Ii", V2, 0) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}q", *dims)
    elif magic == V1:
        head = struct.pack("<I", V1) + struct.pack("<i", len(dims)) + struct.pack(f"<{len(dims)}q", *dims)
    elif magic == 0:  # pre-V1: the first word is ndim, dims are uint32
        head = struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}I", *dims)
    else:
        head = struct.pack("<I", magic)
    return head + struct.pack("<iii", ctx[0], ctx[1], flag) + element_bytes(array)


def params_file(records, names, list_magic=LIST_MAGIC, reserved=0):
    body = struct.pack("<QQQ", list_magic, reserved, len(records)) + b"".join(records)
    body += struct.pack("<Q", len(names)) + b"".join(struct.pack("<Q", len(n)) + n.encode() for n in names)
    return body


def mxnet_verdict(path):
    try:
        loaded = mx.nd.load(str(path))
        items = loaded.items() if isinstance(loaded, dict) else enumerate(loaded)
        return {"status": "loaded", "arrays": [[k, list(v.shape), np.dtype(v.dtype).name] for k, v in items]}
    except Exception as e:  # MXNetError and friends: record the first line
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        return {"status": "error", "message": f"{type(e).__name__}: {lines[-1][:200] if lines else ''}"}


# ---- the files ------------------------------------------------------------------------------------

def vgg_params(rng, head):
    widths = [4, 8, 8, 16, 16]
    out, c = {}, 3
    for block, convs in enumerate([2, 2, 3, 3, 3]):
        for k in range(1, convs + 1):
            w = widths[block]
            out[f"arg:conv{block + 1}_{k}_weight"] = rng.normal(0, 0.1, (w, c, 3, 3))
            out[f"arg:conv{block + 1}_{k}_bias"] = rng.normal(0, 0.01, (w,))
            c = w
    if head == "rpn":
        out |= {"arg:rpn_conv_3x3_weight": rng.normal(0, 0.01, (16, 16, 3, 3)), "arg:rpn_conv_3x3_bias": np.zeros(16),
                "arg:rpn_cls_score_weight": rng.normal(0, 0.01, (18, 16, 1, 1)), "arg:rpn_cls_score_bias": np.zeros(18),
                "arg:rpn_bbox_pred_weight": rng.normal(0, 0.01, (36, 16, 1, 1)), "arg:rpn_bbox_pred_bias": np.zeros(36)}
    else:
        out |= {"arg:fc6_weight": rng.normal(0, 0.05, (32, 784)), "arg:fc6_bias": rng.normal(0, 0.01, (32,)),
                "arg:fc7_weight": rng.normal(0, 0.1, (32, 32)), "arg:fc7_bias": rng.normal(0, 0.01, (32,)),
                "arg:cls_score_weight": rng.normal(0, 0.01, (4, 32)), "arg:cls_score_bias": np.zeros(4),
                "arg:bbox_pred_weight": rng.normal(0, 0.001, (16, 32)), "arg:bbox_pred_bias": np.zeros(16)}
    return {k: mx.nd.array(v.astype(np.float32)) for k, v in out.items()}


def resnet_params(rng):
    args, auxs = {}, {}

    def bn(name, c):
        args[f"arg:{name}_gamma"] = rng.uniform(0.5, 1.5, c)
        args[f"arg:{name}_beta"] = rng.normal(0, 0.1, c)
        auxs[f"aux:{name}_moving_mean"] = rng.normal(0, 0.1, c)
        auxs[f"aux:{name}_moving_var"] = rng.uniform(0.5, 1.5, c)

    bn("bn_data", 3)
    args["arg:conv0_weight"] = rng.normal(0, 0.1, (4, 3, 3, 3))
    c = 4
    for stage, w in ((1, 4), (2, 8)):
        p = f"stage{stage}_unit1"
        bn(f"{p}_bn1", c)
        args[f"arg:{p}_conv1_weight"] = rng.normal(0, 0.1, (w, c, 3, 3))
        bn(f"{p}_bn2", w)
        args[f"arg:{p}_conv2_weight"] = rng.normal(0, 0.1, (w, w, 3, 3))
        args[f"arg:{p}_sc_weight"] = rng.normal(0, 0.1, (w, c, 1, 1))
        c = w
    bn("bn1", 8)
    args["arg:fc1_weight"] = rng.normal(0, 0.1, (4, 8))
    args["arg:fc1_bias"] = np.zeros(4)
    return {k: mx.nd.array(v.astype(np.float32)) for k, v in (args | auxs).items()}


def keras_file(path, vlen, rng):
    layers = {"conv2d": {"kernel:0": (3, 3, 3, 4), "bias:0": (4,)},
              "batch_normalization": {"gamma:0": (4,), "beta:0": (4,), "moving_mean:0": (4,), "moving_variance:0": (4,)},
              "max_pooling2d": {}, "flatten": {}, "dense": {"kernel:0": (64, 5), "bias:0": (5,)}}
    strings = (lambda xs: np.array(xs, dtype=h5py.string_dtype())) if vlen else (lambda xs: np.array([x.encode() for x in xs]))
    entries = []
    with h5py.File(path, "w", track_order=False) as f:
        f.attrs["layer_names"] = strings(list(layers)) if vlen else np.array([n.encode() for n in layers])
        f.attrs["backend"] = "tensorflow" if vlen else b"tensorflow"
        f.attrs["keras_version"] = "2.4.0" if vlen else b"2.2.4"
        for layer in sorted(layers):
            g = f.create_group(layer)
            names = [f"{layer}/{w}" for w in layers[layer]]
            g.attrs["weight_names"] = strings(names) if names else np.zeros((0,), np.float64)
        for layer, weights in layers.items():
            for w, shape in weights.items():
                value = (rng.uniform(0.5, 1.5, shape) if "variance" in w else rng.normal(0, 0.1, shape)).astype(np.float32)
                f[layer].create_dataset(f"{layer}/{w}", data=value)
                entries.append(entry(f"/{layer}/{layer}/{w}", "float32", value, layer=layer, weight_name=f"{layer}/{w}"))
    return entries


def make_fixtures(out):
    out.mkdir(parents=True, exist_ok=True)
    files, corrupt, quirks = {}, {}, {}

    def saved(name, data, description):
        path = out / name
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            mx.nd.save(str(path), data)
        files[name] = {"size": path.stat().st_size, "description": description, "arrays": mx_entries(path)}
        return path

    rpn = vgg_params(np.random.RandomState(1), "rpn")
    rcnn = vgg_params(np.random.RandomState(2), "rcnn")
    saved("tiny_vgg_rpn-0001.params", rpn, "tiny VGG16-layout RPN checkpoint (conv1_1..conv5_3 + rpn_*), seed 1")
    saved("tiny_vgg_rcnn-0001.params", rcnn, "tiny VGG16-layout R-CNN checkpoint (same backbone names, other values; fc6/fc7/cls_score/bbox_pred, 4 classes), seed 2")
    combined = dict(rpn)
    combined.update({k: v for k, v in rcnn.items() if k not in rpn})
    saved("combined_expected-0000.params", combined, "combine_model(tiny_vgg_rpn-0001, tiny_vgg_rcnn-0001): union of keys, the first input wins")
    saved("tiny_resnet-0000.params", resnet_params(np.random.RandomState(3)), "tiny ResNet with BatchNorm: gamma/beta arg:, moving_mean/moving_var aux:")

    rng = np.random.RandomState(4)
    special = np.array([np.nan, np.inf, -np.inf, -0.0, 1e-40, -1e-40, 3.4e38, 1.0, -1.0, 0.0], np.float32)
    dtypes = {
        "f32_4d": mx.nd.array(rng.standard_normal((2, 3, 2, 2)).astype(np.float32)),
        "f64": mx.nd.array(rng.standard_normal((3, 4)), dtype="float64"),
        "f16": mx.nd.array(rng.standard_normal(5).astype(np.float16), dtype="float16"),
        "u8": mx.nd.array(rng.randint(0, 256, (2, 5)), dtype="uint8"),
        "i8": mx.nd.array(rng.randint(-128, 128, 7), dtype="int8"),
        "i32": mx.nd.array(rng.randint(-2**31, 2**31 - 1, (2, 3)), dtype="int32"),
        "i64": mx.nd.array(rng.randint(-2**40, 2**40, 5), dtype="int64"),
        "bool": mx.nd.array(rng.rand(2, 3) > 0.5, dtype="bool"),
        "bf16": mx.nd.array(np.array([1.0, -2.0, 0.1, 3.14159, 65504.0, -1e-3], np.float32)).astype(BF16),
        "one_f32": mx.nd.array(np.array([2.5], np.float32)),
        "f32_6d": mx.nd.array(rng.standard_normal((2,) * 6).astype(np.float32)),
        "f32_special": mx.nd.array(special),
    }
    saved("dtypes.params", dtypes, "one V2 array per dtype MXNet saves (flags 0-7 and 12), a 1-element, a 6-d and a NaN/Inf/denormal array")
    with mx.util.np_shape(True):
        path = out / "np_shape.params"
        mx.nd.save(str(path), {"scalar_f32": mx.nd.array(np.float32(1.5)), "scalar_i64": mx.nd.array(np.int64(7), dtype="int64"),
                               "empty_f32": mx.nd.zeros((0,)), "empty_2x0x3_i32": mx.nd.zeros((2, 0, 3), dtype="int32"),
                               "one_f64": mx.nd.array([0.25], dtype="float64"), "f16_2x2": mx.nd.array([[1, 2], [3, 4]], dtype="float16")})
        files["np_shape.params"] = {"size": path.stat().st_size, "description": "written under numpy-shape semantics (V3 records)",
                                    "arrays": mx_entries(path)}
    saved("list.params", [mx.nd.array(rng.standard_normal((2, 3)).astype(np.float32)), mx.nd.array([1, 2, 3], dtype="int64"),
                          mx.nd.array([[9]], dtype="uint8")], "mx.nd.save of a list: no names")
    saved("empty.params", {}, "mx.nd.save({})")
    dense = np.array([[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 4, 0]], np.float32)
    saved("sparse.params", {"dense": mx.nd.array(dense), "csr": mx.nd.array(dense).tostype("csr"),
                            "row_sparse": mx.nd.array(dense).tostype("row_sparse")}, "the same 3x4 matrix as dense, csr and row_sparse")
    m = np.array([[1, 2], [3, 4]], np.float32)
    saved("legacy_v1.params", params_file([record(m, magic=V1)], ["v1"]), "V1 record (no storage type, int32 ndim + int64 dims)")
    saved("legacy_v0.params", params_file([record(m, magic=0)], ["v0"]), "pre-V1 record: no magic, uint32 ndim and dims")
    saved("gpu_context.params", params_file([record(m, ctx=(2, 1))], ["gpu"]), "V2 record whose context says gpu(1)")

    # HDF5 and safetensors copies of the RPN checkpoint, Keras-style weights.
    arrays = {k: v.asnumpy() for k, v in rpn.items()}
    with h5py.File(out / "tiny_vgg_rpn.h5", "w") as f:
        g, f_aux = f.create_group("arg"), f.create_group("aux")
        del f_aux
        for k, v in arrays.items():
            g.create_dataset(k.split(":", 1)[1], data=v)
    files["tiny_vgg_rpn.h5"] = {"size": (out / "tiny_vgg_rpn.h5").stat().st_size, "description": "tiny_vgg_rpn-0001 values, /arg and /aux groups (h5py)",
                                "arrays": [entry("/arg/" + k.split(":", 1)[1], "float32", v) for k, v in sorted(arrays.items())]}
    save_file(arrays, str(out / "tiny_vgg_rpn.safetensors"), metadata={"source": "tiny_vgg_rpn-0001.params"})
    files["tiny_vgg_rpn.safetensors"] = {"size": (out / "tiny_vgg_rpn.safetensors").stat().st_size, "description": "tiny_vgg_rpn-0001 values, keys arg:NAME",
                                         "arrays": [entry(k, "float32", v) for k, v in sorted(arrays.items())]}
    for name, vlen in (("keras_style.h5", False), ("keras_style_vlen.h5", True)):
        entries = keras_file(out / name, vlen, np.random.RandomState(5))
        files[name] = {"size": (out / name).stat().st_size, "description": "Keras 2 style weights (" + ("vlen" if vlen else "fixed-length") + " strings)",
                       "arrays": entries}

    # Damaged files, and quirks MXNet accepts.
    a, b, c = np.arange(2, dtype=np.float32), np.arange(3, dtype=np.float32), np.arange(4, dtype=np.float32)
    two = params_file([record(a), record(b)], ["a", "b"])
    rpn_bytes = (out / "tiny_vgg_rpn-0001.params").read_bytes()
    # header 24 bytes; array 1 (4,3,3,3): 56 + 432; array 2 (4,): 32 + 16; array 3's data starts at 616
    third_data = 24 + (56 + 432) + (32 + 16) + 56
    damaged = {
        "truncated.params": (rpn_bytes[:third_data + 300], "tiny_vgg_rpn-0001.params cut inside the data of array 3"),
        "truncated_in_names.params": (two[:-1], "a valid 2-array file without the last byte of the last name"),
        "bad_magic.params": (params_file([record(a), record(b)], ["a", "b"], list_magic=0x113), "list magic 0x113 instead of 0x112"),
        "names_count_mismatch.params": (params_file([record(a), record(b), record(c)], ["a", "b"]), "3 arrays, 2 names"),
        "huge_shape.params": (params_file([record(np.zeros(4, np.float32), dims=[2**20, 2**20])], ["huge"]),
                              "float32 shape (2^20, 2^20) = 2^40 elements followed by 16 bytes"),
        "overflow_shape.params": (params_file([record(np.zeros(0, np.float32), dims=[2**32, 2**32])], ["ovf"]),
                                  "float32 shape (2^32, 2^32): the element count wraps to 0 in int64"),
        "negative_dim.params": (params_file([record(np.zeros(6, np.float32), dims=[2, -3])], ["neg"]), "shape (2, -3)"),
        "bad_dtype.params": (params_file([record(a, flag=99)], ["x"]), "dtype flag 99"),
        "bad_array_magic.params": (params_file([record(a, magic=0xDEADBEEF)], ["x"]), "array magic 0xDEADBEEF"),
    }
    for name, (data, description) in damaged.items():
        (out / name).write_bytes(data)
        corrupt[name] = {"size": len(data), "description": description, "reader_should": "reject", "mxnet_1_9_1": mxnet_verdict(out / name)}
    zero_d = out / "legacy_0d_unloadable.params"
    mx.nd.save(str(zero_d), {"s": mx.nd.array(np.float32(2.0))})
    corrupt[zero_d.name] = {"size": zero_d.stat().st_size, "description": "a real classic-mode mx.nd.save of a 0-d array",
                            "reader_should": "reject", "mxnet_1_9_1": mxnet_verdict(zero_d)}
    for name, data, description in (
            ("trailing_garbage.params", two + b"\x00junk\x00\x00\x00", "a valid 2-array file + 8 bytes after the names"),
            ("reserved_nonzero.params", two[:8] + struct.pack("<Q", 7) + two[16:], "reserved word (bytes 8..15) = 7"),
            ("duplicate_names.params", params_file([record(a), record(b)], ["a", "a"]), "two arrays named a")):
        (out / name).write_bytes(data)
        quirks[name] = {"size": len(data), "description": description, "mxnet_1_9_1": mxnet_verdict(out / name)}

    expected = {"about": "Fixtures written by tools/make_fixtures.py", "versions": {
        "mxnet": mx.__version__, "numpy": np.__version__, "h5py": h5py.version.version, "hdf5": h5py.version.hdf5_version},
        "files": files, "corrupt": corrupt, "quirks": quirks}
    (out / "expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
    return expected


# ---- golden/ops.h5 --------------------------------------------------------------------------------

def attrs_of(group, values):
    for k, v in values.items():
        if isinstance(v, str):
            group.attrs[k] = np.bytes_(v)
        elif isinstance(v, bool):
            group.attrs[k] = np.int64(v)
        elif isinstance(v, int):
            group.attrs[k] = np.int64(v)
        elif isinstance(v, float):
            group.attrs[k] = np.float64(v)
        else:
            v = np.asarray(v)
            group.attrs[k] = v.astype(np.float64 if v.dtype.kind == "f" else np.int64)


def with_grad(fn, inputs, head_grad):
    nds = {k: mx.nd.array(v, dtype=v.dtype) for k, v in inputs.items()}
    for v in nds.values():
        v.attach_grad()
    with mx.autograd.record():
        y = fn(**nds)
    y.backward(mx.nd.array(head_grad))
    return y.asnumpy(), {k: v.grad.asnumpy() for k, v in nds.items()}


def make_golden(path):
    rs = np.random.RandomState(0)
    f32 = lambda *shape: rs.standard_normal(shape).astype(np.float32)
    with h5py.File(path, "w") as f:
        attrs_of(f, {"mxnet_version": mx.__version__, "seed": 0, "generator": "tools/make_fixtures.py", "device": "cpu"})

        def case(name, op, params, data, call):
            g = f.create_group(name)
            attrs_of(g, {"op": op, "call": call, **params})
            for k, v in data.items():
                g.create_dataset(k, data=v)

        for name, k, s, p, n, no_bias, shape in (("conv2d_s1p1", 3, 1, 1, 5, False, (2, 3, 9, 11)), ("conv2d_s2p0_odd", 3, 2, 0, 6, False, (1, 4, 11, 13)),
                                                 ("conv2d_1x1", 1, 1, 0, 4, False, (2, 8, 5, 7)), ("conv2d_nobias", 3, 1, 1, 4, True, (1, 3, 8, 8)),
                                                 ("conv2d_s1p1_c16", 3, 1, 1, 16, False, (1, 16, 12, 10))):
            x, w = f32(*shape), f32(n, shape[1], k, k) * 0.3
            inputs = {"data": x, "weight": w} | ({} if no_bias else {"bias": f32(n)})
            kw = dict(kernel=(k, k), stride=(s, s), pad=(p, p), num_filter=n, no_bias=no_bias)
            out_shape = (shape[0], n, (shape[2] + 2 * p - k) // s + 1, (shape[3] + 2 * p - k) // s + 1)
            hg = f32(*out_shape)
            y, grads = with_grad(lambda **a: mx.nd.Convolution(**a, **kw), inputs, hg)
            case(name, "Convolution", dict(kernel=[k, k], stride=[s, s], pad=[p, p], dilate=[1, 1], num_filter=n, num_group=1,
                                           no_bias=no_bias, layout="NCHW"),
                 inputs | {"output": y, "head_grad": hg} | {f"grad_{a}": g for a, g in grads.items()}, f"mx.nd.Convolution(**inputs, {kw})")
        for name, shape, n in (("fc_2d", (4, 10), 6), ("fc_flatten4d", (2, 3, 4, 5), 7)):
            inputs = {"data": f32(*shape), "weight": f32(n, int(np.prod(shape[1:]))), "bias": f32(n)}
            hg = f32(shape[0], n)
            y, grads = with_grad(lambda **a: mx.nd.FullyConnected(**a, num_hidden=n, flatten=True), inputs, hg)
            case(name, "FullyConnected", dict(num_hidden=n, flatten=True, no_bias=False),
                 inputs | {"output": y, "head_grad": hg} | {f"grad_{a}": g for a, g in grads.items()}, f"mx.nd.FullyConnected(num_hidden={n})")
        for name, shape in (("pool_max_even", (2, 3, 8, 10)), ("pool_max_odd", (1, 3, 9, 11))):
            x = f32(*shape)
            hg = f32(shape[0], shape[1], shape[2] // 2, shape[3] // 2)
            y, grads = with_grad(lambda **a: mx.nd.Pooling(**a, kernel=(2, 2), stride=(2, 2), pool_type="max"), {"data": x}, hg)
            case(name, "Pooling", dict(kernel=[2, 2], stride=[2, 2], pad=[0, 0], pool_type="max", pooling_convention="valid"),
                 {"data": x, "output": y, "head_grad": hg, "grad_data": grads["data"]}, "mx.nd.Pooling(kernel=(2,2), stride=(2,2), pool_type='max')")
        x = f32(2, 3, 5, 7)
        x.flat[rs.choice(x.size, 8, replace=False)] = 0.0
        hg = f32(2, 3, 5, 7)
        y, grads = with_grad(lambda **a: mx.nd.Activation(**a, act_type="relu"), {"data": x}, hg)
        case("relu", "Activation", dict(act_type="relu"), {"data": x, "output": y, "head_grad": hg, "grad_data": grads["data"]},
             "mx.nd.Activation(data, act_type='relu')")
        for name, pooled, scale, shape in (("roipool_p3_s4", 3, 0.25, (2, 4, 12, 14)), ("roipool_p7_s16", 7, 0.0625, (2, 3, 10, 12))):
            data = f32(*shape)
            size = shape[2] / scale
            x1, y1 = rs.uniform(0, size * 0.6, 13), rs.uniform(0, size * 0.6, 13)
            rois = np.stack([rs.randint(0, 2, 13), x1, y1, x1 + rs.uniform(1, size * 0.5, 13), y1 + rs.uniform(1, size * 0.5, 13)], 1).astype(np.float32)
            hg = f32(13, shape[1], pooled, pooled)
            nd_data, nd_rois = mx.nd.array(data), mx.nd.array(rois)
            nd_data.attach_grad()
            out, maxidx = mx.nd.zeros((13, shape[1], pooled, pooled)), mx.nd.zeros((13, shape[1], pooled, pooled), dtype="int32")
            with mx.autograd.record():
                y = mx.nd.ROIPooling(nd_data, nd_rois, pooled_size=(pooled, pooled), spatial_scale=scale)
            y.backward(mx.nd.array(hg))
            mx.nd.ROIPooling(nd_data, nd_rois, pooled_size=(pooled, pooled), spatial_scale=scale, out=[out, maxidx])
            case(name, "ROIPooling", dict(pooled_size=[pooled, pooled], spatial_scale=scale),
                 {"data": data, "rois": rois, "output": y.asnumpy(), "head_grad": hg, "maxidx": maxidx.asnumpy().astype(np.int32),
                  "grad_data": nd_data.grad.asnumpy()}, f"mx.nd.ROIPooling(pooled_size=({pooled}, {pooled}), spatial_scale={scale})")
        for name, a, h, w, all_ignored in (("softmax_rpn_valid", 9, 4, 5, False), ("softmax_rpn_all_ignored", 3, 2, 2, True)):
            data = f32(1, 2, a * h, w)
            label = np.full((1, a * h * w), -1.0, np.float32) if all_ignored else rs.choice([-1.0, 0.0, 1.0], (1, a * h * w)).astype(np.float32)
            kw = dict(multi_output=True, use_ignore=True, ignore_label=-1, normalization="valid")
            hg = f32(*data.shape)
            y, grads = with_grad(lambda **q: mx.nd.SoftmaxOutput(q["data"], q["label"], **kw), {"data": data, "label": label}, hg)
            case(name, "SoftmaxOutput", dict(multi_output=True, use_ignore=True, ignore_label=-1.0, normalization="valid", grad_scale=1.0,
                                             num_anchors=a, feat_height=h, feat_width=w, num_valid=int((label >= 0).sum())),
                 {"data": data, "label": label, "output": y, "head_grad": hg, "grad_data": grads["data"]}, f"mx.nd.SoftmaxOutput({kw})")
        for name, n, c, scale in (("softmax_rcnn_batch", 8, 5, 1.0), ("softmax_rcnn_gradscale", 6, 4, 0.01)):
            data, label = f32(n, c), rs.randint(0, c, n).astype(np.float32)
            hg = f32(n, c)
            y, grads = with_grad(lambda **q: mx.nd.SoftmaxOutput(q["data"], q["label"], normalization="batch", grad_scale=scale),
                                 {"data": data, "label": label}, hg)
            case(name, "SoftmaxOutput", dict(multi_output=False, use_ignore=False, normalization="batch", grad_scale=scale),
                 {"data": data, "label": label, "output": y, "head_grad": hg, "grad_data": grads["data"]},
                 f"mx.nd.SoftmaxOutput(normalization='batch', grad_scale={scale})")
        for name, sigma in (("smooth_l1_s1", 1.0), ("smooth_l1_s3", 3.0)):
            x = (rs.standard_normal(40) * 1.5).astype(np.float32)
            hg = f32(40)
            y, grads = with_grad(lambda **q: mx.nd.smooth_l1(q["data"], scalar=sigma), {"data": x}, hg)
            case(name, "smooth_l1", dict(scalar=sigma), {"data": x, "output": y, "head_grad": hg, "grad_data": grads["data"]},
                 f"mx.nd.smooth_l1(data, scalar={sigma})")
        for name, shape, sigma, scale in (("rpn_bbox_loss", (1, 36, 4, 5), 3.0, 1 / 256), ("rcnn_bbox_loss", (8, 20), 1.0, 1 / 128)):
            pred, target = f32(*shape), f32(*shape)
            weight = (rs.rand(*shape) > 0.5).astype(np.float32)
            hg = f32(*shape)
            y, grads = with_grad(lambda **q: mx.nd.MakeLoss(q["bbox_weight"] * mx.nd.smooth_l1(q["pred"] - q["target"], scalar=sigma), grad_scale=scale),
                                 {"pred": pred, "target": target, "bbox_weight": weight}, hg)
            case(name, "MakeLoss", dict(scalar=sigma, grad_scale=scale, normalization="null"),
                 {"pred": pred, "target": target, "bbox_weight": weight, "output": y, "head_grad": hg, "grad_pred": grads["pred"]},
                 f"mx.nd.MakeLoss(bbox_weight * mx.nd.smooth_l1(pred - target, scalar={sigma}), grad_scale={scale})")
        for name, shape, wd, rescale in (("sgd_mom_weight", (6, 5), 0.0005, 1.0), ("sgd_mom_bias", (6,), 0.0, 0.5)):
            w0, m0 = f32(*shape), f32(*shape) * 0.1
            grads = np.stack([f32(*shape) * 3 for _ in range(4)])
            w, m = mx.nd.array(w0), mx.nd.array(m0)
            ws, ms = [], []
            for g in grads:
                mx.nd.sgd_mom_update(w, mx.nd.array(g), m, lr=0.01, momentum=0.9, wd=wd, rescale_grad=rescale, clip_gradient=5.0, out=w)
                ws.append(w.asnumpy())
                ms.append(m.asnumpy())
            case(name, "sgd_mom_update", dict(lr=0.01, momentum=0.9, wd=wd, rescale_grad=rescale, clip_gradient=5.0, steps=4),
                 {"weight_init": w0, "mom_init": m0, "grads": grads, "weights": np.stack(ws), "moms": np.stack(ms)},
                 "mx.nd.sgd_mom_update(weight, grad, mom, ..., out=weight)  # per step")
        names = {0: "fc6_weight", 1: "fc6_bias"}
        init = {"fc6_weight": f32(4, 6), "fc6_bias": f32(4)}
        opt = mx.optimizer.SGD(learning_rate=0.01, momentum=0.9, wd=0.0005, clip_gradient=5, rescale_grad=1.0,
                               lr_scheduler=mx.lr_scheduler.MultiFactorScheduler(step=[2], factor=0.1), param_idx2name=names)
        upd = mx.optimizer.get_updater(opt)
        weights = {k: mx.nd.array(v) for k, v in init.items()}
        data = {f"{k}_init": v for k, v in init.items()}
        history = {k: ([], [], []) for k in init}
        lrs = []
        for _ in range(4):
            grads = {k: f32(*v.shape) * 2 for k, v in init.items()}
            upd([0, 1], [mx.nd.array(grads[names[i]]) for i in (0, 1)], [weights[names[i]] for i in (0, 1)])
            lrs.append(opt._get_lr(0))
            for k in init:
                history[k][0].append(grads[k])
                history[k][1].append(weights[k].asnumpy())
                history[k][2].append(upd.states[0 if k == "fc6_weight" else 1].asnumpy())
        for k, (g, w, m) in history.items():
            data |= {f"{k}_grads": np.stack(g), f"{k}_weights": np.stack(w), f"{k}_moms": np.stack(m)}
        data["lrs"] = np.array(lrs, np.float64)
        case("sgd_optimizer_module", "mx.optimizer.SGD", dict(learning_rate=0.01, momentum=0.9, wd=0.0005, clip_gradient=5.0, rescale_grad=1.0,
                                                              lr_steps=[2], lr_factor=0.1, steps=4, wd_fc6_weight=opt._get_wd(0),
                                                              wd_fc6_bias=opt._get_wd(1)),
             data, "mx.optimizer.SGD(...) through mx.optimizer.get_updater, per step")
        sched = mx.lr_scheduler.MultiFactorScheduler(step=[4, 7], factor=0.1, base_lr=0.001)
        num_update = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], np.int64)
        case("lr_multifactor", "mx.lr_scheduler.MultiFactorScheduler", dict(base_lr=0.001, step=[4, 7], factor=0.1),
             {"num_update": num_update, "lr": np.array([sched(int(n)) for n in num_update], np.float64)},
             "MultiFactorScheduler(step=[4, 7], factor=0.1, base_lr=0.001)")
        for name, h, w, scales, pre, post, im in (("proposal_vgg", 14, 18, (8, 16, 32), 6000, 300, (224, 288, 1.0)),
                                                  ("proposal_small_scales", 8, 10, (2, 4, 8), 500, 300, (128, 160, 1.0)),
                                                  ("proposal_scaled_im", 13, 17, (8, 16, 32), 1000, 100, (200, 270, 0.8)),
                                                  ("proposal_padding", 4, 5, (8, 16, 32), 6000, 300, (64, 80, 1.0))):
            logits = rs.standard_normal((1, 2, 9, h, w)).astype(np.float32)
            prob = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
            cls_prob = prob.reshape(1, 18, h, w)
            bbox_pred = (rs.standard_normal((1, 36, h, w)) * 0.2).astype(np.float32)
            im_info = np.array([im], np.float32)
            kw = dict(feature_stride=16, scales=scales, ratios=(0.5, 1, 2), rpn_pre_nms_top_n=pre, rpn_post_nms_top_n=post,
                      threshold=0.7, rpn_min_size=16, output_score=True)
            rois, score = mx.nd.contrib.Proposal(mx.nd.array(cls_prob), mx.nd.array(bbox_pred), mx.nd.array(im_info), **kw)
            case(name, "_contrib_Proposal", dict(feature_stride=16, scales=np.array(scales, np.float64), ratios=np.array([0.5, 1.0, 2.0]),
                                                 rpn_pre_nms_top_n=pre, rpn_post_nms_top_n=post, threshold=0.7, rpn_min_size=16,
                                                 output_score=True, iou_loss=False, num_anchors=9),
                 {"cls_prob": cls_prob, "bbox_pred": bbox_pred, "im_info": im_info, "output": rois.asnumpy(), "score": score.asnumpy()},
                 f"mx.nd.contrib.Proposal(cls_prob, bbox_pred, im_info, {kw})")


def main():
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "fixtures")
    expected = make_fixtures(out)
    (out / "golden").mkdir(exist_ok=True)
    make_golden(out / "golden" / "ops.h5")
    print(f"{out}: {sum(len(expected[k]) for k in ('files', 'corrupt', 'quirks'))} fixture files, expected.json, golden/ops.h5")


if __name__ == "__main__":
    main()
