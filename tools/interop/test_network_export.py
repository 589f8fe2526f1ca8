"""`paramkit network export` writes symbol JSON that MXNet 1.9.1 loads with mx.sym.load and binds
with a ParamKit checkpoint (from `paramkit init`, converted to .params): MXNet's forward pass on it
gives what ParamKit's engine gives on the same symbol, inputs and weights. `network show --json`
lists exactly the tensors `init` writes for the same network."""
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

mx = pytest.importorskip("mxnet")

REPO = Path(__file__).resolve().parents[2]
BENCH_BIN = Path(os.environ.get("PARAMKIT_BENCH_BIN", REPO / ".build/release/ParamKitBench"))


@pytest.mark.parametrize("network,graph", [("tiny-vgg", "test"), ("tiny-resnet", "test"), ("tiny-resnet", "rcnn"),
                                           ("tiny-inception", "test"), ("tiny-inception", "rcnn")])
def test_exported_symbol_runs_in_mxnet_as_in_paramkit(paramkit, tmp_path, network, graph):
    init, params = tmp_path / "init.h5", tmp_path / "init-0000.params"
    paramkit("init", "--network", network, "--pretrained", "none", "--classes", "4", "--seed", "3", "-o", init)
    paramkit("convert", init, params)
    symbol_file = tmp_path / "net-symbol.json"
    paramkit("network", "export", network, "--graph", graph, "--classes", "4", "-o", symbol_file)
    sym = mx.sym.load(str(symbol_file))

    weights = mx.nd.load(str(params))
    rng = np.random.default_rng(5)
    h, w = 64, 96
    feed = {"data": rng.normal(0, 1, size=(1, 3, h, w)).astype(np.float32)}
    if "rois" in sym.list_arguments():
        x = np.sort(rng.uniform(0, w - 1, size=(6, 2)), axis=1)
        y = np.sort(rng.uniform(0, h - 1, size=(6, 2)), axis=1)
        feed["rois"] = np.stack([np.zeros(6), x[:, 0], y[:, 0], x[:, 1], y[:, 1]], axis=1).astype(np.float32)
    labels = {}
    if graph == "rcnn":
        labels = {"label": np.array([1, 0, 2, 0, 0, 3], dtype=np.float32),
                  "bbox_target": rng.normal(0, 1, size=(6, 16)).astype(np.float32),
                  "bbox_weight": np.ones((6, 16), dtype=np.float32)}
    args = {k[4:]: v for k, v in weights.items() if k.startswith("arg:") and k[4:] in sym.list_arguments()}
    aux = {k[4:]: v for k, v in weights.items() if k.startswith("aux:")}
    assert set(aux) == set(sym.list_auxiliary_states()), "aux states the symbol and the checkpoint disagree on"
    missing = set(sym.list_arguments()) - set(args) - set(feed) - set(labels) - {n for n in sym.list_arguments() if n.endswith("_label")}
    assert not missing, f"symbol arguments the checkpoint does not have: {sorted(missing)}"
    shapes = {k: v.shape for k, v in {**feed, **labels}.items()}
    ex = sym.simple_bind(mx.cpu(), grad_req="null", **shapes)
    for k, v in {**args, **{k: mx.nd.array(v) for k, v in {**feed, **labels}.items()}}.items():
        ex.arg_dict[k][:] = v
    for k, v in aux.items():
        ex.aux_dict[k][:] = v
    ex.forward(is_train=False)
    theirs = dict(zip(sym.list_outputs(), (o.asnumpy() for o in ex.outputs)))

    given = {"arg:" + k: mx.nd.array(v) for k, v in {**feed, **labels}.items()}
    given.update({"arg:" + k: v for k, v in args.items()})
    given.update({"aux:" + k: v for k, v in aux.items()})
    mx.nd.save(str(tmp_path / "in.params"), given)
    proc = subprocess.run([str(BENCH_BIN), "graph-check", str(symbol_file), str(tmp_path / "in.params"),
                           str(tmp_path / "out.params"), "--inference"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    mine = {k[len("arg:out."):]: v.asnumpy() for k, v in mx.nd.load(str(tmp_path / "out.params")).items() if k.startswith("arg:out.")}
    assert len(mine) == len(theirs) >= 2
    for name, value in theirs.items():
        got = mine[name[: -len("_output")]]
        scale = max(float(np.abs(value).max()), 1e-6)
        assert got.shape == value.shape and float(np.abs(got - value).max()) <= 1e-4 * scale, (
            f"{name}: max|Δ| {float(np.abs(got - value).max()):.3g} of {scale:.3g}")


@pytest.mark.parametrize("network", ["tiny-vgg", "tiny-resnet", "resnet-101", "tiny-inception", "inception-v3"])
def test_show_lists_the_tensors_init_writes(paramkit, tmp_path, network):
    import jsonschema
    from cases import SCHEMAS
    text = paramkit("network", "show", network, "--graph", "test", "--input", "224x320", "--json").stdout
    jsonschema.validate(json.loads(text), json.loads((SCHEMAS / "network-show.schema.json").read_text()))
    shown = json.loads(text)
    listed = {(t["role"], t["name"]): t["shape"] for t in shown["tensors"]}
    plan = json.loads(paramkit("init", "--network", network, "--pretrained", "none", "--dry-run", "--json").stdout)
    planned = {(t["role"], t["name"]): t["shape"] for t in plan["plan"]}
    assert listed == planned
    assert shown["parameters"] == sum(int(np.prod(s)) for (role, _), s in planned.items() if role == "arg")
    assert shown["gflops"] > 0 and all(layer["output_shape"] for layer in shown["layers"])


def test_show_and_export_refuse_bad_input(paramkit, tmp_path):
    for args, what in [(["network", "show", "resnet-7"], "unknown network"), (["network", "show", "tiny-vgg", "--input", "12"], "HxW"),
                       (["network", "show", "tiny-vgg", "--input", "8x8"], "does not fit"),
                       (["network", "export", "tiny-vgg", "--graph", "nope", "-o", str(tmp_path / "s.json")], "--graph")]:
        proc = paramkit(*args, expect=2)
        assert what in proc.stderr, proc.stderr
    assert not (tmp_path / "s.json").exists()


USER_VGG = "family: vgg\nchannels: [16, 32, 64, 64, 64]\nfc: 256\nclasses: 4\n"


def test_a_network_file_of_the_users_widths_works_where_a_name_does(paramkit, tmp_path):
    import jsonschema
    import yaml
    from cases import SCHEMAS
    net = tmp_path / "my-vgg.yaml"
    net.write_text(USER_VGG)
    jsonschema.validate(yaml.safe_load(USER_VGG), json.loads((SCHEMAS / "network.schema.json").read_text()))
    shown = json.loads(paramkit("network", "show", net, "--input", "224x300", "--json").stdout)
    assert shown["network"] == "my-vgg"
    tensors = {t["name"]: t["shape"] for t in shown["tensors"]}
    assert tensors["conv3_3_weight"] == [64, 64, 3, 3] and tensors["fc6_weight"] == [256, 64 * 7 * 7]
    assert tensors["cls_score_weight"] == [4, 256] and tensors["rpn_conv_3x3_weight"] == [64, 64, 3, 3]
    plan = json.loads(paramkit("init", "--network", net, "--pretrained", "none", "--dry-run", "--json").stdout)
    assert {t["name"]: t["shape"] for t in plan["plan"]} == tensors


def test_infer_writes_the_file_of_a_checkpoint(paramkit, tmp_path, fixture_file):
    import yaml
    init = tmp_path / "init.h5"
    paramkit("init", "--network", "tiny-resnet", "--pretrained", "none", "--classes", "5", "-o", init)
    out = tmp_path / "net.yaml"
    paramkit("network", "infer", init, "-o", out)
    got = yaml.safe_load(out.read_text())
    assert got == {"family": "resnet", "name": "net", "stem": 4, "filters": [8, 16, 32, 64], "units": [3, 4, 23, 3], "rpn": 16,
                   "classes": 5, "anchors": 9}
    # MXNet-written VGG checkpoints: the R-CNN one has every head; the RPN one has no fc6/cls_score, so fc
    # and classes are the reference's and said so.
    for name, fc, assumed in [("tiny_vgg_rcnn-0001.params", 32, False), ("tiny_vgg_rpn-0001.params", 4096, True)]:
        proc = paramkit("network", "infer", fixture_file(name), "-o", tmp_path / "v.yaml")
        got = yaml.safe_load((tmp_path / "v.yaml").read_text())
        assert got["family"] == "vgg" and got["channels"] == [4, 8, 8, 16, 16] and got["fc"] == fc
        assert ("assumed fc 4096" in proc.stderr) == assumed, proc.stderr
        shown = json.loads(paramkit("network", "show", tmp_path / "v.yaml", "--json").stdout)
        listed = {t["name"]: t["shape"] for t in shown["tensors"]}
        ckpt = {k[4:]: list(v.shape) for k, v in mx.nd.load(str(fixture_file(name))).items() if not k.endswith("_test")}
        assert all(listed[k] == s for k, s in ckpt.items())


def test_bad_network_files_and_checkpoints_that_fit_no_family(paramkit, tmp_path, sample_params):
    cases = [("family: alexnet\n", "family"), ("family: vgg\nchannels: [1, 2, 3, 4]\nfc: 8\n", "channels: must have 5 entries"),
             ("family: vgg\nchannels: [1, 2, 3, 4, 5]\nfc: 8\nunits: [1]\n", "units: not a key"),
             ("family: resnet\nstem: 4\nfilters: [8, 16, 30, 64]\nunits: [1, 1, 1, 1]\nrpn: 8\n", "not a multiple of 4"),
             ("- just a list\n", "not a network file")]
    for text, what in cases:
        f = tmp_path / "bad.yaml"
        f.write_text(text)
        proc = paramkit("network", "show", f, expect=2)
        assert str(f) in proc.stderr and what in proc.stderr, proc.stderr
    proc = paramkit("network", "infer", sample_params, "-o", tmp_path / "x.yaml", expect=2)
    assert str(sample_params) in proc.stderr and ("fits no" in proc.stderr or "no conv1_1_weight" in proc.stderr), proc.stderr
    assert not (tmp_path / "x.yaml").exists()
