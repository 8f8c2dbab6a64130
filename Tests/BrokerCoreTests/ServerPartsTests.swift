@testable import BrokerCore
import Testing

@Suite struct NamesTests {
    @Test func patterns() {
        #expect(Names.isSecretName("GH_token_1"))
        #expect(!Names.isSecretName("gh-token") && !Names.isSecretName("") && !Names.isSecretName(String(repeating: "a", count: 129)))
        #expect(Names.isSecretName(String(repeating: "a", count: 128)))
        #expect(Names.isProjectName("project-a_1") && Names.isProjectName("0p"))
        #expect(!Names.isProjectName("admin") && !Names.isProjectName("-p") && !Names.isProjectName("P")
                && !Names.isProjectName(String(repeating: "a", count: 65)))
        #expect(Names.isEnvVarName("_X1") && !Names.isEnvVarName("1X") && !Names.isEnvVarName("A-B"))
    }
}

@Suite struct TokenBucketTests {
    @Test func burstThenRefill() {
        let second = Monotonic.nanosecondsPerSecond
        var bucket = TokenBucket(ratePerSecond: 2, burst: 3, now: 0)
        #expect(bucket.take(now: 0) == nil && bucket.take(now: 0) == nil && bucket.take(now: 0) == nil)
        #expect(bucket.take(now: 0) == 1)
        #expect(bucket.take(now: second / 2) == nil)  // one token back after 0.5 s at 2/s
        #expect(bucket.take(now: second / 2) == 1)
        var slow = TokenBucket(ratePerSecond: 1, burst: 1, now: 0)
        _ = slow.take(now: 0)
        #expect(slow.take(now: 0) == 1)
    }
}

@Suite struct ProjectCacheTests {
    @Test func ttlEvictionAndFlush() {
        let second = Monotonic.nanosecondsPerSecond
        var cache = ProjectCache(limits: .init(ttlSeconds: 10, maxEntries: 2))
        #expect(cache.resolve("a", generation: 1, now: 0) == 10)
        #expect(cache.resolve("a", generation: 1, now: 3 * second + 1) == 7)
        #expect(cache.resolve("b", generation: 1, now: 0) == 10)
        #expect(cache.resolve("c", generation: 1, now: 0) == 10)  // evicts a, the oldest
        #expect(cache.count == 2)
        #expect(cache.resolve("a", generation: 1, now: 4 * second) == 10)  // a was gone: full TTL again
        #expect(cache.resolve("a", generation: 2, now: 5 * second) == 10)  // new generation: fresh entry
        #expect(cache.resolve("a", generation: 2, now: 16 * second) == 10)  // expired: fresh entry
        cache.flush()
        #expect(cache.count == 0)
    }
}

@Suite struct SecureBufferTests {
    @Test func consumedAndGrownBytesAreZeroed() {
        let buffer = SecureBuffer(capacity: 64)
        buffer.append(Array("REMO_TEST_MARKER_secure_buffer_1".utf8))
        let oldBase = buffer.base
        buffer.consume(5)
        #expect(UnsafeBufferPointer(start: oldBase, count: 5).allSatisfy { $0 == 0 })
        buffer.append([UInt8](repeating: 0x41, count: 200))  // grows: the old block is zeroed before it is freed
        #expect(buffer.readableCount == 27 + 200)
        #expect(Array(buffer.readable.prefix(5)) == Array("TEST_".utf8))
        buffer.clear()
        #expect(buffer.isEmpty)
        #expect(UnsafeBufferPointer(start: buffer.base, count: buffer.capacity).allSatisfy { $0 == 0 })
    }
}

@Suite struct RequestDecoderTests {
    private func decodeAdmin(_ text: String) -> Result<AdminRequest, WireError> {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBufferPointer { line in
            switch RequestDecoder.parseObject(line) {
            case .failure(let error): return .failure(error)
            case .success(let (members, op)): return RequestDecoder.admin(members, op: op, buffer: JSONBuffer(UnsafeBufferPointer(line)))
            }
        }
    }

    private func code(_ text: String) -> ErrorCode? {
        if case .failure(let error) = decodeAdmin(text) { return error.code }
        return nil
    }

    @Test func errorCodes() {
        #expect(code("[1]") == .protocolError)
        #expect(code(#"{"op":1}"#) == .protocolError)
        #expect(code(#"{"op":"nope"}"#) == .protocolError)
        #expect(code(#"{"op":"status","op":"status"}"#) == .protocolError)
        #expect(code(#"{"op":"register","name":"p"}"#) == .invalidPayload)
        #expect(code(#"{"op":"register","name":7,"project_path":"/p"}"#) == .protocolError)
        #expect(code(#"{"op":"register","name":"p","project_path":"/p","allowed_uids":[-1]}"#) == .invalidPayload)
        #expect(code(#"{"op":"push-creds","secrets":[]}"#) == .invalidPayload)
        #expect(code(#"{"op":"status","extra":{"ignored":true}}"#) == nil)
    }

    @Test func registerFields() {
        guard case .success(.register(let request)) = decodeAdmin(#"{"op":"register","name":"p","project_path":"/x/p","allowed_uids":[0,1000],"socket_gid":5}"#) else {
            Issue.record("not decoded")
            return
        }
        #expect(request == RegisterRequest(name: "p", projectPath: "/x/p", allowedUIDs: [0, 1000], socketGID: 5))
    }
}

