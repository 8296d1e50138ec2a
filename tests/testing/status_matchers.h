// gtest helpers for absl::Status (Debian's Abseil 20220623 ships no matchers).
#ifndef FWOTA_TESTS_TESTING_STATUS_MATCHERS_H_
#define FWOTA_TESTS_TESTING_STATUS_MATCHERS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace fwota::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// EXPECT_THAT(f(), StatusIs(absl::StatusCode::kNotFound, "Requested item wasn't found!"))
MATCHER_P2(StatusIs, code, message,
           std::string("has code ") + absl::StatusCodeToString(code) + " and message \"" +
               std::string(message) + "\"") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code && s.message() == message;
}

MATCHER_P(StatusCodeIs, code, std::string("has code ") + absl::StatusCodeToString(code)) {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code;
}

// EXPECT_THAT(f(), StatusHasSubstr(absl::StatusCode::kInvalidArgument, "non-existent"))
MATCHER_P2(StatusHasSubstr, code, substring,
           std::string("has code ") + absl::StatusCodeToString(code) + " and a message with \"" +
               std::string(substring) + "\"") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.code() == code && s.message().find(substring) != absl::string_view::npos;
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = GetStatus(arg);
  *result_listener << "status is " << s;
  return s.ok();
}

}  // namespace fwota::testing

#define ASSERT_OK(expr) ASSERT_THAT((expr), ::fwota::testing::IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), ::fwota::testing::IsOk())

// Assigns the value of an absl::StatusOr to `lhs`, failing the test when it is an error.
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(FWOTA_MACRO_CONCAT(fwota_test_statusor_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  ASSERT_TRUE(tmp.ok()) << tmp.status();          \
  lhs = std::move(tmp).value()

#include "fwota/status_macros.h"

#endif  // FWOTA_TESTS_TESTING_STATUS_MATCHERS_H_
