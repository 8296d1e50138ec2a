// Paho's C library never sets TCP_NODELAY on its broker socket and offers no hook to do
// it. Without it, an answer written right after the PUBACK of a request waits for the
// broker's delayed ACK (Nagle): about 40-70 ms a round trip instead of well under 1 ms.
// This finds the process's TCP sockets connected to the broker's port and sets it.
#ifndef FWOTA_ADAPTERS_MQTT_TCP_NODELAY_H_
#define FWOTA_ADAPTERS_MQTT_TCP_NODELAY_H_

#include <string>

#include "absl/strings/string_view.h"

namespace fwota::mqtt {

// The port of a "tcp://host:port", "ssl://host:port", "mqtt://..." or "mqtts://..." URI
// (the scheme's default, 1883 or 8883, when none is given); 0 if the URI has no port
// that can be read.
int BrokerPort(absl::string_view uri);

// Sets TCP_NODELAY on every connected TCP socket of this process whose peer port is
// `peer_port` and that does not have it yet. Returns how many it changed.
int SetTcpNoDelayTowardPort(int peer_port);

}  // namespace fwota::mqtt

#endif  // FWOTA_ADAPTERS_MQTT_TCP_NODELAY_H_
