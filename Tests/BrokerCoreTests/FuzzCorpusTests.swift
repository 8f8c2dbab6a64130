import BrokerCore
import FuzzTargets
import Glibc
import Testing

/// Replays every committed fuzz input (fuzz/corpus/<target>/) through its target in the
/// normal test run: the seeds, and each crash `make fuzz` found once it was fixed, so the
/// fix stays tested without libFuzzer.
@Suite struct FuzzCorpusTests {
    static let corpus: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/BrokerCoreTests/<this file>
        return components.joined(separator: "/") + "/fuzz/corpus"
    }()

    @Test(arguments: FuzzTargets.all.map(\.name))
    func everyCorpusInputRunsCleanly(target: String) throws {
        let directory = Self.corpus + "/" + target
        let names = try FileSystem.listDirectory(directory).sorted()
        #expect(names.count >= 10, "\(directory) needs a seed corpus")
        let run = try #require(FuzzTargets.named(target))
        for name in names {
            let bytes = try FileSystem.readFile(directory + "/" + name)
            bytes.withUnsafeBytes { run($0) }
        }
    }

    @Test func everyCorpusDirectoryIsATarget() throws {
        let directories = try FileSystem.listDirectory(Self.corpus).sorted()
        #expect(directories == FuzzTargets.all.map(\.name).sorted())
    }
}
