// Recipes: ordered rules that build one checkpoint from several named inputs (take, drop, rename),
// with every name conflict either resolved by a declared winner or reported as an error. MXNet's
// combine_model is the recipe "take everything from each input in order; the first input wins".

import Foundation

public struct Recipe: Sendable {
    public enum Rule: Sendable {
        case take(from: String, Selector)
        case drop(Selector)
        /// Rewrites the names of selected tensors: the regex's replacement template (`$1`) applies.
        case rename(pattern: String, to: String)
    }

    public enum ConflictPolicy: String, Sendable, Codable {
        case error
        case firstWins = "first-wins"
    }

    public struct Preference: Sendable {
        public var selector: Selector
        public var winner: String
        public init(selector: Selector, winner: String) { self.selector = selector; self.winner = winner }
    }

    public var inputs: [String]
    public var rules: [Rule]
    public var preferences: [Preference] = []
    public var policy: ConflictPolicy = .error
    public var description: String?

    public init(inputs: [String], rules: [Rule], preferences: [Preference] = [], policy: ConflictPolicy = .error,
                description: String? = nil) {
        self.inputs = inputs
        self.rules = rules
        self.preferences = preferences
        self.policy = policy
        self.description = description
    }

    /// MXNet `combine_model`: the union of all keys, the first input that has a key wins.
    public static func combineModel(labels: [String]) -> Recipe {
        Recipe(inputs: labels, rules: labels.map { .take(from: $0, .all) }, policy: .firstWins,
               description: "combine_model: union of arg and aux keys, first input wins")
    }

    /// The given files in the recipe's input order, for `paramkit combine --recipe` and the pipeline's
    /// combine stage alike. A file is given under one of the recipe's input names, or unnamed, when it
    /// takes the name at its position; every input needs exactly one file.
    public func bind(_ given: [(name: String?, path: String)]) throws -> [String] {
        var byName: [String: String] = [:]
        for (i, (name, path)) in given.enumerated() {
            let input = name ?? (i < inputs.count ? inputs[i] : "")
            guard inputs.contains(input) else {
                throw UsageError("input '\(name ?? path)' is not one of the recipe's inputs: \(inputs.joined(separator: ", "))")
            }
            guard byName[input] == nil else { throw UsageError("recipe input '\(input)' is given twice") }
            byName[input] = path
        }
        let missing = inputs.filter { byName[$0] == nil }
        guard missing.isEmpty else { throw UsageError("no file given for recipe input(s) \(missing.joined(separator: ", "))") }
        return inputs.map { byName[$0]! }
    }
}
