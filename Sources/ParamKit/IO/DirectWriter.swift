// Large tensor data written past the page cache (O_DIRECT): the bytes go straight to the device,
// so the fsync that makes a checkpoint durable has almost nothing left to flush. Where direct I/O
// is not available (tmpfs, unaligned memory) it falls back to ordinary positioned writes.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// O_DIRECT, which Glibc's Swift module leaves out (it sits behind _GNU_SOURCE); the value is per architecture.
#if arch(x86_64)
private let oDirect: Int32 = 0o40000
#elseif arch(arm64)
private let oDirect: Int32 = 0o200000
#else
private let oDirect: Int32 = 0   // unknown: plain writes only
#endif

final class DirectWriter {
    static let block = 4096
    let path: String
    private var direct: Int32 = -1
    private var buffered: Int32 = -1

    init(path: String) {
        self.path = path
    }

    deinit {
        if direct >= 0 { close(direct) }
        if buffered >= 0 { close(buffered) }
    }

    /// Writes `bytes` at `offset`: when the memory and the file offset line up on the block size, the
    /// aligned middle with O_DIRECT and the partial blocks at either end with pwrite; otherwise pwrite.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        if buffered < 0 {
            buffered = open(path, O_WRONLY | O_CLOEXEC)
            guard buffered >= 0 else { throw UsageError("\(path): \(MappedFile.errnoText("cannot open for writing"))") }
            // Direct I/O pays off only when the data must reach the disk anyway (a durable commit).
            direct = oDirect == 0 || !AtomicOutput.durable ? -1 : open(path, O_WRONLY | O_CLOEXEC | oDirect)   // -1 where refused
        }
        let base = bytes.baseAddress!
        let b = Self.block
        let head = min((b - offset % b) % b, bytes.count)
        let middle = (bytes.count - head) / b * b
        guard direct >= 0, middle > 0 else {
            try pwriteAll(buffered, base, bytes.count, offset)
            return
        }
        guard (Int(bitPattern: base) + head) % b == 0 else {
            // Direct I/O also needs block-aligned memory; copying through a bounce buffer cost more
            // than it saved, so such data goes through the page cache.
            try pwriteAll(buffered, base, bytes.count, offset)
            return
        }
        if head > 0 { try pwriteAll(buffered, base, head, offset) }
        do { try pwriteAll(direct, base + head, middle, offset + head) } catch {
            try pwriteAll(buffered, base + head, middle, offset + head)   // e.g. EINVAL from a device's own rules
        }
        let tail = bytes.count - head - middle
        if tail > 0 { try pwriteAll(buffered, base + head + middle, tail, offset + head + middle) }
    }

    private func pwriteAll(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int, _ offset: Int) throws {
        var done = 0
        while done < count {
            // Chunks of at most 64 MB keep each direct request a reasonable size.
            let n = pwrite(fd, p + done, min(count - done, 64 << 20), off_t(offset + done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw UsageError("\(path): \(MappedFile.errnoText("write failed at byte \(offset + done)"))") }
            done += n
        }
    }
}
