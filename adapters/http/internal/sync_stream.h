// Internal to the HTTP backend: Asio's SyncReadStream / SyncWriteStream member templates
// over a class's own ReadSome(data, size, ec) and write_some(buffers, ec), so that Beast
// and asio::ssl can use SocketStream and Transport directly. CRTP; a class that defines
// its own write_some(buffers, ec) adds `using AsioSyncStream<X>::write_some;` (and
// read_some) so the inherited overloads stay visible.
#ifndef FWOTA_ADAPTERS_HTTP_INTERNAL_SYNC_STREAM_H_
#define FWOTA_ADAPTERS_HTTP_INTERNAL_SYNC_STREAM_H_

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/system_error.hpp>
#include <boost/throw_exception.hpp>
#include <cstddef>

namespace fwota::http::internal {

template <typename Derived>
class AsioSyncStream {
 public:
  // Reads into the first non-empty buffer (one ReadSome); 0 for all-empty buffers.
  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers, boost::system::error_code& ec) {
    for (auto it = boost::asio::buffer_sequence_begin(buffers);
         it != boost::asio::buffer_sequence_end(buffers); ++it) {
      boost::asio::mutable_buffer b(*it);
      if (b.size() > 0) return self().ReadSome(b.data(), b.size(), ec);
    }
    ec = {};
    return 0;
  }
  template <typename MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& buffers) {
    boost::system::error_code ec;
    size_t n = read_some(buffers, ec);
    if (ec) BOOST_THROW_EXCEPTION(boost::system::system_error(ec));
    return n;
  }
  template <typename ConstBufferSequence>
  size_t write_some(const ConstBufferSequence& buffers) {
    boost::system::error_code ec;
    size_t n = self().write_some(buffers, ec);
    if (ec) BOOST_THROW_EXCEPTION(boost::system::system_error(ec));
    return n;
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
};

}  // namespace fwota::http::internal

#endif  // FWOTA_ADAPTERS_HTTP_INTERNAL_SYNC_STREAM_H_
