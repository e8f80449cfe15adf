// hotalign/correlation_cost.hpp -- correlation-distance cost matrices between two layers.
//
// For activations X (T x n; row t = stimulus, column i = unit) and Y (T x m) the cost is
//
//     cost[i, j] = 1 - pearson(X[:, i], Y[:, j])           (over the T rows; in [0, 2])
//
// Math. With column means mu and centered norms s_i = ||x_i - mu_i||_2, the standardized column
// z_i = (x_i - mu_i) / s_i is centered and has unit norm, and pearson(x_i, y_j) = <z_i, w_j>. So a
// layer is standardized once (T x n array Z, working dtype) and the whole matrix is one GEMM,
// cost = 1 - Zx^T Zy, followed by an in-place epilogue v -> clamp(1 - v, 0, 2). The GEMM is
// O(T n m); everything else is O(T (n + m)) or O(n m) and reads the data at most twice.
//
// Numerical choices.
//  * Statistics (column_stats) are accumulated in double whatever the data dtype, in ONE read
//    pass over the rows, as sums of the data shifted by the column's first row:
//    s1 = sum (x_t - x_0), s2 = sum (x_t - x_0)^2, M2 = s2 - s1^2 / T, mean = x_0 + s1 / T.
//    Shifting by a data point bounds the cancellation: (x_0 - mean)^2 <= M2, so s2 <= (T+1) M2
//    and M2 loses at most log10(T+1) digits in the worst case (x_0 the most extreme value),
//    typically none; a mean 1e6 x the spread costs nothing (the test checks 1e-12). This is
//    cheaper than Welford (no per-element division or dependent update), which matters because
//    the pass is bandwidth/SIMD-bound. Rows are walked in storage order, 4 rows per sweep, so
//    the update vectorizes across columns and strided rows (row_stride > n) cost nothing extra.
//  * Non-finite data are detected in that same pass without extra work: a NaN or +-inf makes the
//    column's s1 or s2 non-finite (and it stays so), which is checked once per column
//    at the end. Do not compile with -ffast-math / -ffinite-math-only (they delete these checks).
//  * Extreme magnitudes. Correlation is scale-invariant, so a column whose squares would
//    overflow (values beyond ~1e154: s1 or s2 non-finite with finite data) or underflow (largest
//    magnitude below 2^-400 ~ 4e-121, subnormals included) is summed again, alone, on
//    x * prescale with prescale = 2^-ilogb(max|x|) (capped at 2^1023), i.e. scaled so its
//    largest magnitude lies in [1, 2). A power of two scales exactly, so this is the same
//    computation on representable numbers; that second pass also tells real NaN/inf (an
//    error) from overflow. The statistics of such a column (mean, inv_norm) are in units of
//    x * prescale and standardize() applies the factor. Every other column has prescale 1 and
//    takes exactly the arithmetic it took before (bit-identical).
//  * Constant columns. Column i is flagged constant iff
//        ||x_i - mu_i||_2 <= constant_tol * sqrt(T) * max_t |x_ti|      (constant_tol = 1e-12)
//    i.e. its RMS deviation is at most 1e-12 of its largest magnitude: zero spread, or spread at
//    the level of double rounding of the values (float data have a relative granularity of
//    6e-8, so a float column is flagged only when it is exactly constant). All-zero columns are
//    constant (0 <= 0). A constant column gets inv_norm = 0, so it standardizes to all zeros,
//    its correlation with anything is 0 and its cost is exactly 1 -- never NaN. The rule is
//    relative, so it flags the same columns at any scale (see "Extreme magnitudes").
//  * Standardization computes (x - mu) * scale in double and rounds once to the working dtype,
//    so float32 work loses nothing to centering; the GEMM then runs in the working dtype
//    (float32 products are accurate to ~1e-6 for T in the thousands).
//  * Held-out rows. Statistics are computed on training rows and reused: standardize() applied
//    to T' rows scales by inv_norm * sqrt(T / T'), i.e. z = (x - mu_train) / (sd_train sqrt(T')),
//    sd = population standard deviation on the training rows. Zx^T Zy on the held-out rows is
//    then the correlation on those rows with training mean and spread (exactly pearson when the
//    rows are the training rows). It is not bounded by 1, hence the clamp to [0, 2].
//
// GEMM. Z is stored row-major T x n, i.e. it is the column-major n x T matrix Z^T (ld n), and the
// row-major n x m output is the column-major m x n matrix out^T = Zy^T Zx. So the product is ONE
// Fortran call gemm('N', 'T', m, n, T, 1, Zy, m, Zx, n, 0, out, m) writing straight into `out`
// (no n x m temporary). Pass the dgemm/sgemm of any BLAS (Fortran calling convention, 32-bit
// integers; the Python layer passes scipy.linalg.cython_blas's). BLAS sizes are `int`: n and m
// must be <= INT_MAX (else std::invalid_argument); T > INT_MAX is split into accumulated calls.
// With a null pointer a built-in portable kernel is used: Goto-style cache blocking (KC x NC
// panel of Zy packed for L2, MC x KC block of Zx packed, MR x NR register tile accumulated in
// the working dtype), single-threaded, no intrinsics -- correct everywhere, far from BLAS speed.
//
// Memory. correlation_cost() needs the two standardized copies in the working dtype
// (T n + T m elements of Real; one copy if X and Y are the same array) -- allocated per call or
// taken from a caller-owned options.workspace -- plus O(n + m) doubles of statistics; float32
// work never makes float64 copies. The fallback kernel adds fixed packing buffers
// (<= KC MC + KC NC Reals, ~1.3 MB for double). BLAS may allocate its own buffers.
//
// Threads. The O(T (n + m)) passes can use options.threads std::threads (columns split for the
// statistics, rows for standardize; results are bitwise independent of the thread count); the
// GEMM's threads are the BLAS library's own.
//
// Errors. Bad arguments throw std::invalid_argument naming the argument (T < 2 for statistics,
// T < 1 for applying them, n or m < 1, null pointers, strides smaller than widths, stats of the
// wrong width, NaN/inf in "X" or "Y"). Functions are reentrant; there is no global state.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace hotalign {

