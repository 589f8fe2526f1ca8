// Merge: a recipe resolved against its inputs' tensor names (MergePlan: each output tensor's source
// and every conflict met), then carried out into one checkpoint.

import Foundation

/// What a recipe resolves to: each output tensor's source, and every conflict met on the way.
public struct MergePlan: Sendable {
    public struct Item: Sendable {
        public var info: TensorInfo          // as written (after renames)
        public var input: Int
        public var entry: Int
        public var sourceKey: String
        public var transforms: [String]
    }

    public struct Conflict: Sendable {
        public var key: String
        public var winner: Int
        public var loser: Int
        public var reason: String
        /// Whether the two tensors were bitwise equal (filled by `Merge.compareConflicts`).
        public var equal: Bool?
    }

    public var labels: [String]
    public var items: [Item]
    public var conflicts: [Conflict]
}

public enum Merge {
    public static func plan(_ recipe: Recipe, readers: [CheckpointReader]) throws -> MergePlan {
        guard readers.count == recipe.inputs.count else {
            throw UsageError("the recipe has \(recipe.inputs.count) inputs (\(recipe.inputs.joined(separator: ", "))) but \(readers.count) files were given")
        }
        func inputIndex(_ label: String) throws -> Int {
            guard let i = recipe.inputs.firstIndex(of: label) else {
                throw UsageError("recipe names input '\(label)', which is not one of \(recipe.inputs.joined(separator: ", "))")
            }
            return i
        }
        for p in recipe.preferences { _ = try inputIndex(p.winner) }
        var items: [MergePlan.Item] = []
        var byKey: [String: Int] = [:]
        var conflicts: [MergePlan.Conflict] = []
        for (ruleIndex, rule) in recipe.rules.enumerated() {
            switch rule {
            case let .take(label, selector):
                let i = try inputIndex(label)
                for (e, info) in readers[i].entries.enumerated() where selector.matches(info) {
                    let item = MergePlan.Item(info: info, input: i, entry: e, sourceKey: info.key, transforms: ["copied"])
                    guard let existing = byKey[info.key] else {
                        byKey[info.key] = items.count
                        items.append(item)
                        continue
                    }
                    let held = items[existing].input
                    if held == i { continue }   // taken twice from the same input: nothing to decide
                    if let p = recipe.preferences.first(where: { $0.selector.matches(info) }) {
                        let w = try inputIndex(p.winner)
                        guard w == i || w == held else {
                            throw UsageError("conflict on \(info.key) between '\(recipe.inputs[held])' and '\(label)': the declared winner '\(p.winner)' does not provide it")
                        }
                        conflicts.append(.init(key: info.key, winner: w, loser: w == i ? held : i,
                                               reason: "declared: \(p.selector) → \(p.winner)"))
                        if w == i { items[existing] = item }
                    } else if recipe.policy == .firstWins {
                        conflicts.append(.init(key: info.key, winner: held, loser: i, reason: "first input wins"))
                    } else {
                        throw UsageError("undeclared conflict: \(info.key) comes from both '\(recipe.inputs[held])' and '\(label)' "
                                         + "(rule \(ruleIndex + 1)); declare a winner under conflicts.prefer")
                    }
                }
            case let .drop(selector):
                items.removeAll { selector.matches($0.info) }
                byKey = Dictionary(uniqueKeysWithValues: items.enumerated().map { ($1.info.key, $0) })
            case let .rename(pattern, replacement):
                let regex: NSRegularExpression
                do { regex = try NSRegularExpression(pattern: pattern) } catch { throw UsageError("invalid regular expression '\(pattern)'") }
                for k in items.indices {
                    let name = items[k].info.name
                    let range = NSRange(name.startIndex..<name.endIndex, in: name)
                    guard regex.firstMatch(in: name, range: range) != nil else { continue }
                    let renamed = regex.stringByReplacingMatches(in: name, range: range, withTemplate: replacement)
                    if renamed != name {
                        items[k].info.name = renamed
                        items[k].transforms.append("renamed from \(name)")
                    }
                }
                byKey = [:]
                for (k, item) in items.enumerated() {
                    if let other = byKey[item.info.key] {
                        throw UsageError("rename '\(pattern)' ⇒ '\(replacement)' maps both \(items[other].sourceKey) and \(item.sourceKey) to \(item.info.key)")
                    }
                    byKey[item.info.key] = k
                }
            }
        }
        // MXNet's save_checkpoint writes every arg before every aux; keep that order.
        let ordered = items.filter { $0.info.role == .arg } + items.filter { $0.info.role == .aux }
        return MergePlan(labels: recipe.inputs, items: ordered, conflicts: conflicts)
    }

