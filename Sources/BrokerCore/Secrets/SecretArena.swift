import CSeccomp

public enum SecretArenaError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidCapacity(Int)
    case mapFailed(SystemError)
    case guardPagesFailed(SystemError)
    /// mlock failed and the caller required locked memory.
    case lockFailed(SystemError)
    case exhausted(requested: Int, largestFree: Int)

    public var description: String {
        switch self {
        case .invalidCapacity(let bytes): return "secret arena capacity \(bytes) is out of range (4 KiB ... 1 GiB)"
        case .mapFailed(let error): return "secret arena: \(error)"
        case .guardPagesFailed(let error): return "secret arena guard pages: \(error)"
        case .lockFailed(let error):
            return "secret arena cannot be locked in memory: \(error); raise RLIMIT_MEMLOCK (LimitMEMLOCK=) or pass --allow-unlocked-memory"
        case .exhausted(let requested, let largestFree):
            return "secret arena exhausted: \(requested) bytes requested, largest free block \(largestFree) bytes"
        }
    }
}

/// A region of secret bytes inside a `SecretArena`.
public struct ArenaBlock: Equatable, Sendable {
    public let offset: Int
    public let count: Int
}

/// The only memory that holds secret bytes.
///
/// One anonymous mapping: `[guard page][capacity bytes][guard page]`. The guard pages are
/// `PROT_NONE` so a linear overrun faults instead of reading neighbouring memory; the usable
/// part is locked (never swapped), excluded from core dumps and wiped in forked children.
/// Blocks are zeroed on release and the used part of the region on teardown.
///
/// Not thread-safe: the serving thread owns it.
public final class SecretArena {
    /// 4 MiB: room for a full 1 MiB push while the previous generation is still held by
    /// in-flight replies, with slack for fragmentation. Locked on first touch, so unused
    /// capacity costs no resident memory (it does count against RLIMIT_MEMLOCK).
    public static let defaultCapacity = 4 << 20
    static let alignment = 16

    public let capacity: Int
    /// Whether the kernel accepted the lock. False only when the caller allowed it.
    public let isLocked: Bool
    /// Why locking failed, when it did.
    public let lockError: SystemError?

    private let mapping: UnsafeMutableRawPointer
    private let mappingLength: Int
    /// Start of the usable bytes (just past the leading guard page).
    public let base: UnsafeMutableRawPointer
    private var free: [ArenaBlock]
    /// End of the highest byte ever handed out: teardown zeroes up to here only, so pages
    /// never touched are never faulted in.
    private var highWater = 0
    public private(set) var bytesInUse = 0

    public init(capacity: Int = SecretArena.defaultCapacity, requireLock: Bool = true) throws(SecretArenaError) {
        guard capacity >= 4096, capacity <= 1 << 30 else { throw .invalidCapacity(capacity) }
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let usable = (capacity + page - 1) / page * page
        let length = usable + 2 * page
        guard let mapping = remo_mmap_anonymous(length) else { throw .mapFailed(SystemError("mmap")) }
        self.mapping = mapping
        self.mappingLength = length
        self.capacity = usable
        self.base = mapping + page

        guard mprotect(mapping, page, PROT_NONE) == 0,
              mprotect(mapping + page + usable, page, PROT_NONE) == 0
        else {
            let error = SystemError("mprotect")
            munmap(mapping, length)
            throw .guardPagesFailed(error)
        }
        // Best effort: both only narrow where secrets can leak (core files, forked children).
        _ = madvise(mapping, length, MADV_DONTDUMP)
        _ = madvise(base, usable, MADV_WIPEONFORK)

        var lockError: SystemError? = nil
        if remo_mlock_onfault(base, usable) != 0 {
            let onFaultError = SystemError("mlock2")
            if (onFaultError.errno == EINVAL || onFaultError.errno == ENOSYS), mlock(base, usable) == 0 {
                // Kernel without MLOCK_ONFAULT: the whole region is locked and resident.
            } else {
                lockError = onFaultError.errno == EINVAL || onFaultError.errno == ENOSYS ? SystemError("mlock") : onFaultError
            }
        }
        if let lockError, requireLock {
            munmap(mapping, length)
            throw .lockFailed(lockError)
        }
        self.lockError = lockError
        self.isLocked = lockError == nil
        self.free = [ArenaBlock(offset: 0, count: usable)]
    }

    deinit {
        SecureZero.zero(UnsafeMutableRawBufferPointer(start: base, count: highWater))
        if isLocked { munlock(base, capacity) }
        munmap(mapping, mappingLength)
    }

    /// Largest single allocation that would succeed now.
    public var largestFreeBlock: Int { free.map { $0.count }.max() ?? 0 }

    /// Hands out `count` zeroed bytes (first fit, 16-byte aligned).
    public func allocate(_ count: Int) throws(SecretArenaError) -> ArenaBlock {
        let size = max(SecretArena.alignment, (count + SecretArena.alignment - 1) / SecretArena.alignment * SecretArena.alignment)
        guard count >= 0, let slot = free.firstIndex(where: { $0.count >= size }) else {
            throw .exhausted(requested: count, largestFree: largestFreeBlock)
        }
        let hole = free[slot]
        if hole.count == size {
            free.remove(at: slot)
        } else {
            free[slot] = ArenaBlock(offset: hole.offset + size, count: hole.count - size)
        }
        highWater = max(highWater, hole.offset + size)
        bytesInUse += size
        return ArenaBlock(offset: hole.offset, count: size)
    }

    /// Zeroes the block and returns it to the free list, merging with free neighbours.
    public func release(_ block: ArenaBlock) {
        SecureZero.zero(bytes(block))
        bytesInUse -= block.count
        let slot = free.firstIndex { $0.offset > block.offset } ?? free.count
        free.insert(block, at: slot)
        if slot + 1 < free.count, free[slot].offset + free[slot].count == free[slot + 1].offset {
            free[slot] = ArenaBlock(offset: free[slot].offset, count: free[slot].count + free[slot + 1].count)
            free.remove(at: slot + 1)
        }
        if slot > 0, free[slot - 1].offset + free[slot - 1].count == free[slot].offset {
            free[slot - 1] = ArenaBlock(offset: free[slot - 1].offset, count: free[slot - 1].count + free[slot].count)
            free.remove(at: slot)
        }
    }

    public func bytes(_ block: ArenaBlock) -> UnsafeMutableRawBufferPointer {
        precondition(block.offset >= 0 && block.offset + block.count <= capacity, "arena block outside the arena")
        return UnsafeMutableRawBufferPointer(start: base + block.offset, count: block.count)
    }
}