/// Fortran-style BLAS gemm (dgemm_/sgemm_, scipy.linalg.cython_blas dgemm/sgemm):
/// C = alpha op(A) op(B) + beta C, column-major, 32-bit integers, no hidden string lengths.
template <class Real>
struct Gemm {
    using fn_type = void (*)(const char*, const char*, const int*, const int*, const int*,
                             const Real*, const Real*, const int*, const Real*, const int*,
                             const Real*, Real*, const int*);
    fn_type fn = nullptr;  ///< nullptr -> the built-in cache-blocked kernel

    Gemm() = default;
    Gemm(fn_type f) : fn(f) {}  // NOLINT(google-explicit-constructor): Gemm<double> g = dgemm_;
};
using dgemm_t = Gemm<double>::fn_type;
using sgemm_t = Gemm<float>::fn_type;

/// Default relative threshold of the constant-column rule (see the header comment).
inline constexpr double kConstantColumnTol = 1e-12;

/// Per-column statistics of a layer on the rows they were computed from.
struct ColumnStats {
    std::int64_t rows = 0;               ///< T, the number of rows the statistics came from
    std::vector<double> mean;            ///< column means of x * prescale
    std::vector<double> inv_norm;        ///< 1 / ||x prescale - mean||_2; 0 if constant
    std::vector<std::int64_t> constant;  ///< indices of constant columns, increasing
    /// Power-of-two factor applied to each column before the statistics: 1 for ordinary
    /// columns, 2^-ilogb(max|x|) for columns whose squares would overflow or underflow. Empty
    /// means all 1 (statistics built by hand).
    std::vector<double> prescale;
};

namespace detail {

using i64 = std::int64_t;

[[noreturn]] inline void bad_arg(const char* func, const char* arg, const std::string& what) {
    throw std::invalid_argument(std::string("hotalign::") + func + ": argument '" + arg + "' " +
                                what);
}

inline void check_dims(const char* func, const char* name_T, i64 T, i64 min_T, const char* name_n,
                       i64 n, const void* p, const char* name_p, i64 ld, const char* name_ld) {
    if (T < min_T)
        bad_arg(func, name_T, "must be >= " + std::to_string(min_T) + " (got " +
                                  std::to_string(T) + ")");
    if (n < 1) bad_arg(func, name_n, "must be >= 1 (got " + std::to_string(n) + ")");
    if (p == nullptr) bad_arg(func, name_p, "is null");
    if (ld < n)
        bad_arg(func, name_ld, "must be >= " + std::string(name_n) + " = " + std::to_string(n) +
                                   " (got " + std::to_string(ld) + ")");
    if (T > INT64_MAX / ld) bad_arg(func, name_T, "times the row stride overflows int64");
}

// Runs f(k) for k = 0 .. threads-1, k = 0 on the calling thread, the others on std::threads.
// f must not throw.
template <class F>
void run_parallel(int threads, F&& f) {
    if (threads <= 1) {
        f(0);
        return;
    }
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(threads - 1));
    for (int k = 1; k < threads; ++k) pool.emplace_back([&f, k] { f(k); });
    f(0);
    for (std::thread& th : pool) th.join();
}

