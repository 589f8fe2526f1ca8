// The YAML form of a recipe (schemas/recipe.schema.json). Selectors sit inline in each rule:
//   - take: {from: rcnn1, prefix: [fc6, fc7]}
//   - drop: {regex: "_test$"}
//   - rename: {regex: "^(.*)_old$", to: "$1"}
//   conflicts: {policy: error, prefer: [{prefix: conv, winner: rpn2}]}

import Foundation
import Yams

struct StringList: Decodable {
    var values: [String]
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let one = try? c.decode(String.self) { values = [one] } else { values = try c.decode([String].self) }
    }
}

/// Selector fields: exactly one of exact/substring/prefix/glob/regex, optional role.
struct SelectorFields: Decodable {
    var exact, substring, prefix, glob, regex: StringList?
    var role: Role?

    func selector(_ context: String, defaultAll: Bool) throws -> Selector {
        let given: [(MatchMode, StringList?)] = [(.exact, exact), (.substring, substring), (.prefix, prefix), (.glob, glob), (.regex, regex)]
        let set = given.filter { $0.1 != nil }
        if set.isEmpty && defaultAll { return try Selector(.glob, ["*"], role: role) }
        guard set.count == 1 else {
            throw UsageError("\(context): give exactly one of exact, substring, prefix, glob or regex")
        }
        return try Selector(set[0].0, set[0].1!.values, role: role)
    }
}

struct RecipeFile: Decodable {
    struct Take: Decodable {
        var from: String
        var fields: SelectorFields
        enum CodingKeys: String, CodingKey { case from }
        init(from decoder: Decoder) throws {
            from = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .from)
            fields = try SelectorFields(from: decoder)
        }
    }
    struct Rename: Decodable { var regex: String; var to: String }
    struct Rule: Decodable { var take: Take?; var drop: SelectorFields?; var rename: Rename? }
    struct Prefer: Decodable {
        var winner: String
        var fields: SelectorFields
        enum CodingKeys: String, CodingKey { case winner }
        init(from decoder: Decoder) throws {
            winner = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .winner)
            fields = try SelectorFields(from: decoder)
        }
    }
    struct Conflicts: Decodable { var policy: Recipe.ConflictPolicy?; var prefer: [Prefer]? }

    var description: String?
    var inputs: [String]
    var rules: [Rule]
    var conflicts: Conflicts?
}

extension Recipe {
    /// Loads a recipe from a YAML file, with errors that name the file and the rule.
    public static func load(path: String) throws -> Recipe {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw UsageError("\(path): cannot read the recipe")
        }
        let file: RecipeFile
        do {
            try YAMLValue.checkDepth(text)
            file = try YAMLDecoder().decode(RecipeFile.self, from: text)
        } catch let e as YAMLValue.Problem {
            throw UsageError("\(path): not valid YAML: \(e.description)")
        } catch let e as DecodingError {
            throw UsageError("\(path): not a valid recipe: \(describe(e))")
        } catch {
            throw UsageError("\(path): not valid YAML: \(YAMLProblem.describe(error))")
        }
        guard !file.inputs.isEmpty, Set(file.inputs).count == file.inputs.count else {
            throw UsageError("\(path): inputs must be a non-empty list of distinct names")
        }
        var rules: [Rule] = []
        for (i, r) in file.rules.enumerated() {
            let context = "\(path): rule \(i + 1)"
            switch (r.take, r.drop, r.rename) {
            case let (take?, nil, nil): rules.append(.take(from: take.from, try take.fields.selector(context, defaultAll: true)))
            case let (nil, drop?, nil): rules.append(.drop(try drop.selector(context, defaultAll: false)))
            case let (nil, nil, rename?): rules.append(.rename(pattern: rename.regex, to: rename.to))
            default: throw UsageError("\(context): a rule is exactly one of take, drop or rename")
            }
        }
        let prefs = try (file.conflicts?.prefer ?? []).enumerated().map { i, p in
            Preference(selector: try p.fields.selector("\(path): conflicts.prefer \(i + 1)", defaultAll: false), winner: p.winner)
        }
        return Recipe(inputs: file.inputs, rules: rules, preferences: prefs, policy: file.conflicts?.policy ?? .error,
                      description: file.description)
    }

    static func describe(_ e: DecodingError) -> String {
        func path(_ c: DecodingError.Context) -> String {
            c.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
        }
        switch e {
        case let .keyNotFound(key, c): return "missing '\(key.stringValue)' at \(path(c).isEmpty ? "top level" : path(c))"
        case let .typeMismatch(_, c), let .valueNotFound(_, c), let .dataCorrupted(c): return "\(c.debugDescription) at \(path(c))"
        @unknown default: return "\(e)"
        }
    }
}
