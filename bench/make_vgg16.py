"""Write the VGG16 Faster R-CNN checkpoint (40 float32 arrays, ~548 MB) with mx.nd.save, for the benchmarks."""
import argparse
import json

import mxnet as mx
import numpy as np

# (name, out channels, in channels, kernel) in save_checkpoint order; see params-format.md §10.
VGG16_CONVS = [("conv1_1", 64, 3), ("conv1_2", 64, 64), ("conv2_1", 128, 64), ("conv2_2", 128, 128),
               ("conv3_1", 256, 128), ("conv3_2", 256, 256), ("conv3_3", 256, 256),
               ("conv4_1", 512, 256), ("conv4_2", 512, 512), ("conv4_3", 512, 512),
               ("conv5_1", 512, 512), ("conv5_2", 512, 512), ("conv5_3", 512, 512)]
PERTURBED = ["conv5_3_weight", "rpn_cls_score_weight", "fc7_bias", "bbox_pred_weight"]


def layer_shapes(scale=1.0):
    """{layer: weight shape}; scale shrinks channel and hidden widths (1.0 = the real network)."""
    def width(n):
        return max(1, round(n * scale))
    shapes = {name: (width(out), 3 if cin == 3 else width(cin), 3, 3) for name, out, cin in VGG16_CONVS}
    c5, hidden = width(512), width(4096)
    shapes.update({
        "rpn_conv_3x3": (c5, c5, 3, 3), "rpn_cls_score": (18, c5, 1, 1), "rpn_bbox_pred": (36, c5, 1, 1),
        "fc6": (hidden, c5 * 7 * 7), "fc7": (hidden, hidden), "cls_score": (21, hidden), "bbox_pred": (84, hidden),
    })
    return shapes


def make_arrays(scale, seed):
    rng = np.random.default_rng(seed)
    arrays = {}
    for layer, shape in layer_shapes(scale).items():
        for suffix, s in (("weight", shape), ("bias", shape[:1])):
            a = rng.standard_normal(s, dtype=np.float32)
            a *= np.float32(0.01)
            arrays[f"arg:{layer}_{suffix}"] = a
    return arrays


def perturb(arrays, seed):
    """A copy where 1% of the elements of a few tensors moved by about 1e-5."""
    rng = np.random.default_rng(seed + 1)
    out = dict(arrays)
    for name in PERTURBED:
        a = arrays["arg:" + name].copy()
        idx = rng.choice(a.size, max(1, a.size // 100), replace=False)
        a.flat[idx] += rng.standard_normal(idx.size, dtype=np.float32) * np.float32(1e-5)
        out["arg:" + name] = a
    return out


def save(arrays, path):
    mx.nd.save(path, {k: mx.nd.array(a, dtype=np.float32) for k, a in arrays.items()})


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("out", help="output .params path")
    p.add_argument("--scale", type=float, default=1.0, help="channel/hidden width multiplier (default 1.0)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--perturbed", metavar="OUT2", help="also write a copy with small changes in "
                   + ", ".join(PERTURBED))
    args = p.parse_args()

    arrays = make_arrays(args.scale, args.seed)
    save(arrays, args.out)
    if args.perturbed:
        save(perturb(arrays, args.seed), args.perturbed)
    print(json.dumps({"out": args.out, "perturbed": args.perturbed, "arrays": len(arrays),
                      "elements": sum(a.size for a in arrays.values()),
                      "bytes": sum(a.nbytes for a in arrays.values())}))


if __name__ == "__main__":
    main()
