// Errors that say what went wrong and where: the file, the byte offset or dataset path, and why.
// Every error ParamKit's libraries throw conforms to `ParamKitError`: its exit status, the file and
// place it is about (`site`), and the request setting that would change the outcome (`setting`,
// e.g. "duplicates"), so that a program can offer its own way to change it (the CLI names its
// flag) while the library's message stays in the library's terms.

/// The file an error is about and, when known, the place in it (a byte offset, a dataset path, a
/// key path, a stage, a graph node).
public struct ErrorSite: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var place: String?
    public init(file: String, place: String? = nil) { self.file = file; self.place = place }
    public var description: String { place.map { "\(file) (\($0))" } ?? file }
}

/// An error with the exit status a command ends with and, when one exists, the setting of the
/// request that would lead elsewhere.
public protocol ParamKitError: Error, CustomStringConvertible {
    /// 1: a check or policy the user asked for failed; 2: bad input or a request that cannot run.
    var exitStatus: Int32 { get }
    /// The request setting that changes the outcome ("duplicates", "format", "missing", "width", …).
    var setting: String? { get }
    /// The file and place the error is about, when it is about one.
    var site: ErrorSite? { get }
}

extension ParamKitError {
    public var site: ErrorSite? { nil }
}

/// A file could not be read or written as the format it claims to be.
public struct FormatError: ParamKitError, Sendable, Equatable {
    public let file: String
    /// Byte offset in the file where the problem was found, when the format has one.
    public let offset: Int?
    /// Dataset or record the problem is in (`/arg/conv1_1_weight`, `record 3`), when known.
    public let location: String?
    public let message: String
    /// Set when the file is another kind of ParamKit artifact (its `paramkit_format`, e.g.
    /// "paramkit.proposals"), so a caller can hand it to the reader for that kind.
    public let artifactKind: String?
    public let setting: String?
    public var exitStatus: Int32 { 2 }
    public var site: ErrorSite? {
        let places = [offset.map { "byte \($0)" }, location].compactMap { $0 }
        return ErrorSite(file: file, place: places.isEmpty ? nil : places.joined(separator: ", "))
    }

    public init(file: String, offset: Int? = nil, location: String? = nil, _ message: String, artifactKind: String? = nil,
                setting: String? = nil) {
        self.file = file
        self.offset = offset
        self.location = location
        self.message = message
        self.artifactKind = artifactKind
        self.setting = setting
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
public struct PolicyViolation: ParamKitError, Sendable {
    public let message: String
    public let setting: String?
    public var exitStatus: Int32 { 1 }
    public init(_ message: String, setting: String? = nil) { self.message = message; self.setting = setting }
    public var description: String { message }
}

/// A request that cannot be carried out as asked (not a problem inside a file).
public struct UsageError: ParamKitError, Sendable {
    public let message: String
    public let setting: String?
    public var exitStatus: Int32 { 2 }
    public init(_ message: String, setting: String? = nil) { self.message = message; self.setting = setting }
    public var description: String { message }
}
