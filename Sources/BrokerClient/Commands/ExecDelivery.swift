import BrokerCore
import CSeccomp
import Glibc

/// Puts fetched secrets where the manifest says: environment variables, or files rendered
/// from a template and written atomically onto a memory-backed filesystem.
struct Delivery {
    let allowDiskFiles: Bool

    func deliver(_ secret: ExecCommand.Fetched) throws(CommandFailure) {
        let binding = secret.binding
        let document = secret.reply.document
        if let template = binding.template, let path = binding.filePath, let mode = binding.fileMode {
            var content = try render(template, secret: binding.name, document: document)
            defer { SecureZero.zero(&content) }
            try writeFile(expandHome(path, secret: binding.name), content, mode: mode, secret: binding.name)
        } else if let variable = binding.envVar {
            guard case .string(let span)? = document["value"] else {
                throw CommandFailure(message: "\(binding.name) is a bundle; an env binding needs a single value", exitCode: 1)
            }
            try document.withBuffer { buffer throws(CommandFailure) in
                try setEnvironment(variable, buffer.slice(span), secret: binding.name)
            }
        } else {
            throw CommandFailure(message: "\(binding.name): the manifest binding has neither env_var nor file_path", exitCode: 1)
        }
    }

    private func setEnvironment(_ variable: String, _ value: UnsafeBufferPointer<UInt8>, secret: String) throws(CommandFailure) {
        guard !value.contains(0) else {
            throw CommandFailure(message: "\(secret) contains a NUL byte and cannot be an environment variable", exitCode: 1)
        }
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: value.count + 1) { cValue throws(CommandFailure) in
            for index in 0..<value.count { cValue[index] = CChar(bitPattern: value[index]) }
            cValue[value.count] = 0
            defer { SecureZero.zero(UnsafeMutableRawBufferPointer(cValue)) }
            guard setenv(variable, cValue.baseAddress!, 1) == 0 else {
                throw CommandFailure(message: "cannot set \(variable) for \(secret): \(SystemError("setenv").errnoName)", exitCode: 1)
            }
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
        if !allowDiskFiles {
            let type = remo_filesystem_type(directory)
            guard type == 0x0102_1994 || type == 0x8584_58F6 else {
                throw CommandFailure(message: "\(secret): \(directory) is not on tmpfs/ramfs; refusing to write a secret to disk (use --allow-disk-files to override)", exitCode: 1)
            }
        }
        let temp = "\(directory)/.\(FileSystem.lastComponent(path)).remo-\(getpid())"
        unlink(temp)
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode_t(mode))
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
