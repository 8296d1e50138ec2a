// The CoAP backend: a libcoap 3 server over UDP (and, with pre-shared keys, DTLS through
// OpenSSL) that decodes every request for CoapMapping::Handle and encodes its answer.
// Block2 is answered block by block from the mapping (libcoap's own block handling is
// off), so an image is never held whole in memory, whatever the block size.
//
// It is also the adapter's Notifier: it keeps the observations of the attributes
// resource (RFC 7641) itself, one per (client, CoAP token), and sends every notice for a
// device to its observers as a confirmable 2.05 with the next Observe number. An
// observation ends on a GET with Observe 1, a Reset or no acknowledgement to a
// notification, or when its DTLS session closes. libcoap runs in one thread owned by the
// backend; Notify only queues the notice and wakes that thread.
//
// Telemetry POSTs wait until their report is durable (a group commit, milliseconds), so
// they are handled on threads of their own (`report_threads`) and answered as separate
// responses (RFC 7252 5.2.2): an empty ACK at once for a confirmable request, the 2.04
// (or the error) as a new confirmable message once the report is recorded; a
// non-confirmable request gets a non-confirmable answer then. A retransmission in the
// meantime gets the empty ACK again and is not recorded twice. The downloads of every
// other device go on in the libcoap thread meanwhile.
#ifndef FWOTA_ADAPTERS_COAP_COAP_BACKEND_H_
#define FWOTA_ADAPTERS_COAP_COAP_BACKEND_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/coap/coap_mapping.h"
#include "fwota/notifier.h"

namespace fwota::coap {

struct CoapBackendOptions {
  // Listen address (IPv4 or IPv6 literal). Default: loopback only.
  std::string address = "127.0.0.1";
  // UDP port of plain CoAP; 0: any free port (see udp_port()); -1: no plain CoAP.
  int port = 5683;
  // UDP port of CoAP over DTLS; 0: any free port; -1 (default): no DTLS. Needs psk_keys.
  int dtls_port = -1;
  // DTLS pre-shared keys: identity -> key. A client whose identity is not here is
  // refused during the handshake.
  std::map<std::string, std::string> psk_keys;
  // Observations kept at most per device (the oldest goes) and in all.
  int max_observers_per_device = 4;
  int max_observers = 100000;
  // Threads recording telemetry (see above; one device's reports always on the same one,
  // in order). 0: reports are recorded in the libcoap thread and answered piggybacked,
  // for devices that cannot take a separate response.
  int report_threads = 4;
  // Reports waiting for those threads, at most; beyond, a report gets 5.03.
  int max_pending_reports = 10000;
  // Called with "info", "warn" or "error" and a message (failed requests, observers).
  std::function<void(absl::string_view level, absl::string_view message)> log;
};

// Thread-safe: Notify may be called from any thread; the rest runs in the backend's own.
class CoapBackend : public Notifier {
 public:
  // Binds the endpoints and starts serving. kInvalidArgument for a bad address or DTLS
  // without keys; kUnavailable when a port cannot be bound. `mapping` must outlive the
  // backend.
  static absl::StatusOr<std::unique_ptr<CoapBackend>> Start(CoapMapping& mapping,
                                                            CoapBackendOptions options);
  // Stops serving and drops every observation.
  ~CoapBackend() override = default;
  // The bound ports (-1 when off).
  virtual int udp_port() const = 0;
  virtual int dtls_port() const = 0;
  // Observations kept now (for logs and tests).
  virtual int64_t observers() const = 0;
};

// Reads a pre-shared key file: one `identity:key` per line (the key is the rest of the
// line, taken as bytes, as coap-client's -k takes it), blank lines and lines starting
// with '#' skipped. kInvalidArgument naming the line for an empty identity or key or a
// repeated identity; kNotFound when the file cannot be read.
absl::StatusOr<std::map<std::string, std::string>> ReadPskFile(const std::string& path);

}  // namespace fwota::coap

#endif  // FWOTA_ADAPTERS_COAP_COAP_BACKEND_H_
