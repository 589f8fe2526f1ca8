"""Whole stages: ParamKit's `train rpn` / `train rcnn` against an MXNet 1.9.1 Module trained on
exactly the same batches, and `propose` / `eval` against MXNet's test symbols on the same images, in
one run on this machine.

    .venv-interop/bin/python bench/stages.py [--network tiny-vgg|vgg16|FILE] [--width 4] [--images 100]
        [--height 224] [--image-width 300] [--updates 60] [--threads 2] [--no-inference]

e.g. the mid-size VGG of examples/networks/midsize-vgg.yaml (widths 16/32/64/64/64, fc 256) at
224×300, and vgg16 at 600×1000 with few images (`--network vgg16 --height 600 --image-width 1000
--images 8 --updates 10`).

For each training stage (RPN and R-CNN, FIXED_PARAMS and FIXED_PARAMS_SHARED) on a synthetic set and
a He-initialised network (default `tiny-vgg --width 4`: conv widths 16/32/32/64/64, fc 128):
- ParamKit: one whole epoch of the stage through the CLI, everything included (reading and
  resizing images, anchor targets or roi sampling, forward, backward, SGD, logging, the epoch's
  checkpoint); images per second as the stage reports it.
- MXNet: `train … --dump-batches DIR --max-updates N` writes the first N updates' inputs; an MXNet
  Module on the reference symbol (bench/mx_train_step.py) with the same frozen set and optimiser
  trains on them, timed per update after 3 warm-ups (forward, backward, update, waitall; no data
  loading at all, which favours MXNet). Images per second = images per update / median time.
Propose and eval (unless --no-inference): ParamKit's whole `propose` over the training set (its
proposal settings, 20000 / 2000) and `eval` over it (test settings, 6000 / 300: RPN, Proposal, R-CNN,
box decoding, per-class NMS, mAP) with the same init checkpoint, images per second as each reports
it; MXNet: bench/mx_infer.py, the reference's test symbols with that checkpoint, image by image over
the preprocessed images of the RPN dump (forward and outputs to host only).
The Markdown table goes to stdout with the CPU, kernel ISA and thread settings.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
STAGES = [("rpn", "FIXED_PARAMS"), ("rpn", "FIXED_PARAMS_SHARED"), ("rcnn", "FIXED_PARAMS"), ("rcnn", "FIXED_PARAMS_SHARED")]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--network", default="tiny-vgg", help="tiny-vgg (scaled by --width), vgg16, or a VGG-family network file")
    p.add_argument("--width", type=int, default=4, help="tiny-vgg channel multiplier (default 4)")
    p.add_argument("--images", type=int, default=100, help="synthetic images (flipped copies double them)")
    p.add_argument("--height", type=int, default=224)
    p.add_argument("--image-width", type=int, default=300)
    p.add_argument("--updates", type=int, default=60, help="updates MXNet replays (3 of them warm-up)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-inference", action="store_true", help="leave out the propose and eval rows")
    p.add_argument("--bin", default=os.environ.get("PARAMKIT_BIN", str(REPO / ".build/release/paramkit")))
    return p.parse_args()


def run(cmd, env=None):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stderr}")
    return proc.stdout


def mx_env(threads):
    return dict(os.environ, OMP_NUM_THREADS=str(threads), MXNET_CPU_WORKER_NTHREADS=str(threads),
                OPENBLAS_NUM_THREADS=str(threads))


def images_per_second(out):
    """The rate a stage or `propose` / `eval` prints last: '…; 61.2 images/s'."""
    return float(out.strip().splitlines()[-1].rsplit(";", 1)[1].split()[0])


def mxnet_replay(dump, threads):
    """Median ms per update of an MXNet Module over the dumped batches (in a child process, so its
    thread settings are its own)."""
    code = r"""
import json, statistics, sys
sys.path.insert(0, sys.argv[2])
from mx_replay import replay
_, _, _, shapes, times = replay(sys.argv[1])
print(json.dumps({"median_ms": statistics.median(times[3:]), "updates": len(times) - 3,
                  "images_per_update": max(s[0] for s in shapes)}))
