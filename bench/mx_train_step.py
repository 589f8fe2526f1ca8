"""Time one training iteration of MXNet example/rcnn's alternate-training symbols (RPN, R-CNN) on CPU.

One iteration = forward(is_train=True), backward(), update(), mx.nd.waitall(), on a Module bound to
mx.cpu() with the train_rpn/train_rcnn optimiser (SGD lr 0.001, momentum 0.9, wd 0.0005,
clip_gradient 5, rescale_grad 1). Layer names follow example/rcnn's symbol_vgg. Prints one JSON
line per stage:

  {"net","stage","height","width","threads","freeze","median_ms","runs_ms","peak_rss_mb",
   "feature_shape", ...}

peak_rss_mb is getrusage(RUSAGE_SELF).ru_maxrss of the stage's own process, so it includes the
~150 MiB that `import mxnet` costs. With --stage both each stage runs in its own child process.

--dump-init DIR writes, for each stage, the initial arg params, the exact input batch, the params
after one iteration from that init, and the outputs + arg gradients of that iteration
(mx.nd.save files; see dump_step). Use --no-dropout to make the R-CNN step deterministic.

--flops-only prints the conv/FC FLOP counts without importing MXNet.

Examples:
  python bench/mx_train_step.py --net tiny-vgg --height 128 --width 128 --iters 3 --threads 1
  python bench/mx_train_step.py --net vgg16 --stage rcnn --threads 2 --breakdown 3
  python bench/mx_train_step.py --net tiny-vgg --height 64 --width 96 --no-dropout --dump-init out/step
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

# Networks: conv channels per VGG block, rpn_conv width, fc6/fc7 width, classes.
NETS = {
    "vgg16": {"blocks": (64, 128, 256, 512, 512), "rpn": 512, "fc": 4096, "classes": 21},
    "tiny-vgg": {"blocks": (4, 8, 8, 16, 16), "rpn": 16, "fc": 32, "classes": 4},
    # ParamKit's `tiny-vgg --width 4`: a mid-size VGG layout.
    "tiny-vgg-w4": {"blocks": (16, 32, 32, 64, 64), "rpn": 64, "fc": 128, "classes": 4},
    # examples/networks/midsize-vgg.yaml: a VGG layout of a user's own widths.
    "midsize-vgg": {"blocks": (16, 32, 64, 64, 64), "rpn": 64, "fc": 256, "classes": 4},
    # The reference's pre-activation ResNet (symbol_resnet.py) and ParamKit's tiny twin of it (same
    # names and unit counts, few channels): stem width, filters per stage, units per stage.
    "resnet-101": {"family": "resnet", "stem": 64, "filters": (256, 512, 1024, 2048), "units": (3, 4, 23, 3),
                   "rpn": 512, "classes": 21},
    "tiny-resnet": {"family": "resnet", "stem": 4, "filters": (8, 16, 32, 64), "units": (3, 4, 23, 3),
                    "rpn": 16, "classes": 4},
    # The fork's Inception-v3 (likelyzhao/mxnet symbol_inceptionv3.py) and ParamKit's tiny twin of it
    # (every width divided by 16, at least 1): "div" divides the fork's widths.
    "inception-v3": {"family": "inception", "div": 1, "rpn": 512, "classes": 21},
    "tiny-inception": {"family": "inception", "div": 16, "rpn": 32, "classes": 4},
}
RESNET_EPS = 2e-5
CONVS_PER_BLOCK = (2, 2, 3, 3, 3)
NUM_ANCHORS = 9
FEAT_STRIDE = 16
POOLED = 7
RPN_BATCH = 256      # TRAIN.RPN_BATCH_SIZE: labelled anchors, also the bbox-loss divisor
RPN_FG = 64          # labelled anchors that are foreground (the rest of RPN_BATCH is background)
RCNN_ROIS = 128      # TRAIN.BATCH_ROIS
RCNN_FG = 32         # round(0.25 * 128)
FREEZE = {
    "FIXED_PARAMS": ("conv1", "conv2"),
    "FIXED_PARAMS_SHARED": ("conv1", "conv2", "conv3", "conv4", "conv5"),
    "none": (),
}
RESNET_FREEZE = {
    "FIXED_PARAMS": ("conv0", "stage1", "gamma", "beta"),
    "FIXED_PARAMS_SHARED": ("conv0", "stage1", "stage2", "stage3", "gamma", "beta"),
    "none": (),
}
# The fork's config.py, network.inceptionv3.
INCEPTION_FREEZE = {
    "FIXED_PARAMS": ("conv_batchnorm", "conv_2_batchnorm", "conv_3_batchnorm", "conv_4_batchnorm"),
    "FIXED_PARAMS_SHARED": ("conv2", "conv1", "conv3", "conv4", "conv5", "beta", "batchnorm"),
    "none": (),
}


def family(net):
    return NETS[net].get("family", "vgg")


def is_resnet(net):
    return family(net) == "resnet"


def freeze_list(net, freeze):
    return {"resnet": RESNET_FREEZE, "inception": INCEPTION_FREEZE}.get(family(net), FREEZE)[freeze]
OPTIMIZER = {"learning_rate": 0.001, "momentum": 0.9, "wd": 0.0005, "clip_gradient": 5.0, "rescale_grad": 1.0}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--net", choices=sorted(NETS), default="vgg16")
    p.add_argument("--stage", choices=("rpn", "rcnn", "both"), default="both")
    p.add_argument("--height", type=int, default=600)
    p.add_argument("--width", type=int, default=1000)
    p.add_argument("--threads", type=int, default=None,
                   help="sets OMP_NUM_THREADS, MXNET_CPU_WORKER_NTHREADS and OPENBLAS_NUM_THREADS "
                        "before mxnet is imported (default: leave the environment alone)")
    p.add_argument("--freeze", choices=sorted(FREEZE), default="FIXED_PARAMS")
    p.add_argument("--iters", type=int, default=5, help="timed iterations (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--breakdown", type=int, default=0, metavar="K",
                   help="K extra iterations with a waitall after each phase: forward/backward/update split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-dropout", action="store_true", help="R-CNN: Dropout layers become identity")
    p.add_argument("--dump-init", metavar="DIR",
                   help="instead of timing, save init params, batch, params after one step, outputs and grads")
    p.add_argument("--dump-internals", action="store_true",
                   help="with --dump-init: also {stage}_internals.params, every ReLU and pooling output "
                        "of the forward pass (act:relu1_1 ... act:pool4, act:roi_pool5)")
    p.add_argument("--flops-only", action="store_true", help="print conv/FC FLOP counts and exit")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------------
# Geometry and FLOPs (pure Python; no MXNet needed)

def conv_layers(net):
    """[(name, out_channels, in_channels)] for conv1_1 .. conv5_3, in order."""
    layers, cin = [], 3
    for b, (width, n) in enumerate(zip(NETS[net]["blocks"], CONVS_PER_BLOCK), start=1):
        for i in range(1, n + 1):
            layers.append((f"conv{b}_{i}", width, cin))
            cin = width
    return layers


def block_sizes(h, w):
    """Spatial size seen by each of the 5 conv blocks (2x2/2 'valid' max pools after blocks 1-4)."""
    sizes = [(h, w)]
    for _ in range(4):
        h, w = h // 2, w // 2
        sizes.append((h, w))
    return sizes


def layer_macs(net, stage, h, w):
    """[(layer name, forward MACs)] in network order."""
    cfg = NETS[net]
    sizes = block_sizes(h, w)
    out = []
    for name, cout, cin in conv_layers(net):
        fh, fw = sizes[int(name[4]) - 1]
        out.append((name, cout * cin * 9 * fh * fw))
    fh, fw = sizes[4]
    c5 = cfg["blocks"][4]
    if stage == "rpn":
        out.append(("rpn_conv_3x3", cfg["rpn"] * c5 * 9 * fh * fw))
        out.append(("rpn_cls_score", 2 * NUM_ANCHORS * cfg["rpn"] * fh * fw))
        out.append(("rpn_bbox_pred", 4 * NUM_ANCHORS * cfg["rpn"] * fh * fw))
    else:
        c = cfg["classes"]
        out.append(("fc6", RCNN_ROIS * c5 * POOLED * POOLED * cfg["fc"]))
        out.append(("fc7", RCNN_ROIS * cfg["fc"] * cfg["fc"]))
        out.append(("cls_score", RCNN_ROIS * cfg["fc"] * c))
        out.append(("bbox_pred", RCNN_ROIS * cfg["fc"] * 4 * c))
    return out


def flops(net, stage, h, w, freeze):
    """GFLOP (2 x MACs of conv/FC only): forward, exact training step, and 3 x forward.

    Exact = forward + backward-weights for trained layers + backward-data for layers that have a
    trained layer upstream (closer to the input). The two RPN heads and the R-CNN cls/bbox heads
    sit in parallel after the shared trunk; walking them in sequence is still right because the
    layer feeding them (rpn_conv_3x3 / fc7) is trained under every --freeze choice.
    """
    frozen = FREEZE[freeze]
    fwd = exact = 0
    trained_upstream = False
    for name, macs in layer_macs(net, stage, h, w):
        trained = not any(f in name for f in frozen)
        fwd += macs
        exact += macs
        if trained:
            exact += macs                      # weight gradient
        if trained_upstream:
            exact += macs                      # data gradient
        trained_upstream = trained_upstream or trained
    g = 2e-9
    return {"fwd_gflop": fwd * g, "train_gflop_exact": exact * g, "train_gflop_3x": 3 * fwd * g}


# ----------------------------------------------------------------------------------------------
# Symbols (names as in example/rcnn/rcnn/symbol/symbol_vgg.py)

def vgg_trunk(mx, net, data):
    x = data
    for name, cout, _ in conv_layers(net):
        x = mx.sym.Convolution(data=x, kernel=(3, 3), pad=(1, 1), num_filter=cout, workspace=2048, name=name)
        x = mx.sym.Activation(data=x, act_type="relu", name="relu" + name[4:])
        if name in ("conv1_2", "conv2_2", "conv3_3", "conv4_3"):
            x = mx.sym.Pooling(data=x, pool_type="max", kernel=(2, 2), stride=(2, 2),
                               name="pool" + name[4])
    return x  # relu5_3


def resnet_bn(mx, x, name, fix_gamma=False):
    return mx.sym.BatchNorm(data=x, fix_gamma=fix_gamma, eps=RESNET_EPS, use_global_stats=True, name=name)


def resnet_unit(mx, x, filters, stride, dim_match, name):
    """Pre-activation bottleneck: BN-ReLU-1×1, BN-ReLU-3×3 (stride), BN-ReLU-1×1, plus the shortcut."""
    act1 = mx.sym.Activation(data=resnet_bn(mx, x, name + "_bn1"), act_type="relu", name=name + "_relu1")
    conv1 = mx.sym.Convolution(data=act1, num_filter=filters // 4, kernel=(1, 1), stride=(1, 1), pad=(0, 0),
                               no_bias=True, name=name + "_conv1")
    act2 = mx.sym.Activation(data=resnet_bn(mx, conv1, name + "_bn2"), act_type="relu", name=name + "_relu2")
    conv2 = mx.sym.Convolution(data=act2, num_filter=filters // 4, kernel=(3, 3), stride=stride, pad=(1, 1),
                               no_bias=True, name=name + "_conv2")
    act3 = mx.sym.Activation(data=resnet_bn(mx, conv2, name + "_bn3"), act_type="relu", name=name + "_relu3")
    conv3 = mx.sym.Convolution(data=act3, num_filter=filters, kernel=(1, 1), stride=(1, 1), pad=(0, 0),
                               no_bias=True, name=name + "_conv3")
    shortcut = x if dim_match else mx.sym.Convolution(data=act1, num_filter=filters, kernel=(1, 1), stride=stride,
                                                      no_bias=True, name=name + "_sc")
    return mx.sym.elemwise_add(conv3, shortcut, name=name + "_plus")


def resnet_stage(mx, net, x, stage):
    cfg = NETS[net]
    for unit in range(1, cfg["units"][stage - 1] + 1):
        stride = (2, 2) if unit == 1 and stage > 1 else (1, 1)
        x = resnet_unit(mx, x, cfg["filters"][stage - 1], stride, unit > 1, f"stage{stage}_unit{unit}")
    return x


def resnet_trunk(mx, net, data):
    x = resnet_bn(mx, data, "bn_data", fix_gamma=True)
    x = mx.sym.Convolution(data=x, num_filter=NETS[net]["stem"], kernel=(7, 7), stride=(2, 2), pad=(3, 3),
                           no_bias=True, name="conv0")
    x = mx.sym.Activation(data=resnet_bn(mx, x, "bn0"), act_type="relu", name="relu0")
    x = mx.sym.Pooling(data=x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max", name="pool0")
    for stage in (1, 2, 3):
        x = resnet_stage(mx, net, x, stage)
    return x  # stage3 output, stride 16


def inc_conv(mx, net, x, filters, name, kernel=(1, 1), stride=(1, 1), pad=(0, 0)):
    """The fork's Conv: bias-free NAME_conv2d, BatchNorm NAME_batchnorm (fix_gamma, batch statistics:
    MXNet's defaults otherwise), ReLU NAME_relu."""
    x = mx.sym.Convolution(data=x, num_filter=max(1, filters // NETS[net]["div"]), kernel=kernel, stride=stride,
                           pad=pad, no_bias=True, name=name + "_conv2d")
    x = mx.sym.BatchNorm(data=x, fix_gamma=True, use_global_stats=False, name=name + "_batchnorm")
    return mx.sym.Activation(data=x, act_type="relu", name=name + "_relu")


def inc_pool(mx, x, kind, name, stride, pad):
    return mx.sym.Pooling(data=x, kernel=(3, 3), stride=(stride, stride), pad=(pad, pad), pool_type=kind,
                          name=f"{kind}_pool_{name}_pool")


def inception_a(mx, net, x, proj, n):
    c = lambda *a, **k: inc_conv(mx, net, *a, **k)   # noqa: E731
    one = c(x, 64, n + "_conv")
    five = c(c(x, 48, n + "_tower_conv"), 64, n + "_tower_conv_1", (5, 5), pad=(2, 2))
    three = c(x, 64, n + "_tower_1_conv")
    three = c(three, 96, n + "_tower_1_conv_1", (3, 3), pad=(1, 1))
    three = c(three, 96, n + "_tower_1_conv_2", (3, 3), pad=(1, 1))
    pool = c(inc_pool(mx, x, "avg", n, 1, 1), proj, n + "_tower_2_conv")
    return mx.sym.Concat(one, five, three, pool, name=f"ch_concat_{n}_chconcat")


def inception_b(mx, net, x, n):
    c = lambda *a, **k: inc_conv(mx, net, *a, **k)   # noqa: E731
    three = c(x, 384, n + "_conv", (3, 3), stride=(2, 2), pad=(1, 1))
    d = c(c(x, 64, n + "_tower_conv"), 96, n + "_tower_conv_1", (3, 3), pad=(1, 1))
    d = c(d, 96, n + "_tower_conv_2", (3, 3), stride=(2, 2), pad=(1, 1))
    return mx.sym.Concat(three, d, inc_pool(mx, x, "max", n, 2, 1), name=f"ch_concat_{n}_chconcat")


def inception_c(mx, net, x, d7, n):
    c = lambda *a, **k: inc_conv(mx, net, *a, **k)   # noqa: E731
    one = c(x, 192, n + "_conv")
    t = c(c(x, d7, n + "_tower_conv"), d7, n + "_tower_conv_1", (1, 7), pad=(0, 3))
    t = c(t, 192, n + "_tower_conv_2", (7, 1), pad=(3, 0))
    q = c(c(x, d7, n + "_tower_1_conv"), d7, n + "_tower_1_conv_1", (7, 1), pad=(3, 0))
    q = c(q, d7, n + "_tower_1_conv_2", (1, 7), pad=(0, 3))
    q = c(q, d7, n + "_tower_1_conv_3", (7, 1), pad=(3, 0))
    q = c(q, 192, n + "_tower_1_conv_4", (1, 7), pad=(0, 3))
    pool = c(inc_pool(mx, x, "avg", n, 1, 1), 192, n + "_tower_2_conv")
    return mx.sym.Concat(one, t, q, pool, name=f"ch_concat_{n}_chconcat")


def inception_d(mx, net, x, n):
    c = lambda *a, **k: inc_conv(mx, net, *a, **k)   # noqa: E731
    t = c(c(x, 192, n + "_tower_conv"), 320, n + "_tower_conv_1", (3, 3), stride=(2, 2))
    q = c(c(x, 192, n + "_tower_1_conv"), 192, n + "_tower_1_conv_1", (1, 7), pad=(0, 3))
    q = c(q, 192, n + "_tower_1_conv_2", (7, 1), pad=(3, 0))
    q = c(q, 192, n + "_tower_1_conv_3", (3, 3), stride=(2, 2))
    return mx.sym.Concat(t, q, inc_pool(mx, x, "max", n, 2, 0), name=f"ch_concat_{n}_chconcat")


def inception_e(mx, net, x, pool_kind, n):
    c = lambda *a, **k: inc_conv(mx, net, *a, **k)   # noqa: E731
    one = c(x, 320, n + "_conv")
    t = c(x, 384, n + "_tower_conv")
    ta = c(t, 384, n + "_tower_mixed_conv", (1, 3), pad=(0, 1))
    tb = c(t, 384, n + "_tower_mixed_conv_1", (3, 1), pad=(1, 0))
    q = c(c(x, 448, n + "_tower_1_conv"), 384, n + "_tower_1_conv_1", (3, 3), pad=(1, 1))
    qa = c(q, 384, n + "_tower_1_mixed_conv", (1, 3), pad=(0, 1))
    qb = c(q, 384, n + "_tower_1_mixed_conv_1", (3, 1), pad=(1, 0))
    pool = c(inc_pool(mx, x, pool_kind, n, 1, 1), 192, n + "_tower_2_conv")
    return mx.sym.Concat(one, ta, tb, qa, qb, pool, name=f"ch_concat_{n}_chconcat")


def inception_trunk(mx, net, data):
    """get_inceptionv3_conv: the padded stem and mixed … mixed_7 (stride 16)."""
    c = lambda *a, **k: inc_conv(mx, net, *a, **k)   # noqa: E731
    x = c(data, 32, "conv", (3, 3), stride=(2, 2), pad=(1, 1))
    x = c(x, 32, "conv_1", (3, 3), pad=(1, 1))
    x = c(x, 64, "conv_2", (3, 3), pad=(1, 1))
    x = mx.sym.Pooling(data=x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max", name="pool")
    x = c(x, 80, "conv_3")
    x = c(x, 192, "conv_4", (3, 3), pad=(1, 1))
    x = mx.sym.Pooling(data=x, kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max", name="pool1")
    for proj, n in ((32, "mixed"), (64, "mixed_1"), (64, "mixed_2")):
        x = inception_a(mx, net, x, proj, n)
    x = inception_b(mx, net, x, "mixed_3")
    for d7, n in ((128, "mixed_4"), (160, "mixed_5"), (160, "mixed_6"), (192, "mixed_7")):
        x = inception_c(mx, net, x, d7, n)
    return x


def inception_head(mx, net, x):
    """mixed_8 (7D) → mixed_9, mixed_10 (7E) → 8×8 average global_pool → flatten."""
    x = inception_d(mx, net, x, "mixed_8")
    x = inception_e(mx, net, x, "avg", "mixed_9")
    x = inception_e(mx, net, x, "max", "mixed_10")
    x = mx.sym.Pooling(data=x, kernel=(8, 8), stride=(1, 1), pool_type="avg", name="global_pool")
    return mx.sym.Flatten(data=x, name="flatten")


def trunk(mx, net, data):
    if family(net) == "inception":
        return inception_trunk(mx, net, data)
    return resnet_trunk(mx, net, data) if is_resnet(net) else vgg_trunk(mx, net, data)


def rpn_symbol(mx, net):
    cfg = NETS[net]
    data = mx.sym.Variable("data")
    label = mx.sym.Variable("label")
    bbox_target = mx.sym.Variable("bbox_target")
    bbox_weight = mx.sym.Variable("bbox_weight")
    feat = trunk(mx, net, data)
    rpn = mx.sym.Convolution(data=feat, kernel=(3, 3), pad=(1, 1), num_filter=cfg["rpn"], name="rpn_conv_3x3")
    rpn = mx.sym.Activation(data=rpn, act_type="relu", name="rpn_relu")
    cls_score = mx.sym.Convolution(data=rpn, kernel=(1, 1), pad=(0, 0), num_filter=2 * NUM_ANCHORS,
                                   name="rpn_cls_score")
    bbox_pred = mx.sym.Convolution(data=rpn, kernel=(1, 1), pad=(0, 0), num_filter=4 * NUM_ANCHORS,
                                   name="rpn_bbox_pred")
    cls_score = mx.sym.Reshape(data=cls_score, shape=(0, 2, -1, 0), name="rpn_cls_score_reshape")
    cls_prob = mx.sym.SoftmaxOutput(data=cls_score, label=label, multi_output=True, normalization="valid",
                                    use_ignore=True, ignore_label=-1, name="cls_prob")
    diff = mx.sym.smooth_l1(data=bbox_pred - bbox_target, scalar=3.0, name="bbox_loss_")
    bbox_loss = mx.sym.MakeLoss(data=bbox_weight * diff, grad_scale=1.0 / RPN_BATCH, name="bbox_loss")
    return mx.sym.Group([cls_prob, bbox_loss])


def rcnn_symbol(mx, net, dropout=True):
    cfg = NETS[net]
    c = cfg["classes"]
    data = mx.sym.Variable("data")
    rois = mx.sym.Reshape(data=mx.sym.Variable("rois"), shape=(-1, 5), name="rois_reshape")
    label = mx.sym.Reshape(data=mx.sym.Variable("label"), shape=(-1,), name="label_reshape")
    bbox_target = mx.sym.Reshape(data=mx.sym.Variable("bbox_target"), shape=(-1, 4 * c),
                                 name="bbox_target_reshape")
    bbox_weight = mx.sym.Reshape(data=mx.sym.Variable("bbox_weight"), shape=(-1, 4 * c),
                                 name="bbox_weight_reshape")
    feat = trunk(mx, net, data)
    if family(net) == "inception":
        # roi_pool5 17×17 → mixed_8 … mixed_10 → global_pool (get_inceptionv3_train's head).
        x = mx.sym.ROIPooling(data=feat, rois=rois, pooled_size=(17, 17), spatial_scale=1.0 / FEAT_STRIDE,
                              name="roi_pool5")
        x = inception_head(mx, net, x)
    elif is_resnet(net):
        # roi_pool5 14×14 → stage 4 → bn1 → relu1 → global average pool1 (symbol_resnet.py).
        x = mx.sym.ROIPooling(data=feat, rois=rois, pooled_size=(14, 14), spatial_scale=1.0 / FEAT_STRIDE,
                              name="roi_pool5")
        x = resnet_stage(mx, net, x, 4)
        x = mx.sym.Activation(data=resnet_bn(mx, x, "bn1"), act_type="relu", name="relu1")
        x = mx.sym.Pooling(data=x, global_pool=True, kernel=(7, 7), pool_type="avg", name="pool1")
    else:
        x = mx.sym.ROIPooling(data=feat, rois=rois, pooled_size=(POOLED, POOLED), spatial_scale=1.0 / FEAT_STRIDE,
                              name="roi_pool5")
        x = mx.sym.Flatten(data=x, name="flatten")
        for i in (6, 7):
            x = mx.sym.FullyConnected(data=x, num_hidden=cfg["fc"], name=f"fc{i}")
            x = mx.sym.Activation(data=x, act_type="relu", name=f"relu{i}")
            if dropout:
                x = mx.sym.Dropout(data=x, p=0.5, name=f"drop{i}")
    cls_score = mx.sym.FullyConnected(data=x, num_hidden=c, name="cls_score")
    cls_prob = mx.sym.SoftmaxOutput(data=cls_score, label=label, normalization="batch", name="cls_prob")
    bbox_pred = mx.sym.FullyConnected(data=x, num_hidden=4 * c, name="bbox_pred")
    diff = mx.sym.smooth_l1(data=bbox_pred - bbox_target, scalar=1.0, name="bbox_loss_")
    bbox_loss = mx.sym.MakeLoss(data=bbox_weight * diff, grad_scale=1.0 / RCNN_ROIS, name="bbox_loss")
    cls_prob = mx.sym.Reshape(data=cls_prob, shape=(1, -1, c), name="cls_prob_reshape")
    bbox_loss = mx.sym.Reshape(data=bbox_loss, shape=(1, -1, 4 * c), name="bbox_loss_reshape")
    return mx.sym.Group([cls_prob, bbox_loss])


def feature_shape(sym, h, w):
    internals = sym.get_internals()
    feature = "relu5_3_output" if "relu5_3_output" in internals.list_outputs() else "rpn_conv_3x3_output"
    if feature not in internals.list_outputs():   # the ResNet/Inception R-CNN: the ROI pooling's data input
        feature = [n for n in internals.list_outputs()
                   if (n.startswith("stage3_") and n.endswith("_plus_output")) or n == "ch_concat_mixed_7_chconcat_output"][-1]
    _, out_shapes, _ = internals[feature].infer_shape(data=(1, 3, h, w))
    return out_shapes[0][2], out_shapes[0][3]


# ----------------------------------------------------------------------------------------------
# Inputs and weights

def make_batch(np, stage, net, h, w, fh, fw, seed):
    """Named float32 numpy inputs: data first, then the labels in the symbol's order."""
    rng = np.random.default_rng(seed)
    data = rng.uniform(-128.0, 128.0, size=(1, 3, h, w)).astype(np.float32)
    if stage == "rpn":
        a = NUM_ANCHORS
        total = a * fh * fw
        n_lab = min(RPN_BATCH, total // 2)     # tiny maps (< 512 anchors): half, so some stay ignored
        n_fg = n_lab * RPN_FG // RPN_BATCH     # 64 of 256
        picked = rng.choice(total, size=n_lab, replace=False)
        label = np.full((1, total), -1.0, dtype=np.float32)       # index = (a * H + h) * W + w
        label[0, picked[:n_fg]] = 1.0
        label[0, picked[n_fg:]] = 0.0
        bbox_target = rng.normal(0.0, 0.5, size=(1, 4 * a, fh, fw)).astype(np.float32)
        bbox_weight = np.zeros((1, 4 * a, fh, fw), dtype=np.float32)
        for idx in picked[:n_fg]:
            anchor, rest = divmod(int(idx), fh * fw)
            y, x = divmod(rest, fw)
            bbox_weight[0, 4 * anchor:4 * anchor + 4, y, x] = 1.0
        return {"data": data, "label": label, "bbox_target": bbox_target, "bbox_weight": bbox_weight}
    c = NETS[net]["classes"]
    xs = np.sort(rng.uniform(0.0, w - 1.0, size=(RCNN_ROIS, 2)), axis=1)
    ys = np.sort(rng.uniform(0.0, h - 1.0, size=(RCNN_ROIS, 2)), axis=1)
    rois = np.zeros((RCNN_ROIS, 5), dtype=np.float32)              # [batch_idx, x1, y1, x2, y2]
    rois[:, 1], rois[:, 3] = xs[:, 0], xs[:, 1]
    rois[:, 2], rois[:, 4] = ys[:, 0], ys[:, 1]
    label = np.zeros((RCNN_ROIS,), dtype=np.float32)
    label[:RCNN_FG] = rng.integers(1, c, size=RCNN_FG)              # fg block first, as sample_rois does
    bbox_target = np.zeros((RCNN_ROIS, 4 * c), dtype=np.float32)
    bbox_weight = np.zeros((RCNN_ROIS, 4 * c), dtype=np.float32)
    for i in range(RCNN_FG):
        k = int(label[i])
        bbox_target[i, 4 * k:4 * k + 4] = rng.normal(0.0, 1.0, size=4)
        bbox_weight[i, 4 * k:4 * k + 4] = 1.0
    # Fed with a leading image axis, as ROIIter does: Module needs every input to share the batch axis,
    # and the symbol's *_reshape layers flatten them back to (128, 5), (128,), (128, 4C).
    return {"data": data, "rois": rois[None], "label": label[None], "bbox_target": bbox_target[None],
            "bbox_weight": bbox_weight[None]}


def init_std(name, shape):
    """Standard deviation of the Gaussian for a weight; None for biases (zero)."""
    if not name.endswith("_weight"):
        return None
    if name.startswith("rpn_") or name == "cls_score_weight":
        return 0.01
    if name == "bbox_pred_weight":
        return 0.001
    fan_in = 1
    for d in shape[1:]:
        fan_in *= d
    if name.endswith("_conv3_weight"):
        # A residual unit's last conv smaller, so that 33 units in a row keep the activations near 1
        # (with He init throughout they reach 1e3 and the gradients 5e4: tolerances relative to the
        # largest value then say little about the small entries).
        return 0.2 * (2.0 / fan_in) ** 0.5
    return (2.0 / fan_in) ** 0.5                                   # He


def make_initializer(mx):
    def init(name, arr):
        name = str(name)
        # BatchNorm: statistics and affine terms away from the identity, so that every term counts.
        if name.endswith(("_gamma", "_moving_var")):
            arr[:] = mx.nd.random.uniform(0.5, 1.5, shape=arr.shape)
            if name == "bn_data_moving_var":
                arr[:] = arr * 5000.0      # raw pixels in ±128
            return
        if name.endswith(("_beta", "_moving_mean")):
            arr[:] = mx.nd.random.normal(0.0, 0.1, shape=arr.shape)
            return
        std = init_std(name, arr.shape)
        if std is None:
            arr[:] = 0.0
        else:
            mx.nd.random.normal(0.0, std, shape=arr.shape, dtype=arr.dtype, out=arr)   # no host copy
    return init


# ----------------------------------------------------------------------------------------------
# Module

def build(mx, np, args, stage):
    dropout = not args.no_dropout
    sym = rpn_symbol(mx, args.net) if stage == "rpn" else rcnn_symbol(mx, args.net, dropout)
    fh, fw = feature_shape(sym, args.height, args.width)
    batch = make_batch(np, stage, args.net, args.height, args.width, fh, fw, args.seed)
    data_names = ["data"] if stage == "rpn" else ["data", "rois"]
    label_names = ["label", "bbox_target", "bbox_weight"]
    frozen = freeze_list(args.net, args.freeze)
    fixed = [n for n in sym.list_arguments()
             if n not in data_names + label_names and any(f in n for f in frozen)]
    mod = mx.mod.Module(sym, data_names=data_names, label_names=label_names, context=mx.cpu(),
                        fixed_param_names=fixed)
    mod.bind(data_shapes=[(n, batch[n].shape) for n in data_names],
             label_shapes=[(n, batch[n].shape) for n in label_names], for_training=True)
    mx.random.seed(args.seed)
    mod.init_params(initializer=make_initializer(mx))
    mod.init_optimizer(optimizer="sgd", optimizer_params=dict(OPTIMIZER))
    mx.nd.waitall()
    data_batch = mx.io.DataBatch(data=[mx.nd.array(batch[n]) for n in data_names],
                                 label=[mx.nd.array(batch[n]) for n in label_names])
    return mod, data_batch, batch, fixed, (fh, fw)


def step(mx, mod, data_batch):
    mod.forward(data_batch, is_train=True)
    mod.backward()
    mod.update()
    mx.nd.waitall()


def current_rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0     # Linux: KiB


def time_stage(mx, np, args, stage):
    mod, data_batch, _, fixed, fshape = build(mx, np, args, stage)
    rss_after_init = current_rss_mb()
    for _ in range(args.warmup):
        step(mx, mod, data_batch)
    runs = []
    for _ in range(args.iters):
        t0 = time.perf_counter()
        step(mx, mod, data_batch)
        runs.append((time.perf_counter() - t0) * 1e3)
    result = {
        "net": args.net, "stage": stage, "height": args.height, "width": args.width,
        "threads": args.threads, "freeze": args.freeze,
        "median_ms": round(statistics.median(runs), 3), "runs_ms": [round(r, 3) for r in runs],
        "peak_rss_mb": round(peak_rss_mb(), 1), "feature_shape": list(fshape),
    }
    if args.breakdown > 0:
        phases = {"forward": [], "backward": [], "update": []}
        for _ in range(args.breakdown):
            t0 = time.perf_counter()
            mod.forward(data_batch, is_train=True)
            mx.nd.waitall()
            t1 = time.perf_counter()
            mod.backward()
            mx.nd.waitall()
            t2 = time.perf_counter()
            mod.update()
            mx.nd.waitall()
            t3 = time.perf_counter()
            phases["forward"].append((t1 - t0) * 1e3)
            phases["backward"].append((t2 - t1) * 1e3)
            phases["update"].append((t3 - t2) * 1e3)
        result["breakdown_ms"] = {k: round(statistics.median(v), 3) for k, v in phases.items()}
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    result["rss_after_init_mb"] = round(rss_after_init, 1)
    result["fixed_params"] = len(fixed)
    if family(args.net) == "vgg":
        result.update({k: round(v, 4) for k, v in flops(args.net, stage, args.height, args.width, args.freeze).items()})
    result["dropout"] = stage == "rcnn" and not args.no_dropout
    return result


def dump_step(mx, np, args, stage):
    """One iteration from the seeded init; every array it saves is float32.

    {stage}_params.params  arg:NAME   every parameter before the step (frozen ones included)
    {stage}_batch.params   data, [rois,] label, bbox_target, bbox_weight as fed to the module
    {stage}_grads.params   out:OUTPUT the symbol outputs of the forward pass,
                           grad:NAME  the gradient of every trained parameter (before update)
    {stage}_after1.params  arg:NAME   every parameter after the SGD update
    {stage}_meta.json      shapes, fixed names, optimiser settings, seed, dropout flag
    """
    os.makedirs(args.dump_init, exist_ok=True)
    mod, data_batch, batch, fixed, fshape = build(mx, np, args, stage)
    prefix = os.path.join(args.dump_init, stage)
    arg_params, aux_params = mod.get_params()
    mx.nd.save(prefix + "_params.params", {**{f"arg:{k}": v.copy() for k, v in arg_params.items()},
                                           **{f"aux:{k}": v.copy() for k, v in aux_params.items()}})
    mx.nd.save(prefix + "_batch.params", {k: mx.nd.array(v) for k, v in batch.items()})

    if args.dump_internals:
        # The same forward once more through an executor of the internal outputs, on the same
        # parameters and inputs (nothing before the losses depends on the labels).
        internals = mod.symbol.get_internals()
        names = [n for n in internals.list_outputs()
                 if n.endswith("_output") and (n.startswith(("relu", "pool", "roi_pool5")) or "_relu" in n
                                               or n.endswith("_chconcat_output") or n.startswith("max_pool_"))]
        group = mx.sym.Group([internals[n] for n in names])
        inputs = {n: mx.nd.array(batch[n]) for n in group.list_arguments() if n in batch}
        exe = group.bind(mx.cpu(), args={**{k: v.copy() for k, v in arg_params.items()
                                            if k in group.list_arguments()}, **inputs},
                         aux_states={k: v.copy() for k, v in aux_params.items() if k in group.list_auxiliary_states()})
        exe.forward(is_train=True)
        mx.nd.save(prefix + "_internals.params",
                   {f"act:{n[:-len('_output')]}": o.copy() for n, o in zip(names, exe.outputs)})
        mx.nd.waitall()

    mod.forward(data_batch, is_train=True)
    mod.backward()
    mx.nd.waitall()
    saved = {}
    for name, out in zip(mod.output_names, mod.get_outputs()):
        saved[f"out:{name}"] = out.copy()
    group = mod._exec_group
    for name, grads in zip(group.param_names, group.grad_arrays):
        if grads and grads[0] is not None:
            saved[f"grad:{name}"] = grads[0].copy()
    mod.update()
    mx.nd.waitall()
    mx.nd.save(prefix + "_grads.params", saved)
    after, after_aux = mod.get_params()
    mx.nd.save(prefix + "_after1.params", {**{f"arg:{k}": v for k, v in after.items()},
                                           **{f"aux:{k}": v for k, v in after_aux.items()}})

    meta = {
        "net": args.net, "stage": stage, "height": args.height, "width": args.width, "seed": args.seed,
        "feature_shape": list(fshape), "dropout": stage == "rcnn" and not args.no_dropout,
        "freeze": args.freeze, "fixed_param_names": fixed, "optimizer": "sgd", "optimizer_params": OPTIMIZER,
        "output_names": mod.output_names,
        "arg_shapes": {k: list(v.shape) for k, v in arg_params.items()},
        "batch_shapes": {k: list(v.shape) for k, v in batch.items()},
        "num_anchors": NUM_ANCHORS, "classes": NETS[args.net]["classes"],
    }
    with open(prefix + "_meta.json", "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")

    outs = {k[4:]: v.asnumpy() for k, v in saved.items() if k.startswith("out:")}
    grads = [k for k in saved if k.startswith("grad:")]
    summary = {
        "net": args.net, "stage": stage, "height": args.height, "width": args.width, "threads": args.threads,
        "freeze": args.freeze, "feature_shape": list(fshape), "dump_dir": args.dump_init,
        "files": [os.path.basename(prefix + s) for s in
                  ("_params.params", "_batch.params", "_grads.params", "_after1.params", "_meta.json")],
        "grads": len(grads), "dropout": meta["dropout"],
        "bbox_loss_sum": float(sum(v.sum() for k, v in outs.items() if k.startswith("bbox_loss"))),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    return summary


def main(argv=None):
    args = parse_args(argv)
    stages = ["rpn", "rcnn"] if args.stage == "both" else [args.stage]

    if args.flops_only:
        for stage in stages:
            out = {"net": args.net, "stage": stage, "height": args.height, "width": args.width,
                   "freeze": args.freeze, "feature_shape": list(block_sizes(args.height, args.width)[4])}
            out.update({k: round(v, 4) for k, v in flops(args.net, stage, args.height, args.width,
                                                           args.freeze).items()})
            print(json.dumps(out), flush=True)
        return 0

    if len(stages) > 1:
        # Each stage in its own process, so peak RSS and thread pools are per stage.
        raw = sys.argv[1:] if argv is None else list(argv)
        rc = 0
        for stage in stages:
            cmd = [sys.executable, os.path.abspath(__file__)] + raw + ["--stage", stage]
            rc = subprocess.call(cmd) or rc
        return rc

    if args.threads is not None:
        for var in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    if family(args.net) == "inception" and NETS[args.net]["div"] > 1:
        # MXNet 1.9.1's oneDNN Concat backward dies with SIGFPE on the tiny twin's narrow towers (2–28
        # channels); its own CPU kernels run the same symbol.
        os.environ.setdefault("MXNET_MKLDNN_ENABLED", "0")
    import numpy as np   # noqa: E402  (after the thread variables are set)
    import mxnet as mx   # noqa: E402

    stage = stages[0]
    result = dump_step(mx, np, args, stage) if args.dump_init else time_stage(mx, np, args, stage)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
