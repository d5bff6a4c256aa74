// FUZZ_CHECK: an invariant of a fuzz target. A violation prints what broke and
// aborts, which libFuzzer reports as a crash and saves the input (crash-<sha1>).
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond, what)                                                     \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, __LINE__, \
                   #cond, what);                                                   \
      std::abort();                                                                \
    }                                                                              \
  } while (0)
