import BrokerClient
import BrokerCore

// Thin entry point: dispatch to the command; everything else lives in the libraries.
let arguments = Array(Libc.arguments.dropFirst())

switch arguments.first {
case "--version", "version":
    Console.out(BrokerVersion.summary)
case "--help", "-h", "help":
    Console.out(CommandHelp.overview)
case "hardening-report":
    // Not in --help: prints the seccomp policy table that docs/security.md embeds.
    Console.out(HardeningReport.markdown)
case "config-reference":
    // Not in --help: prints the config key table that docs/operations.md embeds.
    Console.out(ConfigReference.markdown)
case "serve":
    Console.exit(ServeCommand.run(Array(arguments.dropFirst())))
case let command? where ClientCommands.names.contains(command):
    Console.exit(ClientCommands.run(command, Array(arguments.dropFirst())))
case nil:
    Console.errorLines(CommandHelp.overview)
    Console.exit(64)
case let command?:
    Console.error("remo-broker: unknown command '\(command)' (see remo-broker --help)")
    Console.exit(64)
}
