// One-pass statistics of a tensor: min, max, mean, std, NaN and Inf counts, fraction of zeros.

import Foundation

public struct TensorStats: Sendable, Equatable {
    public var count = 0
    public var nanCount = 0
    public var infCount = 0
    public var zeroCount = 0
    public var min = Double.infinity
    public var max = -Double.infinity
    /// Sum and sum of squares of the finite values.
    var sum = 0.0
    var sumSquares = 0.0
    var finite = 0

    public var mean: Double? { finite > 0 ? sum / Double(finite) : nil }
    /// Population standard deviation of the finite values.
    public var std: Double? {
        guard finite > 0, let m = mean else { return nil }
        return (Swift.max(0, sumSquares / Double(finite) - m * m)).squareRoot()
    }
    public var zeroFraction: Double { count > 0 ? Double(zeroCount) / Double(count) : 0 }

    public init() {}

    public static func of(_ t: Tensor) -> TensorStats {
        var s = TensorStats()
        s.count = t.elementCount
        t.withUnsafeBytes { raw in
            if t.dtype == .float32 {
                s.accumulateFloat32(raw.bindMemory(to: Float.self))
            } else {
                // Other dtypes are widened in blocks so memory stays small.
                var block = [Double](repeating: 0, count: 4096)
                var i = 0
                while i < t.elementCount {
                    let n = Swift.min(4096, t.elementCount - i)
                    block.withUnsafeMutableBufferPointer { ElementAccess.widen(t.dtype, raw, range: i..<i + n, into: $0.baseAddress!) }
                    for v in block.prefix(n) { s.add(v) }
                    i += n
                }
            }
        }
        return s
    }

    @inline(__always) private mutating func add(_ v: Double) {
        if v.isNaN { nanCount += 1; return }
        if v.isInfinite { infCount += 1; min = Swift.min(min, v); max = Swift.max(max, v); return }
        if v == 0 { zeroCount += 1 }
        min = Swift.min(min, v); max = Swift.max(max, v)
        sum += v; sumSquares += v * v; finite += 1
    }

    /// float32 fast path: Float comparisons, Double accumulators per 4096-element block.
    private mutating func accumulateFloat32(_ p: UnsafeBufferPointer<Float>) {
        var i = 0
        while i < p.count {
            let end = Swift.min(p.count, i + 4096)
            var bsum: Double = 0, bsq: Double = 0
            var lo = Float.infinity, hi = -Float.infinity
            var special = false, zeros = 0
            for j in i..<end {
                let v = p[j]
                if !v.isFinite { special = true; continue }
                lo = Swift.min(lo, v); hi = Swift.max(hi, v)
                let d = Double(v)
                bsum += d; bsq += d * d
                zeros &+= v == 0 ? 1 : 0
            }
            var finiteInBlock = end - i
            if special {
                for j in i..<end where !p[j].isFinite {
                    finiteInBlock -= 1
                    if p[j].isNaN { nanCount += 1 } else { infCount += 1; min = Swift.min(min, Double(p[j])); max = Swift.max(max, Double(p[j])) }
                }
            }
            if finiteInBlock > 0 { min = Swift.min(min, Double(lo)); max = Swift.max(max, Double(hi)) }
            sum += bsum; sumSquares += bsq; finite += finiteInBlock; zeroCount += zeros
            i = end
        }
    }
}
