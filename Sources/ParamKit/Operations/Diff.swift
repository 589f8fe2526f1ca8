// diff: two checkpoints in any formats, tensor by tensor (only two tensors in memory at a time):
// names only in one side, dtype/shape changes, and for values max-abs, relative L2, cosine and the
// fraction of elements outside atol + rtol·|b|.

import Foundation

public struct ValueDiff: Sendable {
    public var identical: Bool
    public var maxAbs = 0.0
    public var relL2 = 0.0
    public var cosine = 1.0
    public var outside = 0
    public var count = 0
    public var fractionOutside: Double { count > 0 ? Double(outside) / Double(count) : 0 }
}

public struct DiffReport: Sendable {
    public struct Changed: Sendable { public var a: TensorInfo; public var b: TensorInfo }
    public var pathA: String
    public var pathB: String
    public var atol: Double
    public var rtol: Double
    public var onlyInA: [TensorInfo] = []
    public var onlyInB: [TensorInfo] = []
    public var typeChanged: [Changed] = []
    public var values: [(info: TensorInfo, diff: ValueDiff)] = []

    /// Equal within tolerance: same keys, dtypes and shapes, and no element outside the tolerance.
    public var equal: Bool {
        onlyInA.isEmpty && onlyInB.isEmpty && typeChanged.isEmpty && values.allSatisfy { $0.diff.outside == 0 }
    }
}

public enum Diff {
    public static func run(_ pathA: String, _ pathB: String, atol: Double, rtol: Double,
                           options: ReadOptions = ReadOptions(),
                           progress: ((Int, Int) -> Void)? = nil) throws -> DiffReport {
        let a = try Formats.open(path: pathA, options: options)
        let b = try Formats.open(path: pathB, options: options)
        var report = DiffReport(pathA: pathA, pathB: pathB, atol: atol, rtol: rtol)
        var indexB: [String: Int] = [:]
        for (i, info) in b.entries.enumerated() { indexB[info.key] = i }
        var matched = Set<String>()
        for (i, info) in a.entries.enumerated() {
            progress?(i, a.entries.count)
            guard let j = indexB[info.key] else { report.onlyInA.append(info); continue }
            matched.insert(info.key)
            let other = b.entries[j]
            guard info.dtype == other.dtype, info.shape == other.shape else {
                report.typeChanged.append(.init(a: info, b: other))
                continue
            }
            let ta = try a.view(i)
            let tb = try b.view(j)
            report.values.append((info, compare(ta, tb, atol: atol, rtol: rtol)))
        }
        report.onlyInB = b.entries.filter { !matched.contains($0.key) }
        return report
    }

    /// Partial sums over a range of elements, merged across threads.
    struct Accumulator {
        var sumSqDiff = 0.0, sumSqA = 0.0, sumSqB = 0.0, dot = 0.0, maxAbs = 0.0
        var outside = 0

        mutating func merge(_ o: Accumulator) {
            sumSqDiff += o.sumSqDiff; sumSqA += o.sumSqA; sumSqB += o.sumSqB; dot += o.dot
            maxAbs = Swift.max(maxAbs, o.maxAbs); outside += o.outside
        }
    }

    public static func compare(_ a: Tensor, _ b: Tensor, atol: Double, rtol: Double) -> ValueDiff {
        precondition(a.dtype == b.dtype && a.shape == b.shape)
        var result = ValueDiff(identical: a.bitwiseEqual(b))
        result.count = a.elementCount
        guard !result.identical else { return result }
        let n = a.elementCount
        let parts = n >= 1 << 20 ? 2 : 1
        let chunk = (n + parts - 1) / parts
        var accs = [Accumulator](repeating: Accumulator(), count: parts)
        a.withUnsafeBytes { ra in
            b.withUnsafeBytes { rb in
                accs.withUnsafeMutableBufferPointer { out in
                    let shared = SendableBox((out.baseAddress!, ra, rb))
                    DispatchQueue.concurrentPerform(iterations: parts) { part in
                        let (outBase, ra, rb) = shared.value
                        let range = (part * chunk)..<Swift.min(n, (part + 1) * chunk)
                        outBase[part] = a.dtype == .float32
                            ? accumulateFloat32(ra, rb, range, atol: Float(atol), rtol: Float(rtol))
                            : accumulateWidened(a.dtype, ra, rb, range, atol: atol, rtol: rtol)
                    }
                }
            }
        }
        var acc = Accumulator()
        for p in accs { acc.merge(p) }
        result.maxAbs = acc.maxAbs
        result.outside = acc.outside
        result.relL2 = acc.sumSqB > 0 ? (acc.sumSqDiff / acc.sumSqB).squareRoot() : (acc.sumSqDiff > 0 ? .infinity : 0)
        let denom = (acc.sumSqA * acc.sumSqB).squareRoot()
        result.cosine = denom > 0 ? acc.dot / denom : (acc.sumSqA == acc.sumSqB ? 1 : 0)
        return result
    }

    private static func accumulateFloat32(_ ra: UnsafeRawBufferPointer, _ rb: UnsafeRawBufferPointer, _ range: Range<Int>,
                                          atol: Float, rtol: Float) -> Accumulator {
        let pa = ra.bindMemory(to: Float.self), pb = rb.bindMemory(to: Float.self)
        var acc = Accumulator()
        var i = range.lowerBound
        while i < range.upperBound {
            let end = Swift.min(range.upperBound, i + 4096)
            var sd: Float = 0, sa: Float = 0, sb: Float = 0, dot: Float = 0, mx: Float = 0
            var outside = 0
            for j in i..<end {
                let x = pa[j], y = pb[j]
                let d = abs(x - y)
                if d.isNaN {
                    // Both NaN counts as equal; one NaN, or ∞ against ∞ of the other sign, does not.
                    if !(x.isNaN && y.isNaN) && !(x == y) { outside += 1 }
                    continue
                }
                outside &+= d > atol + rtol * abs(y) ? 1 : 0
                mx = Swift.max(mx, d)
                sd += d * d; sa += x * x; sb += y * y; dot += x * y
            }
            acc.sumSqDiff += Double(sd); acc.sumSqA += Double(sa); acc.sumSqB += Double(sb); acc.dot += Double(dot)
            acc.maxAbs = Swift.max(acc.maxAbs, Double(mx)); acc.outside += outside
            i = end
        }
        return acc
    }

    private static func accumulateWidened(_ dtype: DType, _ ra: UnsafeRawBufferPointer, _ rb: UnsafeRawBufferPointer,
                                          _ range: Range<Int>, atol: Double, rtol: Double) -> Accumulator {
        var acc = Accumulator()
        var xa = [Double](repeating: 0, count: 4096), xb = xa
        var i = range.lowerBound
        while i < range.upperBound {
            let n = Swift.min(4096, range.upperBound - i)
            xa.withUnsafeMutableBufferPointer { ElementAccess.widen(dtype, ra, range: i..<i + n, into: $0.baseAddress!) }
            xb.withUnsafeMutableBufferPointer { ElementAccess.widen(dtype, rb, range: i..<i + n, into: $0.baseAddress!) }
            for j in 0..<n {
                let x = xa[j], y = xb[j]
                let d = abs(x - y)
                if d.isNaN {
                    if !(x.isNaN && y.isNaN) && !(x == y) { acc.outside += 1 }
                    continue
                }
                if d > atol + rtol * abs(y) { acc.outside += 1 }
                acc.maxAbs = Swift.max(acc.maxAbs, d)
                acc.sumSqDiff += d * d; acc.sumSqA += x * x; acc.sumSqB += y * y; acc.dot += x * y
            }
            i += n
        }
        return acc
    }
}
