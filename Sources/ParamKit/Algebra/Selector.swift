// Selecting tensors by name: exact names, substrings (MXNet's FIXED_PARAMS rule), prefixes, shell
// globs or regular expressions, optionally limited to one role.

import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum MatchMode: String, Sendable, CaseIterable, Codable {
    /// `name` contains the pattern anywhere: how MXNet turns FIXED_PARAMS into fixed_param_names.
    case substring
    case prefix
    case exact
    /// Shell-style: `*`, `?`, `[...]` over the whole name.
    case glob
    /// A regular expression searched anywhere in the name (anchor it with ^…$ for a whole match).
    case regex
}

public struct Selector: Sendable, CustomStringConvertible {
    public var mode: MatchMode
    public var patterns: [String]
    public var role: Role?
    private let regexes: [NSRegularExpression]

    public init(_ mode: MatchMode, _ patterns: [String], role: Role? = nil) throws {
        self.mode = mode
        self.patterns = patterns
        self.role = role
        if mode == .regex {
            regexes = try patterns.map { p in
                do { return try NSRegularExpression(pattern: p) } catch {
                    throw UsageError("invalid regular expression '\(p)'")
                }
            }
        } else {
            regexes = []
        }
    }

    /// Selects every tensor.
    public static var all: Selector { try! Selector(.glob, ["*"]) }

    /// The index of the first pattern that matches, or nil.
    public func matchingPattern(_ info: TensorInfo) -> Int? {
        if let role, info.role != role { return nil }
        return matchingPattern(info.name)
    }

    public func matchingPattern(_ name: String) -> Int? {
        for (i, p) in patterns.enumerated() where Self.matches(name, p, mode, regex: mode == .regex ? regexes[i] : nil) {
            return i
        }
        return nil
    }

    public func matches(_ info: TensorInfo) -> Bool { matchingPattern(info) != nil }

    static func matches(_ name: String, _ pattern: String, _ mode: MatchMode, regex: NSRegularExpression?) -> Bool {
        switch mode {
        case .substring: return name.contains(pattern)
        case .prefix: return name.hasPrefix(pattern)
        case .exact: return name == pattern
        case .glob: return fnmatch(pattern, name, 0) == 0
        case .regex:
            let range = NSRange(name.startIndex..<name.endIndex, in: name)
            return regex!.firstMatch(in: name, range: range) != nil
        }
    }

    public var description: String {
        "\(mode.rawValue) \(patterns.map { "'\($0)'" }.joined(separator: ", "))" + (role.map { " (\($0.rawValue) only)" } ?? "")
    }
}
