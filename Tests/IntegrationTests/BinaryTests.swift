import BrokerCore
import Testing

@Suite struct BinaryTests {
    @Test func versionNamesBrokerProtocolAndLibseccomp() throws {
        let result = try ChildProcess.run(TestBinary.path, ["--version"])
        let output = String(decoding: result.stdout, as: UTF8.self)
        #expect(result.status.exitCode == 0)
        #expect(output.hasPrefix("remo-broker \(BrokerVersion.version) (protocol 2, libseccomp 2."), "\(output)")
    }

    @Test func unknownCommandFailsWithUsageHint() throws {
        let result = try ChildProcess.run(TestBinary.path, ["frobnicate"])
        #expect(result.status.exitCode == 64)
        #expect(String(decoding: result.stderr, as: UTF8.self).contains("unknown command 'frobnicate'"))
    }
}
