// XXH64 (xxHash, 64-bit), streaming: the content hash behind every tensor and checkpoint digest.
// Chosen over SHA-256 because it runs near memory bandwidth (several GB/s per core) while software
// SHA-256 manages ~0.5 GB/s on this CPU; digests guard against corruption, not against an attacker.

public struct XXH64: Sendable {
    private static let p1: UInt64 = 0x9E37_79B1_85EB_CA87
    private static let p2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    private static let p3: UInt64 = 0x1656_67B1_9E37_79F9
    private static let p4: UInt64 = 0x85EB_CA77_C2B2_AE63
    private static let p5: UInt64 = 0x27D4_EB2F_1656_67C5

    private var v1, v2, v3, v4: UInt64
    private let seed: UInt64
    private var totalLength: UInt64 = 0
    private var tail = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // up to 32 buffered bytes
    private var tailCount = 0

    public init(seed: UInt64 = 0) {
        self.seed = seed
        v1 = seed &+ XXH64.p1 &+ XXH64.p2
        v2 = seed &+ XXH64.p2
        v3 = seed
        v4 = seed &- XXH64.p1
    }

    @inline(__always) private static func round(_ acc: UInt64, _ input: UInt64) -> UInt64 {
        var a = acc &+ input &* p2
        a = (a << 31) | (a >> 33)
        return a &* p1
    }

    @inline(__always) private static func merge(_ acc: UInt64, _ v: UInt64) -> UInt64 {
        let a = acc ^ round(0, v)
        return a &* p1 &+ p4
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress, bytes.count > 0 else { return }
        var remaining = bytes.count
        totalLength &+= UInt64(remaining)
        if tailCount > 0 {
            let take = min(32 - tailCount, remaining)
            withUnsafeMutableBytes(of: &tail) { t in
                (t.baseAddress! + tailCount).copyMemory(from: p, byteCount: take)
            }
            tailCount += take; p += take; remaining -= take
            if tailCount < 32 { return }
            let stripe = tail
            withUnsafeBytes(of: stripe) { consumeStripe($0.baseAddress!) }
            tailCount = 0
        }
        var a = v1, b = v2, c = v3, d = v4
        while remaining >= 32 {
            a = XXH64.round(a, p.loadUnaligned(as: UInt64.self).littleEndian)
            b = XXH64.round(b, p.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
            c = XXH64.round(c, p.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian)
            d = XXH64.round(d, p.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian)
            p += 32; remaining -= 32
        }
        v1 = a; v2 = b; v3 = c; v4 = d
        if remaining > 0 {
            withUnsafeMutableBytes(of: &tail) { t in t.baseAddress!.copyMemory(from: p, byteCount: remaining) }
            tailCount = remaining
        }
    }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    public mutating func update(_ text: String) {
        update(Array(text.utf8))
    }

    private mutating func consumeStripe(_ p: UnsafeRawPointer) {
        v1 = XXH64.round(v1, p.loadUnaligned(as: UInt64.self).littleEndian)
        v2 = XXH64.round(v2, p.loadUnaligned(fromByteOffset: 8, as: UInt64.self).littleEndian)
        v3 = XXH64.round(v3, p.loadUnaligned(fromByteOffset: 16, as: UInt64.self).littleEndian)
        v4 = XXH64.round(v4, p.loadUnaligned(fromByteOffset: 24, as: UInt64.self).littleEndian)
    }

    public func finalize() -> UInt64 {
        var h: UInt64
        if totalLength >= 32 {
            h = ((v1 << 1) | (v1 >> 63)) &+ ((v2 << 7) | (v2 >> 57))
                &+ ((v3 << 12) | (v3 >> 52)) &+ ((v4 << 18) | (v4 >> 46))
            h = XXH64.merge(h, v1); h = XXH64.merge(h, v2)
            h = XXH64.merge(h, v3); h = XXH64.merge(h, v4)
        } else {
            h = seed &+ XXH64.p5
        }
        h &+= totalLength
        var t = tail
        let n = tailCount
        withUnsafeBytes(of: &t) { raw in
            var i = 0
            while i + 8 <= n {
                let k = XXH64.round(0, raw.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian)
                h ^= k
                h = ((h << 27) | (h >> 37)) &* XXH64.p1 &+ XXH64.p4
                i += 8
            }
            if i + 4 <= n {
                h ^= UInt64(raw.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian) &* XXH64.p1
                h = ((h << 23) | (h >> 41)) &* XXH64.p2 &+ XXH64.p3
                i += 4
            }
            while i < n {
                h ^= UInt64(raw[i]) &* XXH64.p5
                h = ((h << 11) | (h >> 53)) &* XXH64.p1
                i += 1
            }
        }
        h ^= h >> 33
        h = h &* XXH64.p2
        h ^= h >> 29
        h = h &* XXH64.p3
        h ^= h >> 32
        return h
    }

    public static func hash(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        var s = XXH64(seed: seed)
        s.update(bytes)
        return s.finalize()
    }
}
