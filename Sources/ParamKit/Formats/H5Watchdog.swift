// A hang in libhdf5 turned into a clean error. H5.openReadOnly has libhdf5 read a file's whole
// structure in a child process first, but libhdf5 on a damaged file is not always deterministic: a
// file the child read to the end may still make the caller's own read loop (the proposals fuzz
// target found one, fuzz/findings/proposals; it loops in the global heap one run in several). A
// program that may end itself (the CLI sets `onTimeout`) runs each reader's structure-reading
// phase under a deadline; past it, `onTimeout` gets a message naming the file and ends the process.

import Dispatch
import Foundation

public enum H5Watchdog {
    /// Called, from another thread, when a reader overruns its deadline; it must end the process
    /// (the reading thread cannot be stopped inside libhdf5). Nil: no deadline.
    nonisolated(unsafe) public static var onTimeout: (@Sendable (String) -> Never)?

    /// PARAMKIT_H5_DEADLINE_SECONDS when it is a positive number (e.g. for a slow network disk),
    /// else nil: the deadline is then twice the probe's time limit for the file.
    static let deadlineSeconds: Double? = {
        guard let text = ProcessInfo.processInfo.environment["PARAMKIT_H5_DEADLINE_SECONDS"], let v = Double(text),
              v > 0, v.isFinite else { return nil }
        return v
    }()

    /// Probes `path` (H5.probe; it throws what the probe found), then starts the deadline for
    /// reading its structure: `deadlineSeconds`, or twice the probe's time limit for the file. The
    /// reader cancels the returned watch when its libhdf5 reads are done (nil: no deadline). The
    /// probe comes first so that its own time limit is not counted against the caller's deadline,
    /// and a file that is missing or that libhdf5 cannot open is refused before any timer starts.
    public static func start(_ path: String) throws -> DispatchSourceTimer? {
        try H5.probe(path)
        guard let onTimeout else { return nil }
        let seconds = deadlineSeconds ?? 2 * H5.probeLimit(bytes: H5.size(path))
        let shown = seconds >= 1 ? "\(Int(seconds.rounded(.up)))" : String(format: "%g", seconds)
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + seconds)
        timer.setEventHandler {
            onTimeout("\(path): libhdf5 did not finish reading the file's structure within \(shown) s: the file is damaged")
        }
        timer.resume()
        return timer
    }
}
