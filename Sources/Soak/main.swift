import BrokerCore

// Placeholder until the harness issue lands (see README): exit 2 so no gate mistakes it for a pass.
Console.error("Soak: not yet implemented")
Console.exit(2)
