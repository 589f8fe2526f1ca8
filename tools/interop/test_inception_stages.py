"""The stages of alternate training on the fork's Inception-v3 (its tiny twin, `tiny-inception`),
through the release CLI on a small synthetic set: init → train rpn (FIXED_PARAMS) → propose →
combine with the Inception recipe (the RPN plus mixed_8–10 from the "ImageNet" file) → train rcnn →
combine → eval. Checks what is particular to a network whose BatchNorms run on batch statistics:
the RPN stage saves moved moving statistics for the layers it trains through, leaves the R-CNN
head's alone (it is not in the RPN's graph), keeps every frozen tensor bit for bit (audit), and the
R-CNN's checkpoint carries the head's statistics moved by its own training."""
import json

import h5py
import numpy as np

from cases import REPO

CONFIG = REPO / "examples" / "synth-tiny.yaml"
RECIPE = REPO / "examples" / "combine-inception-rpn-imagenet.yaml"
SCHEDULE = ["--set", "network=tiny-inception", "--set", "epochs=1", "--set", "lr_steps=[]"]


def aux(path):
    """Every aux state of a ParamKit checkpoint, by name (through the Python side's own reader)."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.endswith("_moving_mean"):
                out[name.split("/")[-1]] = obj[()]
        f.visititems(visit)
    return out


def test_tiny_inception_runs_every_stage(paramkit, tmp_path):
    run = paramkit
    cfg = ["--config", CONFIG, *SCHEDULE]
    train, test = tmp_path / "train.h5", tmp_path / "test.h5"
    run("dataset", "synth", "--images", 24, "--size", 128, "--classes", 3, "--seed", 1, "-o", train)
    run("dataset", "synth", "--images", 8, "--size", 128, "--classes", 3, "--seed", 2, "-o", test)
    # The "ImageNet" file (every layer, He-normal) and the RPN stage's start (backbone and RPN head).
    init, rpn_init, rpn1 = tmp_path / "init.h5", tmp_path / "rpn-init.h5", tmp_path / "rpn1.h5"
    run("init", "--network", "tiny-inception", "--pretrained", "none", "--classes", 4, "--seed", 0, "-o", init)
    run("init", "--network", "tiny-inception", "--pretrained", "none", "--classes", 4, "--seed", 0, "--heads", "rpn", "-o", rpn_init)
    run("train", "rpn", "--init", rpn_init, "--freeze", "FIXED_PARAMS", "--data", train, "-o", rpn1, *cfg)
    run("audit", rpn_init, rpn1, "--frozen", "FIXED_PARAMS")

    before, after = aux(init), aux(rpn1)
    assert len(before) == 94 and len(after) == 70, (len(before), len(after))   # the RPN has no mixed_8–10
    moved = [k for k in after if not np.array_equal(after[k], before[k])]
    assert len(moved) == 70, f"the RPN stage left {70 - len(moved)} backbone BatchNorm statistics unmoved"

    proposals, rcnn_init, rcnn1 = tmp_path / "p.h5", tmp_path / "rcnn-init.h5", tmp_path / "rcnn1.h5"
    run("propose", "--model", rpn1, "--data", train, "-o", proposals, *cfg)
    run("combine", "--recipe", RECIPE, rpn1, init, "-o", rcnn_init)
    run("train", "rcnn", "--init", rcnn_init, "--proposals", proposals, "--freeze", "FIXED_PARAMS",
        "--data", train, "-o", rcnn1, *cfg)
    run("audit", rcnn_init, rcnn1, "--frozen", "FIXED_PARAMS")
    head_before, head_after = aux(rcnn_init), aux(rcnn1)
    head = [k for k in head_after if k.startswith("mixed_8") or k.startswith("mixed_9") or k.startswith("mixed_10")]
    assert len(head) == 24 and all(not np.array_equal(head_after[k], head_before[k]) for k in head)

    final = tmp_path / "final.h5"
    run("combine", rpn1, rcnn1, "-o", final)
    result = json.loads(run("eval", "--model", final, "--data", test, "--json", *cfg).stdout)
    assert len(result["classes"]) == 3 and 0.0 <= result["map_07"] <= 1.0, result