// [begin, end) of part k of `count` items split in `parts`, boundaries rounded to `align`.
inline std::pair<i64, i64> split_range(i64 count, int parts, int k, i64 align) {
    const auto at = [&](int q) {
        if (q >= parts) return count;
        const i64 b = count / parts * q + std::min<i64>(q, count % parts);
        return std::min(count, (b + align - 1) / align * align);
    };
    return {at(k), at(k + 1)};
}

// Threads worth using for `elements` streamed values (~64K elements per extra thread).
inline int useful_threads(int threads, i64 elements) {
    const i64 cap = std::max<i64>(1, elements >> 16);
    return static_cast<int>(std::max<i64>(1, std::min<i64>(threads, cap)));
}

// Shifted sums of columns [j0, j1) over all T rows, in double, rows walked in storage order
// (4 rows per sweep so the accumulators are loaded once per 4 rows):
//   s1 = sum_t (x_t - x_0),  s2 = sum_t (x_t - x_0)^2,  mx = max_t |x_t|.
template <class Real>
void accumulate_stats(const Real* X, i64 T, i64 ld, i64 j0, i64 j1, double* s1, double* s2,
                      double* mx) {
    const Real* x0 = X;
    for (i64 j = j0; j < j1; ++j) {
        s1[j] = 0.0;
        s2[j] = 0.0;
        mx[j] = std::fabs(static_cast<double>(x0[j]));
    }
    i64 t = 1;
    for (; t + 4 <= T; t += 4) {
        const Real* r0 = X + t * ld;
        const Real* r1 = r0 + ld;
        const Real* r2 = r1 + ld;
        const Real* r3 = r2 + ld;
        for (i64 j = j0; j < j1; ++j) {
            const double b = static_cast<double>(x0[j]);
            const double a0 = static_cast<double>(r0[j]), a1 = static_cast<double>(r1[j]);
            const double a2 = static_cast<double>(r2[j]), a3 = static_cast<double>(r3[j]);
            const double d0 = a0 - b, d1 = a1 - b, d2 = a2 - b, d3 = a3 - b;
            s1[j] += (d0 + d1) + (d2 + d3);
            s2[j] += (d0 * d0 + d1 * d1) + (d2 * d2 + d3 * d3);
            const double m01 = std::max(std::fabs(a0), std::fabs(a1));
            const double m23 = std::max(std::fabs(a2), std::fabs(a3));
            mx[j] = std::max(mx[j], std::max(m01, m23));
        }
    }
    for (; t < T; ++t) {
        const Real* r0 = X + t * ld;
        for (i64 j = j0; j < j1; ++j) {
            const double a0 = static_cast<double>(r0[j]);
            const double d0 = a0 - static_cast<double>(x0[j]);
            s1[j] += d0;
            s2[j] += d0 * d0;
            mx[j] = std::max(mx[j], std::fabs(a0));
        }
    }
}

// Largest magnitude below which a column is summed again prescaled (2^-400:
// its relevant differences, >= 1e-12 of it, then square to normal doubles).
inline constexpr double kRescaleBelow = 0x1p-400;

[[noreturn]] inline void non_finite(const char* func, const char* name, i64 j) {
    bad_arg(func, name, "contains NaN or inf in column " + std::to_string(j));
}

// Column j summed again on x * p (p a power of two making max|x p| lie in [1, 2)): the
// extreme-magnitude path of finish_stats. Checks every value for NaN/inf.
template <class Real>
void rescaled_sums(const char* func, const char* name, const Real* X, i64 T, i64 ld, i64 j,
                   double mx, double& p, double& s1, double& s2, double& mxs) {
    if (!std::isfinite(mx)) non_finite(func, name, j);
    p = std::ldexp(1.0, std::min(1023, -std::ilogb(mx)));
    const double b = static_cast<double>(X[j]) * p;
    s1 = 0.0;
    s2 = 0.0;
    mxs = 0.0;
    for (i64 t = 0; t < T; ++t) {
        const double x = static_cast<double>(X[t * ld + j]);
        if (!std::isfinite(x)) non_finite(func, name, j);
        const double a = x * p, d = a - b;
        s1 += d;
        s2 += d * d;
        mxs = std::max(mxs, std::fabs(a));
    }
}

