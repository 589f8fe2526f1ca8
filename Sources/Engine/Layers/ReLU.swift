// ReLU, y = max(x, 0), over the engine's threads: a memory-bound pass over every activation of
// the network, twice per training step.

import ParamKit

/// ReLU: max(x, 0); the gradient is 0 where x ≤ 0 (MXNet's choice at exactly 0).
public enum ReLU {
    /// Elements per thread below which a pass stays on one thread.
    static let grain = 1 << 16

    /// Takes its input by value (`consuming`), so a temporary is rectified in place without a copy.
    public static func forward(_ x: consuming Blob) -> Blob {
        var y = x
        y.data.withUnsafeMutableBufferPointer { p in
            let shared = SendableBox(p.baseAddress!)
            parallelFor(p.count, minimumPerThread: grain) { range in
                let p = shared.value
                // Branch-free so it vectorises; a NaN stays NaN (for the divergence check to see).
                for i in range { p[i] = max(p[i], 0) }
            }
        }
        return y
    }

    /// Backward from the forward *output* (y > 0 exactly where x > 0).
    public static func backward(_ dy: consuming Blob, output y: Blob) -> Blob {
        var dx = dy
        y.data.withUnsafeBufferPointer { yp in
            dx.data.withUnsafeMutableBufferPointer { p in
                let shared = SendableBox((yp.baseAddress!, p.baseAddress!))
                parallelFor(p.count, minimumPerThread: grain) { range in
                    let (yp, p) = shared.value
                    for i in range { p[i] = yp[i] > 0 ? p[i] : 0 }
                }
            }
        }
        return dx
    }
}
