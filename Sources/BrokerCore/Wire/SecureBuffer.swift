/// A growable byte queue whose every byte is zeroed before it is consumed, moved or freed.
///
/// Connection input (which carries pushed secrets) and output (which carries `get` replies)
/// live here, so no copy of a secret is left behind in freed heap memory.
public final class SecureBuffer {
    public private(set) var base: UnsafeMutablePointer<UInt8>
    public private(set) var capacity: Int
    /// Readable bytes are `base[readIndex..<writeIndex]`.
    public private(set) var readIndex = 0
    public private(set) var writeIndex = 0

    public init(capacity: Int = 4096) {
        self.capacity = max(capacity, 64)
        self.base = .allocate(capacity: self.capacity)
        self.base.initialize(repeating: 0, count: self.capacity)
    }

    deinit {
        SecureZero.zero(UnsafeMutableRawBufferPointer(start: base, count: capacity))
        base.deallocate()
    }

    public var readableCount: Int { writeIndex - readIndex }
    public var isEmpty: Bool { readIndex == writeIndex }
    public var readable: UnsafeMutableBufferPointer<UInt8> {
        UnsafeMutableBufferPointer(start: base + readIndex, count: writeIndex - readIndex)
    }

    /// Makes room for `count` more bytes after `writeIndex`, compacting before growing.
    /// Returns the writable region (at least `count` bytes).
    public func reserve(_ count: Int) -> UnsafeMutableBufferPointer<UInt8> {
        if capacity - writeIndex < count {
            let live = readableCount
            if capacity - live >= count {
                compact()
            } else {
                var newCapacity = capacity
                while newCapacity - live < count { newCapacity *= 2 }
                let newBase = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
                newBase.initialize(repeating: 0, count: newCapacity)
                newBase.update(from: base + readIndex, count: live)
                SecureZero.zero(UnsafeMutableRawBufferPointer(start: base, count: capacity))
                base.deallocate()
                base = newBase
                capacity = newCapacity
                readIndex = 0
                writeIndex = live
            }
        }
        return UnsafeMutableBufferPointer(start: base + writeIndex, count: capacity - writeIndex)
    }

    /// Records that `count` bytes were written into the region `reserve` returned.
    public func commit(_ count: Int) {
        precondition(count >= 0 && writeIndex + count <= capacity)
        writeIndex += count
    }

    public func append(_ bytes: UnsafeRawBufferPointer) {
        let region = reserve(bytes.count)
        UnsafeMutableRawBufferPointer(region).copyMemory(from: bytes)
        commit(bytes.count)
    }

    public func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { append($0) }
    }

    /// Drops `count` readable bytes, zeroing them.
    public func consume(_ count: Int) {
        precondition(count >= 0 && count <= readableCount)
        SecureZero.zero(UnsafeMutableRawBufferPointer(start: base + readIndex, count: count))
        readIndex += count
        if readIndex == writeIndex {
            readIndex = 0
            writeIndex = 0
        }
    }

    /// Zeroes everything and empties the buffer.
    public func clear() {
        SecureZero.zero(UnsafeMutableRawBufferPointer(start: base, count: writeIndex))
        readIndex = 0
        writeIndex = 0
    }

    private func compact() {
        let live = readableCount
        guard readIndex > 0 else { return }
        (base).update(from: base + readIndex, count: live)
        SecureZero.zero(UnsafeMutableRawBufferPointer(start: base + live, count: writeIndex - live))
        readIndex = 0
        writeIndex = live
    }
}