// Statistics from the shifted sums: finiteness (NaN/inf anywhere in a column makes s1 or s2
// non-finite) and the constant-column rule; columns of extreme magnitude are summed again
// prescaled (see "Extreme magnitudes"). `name` is the data argument for error messages.
template <class Real>
ColumnStats finish_stats(const char* func, const char* name, const Real* X, i64 T, i64 n,
                         i64 ld, const double* s1, const double* s2, const double* mx,
                         double constant_tol) {
    ColumnStats s;
    s.rows = T;
    s.mean.assign(static_cast<std::size_t>(n), 0.0);
    s.inv_norm.assign(static_cast<std::size_t>(n), 0.0);
    const double Td = static_cast<double>(T), sqrtT = std::sqrt(Td);
    const auto is_constant = [&](double norm, double inv, double max_abs) {
        return norm <= constant_tol * sqrtT * max_abs || !std::isfinite(inv) || inv == 0.0;
    };
    for (i64 j = 0; j < n; ++j) {
        double a1 = s1[j], a2 = s2[j], amx = mx[j], p = 1.0;
        const bool overflow = !std::isfinite(a1) || !std::isfinite(a2);
        if (overflow && !(mx[j] > 0.0)) non_finite(func, name, j);  // NaN (or NaN first row)
        double x0 = static_cast<double>(X[j]);
        double shift_mean = a1 / Td;
        double m2 = a2 - a1 * shift_mean;
        double norm = std::sqrt(m2 > 0.0 ? m2 : 0.0);
        double inv = norm > 0.0 ? 1.0 / norm : 0.0;
        if (overflow || (amx > 0.0 && amx < kRescaleBelow)) {
            rescaled_sums(func, name, X, T, ld, j, mx[j], p, a1, a2, amx);
            if (s.prescale.empty()) s.prescale.assign(static_cast<std::size_t>(n), 1.0);
            s.prescale[static_cast<std::size_t>(j)] = p;
            x0 *= p;
            shift_mean = a1 / Td;
            m2 = a2 - a1 * shift_mean;
            norm = std::sqrt(m2 > 0.0 ? m2 : 0.0);
            inv = norm > 0.0 ? 1.0 / norm : 0.0;
        }
        s.mean[static_cast<std::size_t>(j)] = x0 + shift_mean;
        if (is_constant(norm, inv, amx))
            s.constant.push_back(j);  // inv_norm stays 0
        else
            s.inv_norm[static_cast<std::size_t>(j)] = inv;
    }
    return s;
}

template <class Real>
ColumnStats column_stats_impl(const char* func, const char* name, const Real* X, i64 T, i64 n,
                              i64 ld, double constant_tol, int threads) {
    std::vector<double> acc(static_cast<std::size_t>(3 * n));
    double* s1 = acc.data();
    double* s2 = s1 + n;
    double* mx = s2 + n;
    const int nt = std::min(useful_threads(threads, T * n), static_cast<int>((n + 15) / 16));
    run_parallel(nt, [&](int k) {
        const auto r = split_range(n, nt, k, 16);
        accumulate_stats(X, T, ld, r.first, r.second, s1, s2, mx);
    });
    return finish_stats(func, name, X, T, n, ld, s1, s2, mx, constant_tol);
}

// Rows [t0, t1): out[t*n + j] = Out((X[t*ld + j] * pre[j] - mean[j]) * scale[j]), with
// pre = null meaning all 1 (the loop then multiplies by nothing). With Check, chk[j]
// accumulates x * 0, which stays 0 unless x is NaN or +-inf.
template <bool Check, class Real, class Out>
void standardize_block(const Real* X, i64 t0, i64 t1, i64 n, i64 ld, const double* mean,
                       const double* scale, const double* pre, Out* out, double* chk) {
    for (i64 t = t0; t < t1; ++t) {
        const Real* row = X + t * ld;
        Out* z = out + t * n;
        if (pre == nullptr) {
            for (i64 j = 0; j < n; ++j) {
                const double x = static_cast<double>(row[j]);
                z[j] = static_cast<Out>((x - mean[j]) * scale[j]);
                if (Check) chk[j] += x * 0.0;
            }
        } else {
            for (i64 j = 0; j < n; ++j) {
                const double x = static_cast<double>(row[j]);
                z[j] = static_cast<Out>((x * pre[j] - mean[j]) * scale[j]);
                if (Check) chk[j] += x * 0.0;
            }
        }
    }
}

