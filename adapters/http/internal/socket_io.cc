#include "adapters/http/internal/socket_io.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/error.hpp>
#include <cerrno>

#include "absl/time/clock.h"

namespace fwota::http::internal {
namespace {

using boost::system::error_code;

error_code ErrnoCode(int err) {
  if (err == EAGAIN || err == EWOULDBLOCK) return boost::asio::error::timed_out;
  return error_code(err, boost::system::system_category());
}

int ToPollMillis(absl::Duration d) {
  if (d == absl::InfiniteDuration()) return -1;
  if (d <= absl::ZeroDuration()) return 0;
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d), 1 << 30));
}

}  // namespace

bool SocketStream::Configure(absl::Duration io_timeout) {
  io_timeout_ = {};
  if (io_timeout != absl::InfiniteDuration() && io_timeout > absl::ZeroDuration()) {
    io_timeout_ = absl::ToTimeval(std::max(io_timeout, absl::Milliseconds(1)));
  }
  rcvtimeo_is_idle_ = false;
  int one = 1;
  return ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &io_timeout_, sizeof(io_timeout_)) == 0 &&
         ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &io_timeout_, sizeof(io_timeout_)) == 0 &&
         ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0;
}

void SocketStream::ArmIdleWait(absl::Duration timeout) {
  idle_wait_armed_ = true;
  idle_wait_ms_ = ToPollMillis(timeout);
  idle_timeout_ = {};
  if (idle_wait_ms_ > 0) idle_timeout_ = absl::ToTimeval(std::max(timeout, absl::Milliseconds(1)));
  idle_timed_out_ = false;
}

bool SocketStream::SetReceiveTimeout(bool idle) {
  if (rcvtimeo_is_idle_ == idle) return true;
  const timeval& tv = idle ? idle_timeout_ : io_timeout_;
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0) return false;
  rcvtimeo_is_idle_ = idle;
  return true;
}

size_t SocketStream::ReadSome(void* data, size_t size, error_code& ec) {
  ec = {};
  int flags = 0;
  if (idle_wait_armed_) {
    // The keep-alive wait: a blocking recv() with the idle timeout as SO_RCVTIMEO (left
    // in place between requests, so a request that arrives in one piece costs one
    // syscall); poll() only when the idle wait is zero (no wait at all).
    idle_wait_armed_ = false;
    if (idle_wait_ms_ == 0) {
      flags = MSG_DONTWAIT;
    } else if (!SetReceiveTimeout(/*idle=*/true)) {
      ec = ErrnoCode(errno);
      return 0;
    }
    for (;;) {
      ssize_t n = ::recv(fd_, data, size, flags);
      if (n > 0) return static_cast<size_t>(n);
      if (n == 0) {
        ec = boost::asio::error::eof;
        return 0;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) idle_timed_out_ = true;
      ec = ErrnoCode(errno);
      return 0;
    }
  }
  if (!SetReceiveTimeout(/*idle=*/false)) {
    ec = ErrnoCode(errno);
    return 0;
  }
  for (;;) {
    ssize_t n = ::recv(fd_, data, size, 0);
    if (n > 0) return static_cast<size_t>(n);
    if (n == 0) {
      ec = boost::asio::error::eof;
      return 0;
    }
    if (errno == EINTR) continue;
    ec = ErrnoCode(errno);
    return 0;
  }
}

size_t SocketStream::WriteSome(const iovec* pieces, int count, bool more, error_code& ec) {
  ec = {};
  msghdr msg{};
  msg.msg_iov = const_cast<iovec*>(pieces);
  msg.msg_iovlen = count;
  for (;;) {
    ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno == EINTR) continue;
    ec = ErrnoCode(errno);
    return 0;
  }
}

bool SocketStream::SetCork(bool on) {
  int value = on ? 1 : 0;
  return ::setsockopt(fd_, IPPROTO_TCP, TCP_CORK, &value, sizeof(value)) == 0;
}

void SocketStream::WriteAll(const void* data, size_t size, bool more, error_code& ec) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    iovec piece{const_cast<char*>(p), size};
    size_t n = WriteSome(&piece, 1, more, ec);
    if (ec) return;
    p += n;
    size -= n;
  }
  ec = {};
}

void SendFileAll(SocketStream& socket, int file_fd, int64_t* offset, int64_t length,
                 error_code& ec) {
  ec = {};
  const int64_t end = *offset + length;
  while (*offset < end) {
    off_t off = static_cast<off_t>(*offset);
    const size_t want = static_cast<size_t>(std::min<int64_t>(end - *offset, 1 << 30));
    ssize_t n = ::sendfile(socket.fd(), file_fd, &off, want);
    if (n > 0) {
      *offset += n;
      continue;
    }
    if (n == 0) {  // the file is shorter than promised
      ec = boost::asio::error::eof;
      return;
    }
    if (errno == EINTR) continue;
    // On a blocking socket EAGAIN means SO_SNDTIMEO passed with nothing sent.
    ec = ErrnoCode(errno);
    return;
  }
}

void LingeringClose(SocketStream& socket) {
  ::shutdown(socket.fd(), SHUT_WR);
  constexpr absl::Duration kTotal = absl::Seconds(2);
  constexpr int kQuietMillis = 500;
  const absl::Time deadline = absl::Now() + kTotal;
  char sink[16 * 1024];
  for (;;) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) return;
    pollfd pfd{socket.fd(), POLLIN, 0};
    int r = ::poll(&pfd, 1, std::min(kQuietMillis, ToPollMillis(left)));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;  // quiet (or failed): done
    ssize_t n = ::recv(socket.fd(), sink, sizeof(sink), MSG_DONTWAIT);
    if (n == 0) return;  // the peer closed too
    if (n < 0 && errno != EINTR && errno != EAGAIN) return;
  }
}

}  // namespace fwota::http::internal
