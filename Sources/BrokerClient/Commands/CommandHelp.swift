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
          reload NAME                 re-read NAME's manifest
          push [FILE|-]               replace all secrets with a JSON object of name -> value
          clear                       drop all secrets

        project socket (--socket PATH, $REMO_BROKER_SOCKET, or /run/remo-broker/sock):
          ping                        check the connection
          info                        the project's allowlist and bindings
          get NAME                    print a secret (a bundle prints as JSON)

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
                """
        case "push":
            return """
                usage: remo-broker push [FILE|-] [--format json] [--socket-dir DIR] [--json]

                Replaces every secret in the broker with the set in FILE (or standard input): a JSON object
                whose values are strings, or objects of strings (bundles), e.g.
                  {"gh": "ghp_...", "aws": {"aws_access_key_id": "...", "aws_secret_access_key": "..."}}
                Prints the count, never a value.
                """
        case "get":
            return """
                usage: remo-broker get NAME [--socket PATH] [--json]

                Prints secret NAME if this project's manifest allows it: a scalar as-is, a bundle as a JSON object.
                """
        default:
            return overview
        }
    }
}
