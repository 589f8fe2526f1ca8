// How anchor-target and roi sampling pick random subsets: the reference calls
// `npr.choice(candidates, size, replace=False)`; these are the interchangeable replacements.

/// Picks distinct entries of a candidate list, standing in for numpy's `choice(replace=False)`.
public protocol Subsampler {
    /// `count` distinct entries of `candidates` (0 ≤ count ≤ candidates.count), in the order picked.
    mutating func choose(_ count: Int, from candidates: [Int]) -> [Int]
    /// Whether the batch-size caps apply. false reproduces the reference run with the caps set out of
    /// reach (e.g. RPN_BATCH_SIZE huge): nothing is dropped for being in excess.
    var appliesCaps: Bool { get }
}

extension Subsampler {
    public var appliesCaps: Bool { true }
}

/// The reference's deterministic branch (assign_anchor under `logger.level == DEBUG`): the first
/// `count` candidates in index order. In anchor targets these are the anchors disabled, so the
/// last ones in index order survive.
public struct FirstInOrderSubsampler: Subsampler, Sendable {
    public init() {}
    public mutating func choose(_ count: Int, from candidates: [Int]) -> [Int] { Array(candidates.prefix(count)) }
}

/// No subsampling: caps are ignored, so every fg and bg candidate is kept. Where a fixed-size batch
/// still has to be filled (roi padding) it picks in index order, like `FirstInOrderSubsampler`.
public struct NoSubsampling: Subsampler, Sendable {
    public init() {}
    public var appliesCaps: Bool { false }
    public mutating func choose(_ count: Int, from candidates: [Int]) -> [Int] { Array(candidates.prefix(count)) }
}

/// Uniform random picks without replacement from a seeded SplitMix64 stream (a partial
/// Fisher–Yates shuffle). Reproducible for a given seed, but deliberately not numpy-compatible:
/// reproducing MT19937 and `permutation(n)[:size]` would tie training to numpy internals, and only
/// the distribution matters for training.
public struct SeededSubsampler: Subsampler, Sendable {
    public var generator: SplitMix64
    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }
    public mutating func choose(_ count: Int, from candidates: [Int]) -> [Int] {
        precondition(count >= 0 && count <= candidates.count, "cannot choose \(count) of \(candidates.count)")
        var pool = candidates
        for i in 0..<count {
            let j = Int.random(in: i..<pool.count, using: &generator)
            pool.swapAt(i, j)
        }
        return Array(pool.prefix(count))
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and statistically good enough for sampling.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
