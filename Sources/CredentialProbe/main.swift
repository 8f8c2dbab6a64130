import BrokerCore
import BrokerHarness
import Glibc

// CredentialProbe: stands in for systemd's LoadCredential= (tests run it as another uid with
// setpriv). Never prints what it received, only how many bytes.

let usage = """
    usage: CredentialProbe SOCKET UNIT ID      connect from \\0<random>/unit/UNIT/ID, as systemd does
           CredentialProbe SOCKET --unbound ID connect without binding an address
    Prints "received N bytes" (never the bytes) or "connect failed: ERRNO"; exit 0, or 1 on an error.
    """
let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 3, !arguments.contains("--help") else {
    Console.error(usage)
    Console.exit(arguments.contains("--help") ? 0 : 2)
}
do {
    let unit = arguments[1] == "--unbound" ? nil : arguments[1]
    switch try SystemdCredentialClient.load(socket: arguments[0], unit: unit, id: arguments[2]) {
    case .received(let bytes): Console.out("received \(bytes.count) bytes")
    case .connectFailed(let code): Console.out("connect failed: \(SystemError("connect", errno: code).errnoName)")
    }
} catch {
    Console.error("CredentialProbe: \(error)")
    Console.exit(1)
}