@Suite struct SecretStoreTests {
    private func push(_ store: SecretStore, _ json: String) -> Result<Int, WireError> {
        var bytes = Array(json.utf8)
        return bytes.withUnsafeMutableBufferPointer { line in
            guard case .object(let members) = try! JSONReader.parse(inPlace: line) else { return .failure(WireError(.protocolError, "")) }
            do throws(WireError) {
                return .success(try store.replace(with: members, in: JSONBuffer(UnsafeBufferPointer(line)), now: WallClockTime(seconds: 0)))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test func validationLeavesTheStoreUnchanged() throws {
        let arena = try SecretArena(capacity: 64 * 1024, requireLock: false)
        let store = SecretStore(arena: arena)
        #expect(try push(store, #"{"a":"REMO_TEST_MARKER_1","b":{"k":"REMO_TEST_MARKER_2"}}"#).get() == 2)
        let used = arena.bytesInUse
        for bad in [#"{"bad-name":"x"}"#, #"{"a":1}"#, #"{"a":{}}"#, #"{"a":{"k":1}}"#, #"{"a":{"bad key":"x"}}"#, #"{"a":null}"#] {
            guard case .failure(let error) = push(store, bad) else { Issue.record("accepted \(bad)"); continue }
            #expect(error.code == .invalidPayload)
        }
        #expect(store.count == 2 && store.generationNumber == 1 && arena.bytesInUse == used)
    }

    @Test func replaceIsWholeAndReleasesTheOldGeneration() throws {
        let arena = try SecretArena(capacity: 64 * 1024, requireLock: false)
        let store = SecretStore(arena: arena)
        _ = push(store, #"{"a":"REMO_TEST_MARKER_old","gone":"REMO_TEST_MARKER_gone"}"#)
        _ = push(store, #"{"a":"REMO_TEST_MARKER_new"}"#)
        #expect(store.secret(named: "gone") == nil)
        #expect(arena.bytesInUse == 32)  // only the new generation (21 bytes, rounded up)
        let output = SecureBuffer()
        store.appendReply(for: try #require(store.secret(named: "a")), ttlSeconds: 5, to: output)
        let reply = String(decoding: UnsafeBufferPointer(output.readable), as: UTF8.self)
        #expect(reply == "{\"ok\":true,\"value\":\"REMO_TEST_MARKER_new\",\"ttl_seconds\":5}\n")
        #expect(store.clear() == 1 && arena.bytesInUse == 0)
    }

    @Test func lastChangedNamesWhatAPushOrClearChanged() throws {
        let arena = try SecretArena(capacity: 64 * 1024, requireLock: false)
        let store = SecretStore(arena: arena)
        _ = push(store, #"{"a":"REMO_TEST_MARKER_1","b":{"x":"REMO_TEST_MARKER_x","y":"REMO_TEST_MARKER_y"},"c":""}"#)
        #expect(store.lastChanged == ["a", "b", "c"])
        _ = push(store, #"{"c":"","b":{"y":"REMO_TEST_MARKER_y","x":"REMO_TEST_MARKER_x"},"a":"REMO_TEST_MARKER_1"}"#)
        #expect(store.lastChanged.isEmpty, "an identical set (keys and fields reordered) is no change")
        _ = push(store, #"{"a":"REMO_TEST_MARKER_2","b":{"x":"REMO_TEST_MARKER_x","y":"REMO_TEST_MARKER_y"},"d":""}"#)
        #expect(store.lastChanged == ["a", "c", "d"])
        _ = push(store, #"{"a":"REMO_TEST_MARKER_2","b":{"x":"REMO_TEST_MARKER_x"},"d":""}"#)
        #expect(store.lastChanged == ["b"], "a bundle losing a field changed")
        _ = push(store, #"{"a":{"value":"REMO_TEST_MARKER_2"},"b":{"x":"REMO_TEST_MARKER_x"},"d":""}"#)
        #expect(store.lastChanged == ["a"], "scalar to bundle changed")
        _ = store.clear()
        #expect(store.lastChanged == ["a", "b", "d"])
        _ = store.clear()
        #expect(store.lastChanged.isEmpty)
    }
}

@Suite struct RevisionTests {
    @Test func revisionsAreUniqueAndCarryThePerStartNonce() {
        var clock = RevisionClock(), other = RevisionClock()
        let first = clock.next(), second = clock.next()
        #expect(first != second && first.hasPrefix(clock.nonce) && clock.nonce.count == 32)
        #expect(clock.nonce != other.nonce, "two starts share a nonce")
        #expect(!other.next().hasPrefix(clock.nonce))
    }

    @Test func waitDecoding() throws {
        func decode(_ text: String) -> Result<ProjectRequest, WireError> {
            var bytes = Array(text.utf8)
            return bytes.withUnsafeMutableBufferPointer { line in
                switch RequestDecoder.parseObject(line) {
                case .failure(let error): return .failure(error)
                case .success(let (members, op)): return RequestDecoder.project(members, op: op, buffer: JSONBuffer(UnsafeBufferPointer(line)))
                }
            }
        }
        #expect(try decode(#"{"op":"wait","revision":"r"}"#).get() == .wait(revision: "r", timeoutSeconds: 300))
        #expect(try decode(#"{"op":"wait","revision":"r","timeout_seconds":3600}"#).get() == .wait(revision: "r", timeoutSeconds: 3600))
        #expect(try decode(#"{"op":"wait","revision":"r","timeout_seconds":1}"#).get() == .wait(revision: "r", timeoutSeconds: 1))
        for bad in [#"{"op":"wait"}"#, #"{"op":"wait","revision":true}"#, #"{"op":"wait","revision":"r","timeout_seconds":0}"#,
                    #"{"op":"wait","revision":"r","timeout_seconds":1e2}"#, #"{"op":"wait","revision":"r","timeout_seconds":null}"#] {
            guard case .failure(let error) = decode(bad) else { Issue.record("accepted \(bad)"); continue }
            #expect(error.code == .protocolError)
        }
    }
}
