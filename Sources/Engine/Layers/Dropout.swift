// Dropout, the layer behind DropoutOp.

/// Dropout as MXNet trains it: keep each value with probability 1 − p and scale it by 1/(1 − p).
public struct Dropout: Sendable {
    public var p: Float
    public init(p: Float) { self.p = p }

    public func forward<G: RandomNumberGenerator>(_ x: Blob, using g: inout G) -> (Blob, [Float]) {
        let scale = 1 / (1 - p)
        let mask = (0..<x.count).map { _ in Float.random(in: 0..<1, using: &g) < p ? 0 : scale }
        var y = x
        for i in 0..<y.count { y.data[i] *= mask[i] }
        return (y, mask)
    }

    public func backward(_ dy: consuming Blob, mask: [Float]) -> Blob {
        var dx = dy
        for i in 0..<dx.count { dx.data[i] *= mask[i] }
        return dx
    }
}
