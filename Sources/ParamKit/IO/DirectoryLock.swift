// One writer per directory: an exclusive flock on DIR/.paramkit-lock, held while the lock object
// lives. The kernel drops it when the holder exits in any way (kill -9 included), so a killed run
// never leaves the directory locked; the file keeps the holder's pid and start time for the message
// a second run gets.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class DirectoryLock {
    public let path: String
    private let fd: Int32

    /// Takes the lock or throws a UsageError naming the process that holds it. `what` describes the
    /// work ("pipeline run") for that message.
    public init(directory: String, what: String) throws {
        path = URL(fileURLWithPath: directory).appendingPathComponent(".paramkit-lock").path
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw UsageError("\(path): \(MappedFile.errnoText("cannot open the lock file"))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let busy = errno == EWOULDBLOCK
            var buffer = [UInt8](repeating: 0, count: 256)
            let n = pread(fd, &buffer, buffer.count, 0)
            close(fd)
            guard busy else { throw UsageError("\(path): \(MappedFile.errnoText("cannot lock"))") }
            let holder = n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "another process"
            throw UsageError("\(directory) is in use by another \(what) (\(holder)); wait for it to finish or choose another directory")
        }
        let stamp = ISO8601DateFormatter().string(from: Date())
        let text = "pid \(getpid()), started \(stamp)\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit {
        _ = flock(fd, LOCK_UN)
        close(fd)
    }
}
