// ParamKit's side of bench/run.py (and, for the engine, bench/engine.py; see EngineBench.swift): times one library operation on a given file (one warm-up, then
// the median of N runs) and prints JSON. Peak memory is measured by the driver around this process.
//
//   ParamKitBench load FILE            read every tensor into memory
//   ParamKitBench save FILE OUT        write FILE's tensors (loaded once, untimed) to OUT, with fsync
//   ParamKitBench save-nosync FILE OUT the same without fsync (what h5py and mx.nd.save do)
//   ParamKitBench digest FILE          XXH64 over every tensor already in memory
//   ParamKitBench memcpy FILE          copy the checkpoint's bytes into a warm buffer (bandwidth ceiling)

import Engine
import Foundation
import ParamKit

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

let args = CommandLine.arguments
if args.count >= 2, ["engine-step", "train", "conv-gflops", "proposal", "graph-check"].contains(args[1]) {
    do {
        if let t = args.firstIndex(of: "--threads").flatMap({ Int(args[$0 + 1]) }) { Threads.set(t) }
        switch args[1] {
        case "engine-step":
            try EngineBench.step(dir: args[2], stage: args[3], out: args[4], probe: args.contains("--probe"),
                                 align: args.firstIndex(of: "--align").map { args[$0 + 1] })
        case "graph-check":
            try GraphCheck.run(symbol: args[2], input: args[3], output: args[4], training: !args.contains("--inference"))
        case "proposal":
            print(try EngineBench.proposal(input: args[2], output: args[3], pre: Int(args[4])!, post: Int(args[5])!))
        case "train":
            let iters = args.firstIndex(of: "--iters").flatMap { Int(args[$0 + 1]) } ?? 3
            let freeze = args.firstIndex(of: "--freeze").map { args[$0 + 1] } ?? "FIXED_PARAMS"
            print(try EngineBench.train(net: args[2], stage: args[3], height: Int(args[4])!, width: Int(args[5])!, iters: iters, freeze: freeze,
                                         profile: args.firstIndex(of: "--profile").map { Int(args.dropFirst($0 + 1).first ?? "") ?? 25 } ?? 0))
        default:
            print(EngineBench.convGFlops(only: args.firstIndex(of: "--only").map { args[$0 + 1] }, skipIm2col: args.contains("--no-im2col"),
                                         runs: args.firstIndex(of: "--runs").flatMap { Int(args[$0 + 1]) } ?? 3))
        }
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("ParamKitBench: \(error)\n".utf8))
        exit(2)
    }
}
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: ParamKitBench load|save|save-nosync|digest|memcpy FILE [OUT] [--repeat N]\n".utf8))
    exit(2)
}
let op = args[1], file = args[2]
let repeats = args.firstIndex(of: "--repeat").flatMap { Int(args[$0 + 1]) } ?? 3

do {
    var run: () throws -> Void
    var prepare: () -> Void = {}   // untimed, before each run
    switch op {
    case "load":
        run = { _ = try Formats.load(path: file) }
    case "save", "save-nosync":
        guard args.count >= 4 else { throw UsageError("save needs an output path") }
        let c = try Formats.load(path: file)
        let out = args[3]
        AtomicOutput.durable = op == "save"
        prepare = {
            try? FileManager.default.removeItem(atPath: out)
            sync()   // no dirty pages from the previous run
        }
        run = { try Formats.save(c, to: out) }
    case "digest":
        let c = try Formats.load(path: file)
        run = { for (_, t) in c.tensors { _ = t.digest } }
    case "memcpy":
        let c = try Formats.load(path: file)
        let total = c.tensors.reduce(0) { $0 + $1.tensor.byteCount }
        let dst = UnsafeMutableRawPointer.allocate(byteCount: total, alignment: 64)
        memset(dst, 0, total)
        run = {
            var at = 0
            for (_, t) in c.tensors {
                t.withUnsafeBytes { (dst + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                at += t.byteCount
            }
        }
    default:
        throw UsageError("unknown operation \(op)")
    }
    var times: [Double] = []
    for i in 0...repeats {
        prepare()
        let t = try seconds(run)
        if i > 0 { times.append(t) }   // the first run warms caches
    }
    times.sort()
    print(#"{"op": "\#(op)", "median_s": \#(times[times.count / 2]), "runs": \#(times)}"#)
} catch {
    FileHandle.standardError.write(Data("ParamKitBench: \(error)\n".utf8))
    exit(2)
}
