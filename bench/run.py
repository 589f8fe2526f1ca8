"""ParamKit benchmark driver: ParamKit next to h5py, mx.nd, safetensors and memcpy, in one run.

    .venv-interop/bin/python bench/run.py [--scale S] [--workdir DIR] [--repeat N] [--keep]

1. make_vgg16.py writes the VGG16 Faster R-CNN checkpoint A.params (548 MB at scale 1) and a
   perturbed copy B.params; `paramkit convert` turns both into ParamKit HDF5 (A.h5, B.h5); h5py and
   safetensors.numpy write the peers' own copies of A (A.h5py.h5, A.safetensors).
2. Every measured operation runs in a fresh process: one warm-up, then the median of N runs.
   ParamKitBench times the library call in-process; the CLI rows are whole-process wall times taken
   here; the peers come from bench/peers.py. Peak RSS is the process's ru_maxrss (os.wait4).
3. A Markdown table (ratio = peer seconds / ParamKit seconds, i.e. how many times faster ParamKit
   is) with the targets goes to stdout and bench/out/, next to the raw JSON.

This process imports nothing heavy (no numpy, no mxnet): Linux carries the parent's peak RSS into a
child's ru_maxrss across fork/exec, so the driver has to stay small for the children's numbers to
be their own. Its own peak RSS is recorded as driver_rss_mb, the floor of every RSS below.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
MB = 1e6            # sizes and throughputs in 10^6 bytes, as params-format.md §10
RSS_SLACK_MB = 100  # the "+ 100 MB" of the RSS targets

# Targets. Ratios are peer seconds / ParamKit seconds.
LOAD_VS_H5PY = 2.0
SAVE_VS_H5PY = 1.5
INSPECT_MAX_S = 0.050
DIFF_VS_LOADS = 1.2
COMBINE_VS_PYTHON = 3.0

PEER_OPS = ["mx_load", "mx_save", "h5py_write", "h5py_write_fsync", "h5py_read", "safetensors_save", "safetensors_load",
            "memcpy", "python_combine"]
PEER_LABELS = {"mx_load": "mx.nd.load", "mx_save": "mx.nd.save", "h5py_write": "h5py write",
               "h5py_write_fsync": "h5py write + fsync",
               "h5py_read": "h5py read", "safetensors_save": "safetensors save_file",
               "safetensors_load": "safetensors load_file", "memcpy": "numpy copyto (memcpy)",
               "python_combine": "Python combine (mx.nd.load ×2, union, mx.nd.save)"}


class Failed(Exception):
    """A measurement that could not be made; its row shows n/a with this reason."""


def write_report(out, stem, text, report):
    """The Markdown table and the raw JSON, side by side in `out`; the table also goes to stdout."""
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.md").write_text(text)
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    print(text)
    log(f"wrote {out_dir / stem}.md and .json")


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def rss_mb(ru):
    return round(ru.ru_maxrss * 1024 / 1e6, 1)  # Linux reports KiB; MB = 10^6 bytes like every size here


def last_line(text):
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def error_line(err, out=""):
    """The line of a failed child's output that says what went wrong."""
    lines = [line.strip() for line in (err + "\n" + out).splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line
    return lines[-1] if lines else "no output"


def spawn(cmd, scratch, env=None):
    """Run cmd to completion; (exit code, wall seconds, peak RSS MB, stdout, stderr).

    Output goes to files, not pipes, so nothing runs in this process while the child does, and
    os.wait4 gives this child's own resource usage."""
    out_path, err_path = scratch / "stdout.txt", scratch / "stderr.txt"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    return (code, wall, rss_mb(ru), out_path.read_text(errors="replace"),
            err_path.read_text(errors="replace"))


def check_call(cmd, scratch, what):
    code, wall, rss, out, err = spawn(cmd, scratch)
    if code != 0:
        sys.exit(f"{what} failed (exit {code}): {shlex.join(map(str, cmd))}\n{err.strip()}")
    return out, wall


# --- measurements ---------------------------------------------------------------------------------

def paramkit_bench(binary, op, args, repeat, scratch, cleanup=()):
    """One ParamKitBench process: its own warm-up and timed runs, our RSS measurement."""
    cmd = [str(binary), op, *map(str, args), "--repeat", str(repeat)]
    os.sync()
    code, wall, rss, out, err = spawn(cmd, scratch)
    for path in cleanup:
        Path(path).unlink(missing_ok=True)
    if code != 0:
        raise Failed(f"exit {code}: {error_line(err, out)}")
    try:
        reported = json.loads(last_line(out))
    except json.JSONDecodeError:
        raise Failed(f"no JSON on stdout: {last_line(out)!r}")
    runs = reported["runs"]
    return {"command": shlex.join(cmd), "seconds": round(statistics.median(runs), 6),
            "runs": [round(t, 6) for t in runs], "reported_median_s": reported.get("median_s"),
            "process_wall_s": round(wall, 6), "peak_rss_mb": rss}


def paramkit_cli(binary, args, repeat, scratch, expect=(0,), output=None):
    """Whole-process wall time of `paramkit ARGS`: warm-up, then the median of `repeat` runs.

    Peak RSS is the largest over the timed runs. For a command that writes `output`, the file is
    removed and os.sync() runs before each run, both untimed."""
    cmd = [str(binary), *map(str, args)]
    times, rsses, codes = [], [], set()
    for i in range(repeat + 1):
        if output:
            Path(output).unlink(missing_ok=True)
        os.sync()
        code, wall, rss, out, err = spawn(cmd, scratch)
        if code not in expect:
            if output:
                Path(output).unlink(missing_ok=True)
            raise Failed(f"exit {code} (expected {'/'.join(map(str, expect))}): {error_line(err, out)}")
        codes.add(code)
        if i:
            times.append(wall)
            rsses.append(rss)
    if output:
        Path(output).unlink(missing_ok=True)
    return {"command": shlex.join(cmd), "seconds": round(statistics.median(times), 6),
            "runs": [round(t, 6) for t in times], "peak_rss_mb": max(rsses),
            "rss_runs_mb": rsses, "exit_codes": sorted(codes)}


def peer(python, op, cfg, repeat, scratch):
    """One bench/peers.py operation (it times in a fresh interpreter of its own)."""
    work = Path(cfg["workdir"]) / "peers"
    work.mkdir(exist_ok=True)
    cmd = [python, str(BENCH / "peers.py"), cfg["A.params"], "--ops", op, "--repeat", str(repeat),
           "--workdir", str(work), "--h5", cfg["A.h5py.h5"], "--safetensors", cfg["A.safetensors"]]
    if op == "python_combine":
        cmd += ["--second", cfg["B.params"]]
    os.sync()
    code, wall, rss, out, err = spawn(cmd, scratch)
    for leftover in work.iterdir():  # what the writers wrote
        leftover.unlink()
    if code != 0:
        raise Failed(f"exit {code}: {error_line(err, out)}")
    result = json.loads(out)["results"][op]
    result["command"] = shlex.join(cmd)
    return result


def attempt(results, key, what, fn, *args, **kwargs):
    log(what)
    try:
        results[key] = fn(*args, **kwargs)
        r = results[key]
        log(f"  {r['seconds']:.4g} s, peak RSS {r['peak_rss_mb']} MB")
    except Failed as e:
        results[key] = {"error": str(e)}
        log(f"  n/a: {e}")


# --- machine --------------------------------------------------------------------------------------

def cpu_model():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def mem_total_gib():
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return None


def filesystem(path):
    try:
        out = subprocess.run(["findmnt", "-n", "-o", "FSTYPE,SOURCE,TARGET", "--target", str(path)],
                             capture_output=True, text=True, check=True).stdout.split()
        return {"type": out[0], "source": out[1], "mount": out[2]}
    except (OSError, subprocess.CalledProcessError, IndexError):
        out = subprocess.run(["df", "-T", str(path)], capture_output=True, text=True).stdout.splitlines()
        fields = out[-1].split() if len(out) > 1 else ["?", "?", "?", "?", "?", "?", "?"]
        return {"type": fields[1], "source": fields[0], "mount": fields[-1]}


def git_revision():
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def machine(workdir, bins):
    versions = {}
    for pkg in ("mxnet", "numpy", "h5py", "safetensors"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    try:
        pk_version = subprocess.run([str(bins["paramkit"]), "--version"], capture_output=True,
                                    text=True).stdout.strip()
    except OSError:
        pk_version = None
    sources = [f.stat().st_mtime for f in (REPO / "Sources").rglob("*.swift")]
    stale = [k for k, b in bins.items() if sources and b.stat().st_mtime < max(sources)]
    return {
        "stale_binaries": stale,
        "nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
        "mem_total_gib": mem_total_gib(), "kernel": platform.release(),
        "workdir": str(workdir), "workdir_fs": filesystem(workdir),
        "python": platform.python_version(), "python_packages": versions,
        "paramkit_version": pk_version, "git": git_revision(),
        "binaries": {k: {"path": str(p), "mtime": datetime.datetime.fromtimestamp(p.stat().st_mtime)
                         .isoformat(timespec="seconds")} for k, p in bins.items()},
        "env": {k: os.environ[k] for k in sorted(os.environ)
                if k.startswith(("OMP_", "OPENBLAS_", "MXNET_", "MKL_"))},
    }


# --- the table ------------------------------------------------------------------------------------

def fmt_s(r):
    return f"{r['seconds']:.4g}" if r and "seconds" in r else "n/a"


def fmt_rss(r):
    if r and "peak_rss_mb" in r:
        return f"{r['peak_rss_mb']:.0f}"
    return "—" if r and "seconds" in r else "n/a"


def verdict(checks):
    """checks: list of (label, bool or None); None = could not be evaluated."""
    if not checks:
        return ""
    if any(ok is None for _, ok in checks):
        return "n/a"
    failed = [label for label, ok in checks if not ok]
    return "**FAIL** (" + ", ".join(failed) + ")" if failed else "pass"


def build_rows(pk, cli, peers, largest_mb):
    """Rows of the table and the list of target checks (also kept in the JSON)."""
    rss_cap = 2 * largest_mb + RSS_SLACK_MB
    rows, checks = [], []

    def ok(r):
        return bool(r) and "seconds" in r

    def row(op, mine, peer_label, theirs, target="", tests=()):
        ratio = theirs["seconds"] / mine["seconds"] if ok(mine) and ok(theirs) and mine["seconds"] else None
        rows.append([op, fmt_s(mine), fmt_rss(mine), peer_label, fmt_s(theirs) if peer_label else "",
                     fmt_rss(theirs) if peer_label else "", f"{ratio:.2f}×" if ratio else ("n/a" if peer_label else ""),
                     target, verdict(list(tests))])
        return ratio

    def ratio_of(mine, theirs):
        return theirs["seconds"] / mine["seconds"] if ok(mine) and ok(theirs) and mine["seconds"] else None

    def at_least(value, bound):
        return None if value is None else value >= bound

    def check(name, target, measured, passed):
        checks.append({"check": name, "target": target, "measured": measured, "pass": passed})
        return (name, passed)

    h5r, h5w = peers.get("h5py_read"), peers.get("h5py_write")
    r = ratio_of(pk.get("load_h5"), h5r)
    row("load A.h5 (ParamKit HDF5 → memory)", pk.get("load_h5"), "h5py read (A.h5py.h5)", h5r,
        f"≥ {LOAD_VS_H5PY}× h5py read",
        [check("load vs h5py read", f"ratio ≥ {LOAD_VS_H5PY}", r, at_least(r, LOAD_VS_H5PY))])
    # Like for like: the durable save against h5py + fsync, the page-cache save against plain h5py.
    h5wf = peers.get("h5py_write_fsync")
    for key, label, peer_label, peer in (("save_h5", "save → .h5 (fsync, atomic)", "h5py write + fsync", h5wf),
                                         ("save_nosync_h5", "save-nosync → .h5", "h5py write", h5w)):
        r = ratio_of(pk.get(key), peer)
        row(label, pk.get(key), peer_label, peer, f"≥ {SAVE_VS_H5PY}× {peer_label}",
            [check(f"{label} vs {peer_label}", f"ratio ≥ {SAVE_VS_H5PY}", r, at_least(r, SAVE_VS_H5PY))])
    row("load A.params", pk.get("load_params"), "mx.nd.load", peers.get("mx_load"))
    row("save → .params (fsync, atomic)", pk.get("save_params"), "mx.nd.save", peers.get("mx_save"))
    row("save-nosync → .params", pk.get("save_nosync_params"), "mx.nd.save", peers.get("mx_save"))
    row("load A.safetensors", pk.get("load_safetensors"), "safetensors load_file", peers.get("safetensors_load"))
    row("save-nosync → .safetensors", pk.get("save_nosync_safetensors"), "safetensors save_file",
        peers.get("safetensors_save"))
    row("memcpy of all tensors (ceiling)", pk.get("memcpy"), "numpy copyto", peers.get("memcpy"))

    r = cli.get("inspect_h5")
    secs = r["seconds"] if ok(r) else None
    row("CLI `inspect A.h5 --json` (process)", r, "", None, f"≤ {INSPECT_MAX_S * 1000:.0f} ms",
        [check("inspect A.h5 wall", f"≤ {INSPECT_MAX_S} s", secs, None if secs is None else secs <= INSPECT_MAX_S)])
    row("CLI `inspect A.params --json` (process)", cli.get("inspect_params"), "", None)

    d, la, lb = cli.get("diff"), pk.get("load_h5"), pk.get("load_h5_B")
    loads = {"seconds": la["seconds"] + lb["seconds"]} if ok(la) and ok(lb) else None
    bound = DIFF_VS_LOADS * loads["seconds"] if loads else None
    dsecs, drss = (d["seconds"], d["peak_rss_mb"]) if ok(d) else (None, None)
    row("CLI `diff A.h5 B.h5` (process)", d, "ParamKit load A.h5 + load B.h5", loads,
        f"≤ {DIFF_VS_LOADS}× loads{f' = {bound:.4f} s' if bound else ''}; RSS ≤ {rss_cap:.0f} MB",
        [check("diff wall vs loads", f"≤ {DIFF_VS_LOADS} × (load A.h5 + load B.h5)"
               + (f" = {bound:.6f} s" if bound else ""), dsecs,
               None if dsecs is None or bound is None else dsecs <= bound),
         check("diff peak RSS", f"≤ 2 × largest tensor + {RSS_SLACK_MB} MB = {rss_cap:.1f} MB", drss,
               None if drss is None else drss <= rss_cap)])

    c, pc = cli.get("combine"), peers.get("python_combine")
    r = ratio_of(c, pc)
    crss = c["peak_rss_mb"] if ok(c) else None
    row("CLI `combine A.params B.params -o C.params` (process)", c, PEER_LABELS["python_combine"], pc,
        f"≥ {COMBINE_VS_PYTHON}× Python; RSS ≤ {rss_cap:.0f} MB",
        [check("combine vs Python combine", f"ratio ≥ {COMBINE_VS_PYTHON}", r, at_least(r, COMBINE_VS_PYTHON)),
         check("combine peak RSS", f"≤ 2 × largest tensor + {RSS_SLACK_MB} MB = {rss_cap:.1f} MB", crss,
               None if crss is None else crss <= rss_cap)])
    return rows, checks


def markdown(report, rows, checks):
    m, f = report["machine"], report["files"]
    head = ["operation", "ParamKit s", "ParamKit peak RSS MB", "peer", "peer s", "peer peak RSS MB",
            "ratio (peer / ParamKit)", "target", "result"]
    out = [f"# ParamKit benchmark, {report['started']}", "",
           f"- command: `{report['command']}`" + (f" (via `{report['invoked_as']}`)" if report.get("invoked_as") else ""),
           f"- machine: {m['nproc']} CPUs available (nproc; {m['cpu_count']} online), {m['cpu_model']}, "
           f"{m['mem_total_gib']} GiB RAM, Linux {m['kernel']}",
           f"- workdir: `{m['workdir']}` on {m['workdir_fs']['type']} ({m['workdir_fs']['source']} "
           f"mounted at {m['workdir_fs']['mount']})",
           f"- ParamKit {m['paramkit_version'] or '?'} at git {m['git'] or '?'}; Python {m['python']}, "
           + ", ".join(f"{k} {v}" for k, v in m["python_packages"].items()),
           *([f"- warning: {', '.join(m['stale_binaries'])} older than the newest file in Sources/ "
              "(build with `swift build -c release`)"] if m["stale_binaries"] else []),
           f"- checkpoint: VGG16 Faster R-CNN at scale {report['scale']}: {f['tensors']} tensors, "
           f"{f['tensor_bytes'] / MB:.1f} MB of tensor data (A.params {f['A.params_bytes'] / MB:.1f} MB, "
           f"A.h5 {f['A.h5_bytes'] / MB:.1f} MB); largest tensor {f['largest_tensor']} "
           f"{f['largest_tensor_bytes'] / MB:.1f} MB",
           f"- each number: median of {report['repeat']} run(s) after 1 warm-up, each operation in a fresh "
           f"process; MB = 10^6 bytes; RSS floor (driver's own peak RSS, inherited by children): "
           f"{report['driver_rss_mb']:.0f} MB",
           "", "| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * 2 + ["---"] + ["---:"] * 3 + ["---"] * 2) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    out += ["", "Targets:", ""]
    for c in checks:
        meas = c["measured"]
        meas = "n/a" if meas is None else (f"{meas:.4g}" if isinstance(meas, float) else str(meas))
        res = {True: "pass", False: "**FAIL**", None: "n/a"}[c["pass"]]
        out.append(f"- {c['check']}: {c['target']}; measured {meas} → {res}")
    errors = [(k, v["error"]) for part in ("paramkit", "cli", "peers")
              for k, v in report["results"][part].items() if "error" in v]
    if errors:
        out += ["", "Not measured:", ""] + [f"- {k}: {e}" for k, e in errors]
    out += ["", "Notes:", "",
            "- ParamKit load/save/memcpy rows are in-process times from ParamKitBench (the file is loaded "
            "once, untimed, for the saves); the peers are in-process times from bench/peers.py "
            "(interpreter start and imports excluded).",
            "- CLI rows are whole-process wall times (spawn to exit) measured by the driver; the Python "
            "combine excludes interpreter start and `import mxnet`, so the combine ratio is conservative.",
            "- Writes start after an untimed sync; \"fsync, atomic\" writes a temporary file, fsyncs and "
            "renames it (what every CLI write, combine included, does); save-nosync, h5py, mx.nd.save, "
            "safetensors and the Python combine do not fsync.",
            "- Peak RSS is ru_maxrss of the measuring process over its warm-up and all runs (set-up "
            "included); for the CLI rows, the largest over the timed runs.",
            ]
    return "\n".join(out) + "\n"


# --- main -----------------------------------------------------------------------------------------

def make_peer_files(params, h5_path, st_path):
    """Child mode: write the h5py and safetensors copies of PARAMS with the peers' own libraries."""
    import h5py
    import mxnet as mx
    import safetensors.numpy
    arrays = {k: v.asnumpy() for k, v in mx.nd.load(params).items()}
    with h5py.File(h5_path, "w") as f:  # the layout peers.py's h5py_write uses
        for key, a in arrays.items():
            role, _, name = key.partition(":")
            f.create_dataset(f"{role}/{name}", data=a)
    safetensors.numpy.save_file(arrays, st_path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0,
                   help="VGG16 width multiplier for make_vgg16.py (1.0 = the real 548 MB network)")
    p.add_argument("--workdir", help="where the checkpoints go, e.g. /dev/shm/x for tmpfs (default: a fresh "
                   "temp dir under /tmp); A.params, B.params, A.h5, ... in it are overwritten and, "
                   "without --keep, removed")
    p.add_argument("--repeat", type=int, default=3, help="timed runs after the warm-up (default 3)")
    p.add_argument("--keep", action="store_true", help="keep the generated files")
    p.add_argument("--seed", type=int, default=0, help="make_vgg16.py seed")
    p.add_argument("--bin-dir", default=str(REPO / ".build" / "release"),
                   help="where paramkit and ParamKitBench are (default .build/release)")
    p.add_argument("--out", default=str(BENCH / "out"), help="where the table and JSON go (default bench/out)")
    p.add_argument("--make-peer-files", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make_peer_files:
        make_peer_files(*args.make_peer_files)
        return
    if args.repeat < 1:
        p.error("--repeat must be at least 1")

    started = datetime.datetime.now().astimezone()
    bins = {name: Path(args.bin_dir) / name for name in ("paramkit", "ParamKitBench")}
    missing = [str(b) for b in bins.values() if not os.access(b, os.X_OK)]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: build with `swift build -c release` (or use bench/run.sh)")

    created_dir = False
    if args.workdir:
        workdir = Path(args.workdir).resolve()
        created_dir = not workdir.exists()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="paramkit-bench-", dir="/tmp"))
        created_dir = True
    scratch = Path(tempfile.mkdtemp(prefix="paramkit-bench-io-"))  # children's stdout/stderr
    names = ["A.params", "B.params", "A.h5", "B.h5", "A.h5py.h5", "A.safetensors"]
    files = {n: str(workdir / n) for n in names}
    outputs = ["pk_save.h5", "pk_save.params", "pk_save.safetensors", "C.params"]
    python = sys.executable
    log(f"workdir {workdir}")

    try:
        # 1. Inputs.
        log(f"generating A.params, B.params (scale {args.scale})")
        gen, _ = check_call([python, str(BENCH / "make_vgg16.py"), files["A.params"], "--scale", str(args.scale),
                             "--seed", str(args.seed), "--perturbed", files["B.params"]], scratch, "make_vgg16.py")
        gen = json.loads(last_line(gen))
        size = os.path.getsize(files["A.params"])
        need = size * (len(names) + 2)  # inputs + one output at a time (+ a temp file during atomic writes)
        free = shutil.disk_usage(workdir).free
        if free < need:
            sys.exit(f"{workdir}: {free / MB:.0f} MB free, the run needs about {need / MB:.0f} MB")
        for n in ("A", "B"):
            log(f"paramkit convert {n}.params {n}.h5")
            check_call([bins["paramkit"], "convert", files[f"{n}.params"], files[f"{n}.h5"]], scratch,
                       f"paramkit convert {n}.params")
        log("writing A.h5py.h5 (h5py) and A.safetensors (safetensors.numpy)")
        check_call([python, __file__, "--make-peer-files", files["A.params"], files["A.h5py.h5"],
                    files["A.safetensors"]], scratch, "writing the peer copies")
        info, _ = check_call([bins["paramkit"], "inspect", files["A.h5"], "--json"], scratch, "paramkit inspect")
        info = json.loads(info)
        largest = max(info["tensors"], key=lambda t: t["bytes"])
        file_info = {"tensors": info["totals"]["tensors"], "tensor_bytes": info["totals"]["bytes"],
                     "largest_tensor": f"{largest['role']}:{largest['name']} {'×'.join(map(str, largest['shape']))}",
                     "largest_tensor_bytes": largest["bytes"], "make_vgg16": gen}
        file_info.update({f"{n}_bytes": os.path.getsize(files[n]) for n in names})
        driver_rss = rss_mb(resource.getrusage(resource.RUSAGE_SELF))

        # 2a. ParamKit library, in-process timings by ParamKitBench.
        pkb, N = bins["ParamKitBench"], args.repeat
        pk = {}
        out = {o: str(workdir / o) for o in outputs}
        attempt(pk, "load_h5", "ParamKitBench load A.h5", paramkit_bench, pkb, "load", [files["A.h5"]], N, scratch)
        attempt(pk, "load_h5_B", "ParamKitBench load B.h5", paramkit_bench, pkb, "load", [files["B.h5"]], N, scratch)
        for op, key in (("save", "save_h5"), ("save-nosync", "save_nosync_h5")):
            attempt(pk, key, f"ParamKitBench {op} A.h5 → .h5", paramkit_bench, pkb, op,
                    [files["A.h5"], out["pk_save.h5"]], N, scratch, cleanup=[out["pk_save.h5"]])
        attempt(pk, "load_params", "ParamKitBench load A.params", paramkit_bench, pkb, "load", [files["A.params"]],
                N, scratch)
        for op, key in (("save", "save_params"), ("save-nosync", "save_nosync_params")):
            attempt(pk, key, f"ParamKitBench {op} A.params → .params", paramkit_bench, pkb, op,
                    [files["A.params"], out["pk_save.params"]], N, scratch, cleanup=[out["pk_save.params"]])
        attempt(pk, "load_safetensors", "ParamKitBench load A.safetensors", paramkit_bench, pkb, "load",
                [files["A.safetensors"]], N, scratch)
        attempt(pk, "save_nosync_safetensors", "ParamKitBench save-nosync A.safetensors → .safetensors",
                paramkit_bench, pkb, "save-nosync", [files["A.safetensors"], out["pk_save.safetensors"]], N,
                scratch, cleanup=[out["pk_save.safetensors"]])
        attempt(pk, "memcpy", "ParamKitBench memcpy A.h5", paramkit_bench, pkb, "memcpy", [files["A.h5"]], N, scratch)

        # 2b. The CLI, whole-process wall time.
        pkc, cli = bins["paramkit"], {}
        attempt(cli, "inspect_h5", "paramkit inspect A.h5 --json", paramkit_cli, pkc,
                ["inspect", files["A.h5"], "--json"], N, scratch)
        attempt(cli, "inspect_params", "paramkit inspect A.params --json", paramkit_cli, pkc,
                ["inspect", files["A.params"], "--json"], N, scratch)
        attempt(cli, "diff", "paramkit diff A.h5 B.h5", paramkit_cli, pkc,
                ["diff", files["A.h5"], files["B.h5"]], N, scratch, expect=(1,))
        attempt(cli, "combine", "paramkit combine A.params B.params -o C.params", paramkit_cli, pkc,
                ["combine", files["A.params"], files["B.params"], "-o", out["C.params"]], N, scratch,
                output=out["C.params"])

        # 2c. Peers.
        cfg = dict(files, workdir=str(workdir))
        peers = {}
        for op in PEER_OPS:
            attempt(peers, op, f"peers.py {op}", peer, python, op, cfg, N, scratch)

        # 3. Report.
        report = {"started": started.isoformat(timespec="seconds"),
                  "command": shlex.join([python, *sys.argv]),
                  "invoked_as": os.environ.get("PARAMKIT_BENCH_INVOKED_AS"),
                  "scale": args.scale, "repeat": N, "seed": args.seed,
                  "machine": machine(workdir, bins), "files": file_info, "driver_rss_mb": driver_rss,
                  "results": {"paramkit": pk, "cli": cli, "peers": peers}}
        rows, checks = build_rows(pk, cli, peers, largest["bytes"] / MB)
        report["checks"] = checks
        report["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        text = markdown(report, rows, checks)
        fs = report["machine"]["workdir_fs"]["type"]
        write_report(args.out, f"bench-{started.strftime('%Y%m%d-%H%M%S')}-scale{args.scale:g}-{fs}", text, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        if args.keep:
            log(f"kept the files in {workdir}")
        else:
            for n in names + outputs:
                (workdir / n).unlink(missing_ok=True)
            peers_dir = workdir / "peers"
            if peers_dir.is_dir():
                shutil.rmtree(peers_dir, ignore_errors=True)
            if created_dir:
                try:
                    workdir.rmdir()
                except OSError as e:
                    log(f"left {workdir}: {e}")


if __name__ == "__main__":
    main()
