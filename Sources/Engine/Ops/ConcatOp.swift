// MXNet's Concat along an axis (dim, 1 by default: channels) of inputs equal in every other axis.

public struct ConcatOp: Op {
    public var axis: Int
    public init(axis: Int = 1) { self.axis = axis }
    public var kind: String { "Concat" }
    public var attributes: [String: String] { ["dim": "\(axis)"] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        guard let first = inputs.first, axis < first.count else { throw GraphError.shape("Concat needs inputs with axis \(axis)") }
        var out = first
        out[axis] = 0
        for s in inputs {
            guard s.count == first.count, s.indices.allSatisfy({ $0 == axis || s[$0] == first[$0] }) else {
                throw GraphError.shape("Concat along axis \(axis) of shapes \(inputs.map { "\($0)" }.joined(separator: ", "))")
            }
            out[axis] += s[axis]
        }
        return out
    }

    /// Elements before the axis (outer) and per unit of the axis (inner).
    func split(_ s: [Int]) -> (outer: Int, inner: Int) { (s[..<axis].reduce(1, *), s[(axis + 1)...].reduce(1, *)) }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let shapes = (0..<x.count).map { x[$0].shape }
        let out = (try? outputShape(shapes)) ?? shapes[0]
        let (outer, inner) = split(out)
        let rowOut = out[axis] * inner
        var y = Blob(uninitialized: out)
        var offset = 0
        y.data.withUnsafeMutableBufferPointer { yp in
            for k in 0..<x.count {
                let row = shapes[k][axis] * inner
                x[k].data.withUnsafeBufferPointer { xp in
                    for o in 0..<outer { (yp.baseAddress! + o * rowOut + offset).update(from: xp.baseAddress! + o * row, count: row) }
                }
                offset += row
            }
        }
        return (y, .floats(shapes.map { Float($0[axis]) }))
    }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        guard case .floats(let sizes) = state else { return [] }
        let dy = dy!
        let (outer, inner) = split(dy.shape)
        let rowOut = dy.shape[axis] * inner
        var offset = 0
        var out: [Blob?] = []
        for (k, size) in sizes.enumerated() {
            let row = Int(size) * inner
            defer { offset += row }
            guard wantInput[k] else { out.append(nil); continue }
            var shape = dy.shape
            shape[axis] = Int(size)
            var dx = Blob(uninitialized: shape)
            dx.data.withUnsafeMutableBufferPointer { dp in
                dy.data.withUnsafeBufferPointer { gp in
                    for o in 0..<outer { (dp.baseAddress! + o * row).update(from: gp.baseAddress! + o * rowOut + offset, count: row) }
                }
            }
            out.append(dx)
        }
        return out
    }
}
