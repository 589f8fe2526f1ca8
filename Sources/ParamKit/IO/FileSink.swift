// Sequential output to a new file: small pieces are buffered, large tensor data goes to disk with
// direct I/O (DirectWriter).

import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class FileSink {
    let path: String
    private var fd: Int32
    private var buffer: [UInt8] = []
    private(set) var position = 0
    private lazy var direct = DirectWriter(path: path)

    init(path: String) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw UsageError("\(path): \(MappedFile.errnoText("cannot create"))") }
        buffer.reserveCapacity(1 << 16)
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        position += bytes.count
        if bytes.count < 1 << 16 {
            buffer.append(contentsOf: bytes)
            if buffer.count >= 1 << 16 { try flush() }
            return
        }
        try flush()
        if bytes.count >= 4 << 20 {
            // Past the page cache; then move the descriptor's offset to the new end.
            try direct.write(bytes, at: position - bytes.count)
            lseek(fd, off_t(position), SEEK_SET)
            return
        }
        try writeAll(bytes)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
            guard n > 0 else {
                if n < 0 && errno == EINTR { continue }
                throw UsageError("\(path): \(MappedFile.errnoText("write failed"))")
            }
            done += n
        }
    }

    func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    func close() throws {
        try flush()
        let r = Glibc.close(fd)
        fd = -1
        guard r == 0 else { throw UsageError("\(path): \(MappedFile.errnoText("close failed"))") }
    }
}
