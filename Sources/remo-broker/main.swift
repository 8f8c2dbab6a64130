import BrokerCore

// Thin entry point: parse the command line and dispatch. Everything else is in BrokerCore.
let arguments = Array(CommandLine.arguments.dropFirst())
let usage = """
    usage: remo-broker <command> [options]

    A hardened credential broker for development hosts.

    commands:
      serve        run the broker daemon (not yet implemented)
      --version    print the broker, protocol and libseccomp versions
      --help       show this help
    """

switch arguments.first {
case "--version", "version":
    Console.out(BrokerVersion.summary)
case "--help", "-h", "help":
    Console.out(usage)
case nil:
    Console.error(usage)
    Console.exit(64)
case let command?:
    Console.error("remo-broker: unknown command '\(command)' (see remo-broker --help)")
    Console.exit(64)
}
