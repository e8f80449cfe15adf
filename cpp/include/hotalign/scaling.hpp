// hotalign/scaling.hpp -- exact power-of-two rescaling of cost matrices at the float edges.
//
// The solvers add up to n + m costs (tree potentials, shortest-path labels) and compare reduced
// costs against a tolerance relative to max |M|. Near the double limit those sums overflow;
// with subnormal costs the relative tolerance itself underflows and the arithmetic loses bits.
// Multiplying M by 2^s changes no comparison of the problem and is exact for every entry that
// stays in the normal range, so the solvers run on a scaled copy and the cost and potentials are
// multiplied back by 2^-s. When the scale needed to avoid overflow would round an entry (a
// dynamic range of about 2^2000 between the largest and smallest nonzero |M|), no single scaling
// represents the problem and std::invalid_argument naming the matrix is thrown instead of
// solving a different problem.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace hotalign {
namespace detail_scale {

/// Costs whose largest magnitude is below this are scaled up to about 1 before a solve (the
/// pricing tolerance 1e-13 max|M| and sums of costs then keep every bit).
constexpr double kTinyCost = 0x1p-600;

/// Largest |x| over the finite entries of x (infinities mark forbidden pairs; NaN is skipped:
/// the solvers report it).
template <class Real>
double max_abs_finite(const Real* x, std::int64_t count) noexcept {
    double mx = 0.0;
    for (std::int64_t q = 0; q < count; ++q) {
        const double v = std::fabs(static_cast<double>(x[q]));
        if (v > mx && v <= std::numeric_limits<double>::max()) mx = v;
    }
    return mx;
}

/// The exponent s of the scaling 2^s to apply to costs of largest magnitude maxabs > 0 so that
/// no sum overflows (the result is below `safe`) and no tolerance underflows; 0 when none is
/// needed.
inline int scale_exponent(double maxabs, double safe) noexcept {
    int e = 0;
    if (maxabs > safe) {
        std::frexp(maxabs / safe, &e);  // maxabs / safe < 2^e
        return -(e + 1);
    }
    if (maxabs > 0.0 && maxabs < kTinyCost) {
        std::frexp(maxabs, &e);  // maxabs in [2^(e-1), 2^e): scaled into [1/2, 1)
        return -e;
    }
    return 0;
}

[[noreturn]] inline void throw_dynamic_range(const char* name, double maxabs, double smallest,
                                             int s) {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  ": dynamic range too wide for an exact solve: max |%s| = %.6g needs scaling "
                  "by 2^%d so that sums of costs cannot overflow, which would round entries as "
                  "small as %.6g (a range beyond 2^2000); rescale %s or clip its smallest "
                  "entries to 0",
                  name, maxabs, s, smallest, name);
    throw std::invalid_argument(std::string(name) + buf);
}

/// x * 2^s entry by entry (infinities stay infinite), checking that every entry survives the
/// round trip exactly; throws std::invalid_argument naming `name` when one would not.
template <class Real>
std::vector<Real> scaled_copy(const Real* x, std::int64_t count, int s, const char* name,
                              double maxabs) {
    std::vector<Real> out(static_cast<std::size_t>(count));
    double smallest = std::numeric_limits<double>::infinity();
    for (std::int64_t q = 0; q < count; ++q) {
        const double v = static_cast<double>(x[q]);
        const Real y = static_cast<Real>(std::ldexp(v, s));
        out[static_cast<std::size_t>(q)] = y;
        if (std::ldexp(static_cast<double>(y), -s) != v && v == v)
            smallest = std::min(smallest, std::fabs(v));
    }
    if (smallest < std::numeric_limits<double>::infinity())
        throw_dynamic_range(name, maxabs, smallest, s);
    return out;
}

/// Potentials of a problem solved on costs scaled by 2^s, brought back to the original units:
/// first shifted (u + t, v - t, which changes neither reduced costs nor a.u + b.v when the
/// masses agree) to the smallest largest magnitude, then multiplied by 2^-s. False when a value
/// exceeds the double range (no finite certificate exists).
inline bool unscale_potentials(std::vector<double>& u, std::vector<double>& v, int s) {
    if (!u.empty() && !v.empty()) {
        const auto [ulo, uhi] = std::minmax_element(u.begin(), u.end());
        const auto [vlo, vhi] = std::minmax_element(v.begin(), v.end());
        // minimise max(max|u + t|, max|v - t|)
        const double t = 0.5 * (std::max(-*ulo, *vhi) - std::max(*uhi, -*vlo));
        for (double& x : u) x += t;
        for (double& x : v) x -= t;
    }
    bool finite = true;
    for (double& x : u) finite &= std::isfinite(x = std::ldexp(x, -s));
    for (double& x : v) finite &= std::isfinite(x = std::ldexp(x, -s));
    return finite;
}

/// Warm-start potentials scaled by 2^s; empty when one would leave the double range (a warm
/// start only steers the initial basis, so it is then dropped).
inline std::vector<double> scaled_potentials(const double* x, std::int64_t count, int s) {
    std::vector<double> out;
    if (x == nullptr) return out;
    out.reserve(static_cast<std::size_t>(count));
    for (std::int64_t q = 0; q < count; ++q) {
        out.push_back(std::ldexp(x[q], s));
        if (!std::isfinite(out.back())) return {};
    }
    return out;
}

[[noreturn]] inline void throw_out_of_range(const char* name, double maxabs) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  ": costs too large (max |%s| = %.6g): the optimal cost or dual potentials "
                  "exceed the double range; rescale %s",
                  name, maxabs, name);
    throw std::invalid_argument(std::string(name) + buf);
}

}  // namespace detail_scale
}  // namespace hotalign
