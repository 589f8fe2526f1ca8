"""An MXNet 1.9.1 Module trained on the batches a ParamKit stage dumped (`paramkit train rpn|rcnn
--dump-batches DIR`, Stages/BatchDump.swift): the reference symbol of bench/mx_train_step.py with the
dump's widths, frozen set and optimiser, started from DIR/params-0000.params. Used by the stage
parity test (tools/interop/test_stage_parity.py) and the stage bench (bench/stages.py).
"""
import json
import time
from pathlib import Path

import mxnet as mx
import numpy as np

import mx_train_step as mts


def load(path):
    return {k: v for k, v in mx.nd.load(str(path)).items()}


def network_of(meta):
    """bench/mx_train_step.py's network entry for the widths in the dump (the RPN has no fc layers
    and the R-CNN no rpn_conv; their entries then stay unused)."""
    s = meta["shapes"]
    return {"blocks": tuple(s[f"conv{b}_1_weight"][0] for b in range(1, 6)),
            "rpn": s["rpn_conv_3x3_weight"][0] if "rpn_conv_3x3_weight" in s else 16,
            "fc": s["fc6_weight"][0] if "fc6_weight" in s else 32,
            "classes": s["cls_score_weight"][0] if "cls_score_weight" in s else meta.get("classes", 4)}


def module(dump):
    """The reference Module for `dump`, bound to its batch shapes, with the dump's starting
    parameters and optimiser. Returns (meta, module, batches, start params, data names, label names)."""
    dump = Path(dump)
    meta = json.loads((dump / "meta.json").read_text())
    stage = meta["stage"]
    mts.NETS["replay"] = network_of(meta)
    assert meta["rpn_batch_size"] == mts.RPN_BATCH and meta["rcnn_batch_rois"] == mts.RCNN_ROIS, \
        "the reference symbols' loss scales are 1/256 and 1/128"
    sym = mts.rpn_symbol(mx, "replay") if stage == "rpn" else mts.rcnn_symbol(mx, "replay", dropout=meta["dropout"] > 0)
    data_names = ["data"] if stage == "rpn" else ["data", "rois"]
    label_names = ["label", "bbox_target", "bbox_weight"]
    batches = [load(p) for p in sorted(dump.glob("batch-*.params"))]
    assert batches, f"{dump}: no batch-*.params"
    first = batches[0]
    mod = mx.mod.Module(sym, data_names=data_names, label_names=label_names, context=mx.cpu(),
                        fixed_param_names=meta["fixed_param_names"])
    mod.bind(data_shapes=[(n, first[n].shape) for n in data_names], label_shapes=[(n, first[n].shape) for n in label_names],
             for_training=True)
    start = load(dump / "params-0000.params")
    args = {k: v for k, v in start.items() if k in sym.list_arguments()}
    missing = set(sym.list_arguments()) - set(args) - set(data_names) - set(label_names)
    assert not missing, f"the dump lacks {sorted(missing)}"
    mod.init_params(arg_params=args, aux_params={}, allow_missing=False)
    steps = [s for s in meta["lr_steps_updates"] if s < len(batches)]
    assert not steps, f"a learning-rate step inside the {len(batches)} updates ({steps}); the replay does not model it"
    mod.init_optimizer(optimizer="sgd", optimizer_params=dict(meta["optimizer"]))
    return meta, mod, batches, start, data_names, label_names


def step(mod, b, data_names, label_names):
    """One forward, backward and update of `mod` on batch `b`."""
    mod.forward(mx.io.DataBatch(data=[b[n] for n in data_names], label=[b[n] for n in label_names],
                                provide_data=[mx.io.DataDesc(n, b[n].shape) for n in data_names],
                                provide_label=[mx.io.DataDesc(n, b[n].shape) for n in label_names]), is_train=True)
    mod.backward()
    mod.update()
    mx.nd.waitall()


def replay(dump, on_update=None):
    """Trains on every batch in `dump` in order; `on_update(index, module, batch)` is called after each
    update (outside the timing). Returns (meta, start params, params after as numpy, input shapes
    seen, ms per update: forward, backward, update, waitall)."""
    meta, mod, batches, start, data_names, label_names = module(dump)
    shapes, times = set(), []
    for i, b in enumerate(batches):
        shapes.add(tuple(b["data"].shape))
        t0 = time.perf_counter()
        step(mod, b, data_names, label_names)
        times.append((time.perf_counter() - t0) * 1e3)
        if on_update:
            on_update(i, mod, b)
    after, _ = mod.get_params()
    return meta, start, {k: v.asnumpy() for k, v in after.items()}, shapes, times


def replay_forced(dump):
    """Every update of `dump` taken from ParamKit's own state (teacher forcing; the dump needs
    `--dump-states`): before update k the Module's parameters and SGD momenta are set to ParamKit's
    after update k-1 (DIR/state-(k-1).params; the start and zero momenta for k = 1), and one update is
    taken on batch k. Yields (k, ParamKit's parameters before, MXNet's after, ParamKit's after), as
    numpy arrays by name. Unlike a free run, a rounding-level difference at one update is not carried
    into the next, so every update can be held to the one-update bound however long the run."""
    dump = Path(dump)
    meta, mod, batches, start, data_names, label_names = module(dump)
    names = mod._exec_group.param_names
    fixed = set(meta["fixed_param_names"])
    before = {k: v.asnumpy() for k, v in start.items()}
    momenta = {}
    for k, b in enumerate(batches, 1):
        mod.set_params(arg_params={n: mx.nd.array(before[n]) for n in names}, aux_params={}, force_init=True)
        for i, n in enumerate(names):
            if n in fixed:
                continue
            # The Module's updater keys its optimiser state by the parameter's index (one device).
            mod._updater.states[i] = mx.nd.array(momenta.get(n, np.zeros_like(before[n])))
            mod._updater.states_synced[i] = True
        step(mod, b, data_names, label_names)
        after, _ = mod.get_params()
        state = load(dump / f"state-{k:05d}.params")
        mine = {n[len("value/"):]: v.asnumpy() for n, v in state.items() if n.startswith("value/")}
        yield k, before, {n: v.asnumpy() for n, v in after.items()}, mine
        before = mine
        momenta = {n[len("momentum/"):]: v.asnumpy() for n, v in state.items() if n.startswith("momentum/")}


if __name__ == "__main__":
    # python bench/mx_replay.py forced DUMP OUT.npz: MXNet's parameters after every teacher-forced
    # update (key "K/NAME"; trainable parameters only), for comparing in another process (the
    # oneDNN setting MXNET_MKLDNN_ENABLED is read when the library loads).
    import sys
    mode, dump, out = sys.argv[1:4]
    assert mode == "forced", f"unknown mode {mode!r} (expected: forced)"
    fixed = set(json.loads((Path(dump) / "meta.json").read_text())["fixed_param_names"])
    saved = {}
    for k, _, theirs, _ in replay_forced(dump):
        saved.update({f"{k}/{n}": v for n, v in theirs.items() if n not in fixed})
    np.savez(out, **saved)
