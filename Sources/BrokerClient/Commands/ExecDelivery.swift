import BrokerCore
import CSeccomp

/// Puts fetched secrets where the manifest says: environment variables, or files rendered
/// from a template and written atomically onto a memory-backed filesystem.
///
/// Two phases, so a bad binding leaves nothing behind: `prepare` checks and renders every
/// binding without side effects; only then `apply` writes files and sets variables (and
/// removes the files it wrote if a later write fails).
struct Delivery {
    let allowDiskFiles: Bool

    /// One checked binding, ready to apply. Holds secret bytes: `zeroize()` when done.
    enum Prepared {
        case env(variable: String, value: [UInt8], secret: String)
        case file(path: String, content: [UInt8], mode: UInt32, secret: String)

        /// `self` lets go of the bytes first: zeroing an array that is still shared would
        /// copy it (copy-on-write) and zero the copy.
        mutating func zeroize() {
            switch self {
            case .env(let variable, var value, let secret):
                self = .env(variable: variable, value: [], secret: secret)
                SecureZero.zero(&value)
            case .file(let path, var content, let mode, let secret):
                self = .file(path: path, content: [], mode: mode, secret: secret)
                SecureZero.zero(&content)
            }
        }
    }

    func prepare(_ secret: ExecCommand.Fetched) throws(CommandFailure) -> Prepared {
        let binding = secret.binding
        let document = secret.reply.document
        if let template = binding.template, let path = binding.filePath, let mode = binding.fileMode {
            let target = try expandHome(path, secret: binding.name)
            try checkMemoryBacked(FileSystem.parentDirectory(target), secret: binding.name)
            let content = try render(template, secret: binding.name, document: document)
            return .file(path: target, content: content, mode: mode, secret: binding.name)
        }
        guard let variable = binding.envVar else {
            throw CommandFailure(message: "\(binding.name): the manifest binding has neither env_var nor file_path", exitCode: 1)
        }
        guard case .string(let span)? = document["value"] else {
            throw CommandFailure(message: "\(binding.name) is a bundle; an env binding needs a single value", exitCode: 1)
        }
        var value = [UInt8]()
        value.reserveCapacity(span.count)
        document.withBuffer { value.append(contentsOf: $0.slice(span)) }
        guard !value.contains(0) else {
            SecureZero.zero(&value)
            throw CommandFailure(message: "\(binding.name) contains a NUL byte and cannot be an environment variable", exitCode: 1)
        }
        return .env(variable: variable, value: value, secret: binding.name)
    }

    /// Writes every file and sets every variable; on a failure removes the files written.
    func apply(_ prepared: [Prepared]) throws(CommandFailure) {
        var written: [String] = []
        do throws(CommandFailure) {
            for item in prepared {
                switch item {
                case .file(let path, let content, let mode, let secret):
                    try writeFile(path, content, mode: mode, secret: secret)
                    written.append(path)
                case .env(let variable, let value, let secret):
                    try setEnvironment(variable, value, secret: secret)
                }
            }
        } catch {
            for path in written { unlink(path) }
            throw error
        }
    }