inline const double* prescale_or_null(const ColumnStats& s) {
    return s.prescale.empty() ? nullptr : s.prescale.data();
}

// ---- built-in GEMM: C (n x m, ld ldc) = A^T B, A is K x n (ld lda), B is K x m (ld ldb) ----
inline constexpr i64 kKC = 256;  // depth of a packed panel (rows of Z)
inline constexpr i64 kMC = 128;  // output rows per packed block of A (L2)
inline constexpr i64 kNC = 512;  // output columns per packed block of B (L2/L3)
inline constexpr i64 kMR = 4;    // register tile rows

template <class Real>
inline constexpr i64 kNR = 32 / static_cast<i64>(sizeof(Real));  // 4 doubles / 8 floats

template <class Real>
inline void micro_kernel(i64 kc, const Real* a, const Real* b, Real* acc) {
    constexpr i64 NR = kNR<Real>;
    Real c[kMR][NR] = {};
    for (i64 k = 0; k < kc; ++k) {
        const Real* ak = a + k * kMR;
        const Real* bk = b + k * NR;
        for (i64 i = 0; i < kMR; ++i) {
            const Real av = ak[i];
            for (i64 j = 0; j < NR; ++j) c[i][j] += av * bk[j];
        }
    }
    for (i64 i = 0; i < kMR; ++i)
        for (i64 j = 0; j < NR; ++j) acc[i * NR + j] = c[i][j];
}

template <class Real>
void gemm_tn_fallback(i64 n, i64 m, i64 K, const Real* A, i64 lda, const Real* B, i64 ldb,
                      Real* C, i64 ldc) {
    constexpr i64 NR = kNR<Real>;
    constexpr i64 MR = kMR;
    const i64 nc_max = std::min<i64>(kNC, (m + NR - 1) / NR * NR);
    const i64 mc_max = std::min<i64>(kMC, (n + MR - 1) / MR * MR);
    const i64 kc_max = std::min<i64>(kKC, K);
    std::unique_ptr<Real[]> bp(new Real[static_cast<std::size_t>(kc_max * nc_max)]);
    std::unique_ptr<Real[]> ap(new Real[static_cast<std::size_t>(kc_max * mc_max)]);
    Real tile[kMR * kNR<Real>];
    for (i64 jc = 0; jc < m; jc += kNC) {
        const i64 nc = std::min(kNC, m - jc);
        for (i64 pc = 0; pc < K; pc += kKC) {
            const i64 kc = std::min(kKC, K - pc);
            const bool first = pc == 0;
            // pack B[pc:pc+kc, jc:jc+nc] into NR-wide panels, zero-padded
            for (i64 jp = 0; jp < nc; jp += NR) {
                Real* dst = bp.get() + jp * kc;
                const i64 w = std::min(NR, nc - jp);
                for (i64 k = 0; k < kc; ++k) {
                    const Real* src = B + (pc + k) * ldb + jc + jp;
                    for (i64 j = 0; j < w; ++j) dst[k * NR + j] = src[j];
                    for (i64 j = w; j < NR; ++j) dst[k * NR + j] = Real(0);
                }
            }
            for (i64 ic = 0; ic < n; ic += kMC) {
                const i64 mc = std::min(kMC, n - ic);
                for (i64 ip = 0; ip < mc; ip += MR) {
                    Real* dst = ap.get() + ip * kc;
                    const i64 h = std::min(MR, mc - ip);
                    for (i64 k = 0; k < kc; ++k) {
                        const Real* src = A + (pc + k) * lda + ic + ip;
                        for (i64 i = 0; i < h; ++i) dst[k * MR + i] = src[i];
                        for (i64 i = h; i < MR; ++i) dst[k * MR + i] = Real(0);
                    }
                }
                for (i64 jp = 0; jp < nc; jp += NR) {
                    const i64 w = std::min(NR, nc - jp);
                    for (i64 ip = 0; ip < mc; ip += MR) {
                        const i64 h = std::min(MR, mc - ip);
                        micro_kernel<Real>(kc, ap.get() + ip * kc, bp.get() + jp * kc, tile);
                        for (i64 i = 0; i < h; ++i) {
                            Real* crow = C + (ic + ip + i) * ldc + jc + jp;
                            const Real* trow = tile + i * NR;
                            if (first)
                                for (i64 j = 0; j < w; ++j) crow[j] = trow[j];
                            else
                                for (i64 j = 0; j < w; ++j) crow[j] += trow[j];
                        }
                    }
                }
            }
        }
    }
}

}  // namespace detail

