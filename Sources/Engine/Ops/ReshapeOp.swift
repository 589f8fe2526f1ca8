// MXNet's Reshape (with its 0 = keep this axis and −1 = infer codes, as the RPN's
// rpn_cls_score_reshape uses them) and Flatten (N, rest). Both share the input's storage.

public struct ReshapeOp: Op {
    /// MXNet's `shape` attribute: 0 keeps the input's axis, −1 takes what is left (at most one).
    public var shape: [Int]
    public init(shape: [Int]) { self.shape = shape }
    public var kind: String { "Reshape" }
    public var attributes: [String: String] { ["shape": MXNetAttribute.tuple(shape)] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        let x = inputs[0], total = x.reduce(1, *)
        var out = shape.enumerated().map { k, d in d == 0 && k < x.count ? x[k] : d }
        if let k = out.firstIndex(of: -1) {
            let known = out.filter { $0 != -1 }.reduce(1, *)
            guard out.filter({ $0 == -1 }).count == 1, known > 0, total % known == 0 else {
                throw GraphError.shape("cannot reshape \(x) to \(shape)")
            }
            out[k] = total / known
        }
        guard out.reduce(1, *) == total, out.allSatisfy({ $0 >= 0 }) else { throw GraphError.shape("cannot reshape \(x) to \(shape)") }
        return out
    }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        var y = x.take(0)
        let input = y.shape
        y.shape = (try? outputShape([input])) ?? input
        return (y, .shape(input))
    }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        reshapedBack(dy.take()!, state)
    }
}

public struct FlattenOp: Op {
    public init() {}
    public var kind: String { "Flatten" }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        guard let n = inputs[0].first else { throw GraphError.shape("Flatten needs an input with a batch axis") }
        return [n, inputs[0].dropFirst().reduce(1, *)]
    }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        var y = x.take(0)
        let input = y.shape
        y.shape = [input[0], input.dropFirst().reduce(1, *)]
        return (y, .shape(input))
    }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        reshapedBack(dy.take()!, state)
    }
}

func reshapedBack(_ dy: Blob, _ state: OpState) -> [Blob?] {
    guard case .shape(let input) = state else { preconditionFailure("reshape backward without its input shape") }
    var dx = dy
    dx.shape = input
    return [dx]
}
