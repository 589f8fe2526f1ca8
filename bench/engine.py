"""Engine benchmark: ParamKit's training engine next to MXNet 1.9.1, in one run on this machine.

    .venv-interop/bin/python bench/engine.py [--quick] [--threads 1,2] [--iters N] [--nets tiny-vgg,vgg16]

(a) `ParamKitBench conv-gflops --threads T`: convolution forward + backward (weights and data)
    GFLOP/s per VGG16 / tiny-vgg layer shape, counted as direct convolution FLOPs, for im2col and
    (where the engine uses it) Winograd F(4×4, 3×3), as a fraction of the OpenBLAS sgemm GFLOP/s
    measured in the same process (target ≥ 50 %, checked on the engine's own choice). The engine's
    AVX-512 sgemm rate is reported beside OpenBLAS's.
(b) One full training iteration (forward, backward, SGD update; one image) of the RPN and the
    R-CNN stage, FIXED_PARAMS freezing, at the same net, input size and thread count:
    `ParamKitBench train` against `bench/mx_train_step.py`. Each side does 2 untimed warm-up
    iterations, then reports the median of N. Speed ratio = MXNet ms / ParamKit ms (target ≥ 1.0).
(c) Peak RSS of every one of those processes: ru_maxrss from os.wait4 (MXNet's includes the
    ~150 MiB that `import mxnet` costs; that alone is measured too).

Settings: tiny-vgg at 128×128 and 600×1000 (20 iterations), vgg16 at 300×500 and 600×1000
(3 iterations; MXNet's R-CNN step takes 6–12 s there), resnet-101 (the reference's ResNet, BatchNorm
on moving statistics) and inception-v3 (the fork's, BatchNorm on batch statistics) at 600×1000
(2 iterations), and a mid-size VGG (examples/networks/midsize-vgg.yaml: widths 16/32/64/64/64,
fc 256) at 224×300 (10) and 600×1000 (5). --quick: tiny-vgg and vgg16 300×500 only,
5 and 2 iterations. --iters overrides every count; --nets restricts the networks.

Like bench/run.py, this driver imports nothing heavy: a child's ru_maxrss starts from its parent's
peak RSS (fork/exec), so the driver's own peak (driver_rss_mb) is the floor of every RSS here.
The Markdown table goes to stdout and bench/out/engine-<time>.md, the raw results to .json.
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
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(BENCH))
from run import cpu_model, error_line, filesystem, git_revision, last_line, log, mem_total_gib, spawn, write_report  # noqa: E402

CONV_FRACTION_TARGET = 0.5   # conv fwd+bwd GFLOP/s ≥ 50 % of sgemm GFLOP/s
SPEED_TARGET = 1.0           # MXNet ms / ParamKit ms
FREEZE = "FIXED_PARAMS"
STAGES = ("rpn", "rcnn")
STAGE_LABELS = {"rpn": "RPN", "rcnn": "R-CNN"}
WARMUP = 2                   # ParamKitBench train's built-in warm-up count; MXNet gets the same

# (net, height, width, iterations, iterations with --quick or None = not in --quick)
SETTINGS = [
    ("tiny-vgg", 128, 128, 20, 5),
    ("tiny-vgg", 600, 1000, 20, 5),
    ("vgg16", 300, 500, 3, 2),
    ("vgg16", 600, 1000, 3, None),
    ("resnet-101", 600, 1000, 2, None),
    ("inception-v3", 600, 1000, 2, None),
    ("midsize-vgg", 224, 300, 10, None),
    ("midsize-vgg", 600, 1000, 5, None),
]
# Networks that ParamKit reads from a network file (MXNet's side: mx_train_step.py's NETS entry).
NETWORK_FILES = {"midsize-vgg": Path(__file__).resolve().parent.parent / "examples/networks/midsize-vgg.yaml"}


class Failed(Exception):
    """A measurement that could not be made; its cell shows n/a and the reason is listed."""


def rss_mib(ru):
    return round(ru.ru_maxrss / 1024, 1)   # Linux: KiB


def run_child(cmd, scratch, env=None):
    """(stdout, wall s, peak RSS MiB) of a child that must exit 0 and print JSON on its last line."""
    code, wall, rss, out, err = spawn([str(c) for c in cmd], scratch, env)
    if code != 0:
        raise Failed(f"exit {code}: {error_line(err, out)}")
    return out, wall, rss


def json_lines(text):
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def thread_env(threads):
    """ParamKitBench's environment: the engine runs `--threads T` threads of its own and calls OpenBLAS
    single-threaded only, so OpenBLAS gets 1 thread. (With more, OpenBLAS starts an idle worker at load
    that spin-waits for its first ~0.1 s, which is the whole of a short tiny-vgg measurement.)"""
    env = dict(os.environ)
    env["OPENBLAS_NUM_THREADS"] = "1"
    env["OMP_NUM_THREADS"] = str(threads)
    return env


# --- measurements ---------------------------------------------------------------------------------

def conv_gflops(pkb, threads, scratch):
    cmd = [pkb, "conv-gflops", "--threads", threads]
    out, wall, rss = run_child(cmd, scratch, thread_env(threads))
    rows = json_lines(out)
    sgemm = [r for r in rows if r.get("kind") == "sgemm"]
    if not any(r.get("backend") == "openblas" for r in sgemm):
        raise Failed(f"no OpenBLAS sgemm line in the output: {last_line(out)!r}")
    return {"command": shlex.join(map(str, cmd)), "sgemm": sgemm,
            "conv": [r for r in rows if r.get("kind") == "conv"], "process_wall_s": round(wall, 3),
            "peak_rss_mb": rss}


def paramkit_train(pkb, net, stage, h, w, threads, iters, scratch):
    cmd = [pkb, "train", NETWORK_FILES.get(net, net), stage, h, w, "--iters", iters, "--threads", threads, "--freeze", FREEZE]
    out, wall, rss = run_child(cmd, scratch, thread_env(threads))
    try:
        r = json.loads(last_line(out))
    except json.JSONDecodeError:
        raise Failed(f"no JSON on stdout: {last_line(out)!r}")
    # The median is taken here for both sides (statistics.median: the mean of the middle two for an
    # even count; ParamKitBench's own median_ms takes the upper one).
    return {"command": shlex.join(map(str, cmd)), "median_ms": round(statistics.median(r["runs_ms"]), 3),
            "reported_median_ms": r["median_ms"],
            "runs_ms": [round(t, 3) for t in r["runs_ms"]], "feature_shape": r.get("feature_shape"),
            "reported_threads": r.get("threads"), "process_wall_s": round(wall, 3), "peak_rss_mb": rss}


def mxnet_train(python, net, stage, h, w, threads, iters, scratch):
    cmd = [python, BENCH / "mx_train_step.py", "--net", net, "--stage", stage, "--height", h, "--width", w,
           "--threads", threads, "--freeze", FREEZE, "--iters", iters, "--warmup", WARMUP]
    out, wall, rss = run_child(cmd, scratch)
    try:
        r = json.loads(last_line(out))
    except json.JSONDecodeError:
        raise Failed(f"no JSON on stdout: {last_line(out)!r}")
    return {"command": shlex.join(map(str, cmd)), "median_ms": round(statistics.median(r["runs_ms"]), 3),
            "reported_median_ms": r["median_ms"], "runs_ms": r["runs_ms"],
            "feature_shape": r.get("feature_shape"), "self_reported_peak_rss_mib": r.get("peak_rss_mb"),
            "rss_after_init_mib": r.get("rss_after_init_mb"), "process_wall_s": round(wall, 3),
            "peak_rss_mb": rss}


def mxnet_import(python, scratch):
    _, wall, rss = run_child([python, "-c", "import mxnet"], scratch)
    return {"process_wall_s": round(wall, 3), "peak_rss_mb": rss}


def flops(python, net, h, w, scratch):
    """{stage: GFLOP dict} from mx_train_step.py --flops-only (pure Python, no MXNet import)."""
    out, _, _ = run_child([python, BENCH / "mx_train_step.py", "--net", net, "--height", h, "--width", w,
                           "--freeze", FREEZE, "--flops-only"], scratch)
    return {r["stage"]: r for r in json_lines(out)}


def attempt(what, fn, *args):
    log(what)
    try:
        r = fn(*args)
        if "median_ms" in r:
            log(f"  median {r['median_ms']:.1f} ms, peak RSS {r['peak_rss_mb']} MiB")
        else:
            log(f"  {r['process_wall_s']:.1f} s, peak RSS {r['peak_rss_mb']} MiB")
        return r
    except Failed as e:
        log(f"  n/a: {e}")
        return {"error": str(e)}


# --- machine --------------------------------------------------------------------------------------

def machine(pkb, scratch):
    versions = {}
    for pkg in ("mxnet", "numpy"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    sources = [f.stat().st_mtime for d in (REPO / "Sources", BENCH / "ParamKitBench") if d.is_dir()
               for f in d.rglob("*.swift")]
    return {
        "stale_binaries": ["ParamKitBench"] if sources and pkb.stat().st_mtime < max(sources) else [],
        "nproc": len(os.sched_getaffinity(0)), "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
        "mem_total_gib": mem_total_gib(), "kernel": platform.release(), "scratch_fs": filesystem(scratch),
        "python": platform.python_version(), "python_packages": versions, "git": git_revision(),
        "binaries": {"ParamKitBench": {"path": str(pkb), "mtime": datetime.datetime.fromtimestamp(
            pkb.stat().st_mtime).isoformat(timespec="seconds")}},
        "env": {k: os.environ[k] for k in sorted(os.environ)
                if k.startswith(("OMP_", "OPENBLAS_", "MXNET_", "MKL_", "DNNL_", "PARAMKIT_"))},
        "kernel_isas": subprocess.run([str(REPO / "tools/isa.sh"), "--describe"], capture_output=True,
                                      text=True).stdout.strip(),
    }


# --- the tables -----------------------------------------------------------------------------------

def ok(r):
    return bool(r) and "error" not in r


def fmt(v, spec):
    return "n/a" if v is None else format(v, spec)


def verdict(passed):
    return {True: "pass", False: "**FAIL**", None: "n/a"}[passed]


def conv_table(report, checks):
    """One row per (layer, algorithm); the target is checked on the algorithm the engine picks by
    itself (Winograd where ParamKitBench reported a Winograd row, else im2col)."""
    threads = report["config"]["threads"]
    convs = report["results"]["conv"]
    head = ["layer", "C_in→C_out, H×W", "algorithm"]
    for t in threads:
        head += [f"GFLOP/s T={t}", f"of OpenBLAS sgemm T={t}"]
    head += ["max rel. error vs im2col", f"target ≥ {CONV_FRACTION_TARGET:.0%} (engine's choice)"]
    rows = []
    for backend, label in (("openblas", "sgemm 2048³, OpenBLAS (the reference)"), ("native", "sgemm 2048³, ParamKit (current ISA)")):
        row = [label, "", ""]
        for t in threads:
            r = convs.get(str(t))
            sg = next((x for x in r.get("sgemm", []) if x.get("backend") == backend), None) if ok(r) else None
            ref = next((x for x in r.get("sgemm", []) if x.get("backend") == "openblas"), None) if ok(r) else None
            row += [fmt(sg["gflops"], ".1f"), f"{sg['gflops'] / ref['gflops']:.0%}"] if sg and ref else ["n/a", "n/a"]
        rows.append(row + ["", ""])
    keys = []
    for t in threads:
        r = convs.get(str(t))
        if ok(r):
            keys += [(c["layer"], c["algorithm"]) for c in r["conv"] if (c["layer"], c["algorithm"]) not in keys]
    for layer, algorithm in keys:
        shape, cells, passes, error = "", [], [], ""
        for t in threads:
            r = convs.get(str(t))
            layer_rows = [c for c in r["conv"] if c["layer"] == layer] if ok(r) else []
            c = next((c for c in layer_rows if c["algorithm"] == algorithm), None)
            chosen = c is not None and (c["algorithm"] != "im2col" or len(layer_rows) == 1)
            if c:
                cin, cout, h, w = c["shape"]
                shape = f"{cin}→{cout}, {h}×{w}"
                frac = c["fraction_of_sgemm"]
                if c["algorithm"] != "im2col":
                    error = f"{c['max_rel_error_vs_im2col']:.1e}"
                if chosen:
                    passed = frac >= CONV_FRACTION_TARGET
                    checks.append({"check": f"conv {layer} ({algorithm}) T={t}", "target": f"≥ {CONV_FRACTION_TARGET} of OpenBLAS sgemm",
                                   "measured": round(frac, 4), "pass": passed})
                    passes.append(passed)
                cells += [f"{c['gflops']:.1f}", f"{frac:.0%}"]
            else:
                cells += ["n/a", "n/a"]
                passes.append(None)
        res = "" if not passes else "n/a" if None in passes else ("pass" if all(passes) else "**FAIL**")
        rows.append([layer, shape, algorithm] + cells + [error, res])
    align = "|" + "|".join(["---", "---", "---"] + ["---:"] * (2 * len(threads)) + ["---:", "---"]) + "|"
    return ["| " + " | ".join(head) + " |", align] + ["| " + " | ".join(r) + " |" for r in rows]


def train_table(report, checks):
    head = ["net", "input", "T", "stage", "iters", "ParamKit ms", "MXNet ms", "speed ratio (MXNet / ParamKit)",
            "ParamKit GFLOP/s", "MXNet GFLOP/s", "ParamKit peak RSS MiB", "MXNet peak RSS MiB",
            f"target ≥ {SPEED_TARGET:g}×"]
    rows = []
    for s in report["results"]["train"]:
        pk_sum = mx_sum = gflop_sum = 0.0
        complete = True
        for stage in STAGES:
            pk, mx = s["paramkit"].get(stage), s["mxnet"].get(stage)
            gflop = (s["flops"].get(stage) or {}).get("train_gflop_exact")
            pk_ms = pk["median_ms"] if ok(pk) else None
            mx_ms = mx["median_ms"] if ok(mx) else None
            ratio = mx_ms / pk_ms if pk_ms and mx_ms else None
            passed = None if ratio is None else ratio >= SPEED_TARGET
            checks.append({"check": f"{s['net']} {s['height']}×{s['width']} T={s['threads']} "
                                    f"{STAGE_LABELS[stage]} speed", "target": f"MXNet ms / ParamKit ms ≥ {SPEED_TARGET}",
                           "measured": None if ratio is None else round(ratio, 3), "pass": passed})
            if pk_ms is None or mx_ms is None or gflop is None:
                complete = False
            else:
                pk_sum, mx_sum, gflop_sum = pk_sum + pk_ms, mx_sum + mx_ms, gflop_sum + gflop
            rows.append([s["net"], f"{s['height']}×{s['width']}", str(s["threads"]), STAGE_LABELS[stage],
                         str(s["iters"]), fmt(pk_ms, ".1f"), fmt(mx_ms, ".1f"),
                         "n/a" if ratio is None else f"{ratio:.2f}×",
                         fmt(gflop / pk_ms * 1e3 if gflop and pk_ms else None, ".1f"),
                         fmt(gflop / mx_ms * 1e3 if gflop and mx_ms else None, ".1f"),
                         fmt(pk["peak_rss_mb"] if ok(pk) else None, ".0f"),
                         fmt(mx["peak_rss_mb"] if ok(mx) else None, ".0f"), verdict(passed)])
        if complete:
            ratio = mx_sum / pk_sum
            rows.append(["", "", "", "**RPN + R-CNN**", "", f"{pk_sum:.1f}", f"{mx_sum:.1f}", f"**{ratio:.2f}×**",
                         f"{gflop_sum / pk_sum * 1e3:.1f}", f"{gflop_sum / mx_sum * 1e3:.1f}", "", "",
                         verdict(ratio >= SPEED_TARGET)])
    align = "|" + "|".join(["---"] * 4 + ["---:"] * 8 + ["---"]) + "|"
    return ["| " + " | ".join(head) + " |", align] + ["| " + " | ".join(r) + " |" for r in rows]


def markdown(report):
    m, cfg = report["machine"], report["config"]
    checks = []
    conv = conv_table(report, checks)
    train = train_table(report, checks)
    report["checks"] = checks
    imp = report["results"].get("mxnet_import")
    out = [f"# ParamKit engine benchmark, {report['started']}", "",
           f"- command: `{report['command']}`" + (f" (via `{report['invoked_as']}`)" if report.get("invoked_as") else ""),
           f"- machine: {m['nproc']} CPUs available (nproc; {m['cpu_count']} online), {m['cpu_model']}, "
           f"{m['mem_total_gib']} GiB RAM, Linux {m['kernel']}",
           f"- ParamKit at git {m['git'] or '?'} (ParamKitBench built {m['binaries']['ParamKitBench']['mtime']}); "
           f"Python {m['python']}, " + ", ".join(f"{k} {v}" for k, v in m["python_packages"].items()),
           *([f"- warning: {', '.join(m['stale_binaries'])} older than the newest Swift source "
              "(build with `swift build -c release`)"] if m["stale_binaries"] else []),
           *([f"- inherited environment: " + ", ".join(f"{k}={v}" for k, v in m["env"].items())] if m["env"] else []),
           *([f"- note: OPENBLAS_CORETYPE={m['env']['OPENBLAS_CORETYPE']} pins OpenBLAS (the sgemm reference of the "
              "conv table, and ParamKit's products below 32 rows or depth) to that CPU's kernels; ParamKit's own "
              "sgemm and MXNet's oneDNN convolutions and FC ignore it"] if "OPENBLAS_CORETYPE" in m["env"] else []),
           f"- {m['kernel_isas']}; ParamKit ran the {m['env'].get('PARAMKIT_ISA', 'best')} kernels, MXNet's oneDNN "
           f"{('at most ' + m['env']['DNNL_MAX_CPU_ISA']) if 'DNNL_MAX_CPU_ISA' in m['env'] else 'its best ISA'}",
           f"- threads: {', '.join(map(str, cfg['threads']))}; freezing {FREEZE}; {WARMUP} warm-up iterations "
           f"then the median of the stated count (taken here from each side's per-iteration times), each stage in a fresh process; RSS floor (driver's own peak "
           f"RSS, inherited by children): {report['driver_rss_mb']:.0f} MiB",
           "", "## Convolution forward + backward (ParamKitBench conv-gflops)", "", *conv,
           "", "## One training iteration, one image", "", *train, "",
           "Targets:", ""]
    for c in checks:
        meas = "n/a" if c["measured"] is None else f"{c['measured']:.4g}"
        out.append(f"- {c['check']}: {c['target']}; measured {meas} → {verdict(c['pass'])}")
    errors = [(k, r["error"]) for k, r in report["results"]["conv"].items() if not ok(r)]
    errors = [(f"conv-gflops T={k}", e) for k, e in errors]
    for s in report["results"]["train"]:
        for side in ("paramkit", "mxnet"):
            for stage, r in s[side].items():
                if not ok(r):
                    errors.append((f"{side} {s['net']} {s['height']}×{s['width']} T={s['threads']} {stage}",
                                   r["error"]))
    if errors:
        out += ["", "Not measured:", ""] + [f"- {k}: {e}" for k, e in errors]
    out += ["", "Notes:", "",
            "- Conv GFLOP/s counts 3 × 2·C_in·C_out·9·H·W (forward, weight gradient, data gradient) over the "
            "best of the timed runs (after one warm-up: at least 3, repeated until 0.2 s of them, at most 50), for every algorithm (so Winograd, which does 4× fewer multiplies, can exceed "
            "100 %); the fraction divides by the best-of-5 2048³ OpenBLAS sgemm rate of the same process. "
            "The error column is max|Winograd − im2col| over y, dX and dW relative to the largest im2col magnitude "
            "(random inputs, He-scaled weights).",
            "- Training GFLOP/s = `mx_train_step.py --flops-only` train_gflop_exact (conv and FC MACs × 2, "
            "forward + the backward kernels that FIXED_PARAMS actually needs) ÷ median wall time.",
            "- Both sides use the same symbols, shapes, freezing and thread count (ParamKit: `--threads T` "
            "engine threads, OpenBLAS called single-threaded inside them (OPENBLAS_NUM_THREADS=1); MXNet: OMP_NUM_THREADS=MXNET_CPU_WORKER_NTHREADS="
            "OPENBLAS_NUM_THREADS=T). The input values differ (each side draws its own random image, rois "
            "and labels), which only changes ROI pooling's per-roi cost.",
            "- Peak RSS is ru_maxrss of each process from os.wait4, set-up and warm-up included, in MiB "
            "(2^20 bytes, as /proc and mx_train_step.py report it). MXNet's includes the library itself: "
            + (f"`import mxnet` alone peaks at {imp['peak_rss_mb']:.0f} MiB here." if ok(imp)
               else "about 150 MiB for `import mxnet` alone."),
            ]
    return "\n".join(out) + "\n"


# --- main -----------------------------------------------------------------------------------------

def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError("thread counts must be ≥ 1")
    return values


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny-vgg and vgg16 300×500 only, with fewer iterations (for testing the script)")
    p.add_argument("--threads", type=int_list, default=[1, 2], help="comma-separated thread counts (default 1,2)")
    p.add_argument("--iters", type=int, help="timed iterations for every setting (default: 20 for tiny-vgg and "
                   "3 for vgg16; 5 and 2 with --quick)")
    nets = sorted({s[0] for s in SETTINGS})
    p.add_argument("--nets", default=",".join(nets), help=f"comma-separated subset of {', '.join(nets)}")
    p.add_argument("--skip-conv", action="store_true", help="leave out the conv GFLOP/s part")
    p.add_argument("--bin", default=os.environ.get("PARAMKIT_BENCH_BIN", str(REPO / ".build/release/ParamKitBench")),
                   help="ParamKitBench (default $PARAMKIT_BENCH_BIN or .build/release/ParamKitBench)")
    p.add_argument("--out", default=str(BENCH / "out"), help="where the table and JSON go (default bench/out)")
    args = p.parse_args()
    if args.iters is not None and args.iters < 1:
        p.error("--iters must be at least 1")
    wanted = [n.strip() for n in args.nets.split(",") if n.strip()]
    unknown = sorted(set(wanted) - set(nets))
    if unknown or not wanted:
        p.error(f"--nets: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(nets)}")

    started = datetime.datetime.now().astimezone()
    pkb = Path(args.bin)
    if not os.access(pkb, os.X_OK):
        sys.exit(f"missing {pkb}: build with `swift build -c release`")
    python = sys.executable
    settings = [(net, h, w, iters_quick if args.quick else iters) for net, h, w, iters, iters_quick in SETTINGS
                if net in wanted and not (args.quick and iters_quick is None)]
    if args.iters is not None:
        settings = [(net, h, w, args.iters) for net, h, w, _ in settings]

    scratch = Path(tempfile.mkdtemp(prefix="paramkit-engine-bench-"))
    try:
        driver_rss = rss_mib(resource.getrusage(resource.RUSAGE_SELF))
        results = {"conv": {}, "train": []}
        results["mxnet_import"] = attempt("python -c 'import mxnet' (RSS of the library alone)", mxnet_import,
                                          python, scratch)
        gflop = {}
        for net, h, w, _ in settings:
            try:
                gflop[(net, h, w)] = flops(python, net, h, w, scratch)
            except Failed as e:
                log(f"FLOP count for {net} {h}×{w}: {e}")
                gflop[(net, h, w)] = {}
        for t in args.threads:
            if not args.skip_conv:
                results["conv"][str(t)] = attempt(f"ParamKitBench conv-gflops --threads {t}", conv_gflops,
                                                  pkb, t, scratch)
            for net, h, w, iters in settings:
                entry = {"net": net, "height": h, "width": w, "threads": t, "iters": iters, "freeze": FREEZE,
                         "flops": gflop[(net, h, w)], "paramkit": {}, "mxnet": {}}
                for stage in STAGES:
                    entry["paramkit"][stage] = attempt(f"ParamKit {net} {h}×{w} {stage} T={t} ({iters} iters)",
                                                       paramkit_train, pkb, net, stage, h, w, t, iters, scratch)
                    entry["mxnet"][stage] = attempt(f"MXNet    {net} {h}×{w} {stage} T={t} ({iters} iters)",
                                                    mxnet_train, python, net, stage, h, w, t, iters, scratch)
                    pk, mx = entry["paramkit"][stage], entry["mxnet"][stage]
                    if ok(pk) and ok(mx) and pk.get("feature_shape") != mx.get("feature_shape"):
                        log(f"  warning: feature map {pk.get('feature_shape')} (ParamKit) vs "
                            f"{mx.get('feature_shape')} (MXNet)")
                results["train"].append(entry)

        report = {"started": started.isoformat(timespec="seconds"),
                  "command": shlex.join([python, *sys.argv]),
                  "invoked_as": os.environ.get("PARAMKIT_BENCH_INVOKED_AS"),
                  "config": {"quick": args.quick, "threads": args.threads, "iters": args.iters,
                             "nets": wanted, "warmup": WARMUP, "freeze": FREEZE,
                             "settings": [dict(zip(("net", "height", "width", "iters"), s)) for s in settings]},
                  "machine": machine(pkb, scratch), "driver_rss_mb": driver_rss, "results": results}
        text = markdown(report)   # also fills report["checks"]
        report["finished"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
        write_report(args.out, f"engine-{started.strftime('%Y%m%d-%H%M%S')}", text, report)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
