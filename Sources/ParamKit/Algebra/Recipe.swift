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
}