/// Statistics of the columns of X (T x n, row-major, row_stride elements between rows >= n), in
/// one read pass with double accumulators (`threads` > 1 splits the columns over std::threads).
/// Throws std::invalid_argument for T < 2, n < 1, null X, row_stride < n, NaN/inf in X.
template <class Real>
ColumnStats column_stats(const Real* X, std::int64_t T, std::int64_t n, std::int64_t row_stride,
                         double constant_tol = kConstantColumnTol, int threads = 1) {
    detail::check_dims("column_stats", "T", T, 2, "n", n, X, "X", row_stride, "row_stride");
    if (!(constant_tol >= 0.0))
        detail::bad_arg("column_stats", "constant_tol", "must be >= 0");
    return detail::column_stats_impl("column_stats", "X", X, T, n, row_stride, constant_tol,
                                     threads);
}

/// Apply `stats` (computed on stats.rows training rows) to T rows of X (possibly other rows):
/// out[t*n + j] = (X[t, j] * prescale[j] - mean[j]) * inv_norm[j] * sqrt(stats.rows / T), out
/// T x n contiguous (prescale[j] = 1 unless the column has extreme magnitude).
/// On the training rows this gives centered unit-norm columns; constant columns give zeros.
/// Throws for T < 1, n < 1, null X/out, row_stride < n, stats of another width, NaN/inf in X
/// (checked during the pass).
template <class Real, class Out = Real>
void standardize(const Real* X, std::int64_t T, std::int64_t n, std::int64_t row_stride,
                 const ColumnStats& stats, Out* out, int threads = 1) {
    detail::check_dims("standardize", "T", T, 1, "n", n, X, "X", row_stride, "row_stride");
    if (out == nullptr) detail::bad_arg("standardize", "out", "is null");
    if (stats.mean.size() != static_cast<std::size_t>(n) ||
        stats.inv_norm.size() != static_cast<std::size_t>(n) || stats.rows < 1 ||
        (!stats.prescale.empty() && stats.prescale.size() != static_cast<std::size_t>(n)))
        detail::bad_arg("standardize", "stats", "does not describe " + std::to_string(n) +
                                                    " columns (computed on another layer?)");
    const double f = std::sqrt(static_cast<double>(stats.rows) / static_cast<double>(T));
    std::vector<double> scale(stats.inv_norm);
    for (double& s : scale) s *= f;
    const int nt = std::min(detail::useful_threads(threads, T * n),
                            static_cast<int>(std::min<std::int64_t>(T, 64)));
    std::vector<double> chk(static_cast<std::size_t>(nt * n), 0.0);
    detail::run_parallel(nt, [&](int k) {
        const auto r = detail::split_range(T, nt, k, 1);
        detail::standardize_block<true>(X, r.first, r.second, n, row_stride, stats.mean.data(),
                                        scale.data(), detail::prescale_or_null(stats), out,
                                        chk.data() + k * n);
    });
    for (std::size_t q = 0; q < chk.size(); ++q)
        if (chk[q] != 0.0)
            detail::bad_arg("standardize", "X",
                            "contains NaN or inf in column " +
                                std::to_string(q % static_cast<std::size_t>(n)));
}

