import BrokerClient
import BrokerCore
import BrokerHarness
import Glibc
import Testing

/// The worked example in packaging/devcontainer/, run without Docker: the test reads the
/// example's own files and runs the commands they name — register, the sidecar unit's
/// ExecStartPre/ExecStart, the image's ENTRYPOINT and the terminal profile — with host paths
/// swapped for temp ones the way the bind mounts would map them.
@Suite struct DevcontainerExampleTests {
    /// packaging/devcontainer/, found from this source file.
    static let exampleDirectory: String = {
        var components = "\(#filePath)".split(separator: "/", omittingEmptySubsequences: false)
        components.removeLast(3)  // Tests/IntegrationTests/<this file>
        return components.joined(separator: "/") + "/packaging/devcontainer"
    }()

    static func exampleFile(_ name: String) throws -> String {
        String(decoding: try FileSystem.readFile(exampleDirectory + "/" + name), as: UTF8.self)
    }

    /// devcontainer.json is JSONC: drop the comment lines, then parse strictly.
    static func devcontainer() throws -> JSONDocument {
        let text = try exampleFile("devcontainer.json").split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.drop { $0 == " " }.hasPrefix("//") }.joined(separator: "\n")
        return try JSONDocument(parsing: text)
    }

    /// `key=value` pairs of a Docker mount string.
    static func mountOptions(_ mount: String) -> [String: String] {
        var options: [String: String] = [:]
        for part in mount.split(separator: ",") {
            let pair = part.split(separator: "=", maxSplits: 1).map(String.init)
            options[pair[0]] = pair.count > 1 ? pair[1] : ""
        }
        return options
    }

    /// The values of `Key=` lines of the systemd unit, in order.
    static func unitValues(_ unit: String, _ key: String) -> [String] {
        unit.split(separator: "\n").filter { $0.hasPrefix(key + "=") }.map { String($0.dropFirst(key.count + 1)) }
    }

    @Test func theExampleRunsEndToEndWithoutDocker() throws {
        let shm = try #require(FilesystemKind.memoryDirectory, "no tmpfs directory on this machine")
        let config = try Self.devcontainer()
        let unit = try Self.exampleFile("remo-broker-watch.service")
        let dockerfile = try Self.exampleFile("Dockerfile")
        let manifestText = try Self.exampleFile("manifest.toml")
        let exampleSet = try JSONDocument(parsing: try Self.exampleFile("secrets.example.json"))

        // What devcontainer.json says: keep the image's entrypoint, the socket directory and
        // the binary bind-mounted, and where exec finds the socket inside.
        #expect(config["overrideCommand"] == .bool(false))
        guard case .array(let mountValues)? = config["mounts"] else { Issue.record("no mounts"); return }
        let mounts = mountValues.compactMap { value -> [String: String]? in
            guard case .string(let span) = value else { return nil }
            return Self.mountOptions(config.string(span))
        }
        let socketMount = try #require(mounts.first { $0["target"] == "/run/remo-broker" })
        let binaryMount = try #require(mounts.first { $0["target"]?.hasSuffix("/remo-broker") == true && $0["type"] == "bind" && $0.keys.contains("readonly") })
        // The manifest directory is read-only inside: the container cannot stage an edit for
        // an admin's next reload (the broker ignores edits anyway; SPEC §3.2).
        let manifestMount = try #require(mounts.first { $0["target"] == "${containerWorkspaceFolder}/.remo" })
        #expect(manifestMount["source"] == "${localWorkspaceFolder}/.remo" && manifestMount["type"] == "bind"
                && manifestMount.keys.contains("readonly"), "\(manifestMount)")
        let mountSource = try #require(socketMount["source"])
        #expect(mountSource.hasPrefix("/run/remo-broker/projects/"), "\(mountSource)")
        let project = FileSystem.lastComponent(mountSource)
        guard case .object(let containerEnv)? = config["containerEnv"],
              case .string(let socketSpan)? = config.member("REMO_BROKER_SOCKET", of: containerEnv)
        else { Issue.record("no containerEnv.REMO_BROKER_SOCKET"); return }
        let containerSocket = config.string(socketSpan)
        #expect(containerSocket == "/run/remo-broker/sock")

        // The host, with temp directories for /run/remo-broker, $XDG_RUNTIME_DIR and ~.
        let broker = try BrokerProcess(binary: TestBinary.path)
        try broker.start()
        let work = try TempDirectory(prefix: "rbe")
        let runtime = try TempDirectory(prefix: "rbt", in: shm)      // %t: tmpfs, like /run/user/UID
        let containerHome = try TempDirectory(prefix: "rbc", in: shm) // ~ in the container (~/.aws is a tmpfs there)
        func onHost(_ path: String) -> String {
            path.hasPrefix("/run/remo-broker") ? broker.socketDir + path.dropFirst("/run/remo-broker".count) : path
        }
        func binary(_ path: Substring) -> String {
            path == binaryMount["source"]![...] || path == binaryMount["target"]![...] ? TestBinary.path : String(path)
        }

        // 1. The project and its manifest (the example's, verbatim), registered as the README says.
        try work.write("src/\(project)/.remo/manifest.toml", manifestText)
        let projectPath = work.file("src/\(project)")
        let manifest = try ManifestLoader.parse(Array(manifestText.utf8), path: "manifest.toml", project: project,
                                                ceiling: ProjectCache.Limits(ttlSeconds: 900, maxEntries: 32))
        let registered = try runCLI(["register", project, projectPath, "--allowed-uid", String(getuid()),
                                     "--socket-dir", broker.socketDir])
        #expect(registered.exitCode == 0, "\(registered.stderr)")
        #expect(registered.stdout.contains(onHost(mountSource) + "/sock"), "\(registered.stdout)")

        // 2. The container starts first: its ENTRYPOINT waits for the sidecar's push.
        let entrypointLine = try #require(dockerfile.split(separator: "\n").first { $0.hasPrefix("ENTRYPOINT ") })
        let entrypointDocument = try JSONDocument(parsing: String(entrypointLine.dropFirst("ENTRYPOINT ".count)))
        guard case .array(let entrypointValues) = entrypointDocument.root else { Issue.record("ENTRYPOINT is not exec form"); return }
        var entrypoint = entrypointValues.compactMap { value -> String? in
            guard case .string(let span) = value else { return nil }
            return entrypointDocument.string(span)
        }
        #expect(Array(entrypoint.dropFirst().prefix(1)) == ["exec"] && entrypoint.last == "--", "\(entrypoint)")
        entrypoint[0] = binary(entrypoint[0][...])
        // Through the bind mount: <target>/sock in the container is <source>/sock on the host.
        let mountTarget = try #require(socketMount["target"])
        #expect(containerSocket.hasPrefix(mountTarget + "/"))
        let hostSocket = onHost(mountSource) + containerSocket.dropFirst(mountTarget.count)
        let containerEnvironment = toolEnvironment(home: containerHome.path, ["REMO_BROKER_SOCKET": hostSocket])
        let results = try TempDirectory(prefix: "rbr")
        let awsFile = manifest.bindings.compactMap { binding -> String? in
            guard case .file(let path, _, _) = binding.delivery else { return nil }
            return path.hasPrefix("~/") ? containerHome.path + path.dropFirst() : path
        }
        let command = ["/bin/sh", "-c", ExecTests.dumpScript, "dump", results.path] + awsFile
        let container = try RunningTool(Array(entrypoint.dropFirst()) + command, environment: containerEnvironment,
                                        in: work, name: "entrypoint")

        // 3. The sidecar unit: ExecStartPre, then ExecStart, with its Environment=.
        func unitCommand(_ line: String) -> [String] {
            line.replacing("%t", with: runtime.path).replacing("%h", with: work.path)
                .split(separator: " ").enumerated().map { $0.offset == 0 ? binary($0.element) : String($0.element) }
        }
        var sidecarVariables: [String: String] = [:]
        for assignment in Self.unitValues(unit, "Environment") {
            let pair = assignment.split(separator: "=", maxSplits: 1).map(String.init)
            sidecarVariables[pair[0]] = onHost(pair[1])
        }
        #expect(sidecarVariables["REMO_BROKER_SOCKET_DIR"] == broker.socketDir)
        for pre in Self.unitValues(unit, "ExecStartPre") {
            let argv = unitCommand(pre)
            let result = try ChildProcess.run(argv[0], Array(argv.dropFirst()), environment: toolEnvironment(home: work.path))
            #expect(result.status.exitCode == 0, "ExecStartPre \(pre)")
        }
        let start = try #require(Self.unitValues(unit, "ExecStart").first)
        let sidecarArgv = unitCommand(start)
        #expect(sidecarArgv[0] == TestBinary.path && sidecarArgv[1] == "watch", "\(start)")
        let setPath = try #require(sidecarArgv.firstIndex(of: "--file").map { sidecarArgv[$0 + 1] })
        let sidecar = try RunningTool(Array(sidecarArgv.dropFirst()),
                                      environment: toolEnvironment(home: work.path, sidecarVariables), in: work, name: "sidecar")

        // 4. Whatever renders the set writes it (same shape as secrets.example.json, marker values).
        var values: [String: String] = [:]   // "name" or "name.field" -> value
        var set = "{"
        guard case .object(let entries) = exampleSet.root else { Issue.record("secrets.example.json is not an object"); return }
        for entry in entries {
            let name = exampleSet.string(entry.key)
            if !values.isEmpty { set += "," }
            if case .object(let fields) = entry.value {
                set += "\"\(name)\":{" + fields.map { field in
                    let key = exampleSet.string(field.key), value = Marker.make("\(name)_\(key)")
                    values["\(name).\(key)"] = value
                    return "\"\(key)\":\"\(value)\""
                }.joined(separator: ",") + "}"
            } else {
                let value = Marker.make(name)
                values[name] = value
                set += "\"\(name)\":\"\(value)\""
            }
        }
        set += "}"
        try FileSystem.writeAtomically(setPath, Array(set.utf8), mode: 0o600)

        // 5. The entrypoint got everything and became CMD.
        let status = try #require(container.waitForExit(timeoutSeconds: 90), "the entrypoint never ran CMD: \(container.stderr)")
        #expect(status.exitCode == 0, "\(container.stderr)\n\(sidecar.stderr)")
        let seen = RunningTool.read(results.file("env")).split(separator: "\n").map(String.init)
        for binding in manifest.bindings {
            switch binding.delivery {
            case .env(let variable):
                let delivered = values[binding.name].map { seen.contains("\(variable)=\($0)") } ?? false
                #expect(delivered, "\(variable) (\(binding.name)) not delivered")
            case .file(let path, let mode, _):
                let file = path.hasPrefix("~/") ? containerHome.path + path.dropFirst() : path
                let text = RunningTool.read(results.file("copy.\(FileSystem.lastComponent(file))"))
                let fields = values.filter { $0.key.hasPrefix(binding.name + ".") }
                let rendered = !fields.isEmpty && !text.contains("{{")
                    && fields.allSatisfy { text.contains("\($0.key.dropFirst(binding.name.count + 1))=\($0.value)\n") }
                #expect(rendered, "\(path) not rendered from the bundle")
                #expect(fileMode(file) == mode_t(mode))
            }
        }
        let recordedPid = RunningTool.read(results.file("pid")).split(separator: "\n").first.flatMap { pid_t($0) }
        // `exec --watch` keeps CMD as its child (live rotation); plain `exec` becomes CMD.
        if entrypoint.contains("--watch") { #expect(recordedPid != nil && recordedPid != container.pid) } else { #expect(recordedPid == container.pid) }

        // 6. A new terminal (the VS Code profile) gets the environment too.
        let profileArgs = try Self.terminalProfileArguments(config)
        let login = results.file("terminal.env")
        let terminal = try runCLI(Array(profileArgs.dropFirst()) + ["-c", "env > \"$0\"", login], environment: containerEnvironment)
        #expect(terminal.exitCode == 0, "\(terminal.stderr)")
        let terminalEnv = RunningTool.read(login)
        let terminalHasToken = manifest.bindings.contains { binding in
            if case .env(let variable) = binding.delivery, let value = values[binding.name] { return terminalEnv.contains("\(variable)=\(value)\n") }
            return false
        }
        #expect(terminalHasToken)

        // 7. The operator's view: every fetch allowed, for this project.
        let audit = try runCLI(["audit", "--project", project, "--decision", "allow", "--socket-dir", broker.socketDir])
        for binding in manifest.bindings {
            #expect(audit.stdout.contains(" \(binding.name) "), "no fetch of \(binding.name) in the audit table")
        }

        // 8. postStartCommand (`sync`) keeps the files current: the set rotates, the sidecar
        // pushes it, the file is rewritten in place, no restart of anything.
        let postStart = try #require(config["postStartCommand"].flatMap { value -> String? in
            if case .string(let span) = value { return config.string(span) } else { return nil }
        })
        let postStartArgv = postStart.split(separator: " ").map(String.init)
        #expect(postStartArgv.first == "remo-broker" && postStartArgv.dropFirst().first == "sync", "\(postStart)")
        let sync = try RunningTool(Array(postStartArgv.dropFirst()), environment: containerEnvironment, in: work, name: "sync")
        let awsPath = try #require(awsFile.first)
        let rotatedKey = Marker.make("rotated")
        let rotatedSet = set.replacing(values["aws.aws_secret_access_key"] ?? "-", with: rotatedKey)
        #expect(rotatedSet != set)
        try FileSystem.writeAtomically(setPath, Array(rotatedSet.utf8), mode: 0o600)
        #expect(eventually { RunningTool.read(awsPath).contains("=\(rotatedKey)\n") }, "sync did not deliver the rotated value")
        #expect(sync.stop(SIGTERM)?.exitCode == 0)

        #expect(sidecar.stop(SIGTERM)?.exitCode == 0)
        #expect(sidecar.stderr.contains("pushed \(entries.count) secret(s)"), "\(sidecar.stderr)")
        let outputs = [container.stdout, container.stderr, sidecar.stdout, sidecar.stderr, terminal.output, audit.output, registered.output,
                       sync.stdout, sync.stderr]
        #expect(!outputs.contains { Marker.appears(in: $0) }, "a value reached a log or an output")
    }

    /// `path` + `args` of the default terminal profile, with `path` swapped for the test binary.
    static func terminalProfileArguments(_ config: JSONDocument) throws -> [String] {
        func object(_ value: JSONValue?) -> [JSONMember]? { if case .object(let members)? = value { members } else { nil } }
        func string(_ value: JSONValue?) -> String? { if case .string(let span)? = value { config.string(span) } else { nil } }
        let settings = try #require(object(config["customizations"]).flatMap { object(config.member("vscode", of: $0)) }
            .flatMap { object(config.member("settings", of: $0)) })
        let name = try #require(string(config.member("terminal.integrated.defaultProfile.linux", of: settings)))
        let profile = try #require(object(config.member("terminal.integrated.profiles.linux", of: settings))
            .flatMap { object(config.member(name, of: $0)) })
        guard case .array(let args)? = config.member("args", of: profile) else { throw HarnessError("profile without args") }
        #expect(string(config.member("path", of: profile))?.hasSuffix("/remo-broker") == true)
        return [TestBinary.path] + args.compactMap { string($0) }
    }
}
