public enum BrokerVersion { public static let version = "0.1.0"; public static let protocolVersion = 2 }