/// product = Zx^T Zy (n x m row-major) for standardized layers Zx (T x n) and Zy (T x m), both
/// row-major contiguous in the working dtype: the correlations of every pair of units. One BLAS
/// gemm writing into `out` (or the built-in blocked kernel if gemm.fn is null). Throws for
/// T < 1, n/m < 1, null pointers, n or m > INT_MAX with BLAS.
template <class Real>
void cross_product_standardized(const Real* Zx, std::int64_t T, std::int64_t n, const Real* Zy,
                                std::int64_t m, Real* out, const Gemm<Real>& gemm = {}) {
    const char* f = "correlation_cost_standardized";
    detail::check_dims(f, "T", T, 1, "n", n, Zx, "Zx", n, "n");
    detail::check_dims(f, "T", T, 1, "m", m, Zy, "Zy", m, "m");
    if (out == nullptr) detail::bad_arg(f, "out", "is null");
    if (n > INT64_MAX / m) detail::bad_arg(f, "m", "times n overflows int64");
    if (gemm.fn != nullptr) {
        if (n > INT_MAX) detail::bad_arg(f, "n", "exceeds the BLAS int range");
        if (m > INT_MAX) detail::bad_arg(f, "m", "exceeds the BLAS int range");
        const int M = static_cast<int>(m), N = static_cast<int>(n);
        const Real one(1), zero(0);
        const char tn = 'N', tt = 'T';
        // out^T (m x n, col-major, ld m) = Zy^T Zx: A = Zy as col-major m x T (ld m) 'N',
        // B = Zx as col-major n x T (ld n) 'T'. T beyond INT_MAX is accumulated in chunks.
        for (std::int64_t t0 = 0; t0 < T; t0 += INT_MAX) {
            const int K = static_cast<int>(std::min<std::int64_t>(INT_MAX, T - t0));
            gemm.fn(&tn, &tt, &M, &N, &K, &one, Zy + t0 * m, &M, Zx + t0 * n, &N,
                    t0 == 0 ? &zero : &one, out, &M);
        }
    } else {
        detail::gemm_tn_fallback<Real>(n, m, T, Zx, n, Zy, m, out, m);
    }
}

/// The correlation distance of `count` correlations g: clamp(1 - g, 0, 2), from `product` into
/// `cost` (the same array for in place). The one epilogue of every cost tile.
template <class Real>
void correlation_distance(const Real* product, std::int64_t count, Real* cost) {
    for (std::int64_t k = 0; k < count; ++k) {
        Real v = Real(1) - product[k];
        v = v < Real(0) ? Real(0) : v;
        cost[k] = v > Real(2) ? Real(2) : v;
    }
}

/// cost = clamp(1 - Zx^T Zy, 0, 2) for standardized layers Zx (T x n) and Zy (T x m), both
/// row-major contiguous in the working dtype; out is n x m row-major. One BLAS gemm writing into
/// `out` plus an in-place epilogue (or the built-in blocked kernel if gemm.fn is null). Z is
/// trusted (no NaN scan). Throws for T < 1, n/m < 1, null pointers, n or m > INT_MAX with BLAS.
template <class Real>
void correlation_cost_standardized(const Real* Zx, std::int64_t T, std::int64_t n, const Real* Zy,
                                   std::int64_t m, Real* out, const Gemm<Real>& gemm = {}) {
    cross_product_standardized(Zx, T, n, Zy, m, out, gemm);
    correlation_distance(out, n * m, out);
}

/// Options of correlation_cost.
struct CorrelationCostOptions {
    double constant_tol = kConstantColumnTol;  ///< relative threshold of the constant-column rule
    /// Threads for the O(T (n + m)) statistics/standardize passes (std::thread, spawned per
    /// call; small inputs use fewer). Match the BLAS thread count. The GEMM threads are BLAS's.
    int threads = 1;
    /// Optional caller-owned scratch for the standardized copies, at least
    /// correlation_cost_workspace_bytes<Real>(T, n, m) bytes, aligned for Real. Reusing one
    /// buffer across calls avoids re-faulting fresh pages on every call (on this class of VM
    /// ~1.4 us per 4 KiB page: 12 MB of copies cost ~4 ms, a third of a 7 ms GEMM). If null,
    /// the copies are allocated per call.
    void* workspace = nullptr;
    std::size_t workspace_bytes = 0;
};

/// Bytes of the standardized copies correlation_cost needs: (T n + T m) * sizeof(Real).
template <class Real>
std::size_t correlation_cost_workspace_bytes(std::int64_t T, std::int64_t n, std::int64_t m) {
    return static_cast<std::size_t>(T) * static_cast<std::size_t>(n + m) * sizeof(Real);
}

