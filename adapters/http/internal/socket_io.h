// Internal to the HTTP backend: blocking I/O on one connected TCP socket with timeouts.
// The kernel enforces the I/O timeout (SO_RCVTIMEO / SO_SNDTIMEO): a read or write that
// makes no progress for that long fails with boost::asio::error::timed_out. Asio's own
// sockets cannot be used for this: their blocking operations poll() again forever when
// the kernel reports the timeout.
//
// SocketStream meets Asio's SyncReadStream / SyncWriteStream requirements (and is its own
// lowest layer), so Beast's parser reads from it directly and an
// asio::ssl::stream<SocketStream&> layers TLS over it.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_SOCKET_IO_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_SOCKET_IO_H_

#include <sys/time.h>
#include <sys/uio.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <cstddef>
#include <cstdint>

#include "adapters/http/internal/sync_stream.h"
#include "absl/time/time.h"

namespace fwota::http::internal {

// Not thread-safe: one connection thread uses it. Does not own the descriptor.
class SocketStream : public AsioSyncStream<SocketStream> {
 public:
  using executor_type = boost::asio::any_io_executor;
  using lowest_layer_type = SocketStream;

  // `executor` is only needed by asio::ssl::stream (which builds, but never uses here,
  // timers for its asynchronous operations); an empty one is fine for plain HTTP.
  SocketStream(int fd, executor_type executor) : fd_(fd), executor_(std::move(executor)) {}

  int fd() const { return fd_; }
  executor_type get_executor() const { return executor_; }
  lowest_layer_type& lowest_layer() { return *this; }
  const lowest_layer_type& lowest_layer() const { return *this; }

  // Sets SO_RCVTIMEO / SO_SNDTIMEO (an infinite or zero duration: no timeout), and
  // TCP_NODELAY. Returns false when setsockopt fails.
  bool Configure(absl::Duration io_timeout);

  // The next read first waits up to `timeout` for the peer to send anything (the
  // keep-alive wait between requests); when nothing comes it fails with timed_out and
  // idle_timed_out() turns true. Reads after that one use the I/O timeout again.
  void ArmIdleWait(absl::Duration timeout);
  void DisarmIdleWait() { idle_wait_armed_ = false; }
  bool idle_timed_out() const { return idle_timed_out_; }

  // One recv(): at least one byte, or an error (eof when the peer has closed).
  size_t ReadSome(void* data, size_t size, boost::system::error_code& ec);
  // One sendmsg() of up to `count` pieces (MSG_NOSIGNAL, plus MSG_MORE when `more`).
  size_t WriteSome(const iovec* pieces, int count, bool more, boost::system::error_code& ec);
  // Sets or clears TCP_CORK (clearing sends what is held back). False when it failed.
  bool SetCork(bool on);
  // Writes all of `data`.
  void WriteAll(const void* data, size_t size, bool more, boost::system::error_code& ec);

  // Asio's stream interface over ReadSome / WriteSome.
  using AsioSyncStream<SocketStream>::read_some;
  using AsioSyncStream<SocketStream>::write_some;
  template <typename ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    iovec pieces[kMaxPieces];
    int count = 0;
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers) && count < kMaxPieces; ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      pieces[count].iov_base = const_cast<void*>(b.data());
      pieces[count].iov_len = b.size();
      ++count;
    }
    if (count == 0) {
      ec = {};
      return 0;
    }
    return WriteSome(pieces, count, /*more=*/false, ec);
  }

 private:
  static constexpr int kMaxPieces = 16;

  // Sets SO_RCVTIMEO to the idle (keep-alive) or the I/O timeout, unless it is already.
  bool SetReceiveTimeout(bool idle);

  const int fd_;
  const executor_type executor_;
  bool idle_wait_armed_ = false;
  int idle_wait_ms_ = -1;  // -1 forever, 0 no wait
  timeval idle_timeout_{};  // SO_RCVTIMEO for the idle wait ({0, 0}: forever)
  timeval io_timeout_{};    // SO_RCVTIMEO otherwise
  bool rcvtimeo_is_idle_ = false;
  bool idle_timed_out_ = false;
};

// Sends `length` bytes of file `file_fd` from `*offset` to the socket with sendfile(),
// advancing *offset and retrying partial sends and EINTR. timed_out when the socket
// accepts nothing for the send timeout; eof when the file ends early.
void SendFileAll(SocketStream& socket, int file_fd, int64_t* offset, int64_t length,
                 boost::system::error_code& ec);

// Half-closes the socket and reads (and drops) what the peer still sends for a short
// while, so that closing a connection with unread request bytes does not reset it before
// the peer has read the response.
void LingeringClose(SocketStream& socket);

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_SOCKET_IO_H_
