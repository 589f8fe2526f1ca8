// FullyConnected: Y[N, O] = X[N, K] · Wᵀ + b, with a 4-D input flattened to (N, C·H·W) in C order.

public struct FullyConnected: Sendable {
    public var numHidden: Int
    public init(numHidden: Int) { self.numHidden = numHidden }

    public func forward(_ x: Blob, weight: [Float], bias: [Float]?) -> Blob {
        let n = x.shape[0], k = x.count / max(n, 1)
        precondition(weight.count == numHidden * k, "fully connected weight has \(weight.count) values, expected \(numHidden * k)")
        var y = Blob(uninitialized: [n, numHidden])   // bias fill or GEMM with beta 0 writes every element
        y.data.withUnsafeMutableBufferPointer { yp in
            if let bias { for i in 0..<n { (yp.baseAddress! + i * numHidden).update(from: bias, count: numHidden) } }
            // Y[N, O] = X[N, K] · W[O, K]ᵀ (+ bias already in Y)
            sgemm(transB: true, m: n, n: numHidden, k: k, a: x.data, lda: k, b: weight, ldb: k, beta: bias == nil ? 0 : 1,
                  c: yp.baseAddress!, ldc: numHidden)
        }
        return y
    }

    public func backward(_ dy: Blob, input x: Blob, weight: [Float], gradWeight: UnsafeMutablePointer<Float>?,
                         gradBias: UnsafeMutablePointer<Float>?, inputGrad: Bool) -> Blob? {
        let n = x.shape[0], k = x.count / max(n, 1)
        if let gradWeight {
            // dW[O, K] += dYᵀ[O, N] · X[N, K]
            sgemm(transA: true, m: numHidden, n: k, k: n, a: dy.data, lda: numHidden, b: x.data, ldb: k, beta: 1, c: gradWeight, ldc: k)
        }
        if let gradBias {
            for i in 0..<n { for o in 0..<numHidden { gradBias[o] += dy.data[i * numHidden + o] } }
        }
        guard inputGrad else { return nil }
        var dx = Blob(zeros: x.shape)
        dx.data.withUnsafeMutableBufferPointer { dxp in
            // dX[N, K] = dY[N, O] · W[O, K]
            sgemm(m: n, n: k, k: numHidden, a: dy.data, lda: numHidden, b: weight, ldb: k, c: dxp.baseAddress!, ldc: k)
        }
        return dx
    }
}