/// cost[i, j] = 1 - pearson(X[:, i], Y[:, j]) from raw data: X is T x n (row stride ldx >= n),
/// Y is T x m (ldy >= m), out n x m row-major. Statistics in one double-precision read pass per
/// layer (NaN/inf detected there), one standardize pass into working-dtype copies, then the
/// product. If stats_x / stats_y are given they receive the statistics (constant columns etc.).
/// Peak extra memory: (T n + T m) Reals (T n if Y is X with the same stride; none if
/// options.workspace is given) + O(n + m) doubles.
template <class Real>
void correlation_cost(const Real* X, std::int64_t T, std::int64_t n, std::int64_t ldx,
                      const Real* Y, std::int64_t m, std::int64_t ldy, Real* out,
                      const Gemm<Real>& gemm = {}, const CorrelationCostOptions& options = {},
                      ColumnStats* stats_x = nullptr, ColumnStats* stats_y = nullptr) {
    const char* f = "correlation_cost";
    detail::check_dims(f, "T", T, 2, "n", n, X, "X", ldx, "ldx");
    detail::check_dims(f, "T", T, 2, "m", m, Y, "Y", ldy, "ldy");
    if (out == nullptr) detail::bad_arg(f, "out", "is null");
    if (!(options.constant_tol >= 0.0)) detail::bad_arg(f, "constant_tol", "must be >= 0");
    if (T > INT64_MAX / n || T > INT64_MAX / m || n > INT64_MAX / m)
        detail::bad_arg(f, "T", "times n or m overflows int64");
    if (gemm.fn != nullptr && (n > INT_MAX || m > INT_MAX))
        detail::bad_arg(f, n > INT_MAX ? "n" : "m", "exceeds the BLAS int range");
    const bool same = X == Y && n == m && ldx == ldy;
    const std::int64_t mm = same ? 0 : m;  // Y columns with their own statistics / copy

    // Pass 1 (read X and Y once): shifted sums; threads split the columns of both layers.
    std::vector<double> acc(static_cast<std::size_t>(3 * (n + mm)));
    double* ax = acc.data();
    double* ay = ax + 3 * n;
    const int nt1 = std::min(detail::useful_threads(options.threads, T * (n + mm)),
                             static_cast<int>((n + mm + 15) / 16));
    detail::run_parallel(nt1, [&](int k) {
        const auto rx = detail::split_range(n, nt1, k, 16);
        detail::accumulate_stats(X, T, ldx, rx.first, rx.second, ax, ax + n, ax + 2 * n);
        if (mm > 0) {
            const auto ry = detail::split_range(mm, nt1, k, 16);
            detail::accumulate_stats(Y, T, ldy, ry.first, ry.second, ay, ay + mm, ay + 2 * mm);
        }
    });
    ColumnStats sx = detail::finish_stats(f, "X", X, T, n, ldx, ax, ax + n, ax + 2 * n,
                                          options.constant_tol);
    ColumnStats sy = same ? sx
                          : detail::finish_stats(f, "Y", Y, T, m, ldy, ay, ay + m, ay + 2 * m,
                                                 options.constant_tol);

    // Pass 2 (read X and Y again, write the working-dtype copies); threads split the rows.
    const std::size_t need = static_cast<std::size_t>(T * (n + mm)) * sizeof(Real);
    std::unique_ptr<Real[]> owned;  // uninitialized (no zero-fill pass)
    Real* zx = static_cast<Real*>(options.workspace);
    if (zx == nullptr) {
        owned.reset(new Real[static_cast<std::size_t>(T * (n + mm))]);
        zx = owned.get();
    } else if (options.workspace_bytes < need ||
               reinterpret_cast<std::uintptr_t>(zx) % alignof(Real) != 0) {
        detail::bad_arg(f, "workspace", "must hold " + std::to_string(need) +
                                            " bytes aligned for the working dtype");
    }
    Real* zy = same ? zx : zx + T * n;
    const int nt2 = std::min(detail::useful_threads(options.threads, T * (n + mm)),
                             static_cast<int>(std::min<std::int64_t>(T, 64)));
    detail::run_parallel(nt2, [&](int k) {
        const auto r = detail::split_range(T, nt2, k, 1);
        detail::standardize_block<false>(X, r.first, r.second, n, ldx, sx.mean.data(),
                                         sx.inv_norm.data(), detail::prescale_or_null(sx), zx,
                                         nullptr);
        if (!same)
            detail::standardize_block<false>(Y, r.first, r.second, m, ldy, sy.mean.data(),
                                             sy.inv_norm.data(), detail::prescale_or_null(sy),
                                             zy, nullptr);
    });
    correlation_cost_standardized<Real>(zx, T, n, zy, m, out, gemm);
    if (stats_x != nullptr) *stats_x = std::move(sx);
    if (stats_y != nullptr) *stats_y = std::move(sy);
}

}  // namespace hotalign
