// YAML nested thousands of levels deep is refused by every loader with a one-line error naming the
// file and the place, instead of overflowing the stack in Yams' recursive composer (5,000 levels of
// `[` crashed `paramkit train rpn --config` with SIGSEGV).

import Foundation
import ParamKit
import Stages
import Testing

@Suite struct YAMLDepthTests {
    static let depth = 5000
    static let deep: [String] = [
        "network: " + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "\n",
        "stages:\n" + String(repeating: "- ", count: depth) + "x\n",
        String(repeating: "{a: ", count: depth) + "1" + String(repeating: "}", count: depth) + "\n",
    ]

    @Test("every YAML loader refuses deep nesting on one line", arguments: deep.indices)
    func deepNestingIsRefused(_ index: Int) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("yaml-depth-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("deep.yaml").path
        try Self.deep[index].write(toFile: path, atomically: true, encoding: .utf8)
        let loaders: [(String, () throws -> Void)] = [
            ("stage config", { _ = try StageConfig.load(text: Self.deep[index], named: path) }),
            ("pipeline", { _ = try Pipeline.load(path: path) }),
            ("recipe", { _ = try Recipe.load(path: path) }),
            ("network file", { _ = try NetworkFile.load(path: path).definition }),
        ]
        for (what, load) in loaders {
            do {
                try load()
                Issue.record("\(what): a document nested \(Self.depth) levels deep was accepted")
            } catch {
                let message = try #require(FuzzCorpusTests.message(error), "\(what): \(type(of: error)) is not a project error")
                #expect(message.contains("line 1") || message.contains("line 2"), "\(what): \(message)")
                #expect(message.contains("nested more than \(YAMLValue.maxDepth) levels deep"), "\(what): \(message)")
                #expect(message.contains(path), "\(what): \(message)")
                #expect(!message.contains("\n"), "\(what): \(message)")
            }
        }
    }

    @Test func nestingUpToTheLimitIsRead() throws {
        let n = YAMLValue.maxDepth
        let atLimit = String(repeating: "[", count: n) + "1" + String(repeating: "]", count: n)
        var value = try #require(try YAMLValue.load(yaml: atLimit))
        for _ in 0..<n {
            let list = try #require(value as? [Any])
            value = try #require(list.first)
        }
        #expect(value as? Int == 1)
        let over = "[" + atLimit + "]"
        #expect(throws: YAMLValue.Problem.self) { _ = try YAMLValue.load(yaml: over) }
    }
}
