#include "adapters/http/internal/transport.h"

#include <openssl/ssl.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "absl/strings/str_cat.h"

namespace fwota::http::internal {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

struct TlsContext::Impl {
  // Never run: asio::ssl::stream wants an executor for the timers of its asynchronous
  // operations, which the backend does not use.
  boost::asio::io_context io;
  ssl::context context{ssl::context::tls_server};
};

TlsContext::TlsContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsContext::~TlsContext() = default;

boost::asio::any_io_executor TlsContext::executor() { return impl_->io.get_executor(); }

absl::StatusOr<std::unique_ptr<TlsContext>> TlsContext::Load(const std::string& certificate_file,
                                                             const std::string& private_key_file) {
  auto impl = std::make_unique<Impl>();
  error_code ec;
  impl->context.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                ssl::context::no_tlsv1_1 | ssl::context::single_dh_use,
                            ec);
  impl->context.use_certificate_chain_file(certificate_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the TLS certificate ", certificate_file, ": ", ec.message()));
  }
  impl->context.use_private_key_file(private_key_file, ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot load the TLS private key ", private_key_file, ": ", ec.message()));
  }
  if (SSL_CTX_check_private_key(impl->context.native_handle()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("the TLS private key ", private_key_file,
                                                   " does not match the certificate ",
                                                   certificate_file));
  }
  return std::unique_ptr<TlsContext>(new TlsContext(std::move(impl)));
}

struct Transport::Tls {
  Tls(SocketStream& socket, TlsContext& context) : stream(socket, context.impl().context) {}
  ssl::stream<SocketStream&> stream;
};

Transport::Transport(SocketStream& socket, TlsContext* tls) : socket_(socket), tls_(tls) {
  if (tls_ != nullptr) tls_stream_ = std::make_unique<Tls>(socket_, *tls_);
}

Transport::~Transport() = default;

void Transport::Handshake(error_code& ec) {
  ec = {};
  if (tls_stream_) tls_stream_->stream.handshake(ssl::stream_base::server, ec);
}

size_t Transport::ReadSome(void* data, size_t size, error_code& ec) {
  if (!tls_stream_) return socket_.ReadSome(data, size, ec);
  return tls_stream_->stream.read_some(boost::asio::buffer(data, size), ec);
}

void Transport::WriteAll(const boost::asio::const_buffer* pieces, size_t count, error_code& ec) {
  ec = {};
  if (!tls_stream_) {
    // Gathered, so a response head and a small body leave in one segment.
    constexpr size_t kMax = 16;
    iovec iov[kMax];
    size_t first = 0;  // first piece not fully written
    size_t skip = 0;   // bytes of it already written
    while (first < count) {
      int n = 0;
      for (size_t i = first; i < count && n < static_cast<int>(kMax); ++i) {
        const size_t off = i == first ? skip : 0;
        if (pieces[i].size() == off) continue;
        iov[n].iov_base = const_cast<char*>(static_cast<const char*>(pieces[i].data()) + off);
        iov[n].iov_len = pieces[i].size() - off;
        ++n;
      }
      if (n == 0) return;
      size_t written = socket_.WriteSome(iov, n, /*more=*/false, ec);
      if (ec) return;
      // Advance over what was written.
      while (first < count) {
        const size_t left = pieces[first].size() - skip;
        if (written < left) {
          skip += written;
          break;
        }
        written -= left;
        ++first;
        skip = 0;
      }
    }
    return;
  }
  for (size_t i = 0; i < count; ++i) {
    boost::asio::write(tls_stream_->stream, pieces[i], ec);
    if (ec) return;
  }
}

}  // namespace fwota::http::internal
