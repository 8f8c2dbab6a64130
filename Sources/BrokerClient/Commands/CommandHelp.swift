/// `--help` text of every command.
public enum CommandHelp {
    public static let overview = """
        usage: remo-broker <command> [options]

        A hardened credential broker for development hosts: a vault sidecar pushes secrets
        over the admin socket; each project devcontainer fetches only what its manifest names.

        daemon:
          serve                       run the broker (see remo-broker serve --help)

        admin socket (--socket-dir DIR, $REMO_BROKER_SOCKET_DIR, or the default socket dir):
          status                      broker, projects, hardening and audit state
          register NAME PATH          serve project NAME from PATH (its manifest lists the secrets)
          unregister NAME             stop serving NAME and forget it
          reload NAME [--dry-run]     re-read NAME's manifest and approve it (prints + added, - removed)
          push [FILE|-]               replace all secrets with a set: JSON object, or NAME=VALUE lines
          clear                       drop all secrets

        project socket (--socket PATH, $REMO_BROKER_SOCKET, or /run/remo-broker/sock):
          ping                        check the connection
          info                        the project's allowlist and bindings
          get NAME                    print a secret (a bundle prints as JSON)

        devcontainer and sidecar:
          exec [--retry-seconds 15] [--allow-disk-files] -- CMD [ARG...]
                                      fetch the manifest's secrets into env vars and tmpfs files, then run CMD
          exec --watch [--signal SIG] [--on-env-change restart|ignore] [--grace-seconds 10] -- CMD [ARG...]
                                      the same, then supervise CMD and apply every rotation (live)
          sync [--once] [--retry-seconds 15]
                                      deliver the file bindings and keep them current (no CMD)
          watch (--file PATH | --command CMD) [--debounce-ms 200]
                                      push a secret set on start, on every change, after broker restarts
          audit [--tail] [--since 5m|RFC3339] [--project P] [--unit U] [--decision allow|deny] [--json]
                                      read the audit log (--audit-log PATH, --config PATH, or the broker's)
          audit --verify [FILE...]    check the audit log's hash chain against audit.head

        common options: --json (print the raw reply), --help
          --version                   broker, protocol and libseccomp versions
        """

