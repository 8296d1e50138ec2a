// MD5 and the SHA-2 family through OpenSSL 3's EVP interface. The EVP_MD objects are
// fetched once per process (an implicit fetch inside EVP_DigestInit_ex costs a provider
// lookup on every init), and Update hands the caller's whole span to EVP_DigestUpdate,
// so the speed is OpenSSL's own (`openssl speed -evp`).
#include <openssl/evp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "lib/checksum/hashers.h"

namespace fwota {
namespace checksum_internal {
namespace {

// The fetched digests; null where the loaded providers lack one. Never freed: they live
// as long as the process, like OpenSSL's own default-context objects.
struct FetchedDigests {
  EVP_MD* md5;
  EVP_MD* sha256;
  EVP_MD* sha384;
  EVP_MD* sha512;
};

const FetchedDigests& Digests() {
  static const FetchedDigests* const digests = new FetchedDigests{
      EVP_MD_fetch(nullptr, "MD5", nullptr),
      EVP_MD_fetch(nullptr, "SHA256", nullptr),
      EVP_MD_fetch(nullptr, "SHA384", nullptr),
      EVP_MD_fetch(nullptr, "SHA512", nullptr),
  };
  return *digests;
}

struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};

class EvpHasher final : public Hasher {
 public:
  EvpHasher(ChecksumAlgorithm algorithm, std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx)
      : algorithm_(algorithm), ctx_(std::move(ctx)) {}

  ChecksumAlgorithm algorithm() const override { return algorithm_; }

  void Update(absl::Span<const uint8_t> data) override {
    if (finished_ || data.empty()) return;
    // Cannot fail for an initialized software digest.
    EVP_DigestUpdate(ctx_.get(), data.data(), data.size());
  }

  std::vector<uint8_t> Finish() override {
    if (!finished_) {
      finished_ = true;
      digest_.resize(EVP_MAX_MD_SIZE);
      unsigned int size = 0;
      EVP_DigestFinal_ex(ctx_.get(), digest_.data(), &size);
      digest_.resize(size);
    }
    return digest_;
  }

 private:
  const ChecksumAlgorithm algorithm_;
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx_;
  bool finished_ = false;
  std::vector<uint8_t> digest_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Hasher>> NewEvpHasher(ChecksumAlgorithm algorithm) {
  const FetchedDigests& digests = Digests();
  const EVP_MD* md = nullptr;
  switch (algorithm) {
    case ::fwota::v1::MD5:
      md = digests.md5;
      break;
    case ::fwota::v1::SHA256:
      md = digests.sha256;
      break;
    case ::fwota::v1::SHA384:
      md = digests.sha384;
      break;
    case ::fwota::v1::SHA512:
      md = digests.sha512;
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("not an OpenSSL digest: ", ChecksumAlgorithmName(algorithm)));
  }
  if (md == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("OpenSSL cannot fetch ", ChecksumAlgorithmName(algorithm),
                     " (is the default provider loaded?)"));
  }
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  if (ctx == nullptr) return absl::ResourceExhaustedError("EVP_MD_CTX_new failed");
  if (EVP_DigestInit_ex2(ctx.get(), md, nullptr) != 1) {
    return absl::InternalError(
        absl::StrCat("EVP_DigestInit_ex2 failed for ", ChecksumAlgorithmName(algorithm)));
  }
  return std::unique_ptr<Hasher>(new EvpHasher(algorithm, std::move(ctx)));
}

}  // namespace checksum_internal
}  // namespace fwota
