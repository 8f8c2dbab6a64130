/// The secret values from one push, stored in one arena block and released as a unit.
///
/// Values are appended while the generation is built and addressed by index afterwards;
/// which name maps to which index is the store's business. When the last reference goes
/// (the store moved on and no in-flight reply still holds it), the block is zeroed and freed.
public final class SecretGeneration {
    public let number: UInt64
    private let arena: SecretArena
    private let block: ArenaBlock
    private var ranges: [Range<Int>] = []
    private var used = 0

    /// Reserves `byteCount` bytes: the total size of every value this generation will hold.
    public init(number: UInt64, byteCount: Int, in arena: SecretArena) throws(SecretArenaError) {
        self.number = number
        self.arena = arena
        self.block = try arena.allocate(byteCount)
    }

    deinit { arena.release(block) }

    public var count: Int { ranges.count }
    public var byteCount: Int { used }

    /// Copies `value` in and returns its index. The caller sized the generation; running
    /// past it is a programming error, not an input error.
    @discardableResult
    public func append(_ value: UnsafeRawBufferPointer) -> Int {
        precondition(used + value.count <= block.count, "secret generation overflow")
        let destination = arena.bytes(block)
        if value.count > 0 {
            UnsafeMutableRawBufferPointer(rebasing: destination[used..<(used + value.count)]).copyMemory(from: value)
        }
        ranges.append(used..<(used + value.count))
        used += value.count
        return ranges.count - 1
    }

    public func withValue<R, E: Error>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let whole = UnsafeRawBufferPointer(arena.bytes(block))
        return try body(UnsafeRawBufferPointer(rebasing: whole[ranges[index]]))
    }
}
