// Internal to the HTTP backend: a connection's byte stream, plain or TLS (OpenSSL through
// asio::ssl) over a SocketStream. Beast reads requests from it; responses are written to
// it. asio::ssl is only included by transport.cc.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_TRANSPORT_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_TRANSPORT_H_

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <cstddef>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "adapters/http/internal/socket_io.h"
#include "adapters/http/internal/sync_stream.h"

namespace fwota::http::internal {

// A server certificate and key, loaded once and shared by every connection. Thread-safe.
class TlsContext {
 public:
  // kInvalidArgument when a file cannot be read or the key does not match the
  // certificate.
  static absl::StatusOr<std::unique_ptr<TlsContext>> Load(const std::string& certificate_file,
                                                          const std::string& private_key_file);
  ~TlsContext();

  // For SocketStream (see there).
  boost::asio::any_io_executor executor();

  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  explicit TlsContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Not thread-safe: one connection thread uses it. `socket` (and `tls`, when given) must
// outlive it.
class Transport : public AsioSyncStream<Transport> {
 public:
  // `tls` null: plain HTTP.
  Transport(SocketStream& socket, TlsContext* tls);
  ~Transport();

  bool is_tls() const { return tls_ != nullptr; }
  SocketStream& socket() { return socket_; }

  // The TLS server handshake (nothing for plain HTTP).
  void Handshake(boost::system::error_code& ec);
  // At least one byte, or an error (eof at the end).
  size_t ReadSome(void* data, size_t size, boost::system::error_code& ec);
  // Writes all of the pieces.
  void WriteAll(const boost::asio::const_buffer* pieces, size_t count,
                boost::system::error_code& ec);

  // Asio's SyncReadStream / SyncWriteStream, for Beast.
  using AsioSyncStream<Transport>::read_some;
  using AsioSyncStream<Transport>::write_some;
  template <typename ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::const_buffer b(*it);
      if (b.size() == 0) continue;
      WriteAll(&b, 1, ec);
      return ec ? 0 : b.size();
    }
    ec = {};
    return 0;
  }

 private:
  struct Tls;
  SocketStream& socket_;
  TlsContext* const tls_;
  std::unique_ptr<Tls> tls_stream_;
};

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_TRANSPORT_H_
