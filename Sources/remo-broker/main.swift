import BrokerCore
import CSeccomp
import Glibc
print("remo-broker \(BrokerVersion.version)")
