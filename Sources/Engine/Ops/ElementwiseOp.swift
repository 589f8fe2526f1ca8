// MXNet's elemwise_add / elemwise_sub / elemwise_mul (the symbol operators +, −, ×) on two inputs
// of one shape.

public struct ElementwiseOp: Op {
    public enum Function: String, Sendable { case add, sub, mul }
    public var function: Function
    public init(_ function: Function) { self.function = function }

    public var kind: String { "elemwise_" + function.rawValue }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        guard inputs[0] == inputs[1] else { throw GraphError.shape("\(kind) of shapes \(inputs[0]) and \(inputs[1])") }
        return inputs[0]
    }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let b = x[1]
        var y = x.take(0)
        b.data.withUnsafeBufferPointer { bp in
            y.data.withUnsafeMutableBufferPointer { yp in
                switch function {
                case .add: for i in 0..<yp.count { yp[i] += bp[i] }
                case .sub: for i in 0..<yp.count { yp[i] -= bp[i] }
                case .mul: for i in 0..<yp.count { yp[i] *= bp[i] }
                }
            }
        }
        return (y, .none)
    }

    public func backwardReads(input i: Int) -> Bool { function == .mul }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        let g = dy.take()!
        func scaled(by other: Int) -> Blob {
            var d = g
            let o = inputs[other]
            for i in 0..<d.count { d.data[i] *= o.data[i] }
            return d
        }
        switch function {
        case .add: return [wantInput[0] ? g : nil, wantInput[1] ? g : nil]
        case .sub:
            var neg = g
            if wantInput[1] { for i in 0..<neg.count { neg.data[i] = -neg.data[i] } }
            return [wantInput[0] ? g : nil, wantInput[1] ? neg : nil]
        case .mul: return [wantInput[0] ? scaled(by: 1) : nil, wantInput[1] ? scaled(by: 0) : nil]
        }
    }
}
