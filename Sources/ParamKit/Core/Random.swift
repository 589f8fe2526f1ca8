// Reproducible random numbers: xoshiro256** seeded per tensor from (seed, name), so one tensor's
// values do not depend on which other tensors were initialised, and Box–Muller normals.

public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var s: (UInt64, UInt64, UInt64, UInt64)

    public init(seed: UInt64) {
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s = (splitmix(), splitmix(), splitmix(), splitmix())
    }

    /// The stream for one named tensor under a run seed.
    public init(seed: UInt64, name: String) {
        self.init(seed: XXH64.hash(Array(name.utf8), seed: seed))
    }

    /// The generator's whole state, to save with a stage's resume point and restore with
    /// `init(state:)`: the stream then continues exactly where it was.
    public var state: [UInt64] { [s.0, s.1, s.2, s.3] }

    public init?(state: [UInt64]) {
        guard state.count == 4 else { return nil }
        s = (state[0], state[1], state[2], state[3])
    }

    public mutating func next() -> UInt64 {
        let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
        let t = s.1 << 17
        s.2 ^= s.0; s.3 ^= s.1; s.1 ^= s.2; s.0 ^= s.3
        s.2 ^= t
        s.3 = (s.3 << 45) | (s.3 >> 19)
        return result
    }

    /// A uniform double in (0, 1].
    mutating func unitInterval() -> Double {
        Double((next() >> 11) + 1) * 0x1.0p-53
    }

    /// Fills `out` with N(0, std) values (Box–Muller, pairs).
    public mutating func fillNormal(_ out: UnsafeMutableBufferPointer<Float>, std: Double) {
        var i = 0
        while i < out.count {
            let r = (-2 * _log(unitInterval())).squareRoot()
            let theta = 2 * Double.pi * unitInterval()
            out[i] = Float(r * _cos(theta) * std)
            if i + 1 < out.count { out[i + 1] = Float(r * _sin(theta) * std) }
            i += 2
        }
    }
}

#if canImport(Glibc)
import Glibc
@inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
@inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
@inline(__always) private func _sin(_ x: Double) -> Double { Glibc.sin(x) }
#endif
