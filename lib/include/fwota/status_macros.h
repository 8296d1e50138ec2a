// Early-return helpers for absl::Status / absl::StatusOr (Debian's Abseil 20220623 has
// none of its own). Thread-safe: they are plain expressions.
#ifndef FWOTA_STATUS_MACROS_H_
#define FWOTA_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns from the enclosing function when `expr` (an absl::Status) is not OK.
#define FWOTA_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::absl::Status fwota_status_ = (expr);           \
    if (!fwota_status_.ok()) return fwota_status_;   \
  } while (0)

#define FWOTA_MACRO_CONCAT_INNER(a, b) a##b
#define FWOTA_MACRO_CONCAT(a, b) FWOTA_MACRO_CONCAT_INNER(a, b)

// `FWOTA_ASSIGN_OR_RETURN(auto x, F());` declares/assigns x from an absl::StatusOr, or
// returns its status from the enclosing function.
#define FWOTA_ASSIGN_OR_RETURN(lhs, expr) \
  FWOTA_ASSIGN_OR_RETURN_IMPL(FWOTA_MACRO_CONCAT(fwota_statusor_, __LINE__), lhs, expr)

#define FWOTA_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return std::move(tmp).status();    \
  lhs = std::move(tmp).value()

#endif  // FWOTA_STATUS_MACROS_H_
