// Where a graph's time goes: when switched on, every GraphRun adds each node's forward and
// backward wall time to a table keyed by node name (bench/ParamKitBench `train … --profile` prints
// it). Off by default; when off a run reads one flag per node and takes no clock.
//
// The engine runs one graph at a time on the calling thread (its kernels fan out over the worker
// pool inside a node), so the table needs no lock; it is not meant for concurrent runs.

import Dispatch
import Foundation

public enum GraphProfile {
    public struct Entry: Sendable {
        public var node: String
        public var kind: String
        /// The node's output shape the first time it ran.
        public var shape: [Int]
        /// The op's forward FLOPs per call (Op.flops).
        public var flops = 0.0
        public var forward = 0.0
        public var backward = 0.0
        public var calls = 0
    }

    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) static var table: [String: Entry] = [:]
    nonisolated(unsafe) static var order: [String] = []

    public static func reset() {
        table = [:]
        order = []
    }

    static func clock() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// One forward call of `node`: the entry is made here, with the output shape and FLOPs.
    static func recordForward(node: String, kind: String, shape: [Int], flops: Double, seconds: Double) {
        if table[node] == nil {
            table[node] = Entry(node: node, kind: kind, shape: shape, flops: flops)
            order.append(node)
        }
        table[node]!.forward += seconds
        table[node]!.calls += 1
    }

    /// One backward call of a node whose forward ran in the same profile.
    static func recordBackward(node: String, seconds: Double) {
        table[node]?.backward += seconds
    }

    /// Nodes in graph order.
    public static var entries: [Entry] { order.compactMap { table[$0] } }

    /// Milliseconds per call by op kind and the `top` slowest nodes, each with its share of the
    /// total graph time; `calls` divides the sums (the timed iterations).
    public static func report(top: Int = 25, per calls: Int = 1) -> String {
        let all = entries
        let scale = 1000 / Double(max(calls, 1))
        let total = all.reduce(0.0) { $0 + $1.forward + $1.backward }
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func ms(_ t: Double) -> String { String(format: "%9.1f", t * scale) }
        func pct(_ t: Double) -> String { total > 0 ? String(format: "%6.1f%%", 100 * t / total) : "      -" }
        var kinds: [String: (Double, Double, Int)] = [:]
        for e in all {
            let k = kinds[e.kind] ?? (0, 0, 0)
            kinds[e.kind] = (k.0 + e.forward, k.1 + e.backward, k.2 + 1)
        }
        var lines = [String(format: "graph time %.1f ms per iteration (forward + backward of every node)", total * scale),
                     pad("by op kind", 30) + "   fwd ms    bwd ms   share  nodes"]
        for (kind, t) in kinds.sorted(by: { $0.value.0 + $0.value.1 > $1.value.0 + $1.value.1 }) {
            lines.append("  " + pad(kind, 28) + ms(t.0) + " " + ms(t.1) + " " + pct(t.0 + t.1) + "  \(t.2)")
        }
        lines.append(pad("slowest nodes", 30) + "   fwd ms    bwd ms   share  fwd GFLOP/s  op, output shape")
        for e in all.sorted(by: { $0.forward + $0.backward > $1.forward + $1.backward }).prefix(top) {
            lines.append("  " + pad(e.node, 28) + ms(e.forward) + " " + ms(e.backward) + " " + pct(e.forward + e.backward)
                         + (e.flops > 0 && e.forward > 0 ? String(format: "  %8.1f   ", e.flops * Double(e.calls) / e.forward / 1e9) : "      -      ")
                         + "\(e.kind) \(e.shape)")
        }
        return lines.joined(separator: "\n")
    }
}
