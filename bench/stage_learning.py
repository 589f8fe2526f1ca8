"""Does a whole R-CNN or RPN stage learn as the reference's does on the same data? Replays every batch
a ParamKit stage dumped (`paramkit train rcnn|rpn ... --dump-batches DIR`, no --max-updates) in an
MXNet 1.9.1 Module (bench/mx_replay.py) and prints, per epoch, the accuracy and log-loss each
implementation saw while training, beside the trivial values (majority-label share, label-prior
entropy). Dropout masks are each implementation's own, so epochs agree statistically, not bit for bit.

    paramkit train rcnn --init I --proposals P --data D --config C -o OUT.h5 --dump-batches DUMP
    .venv-interop/bin/python bench/stage_learning.py DUMP OUT.h5.log.jsonl
"""
import json
import sys
from pathlib import Path

import numpy as np

import mx_replay


def epoch_rows(log_path):
    rows = [json.loads(line) for line in Path(log_path).read_text().splitlines()]
    return [r for r in rows if "epoch" in r and "lr" not in r and "warning" not in r]


def metric_keys(stage):
    return ("RCNNAcc", "RCNNLogLoss") if stage == "rcnn" else ("RPNAcc", "RPNLogLoss")


def mxnet_epochs(dump, epochs):
    """MXNet trained on every dumped batch in order: per epoch (of `epochs` equal ones) the accuracy
    and log-loss it saw while training, and the trivial values of that epoch's labels (majority-label
    share, label-prior entropy). Returns (meta, rows)."""
    dump = Path(dump)
    meta = json.loads((dump / "meta.json").read_text())
    batches = len(list(dump.glob("batch-*.params")))
    per_epoch = batches // epochs
    assert per_epoch * epochs == batches, f"{batches} batches do not split into {epochs} epochs"
    rcnn = meta["stage"] == "rcnn"
    sums = {"right": 0, "n": 0, "loss": 0.0, "counts": None}
    rows = []

    def on_update(i, mod, b):
        prob = mod.get_outputs()[0].asnumpy()
        label = b["label"].asnumpy().reshape(-1).astype(np.int64)
        if rcnn:
            prob = prob.reshape(-1, prob.shape[-1])
        else:  # (1, 2, A·H, W) against labels (1, A·H·W); −1 is ignored
            prob = prob.reshape(prob.shape[0], prob.shape[1], -1).transpose(0, 2, 1).reshape(-1, prob.shape[1])
        keep = label >= 0
        prob, label = prob[keep], label[keep]
        sums["right"] += int((prob.argmax(1) == label).sum())
        sums["n"] += len(label)
        sums["loss"] += float(-np.log(prob[np.arange(len(label)), label] + 1e-14).sum())
        counts = np.bincount(label, minlength=prob.shape[1])
        sums["counts"] = counts if sums["counts"] is None else sums["counts"] + counts
        if (i + 1) % per_epoch == 0:
            share = sums["counts"] / sums["counts"].sum()
            prior = float(-(share[share > 0] * np.log(share[share > 0])).sum())
            rows.append((sums["right"] / sums["n"], sums["loss"] / sums["n"], float(share.max()), prior))
            sums.update(right=0, n=0, loss=0.0, counts=None)

    mx_replay.replay(dump, on_update=on_update)
    return meta, rows


def main():
    dump, log = Path(sys.argv[1]), sys.argv[2]
    paramkit = epoch_rows(log)
    meta, epochs = mxnet_epochs(dump, len(paramkit))
    per_epoch = len(list(dump.glob("batch-*.params"))) // len(paramkit)
    acc_key, loss_key = metric_keys(meta["stage"])
    print(f"{meta['stage']} stage, {len(paramkit)} epochs of {per_epoch} updates ({dump})")
    print(f"| epoch | ParamKit {acc_key} | MXNet {acc_key} | majority share | ParamKit {loss_key} | MXNet {loss_key} | prior entropy |")
    print("|---|---|---|---|---|---|---|")
    for e, (row, (acc, loss, share, prior)) in enumerate(zip(paramkit, epochs), 1):
        print(f"| {e} | {row[acc_key]:.4f} | {acc:.4f} | {share:.4f} | {row[loss_key]:.4f} | {loss:.4f} | {prior:.4f} |")


if __name__ == "__main__":
    main()
