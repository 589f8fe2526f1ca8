// Errors that say what went wrong and where: the file, the byte offset or dataset path, and why.

/// A file could not be read or written as the format it claims to be.
public struct FormatError: Error, CustomStringConvertible, Sendable, Equatable {
    public let file: String
    /// Byte offset in the file where the problem was found, when the format has one.
    public let offset: Int?
    /// Dataset or record the problem is in (`/arg/conv1_1_weight`, `record 3`), when known.
    public let location: String?
    public let message: String
    /// Set when the file is another kind of ParamKit artifact (its `paramkit_format`, e.g.
    /// "paramkit.proposals"), so a caller can hand it to the reader for that kind.
    public let artifactKind: String?

    public init(file: String, offset: Int? = nil, location: String? = nil, _ message: String, artifactKind: String? = nil) {
        self.file = file
        self.offset = offset
        self.location = location
        self.message = message
        self.artifactKind = artifactKind
    }

    /// One line: control characters (a tensor name from a damaged file may hold a line feed) are
    /// written as escapes.
    public var description: String {
        var place = file
        if let offset { place += " at byte \(offset)" }
        if let location { place += " (\(location))" }
        let text = "\(place): \(message)"
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.flatMap { s -> [Unicode.Scalar] in
            s.value < 0x20 || s.value == 0x7F ? Array(s.escaped(asASCII: false).unicodeScalars) : [s]
        }))
    }
}

/// A check or policy the user asked for failed (exit status 1): nothing was written.
public struct PolicyViolation: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// A request that cannot be carried out as asked (not a problem inside a file).
public struct UsageError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
