"""MXNet 1.9.1's side of the propose and eval bench rows (bench/stages.py): the reference's test
symbols for a VGG-layout network (example/rcnn's get_vgg_rpn_test and get_vgg_test, names as there),
bound for inference with a ParamKit checkpoint converted to .params, run image by image over the
preprocessed images a ParamKit stage dumped (`train rpn --dump-batches DIR`).

    python bench/mx_infer.py --params init.params --dump DIR --mode propose|eval [--images N]
        [--scales 8,16,32] [--pre 20000] [--post 2000] [--nms 0.7] [--min-size 16] [--scale 1.0]

Per image: forward (trunk, RPN head, Proposal; for eval also ROI pooling, fc6/fc7, cls_prob and
bbox_pred) and the outputs copied to host (asnumpy), timed after 2 warm-ups. Nothing after the
network (ParamKit's eval also decodes boxes, runs per-class NMS and computes mAP; its propose writes
the proposals file) and no image reading or resizing, which favours MXNet. Prints one JSON line:
median and mean ms per image and the images timed.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import mxnet as mx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mx_train_step as mts  # noqa: E402

RATIOS = (0.5, 1.0, 2.0)


def widths(params):
    """bench/mx_train_step.py's NETS entry for the VGG widths in `params` (keys without arg:)."""
    return {"blocks": tuple(params[f"conv{b}_1_weight"].shape[0] for b in range(1, 6)),
            "rpn": params["rpn_conv_3x3_weight"].shape[0],
            "fc": params["fc6_weight"].shape[0] if "fc6_weight" in params else 32,
            "classes": params["cls_score_weight"].shape[0] if "cls_score_weight" in params else 4}


def test_symbol(net, mode, a):
    cfg = mts.NETS[net]
    anchors = len(a.scales) * len(RATIOS)
    data, im_info = mx.sym.Variable("data"), mx.sym.Variable("im_info")
    feat = mts.vgg_trunk(mx, net, data)
    rpn = mx.sym.Convolution(data=feat, kernel=(3, 3), pad=(1, 1), num_filter=cfg["rpn"], name="rpn_conv_3x3")
    rpn = mx.sym.Activation(data=rpn, act_type="relu", name="rpn_relu")
    cls_score = mx.sym.Convolution(data=rpn, kernel=(1, 1), num_filter=2 * anchors, name="rpn_cls_score")
    bbox_pred = mx.sym.Convolution(data=rpn, kernel=(1, 1), num_filter=4 * anchors, name="rpn_bbox_pred")
    cls_score = mx.sym.Reshape(data=cls_score, shape=(0, 2, -1, 0), name="rpn_cls_score_reshape")
    cls_prob = mx.sym.SoftmaxActivation(data=cls_score, mode="channel", name="rpn_cls_prob")
    cls_prob = mx.sym.Reshape(data=cls_prob, shape=(0, 2 * anchors, -1, 0), name="rpn_cls_prob_reshape")
    rois = mx.sym.contrib.Proposal(cls_prob=cls_prob, bbox_pred=bbox_pred, im_info=im_info, name="rois",
                                   feature_stride=mts.FEAT_STRIDE, scales=tuple(a.scales), ratios=RATIOS,
                                   rpn_pre_nms_top_n=a.pre, rpn_post_nms_top_n=a.post, threshold=a.nms,
                                   rpn_min_size=a.min_size, output_score=mode == "propose")
    if mode == "propose":
        return rois
    x = mx.sym.ROIPooling(data=feat, rois=rois, pooled_size=(mts.POOLED, mts.POOLED),
                          spatial_scale=1.0 / mts.FEAT_STRIDE, name="roi_pool5")
    x = mx.sym.Flatten(data=x, name="flatten")
    for i in (6, 7):
        x = mx.sym.FullyConnected(data=x, num_hidden=cfg["fc"], name=f"fc{i}")
        x = mx.sym.Activation(data=x, act_type="relu", name=f"relu{i}")
        x = mx.sym.Dropout(data=x, p=0.5, name=f"drop{i}")
    cls_score = mx.sym.FullyConnected(data=x, num_hidden=cfg["classes"], name="cls_score")
    cls_prob = mx.sym.SoftmaxActivation(data=cls_score, name="cls_prob")
    bbox_pred = mx.sym.FullyConnected(data=x, num_hidden=4 * cfg["classes"], name="bbox_pred")
    return mx.sym.Group([rois, cls_prob, bbox_pred])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--params", required=True, help="checkpoint as MXNet .params (arg:/aux: keys)")
    p.add_argument("--dump", required=True, help="a `train rpn --dump-batches` directory (its batches' data)")
    p.add_argument("--mode", choices=("propose", "eval"), required=True)
    p.add_argument("--images", type=int, default=20)
    p.add_argument("--scales", type=lambda s: [float(v) for v in s.split(",")], default=[8.0, 16.0, 32.0])
    p.add_argument("--pre", type=int, default=20000)
    p.add_argument("--post", type=int, default=2000)
    p.add_argument("--nms", type=float, default=0.7)
    p.add_argument("--min-size", type=int, default=16)
    p.add_argument("--scale", type=float, default=1.0, help="im_info's scale (the resize factor)")
    a = p.parse_args()

    loaded = mx.nd.load(a.params)
    params = {k.split(":", 1)[1]: v for k, v in loaded.items() if k.startswith("arg:")}
    mts.NETS["infer"] = widths(params)
    sym = test_symbol("infer", a.mode, a)
    batches = sorted(Path(a.dump).glob("batch-*.params"))[: a.images + 2]
    images = [mx.nd.load(str(b))["data"] for b in batches]
    assert len(images) >= 3, f"{a.dump}: fewer than 3 dumped batches"
    shape = images[0].shape
    mod = mx.mod.Module(sym, data_names=["data", "im_info"], label_names=None, context=mx.cpu())
    mod.bind(data_shapes=[("data", shape), ("im_info", (1, 3))], for_training=False)
    args = {k: v for k, v in params.items() if k in sym.list_arguments()}
    mod.set_params(args, {}, allow_missing=False, allow_extra=False)
    times = []
    for i, image in enumerate(images):
        assert image.shape == shape, f"dumped images differ in shape ({image.shape} vs {shape}); the bench uses one size"
        info = mx.nd.array([[shape[2], shape[3], a.scale]])
        t0 = time.perf_counter()
        mod.forward(mx.io.DataBatch(data=[image, info]), is_train=False)
        outs = [o.asnumpy() for o in mod.get_outputs()]
        if i >= 2:
            times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"median_ms": statistics.median(times), "mean_ms": statistics.mean(times),
                      "images": len(times), "rois": int(outs[0].shape[0])}))


if __name__ == "__main__":
    main()