    /// Records whether the two sides of every conflict hold equal content (same digest).
    public static func compareConflicts(_ plan: inout MergePlan, digests: DigestCache) throws {
        for c in plan.conflicts.indices {
            let key = plan.conflicts[c].key
            func digest(_ input: Int) throws -> String {
                try digests.digest(input, digests.readers[input].entries.firstIndex { $0.key == key }!)
            }
            plan.conflicts[c].equal = try digest(plan.conflicts[c].winner) == digest(plan.conflicts[c].loser)
        }
    }

    /// Streams the planned tensors into `output`, one at a time, comparing each conflict's sides on
    /// the other core while the winner is written (filling `plan.conflicts[…].equal`). With `strict`,
    /// a conflict with unequal values discards the output and throws. Returns the root digest written.
    public static func write(_ plan: inout MergePlan, digests: DigestCache, output: String, format: Formats.Output,
                             operation: String, settings: [(String, JSON)] = [], strict: Bool = false,
                             progress: ((Int, Int) -> Void)? = nil) throws -> String {
        let readers = digests.readers
        try OutputGuard.refuseOverwrite(output: output, inputs: readers.map(\.path))
        var metadata = readers.first?.metadata ?? [:]
        metadata.removeValue(forKey: MXNetParams.npShapeKey)
        let w = try Formats.writer(path: output, format: format, entries: plan.items.map(\.info), metadata: metadata)
        var provenance = Provenance(operation: operation)
        provenance.settings = settings
        for (n, item) in plan.items.enumerated() {
            progress?(n, plan.items.count)
            let tensor = try readers[item.input].view(item.entry)
            let losers = plan.conflicts.indices.filter { plan.conflicts[$0].key == item.info.key && plan.conflicts[$0].winner == item.input }
            let digest: String
            if losers.isEmpty {
                digest = try w.write(tensor)
            } else {
                // Hash the losing sides while the winner goes out (the writer hashes the winner itself).
                let loserEntries = losers.map { c in (plan.conflicts[c].loser, readers[plan.conflicts[c].loser].entries.firstIndex { $0.key == item.info.key }!) }
                let shared = SendableBox((w, tensor, digests, loserEntries))
                final class Slot: @unchecked Sendable { var digest = "" }
                let written = Slot()
                let failure = ErrorBox()
                DispatchQueue.concurrentPerform(iterations: 2) { job in
                    let (w, tensor, digests, loserEntries) = shared.value
                    do {
                        if job == 0 { for (i, e) in loserEntries { _ = try digests.digest(i, e) } } else { written.digest = try w.write(tensor) }
                    } catch { failure.set(error) }
                }
                if let e = failure.error { throw e }
                digest = written.digest
            }
            try digests.record(item.input, item.entry, digest)
            for c in losers {
                let l = plan.conflicts[c].loser
                plan.conflicts[c].equal = try digests.digest(l, readers[l].entries.firstIndex { $0.key == item.info.key }!) == digest
            }
            provenance.lineage.append((item.info.key, .init(source: plan.labels[item.input], key: item.sourceKey, transforms: item.transforms)))
        }
        let unequal = plan.conflicts.filter { $0.equal == false }
        if strict && !unequal.isEmpty {
            throw PolicyViolation("strict: \(unequal.count) conflict(s) with unequal values: \(unequal.map(\.key).joined(separator: ", ")); nothing written")
        }
        for i in readers.indices {
            provenance.inputs.append(.init(label: plan.labels[i], path: readers[i].path, digest: try digests.rootDigest(i)))
        }
        return try w.commit(provenance: provenance.json.compact)
    }
}
