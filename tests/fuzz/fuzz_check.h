// FUZZ_CHECK(cond): the invariant checks of the fuzz targets. Aborts with the condition's
// text, which libFuzzer reports as a crash (and the corpus test as a failure).
#ifndef FWOTA_TESTS_FUZZ_FUZZ_CHECK_H_
#define FWOTA_TESTS_FUZZ_FUZZ_CHECK_H_

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                              \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                            \
      std::abort();                                                                   \
    }                                                                                 \
  } while (0)

#endif  // FWOTA_TESTS_FUZZ_FUZZ_CHECK_H_
