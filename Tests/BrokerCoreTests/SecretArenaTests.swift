@testable import BrokerCore
import Glibc
import Testing

@Suite struct SecretArenaTests {
    private func makeArena(_ capacity: Int = 64 * 1024) throws -> SecretArena {
        // Unit tests must run as any user; whether the lock held is asserted separately.
        try SecretArena(capacity: capacity, requireLock: false)
    }

    @Test func allocatesZeroedAlignedBlocksAndZeroesOnRelease() throws {
        let arena = try makeArena()
        let first = try arena.allocate(10)
        let second = try arena.allocate(33)
        #expect(first.count == 16 && second.count == 48)
        #expect(second.offset == 16)
        #expect(arena.bytes(second).allSatisfy { $0 == 0 })
        arena.bytes(first).copyBytes(from: Array("SECRET_MARKER_01".utf8))
        arena.release(first)
        #expect(UnsafeRawBufferPointer(start: arena.base, count: 16).allSatisfy { $0 == 0 })
        // The freed hole is reused first-fit, and merging restores one whole free block.
        let third = try arena.allocate(16)
        #expect(third.offset == 0)
        arena.release(third)
        arena.release(second)
        #expect(arena.bytesInUse == 0)
        #expect(arena.largestFreeBlock == arena.capacity)
    }

    @Test func exhaustionIsATypedError() throws {
        let arena = try makeArena(8192)
        let block = try arena.allocate(8000)
        #expect(throws: SecretArenaError.exhausted(requested: 500, largestFree: arena.capacity - 8000)) {
            try arena.allocate(500)
        }
        arena.release(block)
        #expect(throws: SecretArenaError.invalidCapacity(100)) { try SecretArena(capacity: 100) }
        #expect(throws: SecretArenaError.self) { try arena.allocate(-1) }
    }

    @Test func lockStateIsReported() throws {
        let arena = try makeArena()
        // Either the kernel locked it, or the arena says exactly why not.
        #expect(arena.isLocked == (arena.lockError == nil))
        if arena.isLocked {
            #expect(try lockedKiB() >= 4)
        }
    }

    @Test func generationIsReleasedAsAUnit() throws {
        let arena = try makeArena()
        var generation: SecretGeneration? = try SecretGeneration(number: 1, byteCount: 40, in: arena)
        let values = ["SECRET_MARKER_a", "SECRET_MARKER_bb", ""]
        for value in values {
            var value = value
            _ = value.withUTF8 { generation!.append(UnsafeRawBufferPointer($0)) }
        }
        #expect(generation!.count == 3)
        #expect(generation!.withValue(1) { String(decoding: $0, as: UTF8.self) } == "SECRET_MARKER_bb")
        #expect(generation!.withValue(2) { $0.count } == 0)
        #expect(arena.bytesInUse == 48)
        generation = nil
        #expect(arena.bytesInUse == 0)
        #expect(UnsafeRawBufferPointer(start: arena.base, count: 48).allSatisfy { $0 == 0 })
    }

    /// A forked child reads one byte before and one byte after the usable region; each read
    /// must die with SIGSEGV on the guard page.
    @Test(arguments: [-1, 0]) func guardPageFaults(side: Int) throws {
        let arena = try makeArena()
        let target = side < 0 ? arena.base - 1 : arena.base + arena.capacity
        let pid = fork()
        #expect(pid >= 0)
        if pid == 0 {
            // Die of the fault itself, without the Swift runtime's crash backtrace.
            signal(SIGSEGV, Glibc.SIG_DFL)
            let byte = target.load(as: UInt8.self)
            _exit(Int32(byte & 1))  // unreachable when the guard page works
        }
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        let signaled = (status & 0x7F) != 0 && (status & 0x7F) != 0x7F
        #expect(signaled && (status & 0x7F) == SIGSEGV, "child status \(status)")
    }
}

/// VmLck of this process in KiB, from /proc/self/status.
func lockedKiB() throws -> Int {
    let text = String(decoding: try FileSystem.readFile("/proc/self/status"), as: UTF8.self)
    for line in text.split(separator: "\n") where line.hasPrefix("VmLck:") {
        return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
    }
    return 0
}
