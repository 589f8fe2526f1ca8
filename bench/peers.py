"""Time the peers (h5py, mx.nd.load/save, safetensors, memcpy, a Python combine) on given files; print JSON."""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Each operation runs in a fresh interpreter, so its peak RSS is its own. Order matters where an
# operation reads what an earlier one wrote (h5py_read / safetensors_load without --h5 / --safetensors).
OPS = ["mx_load", "mx_save", "h5py_write", "h5py_write_fsync", "h5py_read", "safetensors_save", "safetensors_load", "memcpy",
       "python_combine"]


def load_numpy(params):
    import mxnet as mx
    return {k: v.asnumpy() for k, v in mx.nd.load(params).items()}


def prepare(op, cfg):
    """Untimed set-up for op; returns (timed callable, the file it writes or None)."""
    work = Path(cfg["workdir"])
    if op == "mx_load":
        import mxnet as mx
        return (lambda: mx.nd.load(cfg["params"])), None
    if op == "mx_save":
        import mxnet as mx
        arrays = mx.nd.load(cfg["params"])
        return (lambda: mx.nd.save(str(work / "mx_save.params"), arrays)), work / "mx_save.params"
    if op == "h5py_write":
        import h5py
        arrays = load_numpy(cfg["params"])

        def write():
            with h5py.File(work / "h5py_write.h5", "w") as f:
                for key, a in arrays.items():
                    role, _, name = key.partition(":")
                    f.create_dataset(f"{role}/{name}", data=a)
        return write, work / "h5py_write.h5"
    if op == "h5py_write_fsync":
        import h5py
        arrays = load_numpy(cfg["params"])
        path = work / "h5py_write_fsync.h5"

        def write_durable():
            with h5py.File(path, "w") as f:
                for key, a in arrays.items():
                    role, _, name = key.partition(":")
                    f.create_dataset(f"{role}/{name}", data=a)
            fd = os.open(path, os.O_RDONLY)  # the same durability as ParamKit's save: data on disk
            os.fsync(fd)
            os.close(fd)
        return write_durable, path
    if op == "h5py_read":
        import h5py

        def read():
            with h5py.File(cfg["h5"], "r") as f:
                return {(g, k): ds[()] for g in f for k, ds in f[g].items()}
        return read, None
    if op == "safetensors_save":
        import safetensors.numpy
        arrays = load_numpy(cfg["params"])
        return (lambda: safetensors.numpy.save_file(arrays, str(work / "st_save.safetensors"))), work / "st_save.safetensors"
    if op == "safetensors_load":
        import safetensors.numpy
        return (lambda: safetensors.numpy.load_file(cfg["safetensors"])), None
    if op == "memcpy":
        import numpy as np
        src = np.ones(cfg["bytes"], np.uint8)
        dst = np.zeros_like(src)  # written once here, so the timed copies go to warm pages
        return (lambda: np.copyto(dst, src)), None
    if op == "python_combine":
        import mxnet as mx

        def combine():
            merged = mx.nd.load(cfg["params"])
            for key, a in mx.nd.load(cfg["second"]).items():
                merged.setdefault(key, a)  # first input wins, as example/rcnn combine_model
            mx.nd.save(str(work / "combined.params"), merged)
        return combine, work / "combined.params"
    raise ValueError(f"unknown operation {op}")


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # Linux reports KiB; MB = 10^6 bytes


def measure(op, cfg):
    """Warm-up, then cfg['repeat'] timed runs; before each write, untimed: the previous output is
    removed and os.sync() runs, so no run pays for truncating or flushing an earlier one."""
    run, output = prepare(op, cfg)
    setup_rss = peak_rss_mb()
    times = []
    for i in range(cfg["repeat"] + 1):
        if output is not None:
            Path(output).unlink(missing_ok=True)
            os.sync()
        start = time.perf_counter()
        run()
        if i:
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return {"seconds": round(seconds, 6), "runs": [round(t, 6) for t in times],
            "mb_per_s": round(cfg["bytes"] / 1e6 / seconds, 1) if seconds else None,
            "peak_rss_mb": round(peak_rss_mb(), 1), "setup_rss_mb": round(setup_rss, 1)}


def in_fresh_process(op, cfg):
    proc = subprocess.run([sys.executable, __file__, "--child", op, json.dumps(cfg)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{op} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("params", nargs="?", help="the .params checkpoint (e.g. from make_vgg16.py)")
    p.add_argument("--second", help=".params to combine with (enables python_combine)")
    p.add_argument("--h5", help="HDF5 file for h5py_read (default: the file h5py_write wrote)")
    p.add_argument("--safetensors", help="file for safetensors_load (default: the one safetensors_save wrote)")
    p.add_argument("--workdir", help="where outputs go, e.g. under /dev/shm for tmpfs (default: a temp dir)")
    p.add_argument("--ops", default=",".join(OPS), help="comma-separated subset of: " + ", ".join(OPS))
    p.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up (default 3)")
    p.add_argument("--child", nargs=2, metavar=("OP", "CONFIG"), help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.child:
        print(json.dumps(measure(args.child[0], json.loads(args.child[1]))))
        return
    if not args.params:
        p.error("the .params file is required")

    ops = [op for op in OPS if op in args.ops.split(",")]
    if not args.second and "python_combine" in ops:
        ops.remove("python_combine")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="paramkit-peers-"))
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = {"params": str(Path(args.params).resolve()), "second": args.second, "workdir": str(workdir),
           "h5": args.h5 or str(workdir / "h5py_write.h5"),
           "safetensors": args.safetensors or str(workdir / "st_save.safetensors"),
           "bytes": os.path.getsize(args.params), "repeat": args.repeat}
    try:
        results = {op: in_fresh_process(op, cfg) for op in ops}
    finally:
        if not args.workdir:
            shutil.rmtree(workdir)
    # mb_per_s is the .params file size over the median seconds, for every operation alike.
    print(json.dumps({"params": cfg["params"], "bytes": cfg["bytes"], "repeat": args.repeat,
                      "workdir": str(workdir), "results": results}, indent=1))


if __name__ == "__main__":
    main()
