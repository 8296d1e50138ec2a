#include "adapters/mqtt/tcp_nodelay.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"

namespace fwota::mqtt {

int BrokerPort(absl::string_view uri) {
  const size_t scheme_end = uri.find("://");
  if (scheme_end == absl::string_view::npos) return 0;
  const absl::string_view scheme = uri.substr(0, scheme_end);
  absl::string_view rest = uri.substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  // "[::1]:1883" or "host:1883".
  const size_t bracket = rest.rfind(']');
  const size_t colon = rest.rfind(':');
  if (colon == absl::string_view::npos || (bracket != absl::string_view::npos && colon < bracket)) {
    const bool tls = scheme == "ssl" || scheme == "mqtts";
    return tls ? 8883 : 1883;
  }
  int port = 0;
  if (!absl::SimpleAtoi(rest.substr(colon + 1), &port) || port <= 0 || port > 65535) return 0;
  return port;
}

int SetTcpNoDelayTowardPort(int peer_port) {
  if (peer_port <= 0) return 0;
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int changed = 0;
  while (const dirent* entry = readdir(dir)) {
    int fd = 0;
    if (!absl::SimpleAtoi(entry->d_name, &fd) || fd == dirfd(dir)) continue;
    int type = 0;
    socklen_t len = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
    sockaddr_storage peer{};
    len = sizeof(peer);
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) continue;
    int port = 0;
    if (peer.ss_family == AF_INET) {
      port = ntohs(reinterpret_cast<const sockaddr_in&>(peer).sin_port);
    } else if (peer.ss_family == AF_INET6) {
      port = ntohs(reinterpret_cast<const sockaddr_in6&>(peer).sin6_port);
    } else {
      continue;
    }
    if (port != peer_port) continue;
    int on = 0;
    len = sizeof(on);
    if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 && on) continue;
    on = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0) ++changed;
  }
  closedir(dir);
  return changed;
}

}  // namespace fwota::mqtt