    static func text(for command: String) -> String {
        switch command {
        case "register":
            return """
                usage: remo-broker register NAME PATH [--allowed-uid UID]... [--socket-gid GID] [--socket-dir DIR] [--json]

                Serves project NAME (the last component of PATH) on <socket dir>/projects/NAME/sock.
                PATH must hold a manifest: .remo/manifest.toml, .devcontainer/remo-broker.toml or .remo/broker.toml.
                  --allowed-uid UID   only these uids may use the project socket (repeatable)
                  --socket-gid GID    group of the project socket (the broker's group or one of its groups)
                The manifest is pinned: the broker keeps what you approve here, and later edits of the
                file change nothing until `remo-broker reload NAME`.
                """
        case "reload":
            return """
                usage: remo-broker reload NAME [--dry-run] [--socket-dir DIR] [--json]

                Re-reads NAME's manifest, validates it and makes it the approved (pinned) allowlist.
                Prints the secrets it grants (+ name) and takes away (- name).
                  --dry-run   only show what would change: nothing applied, nothing audited
                The devcontainer can write its manifest: review what a reload grants before applying
                it. `remo-broker status` marks projects whose file differs from what is in force.
                """
        case "push":
            return """
                usage: remo-broker push [FILE|-] [--format json|env] [--socket-dir DIR] [--json]

                Replaces every secret in the broker with the set in FILE (or standard input), either
                  json: an object whose values are strings, or objects of strings (bundles), e.g.
                        {"gh": "ghp_...", "aws": {"aws_access_key_id": "...", "aws_secret_access_key": "..."}}
                  env:  NAME=VALUE lines (scalars only); blank lines and # comments skipped, optional
                        `export `, VALUE bare (a ` #` starts a comment), 'literal' or "with \\n \\r \\t \\" \\\\ \\$"
                Without --format, a set starting with { is JSON. Prints the count, never a value; an error
                names the line, never a value.
                """
        case "get":
            return """
                usage: remo-broker get NAME [--socket PATH] [--json]

                Prints secret NAME if this project's manifest allows it: a scalar as-is, a bundle as a JSON object.
                """
        case "exec":
            return """
                usage: remo-broker exec [--retry-seconds 15] [--allow-disk-files] [--socket PATH] -- CMD [ARG...]

                The devcontainer entrypoint. Asks the project socket for the manifest's bindings, fetches every
                secret (one connection, requests pipelined), sets env bindings as environment variables, renders
                file bindings from their template ({{value}} for a single value, {{field}} for a bundle's fields,
                ~ = $HOME) and writes them atomically with the manifest's mode, then execs CMD (same pid; CMD's
                own signals, exit code and terminal).
                  --retry-seconds N    keep retrying a missing socket or unpushed secret this long (default 15);
                                       then exit 75 naming what is missing, without running CMD
                  --allow-disk-files   allow writing secret files outside tmpfs/ramfs
                  --watch              stay as CMD's supervisor (CMD is a child; TERM, INT, HUP, QUIT, USR1, USR2
                                       are forwarded; exits with CMD's status, 128+N for a signal) and follow the
                                       project's revision: on a change, re-fetch and act only on what differs
                  --signal SIG         after rewriting changed files, send SIG to CMD (HUP, SIGHUP or a number)
                  --on-env-change restart|ignore
                                       a changed env binding restarts CMD (SIGTERM, then SIGKILL after
                                       --grace-seconds, default 10) with the new value, or is ignored
                A secret missing after a broker restart keeps its last value (a warning names it); the broker is
                followed across restarts without touching CMD. Values are never printed.
                """
        case "sync":
            return """
                usage: remo-broker sync [--once] [--retry-seconds 15] [--allow-disk-files] [--socket PATH]

                Writes the manifest's file bindings as exec does (tmpfs only, atomic, the manifest's mode) and keeps
                them current: each change of the project's secrets is applied within milliseconds, no polling.
                For shells and tools that enter a running container without exec (postStartCommand).
                  --once               deliver once and exit 0
                  --retry-seconds N    wait this long for the first delivery (default 15), then exit 75
                Exits 0 on SIGTERM/SIGINT. A secret missing later keeps its last value; values are never printed.
                """
        case "watch":
            return """
                usage: remo-broker watch (--file PATH | --command CMD) [--debounce-ms 200] [--format json|env] [--socket-dir DIR]

                The sidecar pusher: reads the secret set (the file, or CMD's standard output via /bin/sh -c) and
                pushes it on start, whenever the file changes (editors' rename-and-replace included), and whenever
                the broker restarts. A set that does not parse is reported and not pushed: the broker keeps the
                previous one. Runs until SIGTERM/SIGINT; logs counts, never values.
                """
        case "audit":
            return """
                usage: remo-broker audit [--tail] [--since DURATION|RFC3339] [--project P] [--unit U] [--decision allow|deny] [--json]
                                         [--audit-log PATH | --config PATH | --socket-dir DIR]
                       remo-broker audit --verify [--config PATH | --state-dir DIR] [FILE...]

                Shows the audit log as a table (--json: the raw lines). --since takes 30s, 5m, 2h, 1d or a time
                like 2026-11-25T12:00:00Z. --tail keeps following the file, across rotation. --unit shows what a
                systemd unit loaded through the credentials socket (its fetch lines carry unit, not project).
                The log is found from --audit-log, else audit_log_path in --config, else the running broker's
                status, else the default path.

                --verify recomputes the hash chain (seq, prev) over FILE... (rotated files oldest first; default:
                the current log) and prints "PASS: N lines, seq A..B, head HASH" (then any torn lines) or
                "FAIL: FILE: line L (seq S): what". When the last FILE is the current log it must also reach the
                head in audit.head (in --state-dir, the state_dir of --config, or the default). Exit 0 pass, 1 fail.
                """
        default:
            return overview
        }
    }
}