    private func setEnvironment(_ variable: String, _ value: [UInt8], secret: String) throws(CommandFailure) {
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: value.count + 1) { cValue throws(CommandFailure) in
            for index in 0..<value.count { cValue[index] = CChar(bitPattern: value[index]) }
            cValue[value.count] = 0
            defer { SecureZero.zero(UnsafeMutableRawBufferPointer(cValue)) }
            guard setenv(variable, cValue.baseAddress!, 1) == 0 else {
                throw CommandFailure(message: "cannot set \(variable) for \(secret): \(SystemError("setenv").errnoName)", exitCode: 1)
            }
        }
    }

    /// Refuses a disk-backed target unless allowed. The directory may not exist yet: its
    /// nearest existing ancestor decides (what `writeFile` creates lands on the same mount).
    private func checkMemoryBacked(_ directory: String, secret: String) throws(CommandFailure) {
        guard !allowDiskFiles else { return }
        var existing = directory
        while !FileSystem.exists(existing), existing != "/" { existing = FileSystem.parentDirectory(existing) }
        let type = remo_filesystem_type(existing)
        guard type == 0x0102_1994 || type == 0x8584_58F6 else {  // TMPFS_MAGIC, RAMFS_MAGIC
            throw CommandFailure(message: "\(secret): \(directory) is not on tmpfs/ramfs; refusing to write a secret to disk (use --allow-disk-files to override)", exitCode: 1)
        }
    }

    /// `{{value}}` for a scalar, `{{field}}` for each field of a bundle. A placeholder with
    /// nothing to fill it is an error, never an empty substitution.
    func render(_ template: String, secret: String, document: JSONDocument) throws(CommandFailure) -> [UInt8] {
        let text = Array(template.utf8)
        var output: [UInt8] = []
        // Reserve generously so appending values never reallocates (no stray copies).
        let valueBytes = document.storage.count
        output.reserveCapacity(text.count + valueBytes * max(1, text.count / 4 + 1))
        var index = 0
        while index < text.count {
            if index + 1 < text.count, text[index] == UInt8(ascii: "{"), text[index + 1] == UInt8(ascii: "{") {
                guard let close = findClose(text, from: index + 2) else {
                    throw CommandFailure(message: "\(secret): template has an unclosed {{", exitCode: 1)
                }
                let placeholder = String(decoding: text[(index + 2)..<close], as: UTF8.self)
                guard let span = lookup(placeholder, document: document) else {
                    throw CommandFailure(message: "\(secret): template placeholder {{\(placeholder)}} has no matching \(document["value"] != nil ? "value (use {{value}})" : "field")", exitCode: 1)
                }
                let needed = output.count + span.count
                if needed > output.capacity {
                    var larger: [UInt8] = []
                    larger.reserveCapacity(needed * 2)
                    larger += output
                    SecureZero.zero(&output)
                    output = larger
                }
                document.withBuffer { output.append(contentsOf: $0.slice(span)) }
                index = close + 2
            } else {
                output.append(text[index])
                index += 1
            }
        }
        return output
    }

    private func findClose(_ text: [UInt8], from start: Int) -> Int? {
        var index = start
        while index + 1 < text.count {
            if text[index] == UInt8(ascii: "}"), text[index + 1] == UInt8(ascii: "}") { return index }
            index += 1
        }
        return nil
    }

    private func lookup(_ placeholder: String, document: JSONDocument) -> JSONSpan? {
        if case .string(let span)? = document["value"] {
            return placeholder == "value" ? span : nil
        }
        guard case .object(let fields)? = document["fields"],
              case .string(let span)? = document.member(placeholder, of: fields)
        else { return nil }
        return span
    }

    private func expandHome(_ path: String, secret: String) throws(CommandFailure) -> String {
        guard path.hasPrefix("~/") else { return path }
        guard let home = getenv("HOME"), home.pointee == UInt8(ascii: "/") else {
            throw CommandFailure(message: "\(secret): file_path starts with ~ but HOME is not an absolute path", exitCode: 1)
        }
        return String(cString: home) + String(path.dropFirst())
    }

    /// Temp file beside the target with the final mode from the start, written, fsynced,
    /// renamed over the target. Refuses disk-backed filesystems unless allowed.
    private func writeFile(_ path: String, _ content: [UInt8], mode: UInt32, secret: String) throws(CommandFailure) {
        let directory = FileSystem.parentDirectory(path)
        do {
            try FileSystem.createDirectories(directory, mode: 0o700)
        } catch {
            throw CommandFailure(message: "\(secret): cannot create \(directory): \(error.errnoName)", exitCode: 1)
        }
        let temp = "\(directory)/.\(FileSystem.lastComponent(path)).remo-\(getpid())"
        unlink(temp)
        let fd = Libc.open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
        guard fd >= 0 else {
            throw CommandFailure(message: "\(secret): cannot create \(temp): \(SystemError("open").errnoName)", exitCode: 1)
        }
        var failure: SystemError? = nil
        if fchmod(fd, mode_t(mode)) != 0 { failure = SystemError("fchmod") }
        if failure == nil {
            content.withUnsafeBytes { Console.writeAll(fd, $0) }
            if fsync(fd) != 0 { failure = SystemError("fsync") }
        }
        close(fd)
        if failure == nil, rename(temp, path) != 0 { failure = SystemError("rename") }
        if let failure {
            unlink(temp)
            throw CommandFailure(message: "\(secret): cannot write \(path): \(failure)", exitCode: 1)
        }
    }
}
