"""The Proposal op at the reference settings: ParamKit against MXNet 1.9.1's CPU contrib.Proposal on the same inputs.

Inputs as bench/peer-baselines: a 600x1000 image, feature map 38x63 (and 37x62, what VGG's 'valid'
pooling really gives), A=9, cls_prob = sigmoid(N(0,2)) foreground with background 1-fg, deltas N(0,0.1).
Settings: pre 6000 / post 300 (test) and pre 20000 / post 2000 (proposal dump). Both sides are timed
in-process (median of 20 after 3 warm-ups) with the same thread count, and their rows are compared.

Run: .venv-interop/bin/python bench/proposal.py [--threads 1] [--bin .build/release/ParamKitBench]
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bin", default=str(REPO / ".build/release/ParamKitBench"))
    args = p.parse_args()
    for var in ("OMP_NUM_THREADS", "MXNET_CPU_WORKER_NTHREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    import mxnet as mx
    import numpy as np

    rng = np.random.RandomState(0)
    rows = []
    work = Path(tempfile.mkdtemp(prefix="paramkit-proposal-"))
    for (fh, fw) in ((38, 63), (37, 62)):
        a = 9
        fg = 1 / (1 + np.exp(-rng.normal(0, 2, (1, a, fh, fw)))).astype(np.float32)
        cls_prob = np.concatenate([1 - fg, fg], axis=1).astype(np.float32)
        bbox_pred = rng.normal(0, 0.1, (1, 4 * a, fh, fw)).astype(np.float32)
        im_info = np.array([[600, 1000, 1]], np.float32)
        inputs = work / f"in-{fh}x{fw}.params"
        mx.nd.save(str(inputs), {"arg:cls_prob": mx.nd.array(cls_prob), "arg:bbox_pred": mx.nd.array(bbox_pred),
                                 "arg:im_info": mx.nd.array(im_info)})
        for pre, post in ((6000, 300), (20000, 2000)):
            def run():
                out, score = mx.nd.contrib.Proposal(mx.nd.array(cls_prob), mx.nd.array(bbox_pred), mx.nd.array(im_info),
                                                    feature_stride=16, scales=(8, 16, 32), ratios=(0.5, 1, 2),
                                                    rpn_pre_nms_top_n=pre, rpn_post_nms_top_n=post, threshold=0.7,
                                                    rpn_min_size=16, output_score=True)
                return out.asnumpy(), score.asnumpy()
            times = []
            for i in range(23):
                t0 = time.perf_counter()
                mx_out, mx_score = run()
                if i >= 3:
                    times.append((time.perf_counter() - t0) * 1000)
            mx_ms = float(np.median(times))
            ours_file = work / f"ours-{fh}x{fw}-{pre}.params"
            proc = subprocess.run([args.bin, "proposal", str(inputs), str(ours_file), str(pre), str(post), "--threads",
                                   str(args.threads)], capture_output=True, text=True, check=True)
            ours = json.loads(proc.stdout.strip().splitlines()[-1])
            got = mx.nd.load(str(ours_file))
            box_diff = float(np.abs(got["boxes"].asnumpy() - mx_out[:, 1:]).max())
            score_diff = float(np.abs(got["scores"].asnumpy() - mx_score[:, 0]).max())
            rows.append({"map": f"{fh}x{fw}", "pre": pre, "post": post, "mxnet_ms": mx_ms, "paramkit_ms": ours["median_ms"],
                         "speedup": mx_ms / ours["median_ms"], "max_box_diff": box_diff, "max_score_diff": score_diff,
                         "kept": ours["kept"]})
    print(f"# Proposal op: ParamKit vs MXNet {mx.__version__} contrib.Proposal (CPU), threads={args.threads}")
    print(f"- machine: {os.cpu_count()} CPUs, {platform.processor() or platform.machine()}; "
          f"command: `{' '.join([sys.executable] + sys.argv)}`\n")
    print("| feature map | pre / post | MXNet ms | ParamKit ms | speed-up | target | max |Δbox| | max |Δscore| | NMS kept |")
    print("|---|---|---:|---:|---:|---|---:|---:|---:|")
    for r in rows:
        verdict = "pass" if r["speedup"] >= 2 else "**FAIL**"
        print(f"| {r['map']} | {r['pre']} / {r['post']} | {r['mxnet_ms']:.2f} | {r['paramkit_ms']:.2f} | {r['speedup']:.2f}× "
              f"| ≥ 2× ({verdict}) | {r['max_box_diff']:.2e} | {r['max_score_diff']:.2e} | {r['kept']} |")
    out = REPO / "bench/out"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"proposal-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
