// `run: combine` — checkpoints merged by a recipe, or by MXNet's combine_model rule (first input
// wins), through `Recipe.bind`, `Merge.plan` and `Merge.write` as `paramkit combine`.

import Foundation
import ParamKit

enum CombineStage: PipelineStage {
    static let name = "combine"
    static let roles: [String] = []
    static let ownKeys = ["recipe", "inputs"]
    static let required = ["inputs"]
    static let settings = ["strict"]
    static let readsConfig = false

    /// With a recipe, `inputs` maps the recipe's input names to sources (taken in name order); without
    /// one, it lists two or more sources, named input1, input2, … (the first wins).
    static func parse(_ map: [String: Any], _ context: StageParsing) throws -> (inputs: [Pipeline.Stage.Input], settings: [(String, String)]) {
        guard let recipe = map["recipe"] else {
            guard let list = map["inputs"] as? [Any], list.count >= 2 else { throw context.badValue("inputs", expected: "a list of at least two sources (first wins)") }
            return (try list.enumerated().map { j, v in .init(role: "input\(j + 1)", source: try context.source(v, key: "inputs[\(j)]")) }, [])
        }
        guard let r = recipe as? String else { throw context.badValue("recipe", expected: "a path") }
        let file = context.path(r)
        guard FileManager.default.fileExists(atPath: file) else { throw StageError.missingInput(file: context.file, stage: context.stage, role: "recipe", path: file) }
        guard let named = map["inputs"] as? [String: Any] else { throw context.badValue("inputs", expected: "a mapping of the recipe's names to sources (with a recipe)") }
        let inputs = try named.keys.sorted().map { k in Pipeline.Stage.Input(role: k, source: try context.source(named[k]!, key: "inputs.\(k)")) }
        return (inputs, [("recipe", file)])
    }

    static func run(_ stage: StageRun) throws -> String {
        let recipe: Recipe
        let files: [String]
        if let path = stage.setting("recipe") {
            recipe = try Recipe.load(path: path)
            do { files = try recipe.bind(stage.inputs.map { (name: $0.role, path: $0.path) }) } catch let e as UsageError {
                throw StageError.inStage(file: nil, stage: stage.name, problem: "\(e)")
            }
        } else {
            recipe = Recipe.combineModel(labels: stage.inputs.map(\.role))
            files = stage.inputs.map(\.path)
        }
        let readers = try files.map { try Formats.open(path: $0) }
        var plan = try Merge.plan(recipe, readers: readers)
        let digest = try Merge.write(&plan, digests: DigestCache(readers), output: stage.output, format: .hdf5,
                                     operation: "combine", settings: [("recipe", .string(stage.setting("recipe") ?? "combine_model (first input wins)"))],
                                     strict: stage.setting("strict") == "true", progress: nil)
        return "\(plan.items.count) tensors, \(plan.conflicts.count) conflicts, digest \(digest)"
    }
}
