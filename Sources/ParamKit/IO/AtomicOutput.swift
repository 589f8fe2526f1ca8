// Atomic file output: write to a temporary file beside the destination, flush it to disk, then
// rename it into place. A failure or an interrupt leaves the destination as it was.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public final class AtomicOutput: @unchecked Sendable {
    public let destination: String
    public let temporaryPath: String
    private var committed = false

    /// Whether `commit()` fsyncs before renaming (default). Turned off only to measure the library's
    /// own cost against peers that do not sync (bench/).
    nonisolated(unsafe) public static var durable = true

    /// Temporary paths still being written, removed by `removeAllPending()` on SIGINT/SIGTERM.
    nonisolated(unsafe) private static var pending = Set<String>()
    private static let pendingLock = NSLock()

    public init(destination: String) throws {
        self.destination = destination
        let url = URL(fileURLWithPath: destination)
        let dir = url.deletingLastPathComponent().path
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir, isDirectory: &isDir), isDir.boolValue else {
            throw UsageError("\(destination): directory \(dir) does not exist")
        }
        let stem = "." + url.lastPathComponent + ".paramkit-tmp-"
        Self.removeStale(in: dir, stem: stem)
        temporaryPath = dir + "/" + stem + "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        Self.pendingLock.lock(); Self.pending.insert(temporaryPath); Self.pendingLock.unlock()
    }

    deinit {
        if !committed { discard() }
    }

    /// Flushes the finished temporary file to disk and renames it over the destination.
    public func commit() throws {
        if Self.durable {
            let fd = open(temporaryPath, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw UsageError("\(temporaryPath): \(MappedFile.errnoText("cannot reopen"))") }
            let synced = fsync(fd)
            close(fd)
            guard synced == 0 else { throw UsageError("\(destination): \(MappedFile.errnoText("fsync failed"))") }
        }
        // Under the lock, so an interrupt sees either the temporary file (and removes it) or the
        // finished destination, never a state in between.
        Self.pendingLock.lock()
        let renamed = rename(temporaryPath, destination) == 0
        if renamed { Self.pending.remove(temporaryPath) }
        Self.pendingLock.unlock()
        guard renamed else {
            throw UsageError("\(destination): \(MappedFile.errnoText("cannot rename temporary file into place"))")
        }
        committed = true
        // Make the rename itself durable.
        let dirfd = open(URL(fileURLWithPath: destination).deletingLastPathComponent().path, O_RDONLY | O_DIRECTORY)
        if dirfd >= 0 { fsync(dirfd); close(dirfd) }
    }

    /// Writes `data` to `path` atomically (temporary file, fsync, rename).
    public static func write(_ data: Data, to path: String) throws {
        let out = try AtomicOutput(destination: path)
        do {
            try data.write(to: URL(fileURLWithPath: out.temporaryPath))
            try out.commit()
        } catch {
            out.discard()
            throw error
        }
    }

    public func discard() {
        unlink(temporaryPath)
        Self.pendingLock.lock(); Self.pending.remove(temporaryPath); Self.pendingLock.unlock()
    }

    /// Temporary files of this destination left by a process that no longer exists (killed with
    /// SIGKILL, or the machine went down): removed, so they neither pile up nor fill the disk.
    static func removeStale(in dir: String, stem: String) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { return }
        for name in names where name.hasPrefix(stem) {
            guard let pid = Int32(name.dropFirst(stem.count).prefix { $0 != "-" }), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { unlink(dir + "/" + name) }
        }
    }

    /// Removes every temporary file not yet committed (called when the process is interrupted).
    public static func removeAllPending() {
        pendingLock.lock()
        for p in pending { unlink(p) }
        pending.removeAll()
        pendingLock.unlock()
    }
}

/// Guards against a verb writing over one of its own inputs (same device and inode, or same path).
public enum OutputGuard {
    public static func refuseOverwrite(output: String, inputs: [String]) throws {
        var out = stat()
        guard stat(output, &out) == 0 else { return }  // output does not exist yet
        for input in inputs {
            var st = stat()
            if stat(input, &st) == 0, st.st_dev == out.st_dev, st.st_ino == out.st_ino {
                throw UsageError("\(output): refusing to write over the input \(input); choose another output path")
            }
        }
    }
}