"""
    out = run([sys.executable, "-c", code, dump, BENCH], env=mx_env(threads))
    return json.loads(out.strip().splitlines()[-1])


def main():
    a = parse_args()
    pk = a.bin
    isa = subprocess.run([str(REPO / "tools/isa.sh"), "--describe"], capture_output=True, text=True).stdout.strip()
    rows = []
    with tempfile.TemporaryDirectory(prefix="paramkit-stages-") as tmp:
        d = Path(tmp)
        run([pk, "dataset", "synth", "--images", a.images, "--size", a.height, "--width", a.image_width, "--classes", 3,
             "--seed", 41, "-o", d / "train.h5"])
        network = str(Path(a.network).resolve()) if a.network.endswith((".yaml", ".yml")) else a.network
        width = ["--width", a.width] if network == "tiny-vgg" else []
        run([pk, "init", "--network", network, *width, "--pretrained", "none", "--classes", 4, "--seed", 1,
             "-o", d / "init.h5"])
        scale, longest = min(a.height, a.image_width), max(a.height, a.image_width)
        width_key = f"width: {a.width}\n" if network == "tiny-vgg" else ""
        (d / "c.yaml").write_text(f"network: {network}\n{width_key}scale: {scale}\nmax_size: {longest}\n"
                                  "anchor_scales: [2, 4, 8]\nrpn_min_size: 4\nepochs: 1\nlr_steps: []\ndropout: 0\n")
        common = ["--data", d / "train.h5", "--config", d / "c.yaml", "--threads", a.threads]
        t0 = time.perf_counter()
        out = run([pk, "propose", "--model", d / "init.h5", "--data", d / "train.h5", "--config", d / "c.yaml",
                   "--threads", a.threads, "-o", d / "p.h5"])
        propose = (images_per_second(out), time.perf_counter() - t0)
        for stage, freeze in STAGES:
            extra = ["--proposals", d / "p.h5"] if stage == "rcnn" else []
            base = [pk, "train", stage, "--init", d / "init.h5", "--freeze", freeze, *extra]
            t0 = time.perf_counter()
            out = run([*base, *common, "-o", d / f"{stage}.h5"])
            wall = time.perf_counter() - t0
            ips = images_per_second(out)
            dump = d / f"dump-{stage}-{freeze}"
            run([*base, *common, "-o", d / f"{stage}-dump.h5", "--dump-batches", dump, "--max-updates", a.updates])
            mx = mxnet_replay(dump, a.threads)
            mx_ips = mx["images_per_update"] / (mx["median_ms"] / 1e3)
            rows.append((stage, freeze, ips, wall, mx["median_ms"], mx_ips))
        inference = []
        if not a.no_inference:
            t0 = time.perf_counter()
            out = run([pk, "eval", "--model", d / "init.h5", "--data", d / "train.h5", "--config", d / "c.yaml",
                       "--threads", a.threads])
            evaluation = (images_per_second(out), time.perf_counter() - t0)
            run([pk, "convert", d / "init.h5", d / "init.params"])
            dump = d / "dump-rpn-FIXED_PARAMS"
            for verb, (ips, wall), (pre, post) in (("propose", propose, (20000, 2000)), ("eval", evaluation, (6000, 300))):
                mx = json.loads(run([sys.executable, BENCH / "mx_infer.py", "--params", d / "init.params", "--dump", dump,
                                     "--mode", verb, "--images", a.updates - 2, "--scales", "2,4,8", "--pre", pre,
                                     "--post", post, "--min-size", 4], env=mx_env(a.threads)).strip().splitlines()[-1])
                inference.append((verb, ips, wall, mx["median_ms"], 1e3 / mx["median_ms"]))
    print(f"- command: `{' '.join(sys.argv)}`")
    net = f"tiny-vgg --width {a.width}" if a.network == "tiny-vgg" else a.network
    print(f"- {isa}; threads {a.threads}; {net} at {a.height}×{a.image_width}, "
          f"{2 * a.images} training entries (flipped), 1 epoch; dropout off on both sides")
    print()
    print("| stage | freeze | ParamKit whole stage img/s (wall s) | MXNet Module on the same batches: ms/update, img/s | ratio |")
    print("|---|---|---:|---:|---:|")
    for stage, freeze, ips, wall, ms, mx_ips in rows:
        print(f"| train {stage} | {freeze} | {ips:.1f} ({wall:.1f}) | {ms:.1f}, {mx_ips:.1f} | {ips / mx_ips:.2f}× |")
    if inference:
        print()
        print("| verb | ParamKit whole command img/s (wall s) | MXNet test symbol, forward only: ms/image, img/s | ratio |")
        print("|---|---:|---:|---:|")
        for verb, ips, wall, ms, mx_ips in inference:
            print(f"| {verb} | {ips:.1f} ({wall:.1f}) | {ms:.1f}, {mx_ips:.1f} | {ips / mx_ips:.2f}× |")


if __name__ == "__main__":
    main()
