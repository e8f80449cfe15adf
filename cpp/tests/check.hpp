// Minimal test harness for the C++ unit tests (registered with ctest, one executable per header).
// CHECK records a failure and continues; main() returns the failure count via report().
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace hotalign_test {
inline int& failures() {
    static int n = 0;
    return n;
}
inline int& checks() {
    static int n = 0;
    return n;
}
inline int report(const char* name) {
    std::printf("%s: %d checks, %d failed\n", name, checks(), failures());
    return failures() == 0 ? 0 : 1;
}
}  // namespace hotalign_test

#define CHECK(cond)                                                                     \
    do {                                                                                \
        ++hotalign_test::checks();                                                      \
        if (!(cond)) {                                                                  \
            ++hotalign_test::failures();                                                \
            std::printf("%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(x, y, tol)                                                           \
    do {                                                                                \
        ++hotalign_test::checks();                                                      \
        const double hx_ = (x), hy_ = (y);                                              \
        if (!(std::fabs(hx_ - hy_) <= (tol))) {                                         \
            ++hotalign_test::failures();                                                \
            std::printf("%s:%d: CHECK_NEAR failed: %s = %.17g vs %s = %.17g (tol %g)\n", \
                        __FILE__, __LINE__, #x, hx_, #y, hy_, (double)(tol));           \
        }                                                                               \
    } while (0)

#define CHECK_THROWS(expr)                                                              \
    do {                                                                                \
        ++hotalign_test::checks();                                                      \
        bool thrown_ = false;                                                           \
        try {                                                                           \
            (void)(expr);                                                               \
        } catch (const std::invalid_argument&) {                                        \
            thrown_ = true;                                                             \
        }                                                                               \
        if (!thrown_) {                                                                 \
            ++hotalign_test::failures();                                                \
            std::printf("%s:%d: expected std::invalid_argument from %s\n", __FILE__,     \
                        __LINE__, #expr);                                               \
        }                                                                               \
    } while (0)
