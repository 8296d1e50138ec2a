// Identifiers and secrets from the operating system's CSPRNG (OpenSSL RAND_bytes).
// Internal to libfwota. Thread-safe.
#ifndef FWOTA_LIB_UTIL_RANDOM_H_
#define FWOTA_LIB_UTIL_RANDOM_H_

#include <cstdint>
#include <string>

namespace fwota::internal {

// A random (version 4) UUID in its canonical lowercase text form.
std::string NewUuid();

// A time-ordered (version 7, RFC 9562) UUID: 48 bits of `unix_millis`, a 42-bit
// process-wide counter, 32 random bits. Ids made later sort after earlier ones (as text
// too), within one millisecond as well, so a table keyed by them grows at its end
// instead of at random places and entries of the same time keep their order: for
// append-only history.
std::string NewTimeOrderedUuid(int64_t unix_millis);

// `length` random characters from [A-Za-z0-9], uniformly (rejection sampling); what
// ThingsBoard calls an access token is 20 of them.
std::string RandomAlphanumeric(int length);

// `bytes` random bytes as lowercase hex.
std::string RandomHex(int bytes);

}  // namespace fwota::internal

#endif  // FWOTA_LIB_UTIL_RANDOM_H_
