// Identifiers and secrets from the operating system's CSPRNG (OpenSSL RAND_bytes).
// Internal to libfwota. Thread-safe.
#ifndef FWOTA_LIB_UTIL_RANDOM_H_
#define FWOTA_LIB_UTIL_RANDOM_H_

#include <string>

namespace fwota::internal {

// A random (version 4) UUID in its canonical lowercase text form.
std::string NewUuid();

// `length` random characters from [A-Za-z0-9], uniformly (rejection sampling); what
// ThingsBoard calls an access token is 20 of them.
std::string RandomAlphanumeric(int length);

// `bytes` random bytes as lowercase hex.
std::string RandomHex(int bytes);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_UTIL_RANDOM_H_
