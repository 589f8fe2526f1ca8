// Read-only access to an input file: a memory map for parsing headers in place, and positioned
// reads that copy tensor data straight into a tensor's buffer.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// madvise(2) advice missing from Glibc's Swift module: prefault a range's page tables (Linux 5.14+;
/// older kernels return EINVAL and the pages fault in as they are touched).
private let MADV_POPULATE_READ: Int32 = 22

public final class MappedFile: @unchecked Sendable {
    public let path: String
    public let size: Int
    let fd: Int32
    private let mapping: UnsafeMutableRawPointer?

    public init(path: String) throws {
        self.path = path
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FormatError(file: path, Self.errnoText("cannot open")) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = FormatError(file: path, Self.errnoText("cannot stat"))
            close(fd); throw e
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd); throw FormatError(file: path, "not a regular file")
        }
        size = Int(st.st_size)
        if size > 0 {
            let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
            guard let m, m != MAP_FAILED else {
                let e = FormatError(file: path, Self.errnoText("cannot map"))
                close(fd); throw e
            }
            mapping = m
        } else {
            mapping = nil
        }
    }

    /// An in-memory stand-in (for fuzzing and tests): the same parsing paths without a file.
    public init(name: String, contents: [UInt8]) {
        path = name
        fd = -1
        size = contents.count
        let m = UnsafeMutableRawPointer.allocate(byteCount: max(contents.count, 1), alignment: 16)
        contents.withUnsafeBytes { if let b = $0.baseAddress { m.copyMemory(from: b, byteCount: $0.count) } }
        mapping = m
    }

    deinit {
        if fd < 0 { mapping?.deallocate(); return }
        if let mapping { munmap(mapping, size) }
        close(fd)
    }

    /// The whole file as bytes (valid while this object lives).
    public var bytes: UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapping, count: size)
    }

    /// A tensor viewing `count` bytes at `offset` of the mapping (checked against the file size).
    func tensorView(dtype: DType, shape: [Int], offset: Int, count: Int) throws -> Tensor {
        guard offset >= 0, count >= 0, offset <= size - count, let base = mapping else {
            if count == 0 { return Tensor(dtype: dtype, shape: shape) { _ in } }
            throw FormatError(file: path, offset: offset, "data runs past the end of the file")
        }
        let bytes = UnsafeRawBufferPointer(start: base + offset, count: count)
        if fd >= 0, count >= 1 << 20 { advise(bytes, MADV_POPULATE_READ) }   // map the pages in one call, not fault by fault
        return Tensor(dtype: dtype, shape: shape, viewing: bytes, owner: self)
    }

    /// Unmaps the pages wholly inside a finished view from this process (they stay in the page
    /// cache), so streaming through a large file does not accumulate it all in resident memory.
    func release(_ bytes: UnsafeRawBufferPointer) {
        if fd >= 0, bytes.count >= 1 << 20 { advise(bytes, MADV_DONTNEED) }
    }

    private func advise(_ bytes: UnsafeRawBufferPointer, _ advice: Int32) {
        let page = 4096
        let start = (Int(bitPattern: bytes.baseAddress!) + page - 1) & ~(page - 1)
        let end = (Int(bitPattern: bytes.baseAddress!) + bytes.count) & ~(page - 1)
        if end > start { madvise(UnsafeMutableRawPointer(bitPattern: start), end - start, advice) }
    }

    /// Copies `count` bytes at `offset` into `dst` with pread, two threads for large ranges so that
    /// page faults on the fresh destination are taken on both cores.
    public func read(offset: Int, into dst: UnsafeMutableRawBufferPointer) throws {
        guard fd >= 0 else {
            guard offset >= 0, offset + dst.count <= size else { throw FormatError(file: path, offset: offset, "read past the end") }
            if dst.count > 0 { dst.baseAddress!.copyMemory(from: mapping! + offset, byteCount: dst.count) }
            return
        }
        try Self.preadAll(fd: fd, path: path, offset: offset, into: dst)
    }

    static func preadAll(fd: Int32, path: String, offset: Int, into dst: UnsafeMutableRawBufferPointer) throws {
        let count = dst.count
        guard count > 0 else { return }
        let parts = count >= 16 << 20 ? 2 : 1
        let chunk = (count / parts + 4095) & ~4095
        let failure = ErrorBox()
        let out = SendableBox(dst)
        DispatchQueue.concurrentPerform(iterations: parts) { part in
            let dst = out.value
            var done = part * chunk
            let end = min(count, done + chunk)
            while done < end {
                let n = pread(fd, dst.baseAddress! + done, end - done, off_t(offset + done))
                if n <= 0 {
                    failure.set(FormatError(file: path, offset: offset + done,
                                            n == 0 ? "file ends early" : errnoText("read failed")))
                    return
                }
                done += n
            }
        }
        if let e = failure.error { throw e }
    }

    static func errnoText(_ what: String) -> String {
        "\(what): \(String(cString: strerror(errno)))"
    }
}

/// Hands pointers to parallel workers that touch disjoint parts of them (every module's parallel
/// loops use this one).
public struct SendableBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}

/// Holds the first error raised by parallel work.
final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private(set) var error: Error?
    func set(_ e: Error) {
        lock.lock(); if error == nil { error = e }; lock.unlock()
    }
}
