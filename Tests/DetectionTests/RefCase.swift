// Test support for the `ref_*` golden groups: datasets and attributes of one group, read by name,
// as rows or flat arrays in the types the reference code produced, plus tolerance checks.

import ParamKit
import Testing

struct RefCase {
    let f: HDF5File
    let group: String

    init(_ group: String) throws { f = try Golden.file(); self.group = group }

    func shape(_ name: String) throws -> [Int] { try f.dataset("\(group)/\(name)", as: Double.self).shape }
    func doubles(_ name: String) throws -> [Double] { try f.dataset("\(group)/\(name)", as: Double.self).values }
    func floats(_ name: String) throws -> [Float] { try f.dataset("\(group)/\(name)", as: Float.self).values }
    func ints(_ name: String) throws -> [Int] { try f.dataset("\(group)/\(name)", as: Int64.self).values.map { Int($0) } }

    /// A 2-D dataset as rows (its last dimension is the row length).
    func doubleRows(_ name: String) throws -> [[Double]] { rows(try f.dataset("\(group)/\(name)", as: Double.self)) }
    func floatRows(_ name: String) throws -> [[Float]] { rows(try f.dataset("\(group)/\(name)", as: Float.self)) }

    func attr(_ name: String) throws -> [Double] {
        guard let v = try f.numbers(name, of: group) else { throw MissingAttribute(group: group, name: name) }
        return v
    }
    func attrInt(_ name: String) throws -> Int { Int(try attr(name)[0]) }
    func attrString(_ name: String) throws -> String { try f.string(name, of: group) ?? "" }

    private func rows<T>(_ d: (shape: [Int], values: [T])) -> [[T]] {
        let width = d.shape.last ?? 1
        return stride(from: 0, to: d.values.count, by: width).map { Array(d.values[$0..<($0 + width)]) }
    }
}

struct MissingAttribute: Error, CustomStringConvertible {
    let group: String, name: String
    var description: String { "\(group) has no attribute \(name)" }
}

/// Every |a − b| ≤ atol + rtol·|b|; reports the worst element.
func expectClose<T: BinaryFloatingPoint>(_ a: [T], _ b: [T], rtol: T, atol: T = 0, _ what: String,
                                         sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) values, expected \(b.count)", sourceLocation: sourceLocation)
    guard a.count == b.count else { return }
    var at = -1
    var worst: T = 0
    for i in a.indices {
        let excess = abs(a[i] - b[i]) - (atol + rtol * abs(b[i]))
        if excess > worst || a[i].isNaN != b[i].isNaN { worst = max(worst, excess); at = i }
    }
    #expect(at < 0, "\(what): element \(at) is \(at >= 0 ? a[at] : 0), reference \(at >= 0 ? b[at] : 0)",
            sourceLocation: sourceLocation)
}
