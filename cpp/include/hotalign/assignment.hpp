// hotalign/assignment.hpp -- dense linear sum assignment (scipy.optimize.linear_sum_assignment
// semantics) by the Jonker-Volgenant shortest augmenting path method.
//
// Sources
//   [JV87] R. Jonker, A. Volgenant, "A shortest augmenting path algorithm for dense and sparse
//          linear assignment problems", Computing 38, 325-340 (1987). Initialisation by column
//          reduction, reduction transfer and augmenting row reduction (pp. 328-331, Fig. 2-4);
//          shortest augmenting path with the TODO/READY column sets and the lazy update of the
//          column potentials of the scanned (READY) columns only (pp. 331-333, Fig. 5).
//   [Cr16] D. F. Crouse, "On implementing 2D rectangular assignment algorithms", IEEE Trans.
//          Aerospace and Electronic Systems 52(4), 1679-1696 (2016). Rectangular problems
//          (Sec. II-III, pp. 1680-1684): with n < m the dual of the column constraints
//          sum_i x_ij <= 1 needs v_j <= 0 and v_j = 0 on unassigned columns; a shortest augmenting
//          path method started from v = 0 keeps this because it only ever lowers v of columns that
//          are (and stay) assigned (Sec. III-B, Algorithm 1 and the dual update p. 1683).
//
// Design (all code written for hotalign; no code copied from other implementations)
//   * The solver works on an n x m problem with n <= m, rows = the short side. For n > m the
//     transposed problem is solved on an internal transposed copy (the only case that copies);
//     maximize is handled by negating on load (a compile-time flag), so C is read in place and
//     float costs are converted to double in registers, never copied. Distances and potentials
//     are double.
//   * Initialisation (every shape): v = 0 and two passes of augmenting row reduction over all
//     rows [JV87 pp. 329-331, Fig. 3], then shortest augmenting paths for the rows still free.
//     On a tie (u1 == u2) with an assigned first column a row takes the first free column among
//     its minima, or waits for the path phase; each pass has a step budget and an efficiency
//     cut-off, so rounding can never make it cycle. Each row's first scan (a branch-free top-2
//     pass) also validates it. The column reduction + reduction transfer start of [JV87] is not
//     used: it reads C twice before any row settles, while starting augmenting row reduction
//     from v = 0 reads each row once and settles most rows on correlation costs (half the
//     instructions on real-network costs; see bench/README.md). For n < m the start also keeps
//     the sign conditions of the rectangular dual: augmenting row reduction and the path phase
//     only lower v of columns that are assigned afterwards, so the unassigned columns keep
//     v_j = 0 and every v_j <= 0 [Cr16].
//   * The row potentials are implicit (u_i = C_{i,x_i} - v_{x_i}) and materialised at the end.
//   * Shortest augmenting path (Dijkstra, [JV87 Fig. 5]): the reached (READY/SCAN) columns are
//     kept in a list with their potential and distance, and masked in place (v = -inf, d = +inf)
//     while the search runs, so relaxing a row is one contiguous, branch-free pass over the cost
//     row, v and d that also returns the next minimum. All columns at the current minimum
//     distance join SCAN at once (also during a relaxation) and the search stops at the first
//     free one; the potentials of the reached columns are updated lazily at the end.
//   * The hot loops have SSE2 versions (baseline x86-64) and AVX2 versions compiled through a
//     function target attribute and chosen at run time with __builtin_cpu_supports (no -m flags
//     needed; HOTALIGN_NO_AVX2 disables them). All versions do the same IEEE operations, so the
//     results do not depend on the CPU.
//
// Tie-breaking (deterministic): augmenting row reduction as above; in the path search the
// columns at the minimum distance are taken in ascending column order (those reached during a
// relaxation in ascending order within that row) and the first free one ends the search. A
// constant matrix gives row_ind == col_ind == arange(k), like scipy (pinned by
// tests/test_assignment.cpp).
//
// Forbidden entries: +inf (minimize) or -inf (maximize) entries are never assigned. If no complete
// matching over the allowed entries exists, status == Status::infeasible, row_ind / col_ind / u /
// v are empty and cost is NaN. NaN, or the infinity of the wrong sign, throws
// std::invalid_argument naming "C".
//
// Duals: for minimize, u_i + v_j <= C_ij for every finite entry, equality on assigned pairs,
// potentials of the unassigned rows (n > m) or columns (n < m) are 0, and cost == sum(u) + sum(v).
// For maximize the duals are reported in the original sense (the negated duals of the minimisation
// of -C): u_i + v_j >= C_ij, equality on assigned pairs, unassigned potentials are 0 (so >= 0 is
// the sign condition), cost == sum(u) + sum(v).
//
// n_iter counts the shortest augmenting path searches (the rows not settled by initialisation).
// Thread safety: no global or static mutable state; all work arrays are local to the call.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
// Run-time selected AVX2 kernels (GCC / Clang on x86-64; define HOTALIGN_NO_AVX2 to disable).
#if !defined(HOTALIGN_NO_AVX2) && defined(__SSE2__) && (defined(__x86_64__) || defined(_M_X64)) && \
    (defined(__GNUC__) || defined(__clang__))
#define HOTALIGN_LSAP_AVX2 1
#include <immintrin.h>
#endif

#include "hotalign/status.hpp"

namespace hotalign {

namespace detail_lsap {

using idx_t = std::int32_t;
constexpr double kInf = std::numeric_limits<double>::infinity();

template <bool Neg, class Real>
inline double load(Real x) noexcept {
    return Neg ? -static_cast<double>(x) : static_cast<double>(x);
}

// Neumaier-compensated sum.
struct Summer {
    double s = 0.0, c = 0.0;
    void add(double x) noexcept {
        const double t = s + x;
        if (std::fabs(s) >= std::fabs(x)) c += (s - t) + x;
        else c += (x - t) + s;
        s = t;
    }
    double value() const noexcept { return s + c; }
};

// What the validation accepts: every (sign-adjusted) entry x must satisfy -inf < x <= hi, so
// NaN and -inf are always rejected; hi = +inf lets +inf through (a forbidden entry), hi = DBL_MAX
// rejects it too (transport costs must be finite). `name` is the argument named in the error.
//
// With a finite `big` (transport), entries with |x| > big (finite but so large that sums could
// overflow) fail the same fused check; a rescan then tells them from NaN / infinity, and
// CostTooLarge is thrown for the caller to route the problem to a solver that scales.
struct Checks {
    double lo = -kInf;  // entries must satisfy lo < x <= hi
    double hi = kInf;
    const char* name = nullptr;  // nullptr: the linear_sum_assignment message naming C
    double big = kInf;
    const void* data = nullptr;  // the whole matrix, for the rescan (with count and f32)
    std::int64_t count = 0;
    bool f32 = false;
};

/// Thrown by the assignment solver when a transport cost exceeds Checks::big.
struct CostTooLarge {};

template <class Real>
bool all_finite(const Real* x, std::int64_t count) noexcept {
    bool ok = true;
    for (std::int64_t k = 0; k < count; ++k) ok &= std::isfinite(x[k]);
    return ok;
}

[[noreturn]] inline void bad_value(const Checks& ck) {
    if (ck.big < kInf && ck.data != nullptr &&
        (ck.f32 ? all_finite(static_cast<const float*>(ck.data), ck.count)
                : all_finite(static_cast<const double*>(ck.data), ck.count)))
        throw CostTooLarge{};
    if (ck.name != nullptr)
        throw std::invalid_argument(std::string(ck.name) + " contains NaN or infinity");
    throw std::invalid_argument(
        "C: cost matrix contains NaN or an infinity of the wrong sign (only +inf for minimize, "
        "-inf for maximize mark forbidden entries)");
}

inline bool valid_entry(double x, double lo, double hi) noexcept { return x > lo && x <= hi; }

// Checks every (sign-adjusted) entry against ck (see Checks).
template <bool Neg, class Real>
void validate(const Real* C, std::int64_t count, const Checks& ck) {
    const double lo = ck.lo, hi = ck.hi;
    int bad = 0;
    std::int64_t k = 0;
    for (; k + 4 <= count; k += 4) {
        bad |= !valid_entry(load<Neg>(C[k]), lo, hi);
        bad |= !valid_entry(load<Neg>(C[k + 1]), lo, hi);
        bad |= !valid_entry(load<Neg>(C[k + 2]), lo, hi);
        bad |= !valid_entry(load<Neg>(C[k + 3]), lo, hi);
    }
    for (; k < count; ++k) bad |= !valid_entry(load<Neg>(C[k]), lo, hi);
    if (bad) bad_value(ck);
}

#if defined(__SSE2__)
// Loads 4 consecutive costs as two pairs of doubles.
inline void load4(const double* p, __m128d& c0, __m128d& c1) noexcept {
    c0 = _mm_loadu_pd(p);
    c1 = _mm_loadu_pd(p + 2);
}
inline void load4(const float* p, __m128d& c0, __m128d& c1) noexcept {
    const __m128 f = _mm_loadu_ps(p);
    c0 = _mm_cvtps_pd(f);
    c1 = _mm_cvtps_pd(_mm_movehl_ps(f, f));
}
#endif

// One Dijkstra relaxation step over a full cost row i:
//   d[j] = min(d[j], base + (C[i, j] - vv[j])) and pred[j] = i where it decreased,
// for every column j. READY/SCAN columns carry vv[j] = -inf and d[j] = +inf, so they are never
// updated and never win the minimum: the loop stays contiguous and branch-free (the pred store
// only where some lane decreased). Returns the minimum distance over the remaining TODO columns.
template <class Real, bool Neg>
inline double relax_row(const Real* r, const double* vv, double* d, idx_t* pred, idx_t m,
                        double base, idx_t i) {
    idx_t j = 0;
    double best = kInf;
#if defined(__SSE2__)
    const __m128d vb = _mm_set1_pd(base);
    const __m128d sgn = _mm_set1_pd(-0.0);
    const __m128i vi = _mm_set1_epi32(i);
    __m128d mn0 = _mm_set1_pd(kInf), mn1 = mn0;
    for (; j + 4 <= m; j += 4) {
        __m128d c0, c1;
        load4(r + j, c0, c1);
        if (Neg) {
            c0 = _mm_xor_pd(c0, sgn);
            c1 = _mm_xor_pd(c1, sgn);
        }
        const __m128d h0 = _mm_add_pd(vb, _mm_sub_pd(c0, _mm_loadu_pd(vv + j)));
        const __m128d h1 = _mm_add_pd(vb, _mm_sub_pd(c1, _mm_loadu_pd(vv + j + 2)));
        const __m128d d0 = _mm_loadu_pd(d + j), d1 = _mm_loadu_pd(d + j + 2);
        const __m128d lt0 = _mm_cmplt_pd(h0, d0), lt1 = _mm_cmplt_pd(h1, d1);
        const __m128d n0 = _mm_min_pd(h0, d0), n1 = _mm_min_pd(h1, d1);
        _mm_storeu_pd(d + j, n0);
        _mm_storeu_pd(d + j + 2, n1);
        const __m128 lt = _mm_shuffle_ps(_mm_castpd_ps(lt0), _mm_castpd_ps(lt1), _MM_SHUFFLE(2, 0, 2, 0));
        if (_mm_movemask_ps(lt)) {
            const __m128i k = _mm_castps_si128(lt);
            __m128i* pp = reinterpret_cast<__m128i*>(pred + j);
            _mm_storeu_si128(pp, _mm_or_si128(_mm_and_si128(k, vi), _mm_andnot_si128(k, _mm_loadu_si128(pp))));
        }
        mn0 = _mm_min_pd(mn0, n0);
        mn1 = _mm_min_pd(mn1, n1);
    }
    mn0 = _mm_min_pd(mn0, mn1);
    mn0 = _mm_min_pd(mn0, _mm_unpackhi_pd(mn0, mn0));
    best = _mm_cvtsd_f64(mn0);
#endif
    for (; j < m; ++j) {
        const double h = base + (load<Neg>(r[j]) - vv[j]);
        if (h < d[j]) {
            d[j] = h;
            pred[j] = i;
        }
        best = d[j] < best ? d[j] : best;
    }
    return best;
}

// First j with d[j] == x (x is the minimum of d, so one exists); an early-exit pass over the
// cache-hot d.
inline idx_t first_at(const double* d, idx_t m, double x) {
    idx_t j = 0;
#if defined(__SSE2__)
    const __m128d vx = _mm_set1_pd(x);
    for (; j + 4 <= m; j += 4) {
        const int eq = _mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(d + j), vx)) |
                       (_mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(d + j + 2), vx)) << 2);
        if (eq) return j + __builtin_ctz(static_cast<unsigned>(eq));
    }
#endif
    for (; j < m; ++j)
        if (d[j] == x) return j;
    return -1;
}

#if defined(HOTALIGN_LSAP_AVX2)
// AVX2 version of relax_row (same arithmetic, so the same results bit for bit); compiled with a
// function-level target attribute and selected at run time, so no -m flags are needed.
template <class Real, bool Neg>
__attribute__((target("avx2"))) double relax_row_avx2(const Real* r, const double* vv, double* d,
                                                      idx_t* pred, idx_t m, double base, idx_t i) {
    idx_t j = 0;
    const __m256d vb = _mm256_set1_pd(base);
    const __m256d sgn = _mm256_set1_pd(-0.0);
    const __m256i vi = _mm256_set1_epi32(i);
    __m256d mn0 = _mm256_set1_pd(kInf), mn1 = mn0;
    for (; j + 8 <= m; j += 8) {
        __m256d c0, c1;
        if constexpr (std::is_same<Real, double>::value) {
            c0 = _mm256_loadu_pd(reinterpret_cast<const double*>(r) + j);
            c1 = _mm256_loadu_pd(reinterpret_cast<const double*>(r) + j + 4);
        } else {
            c0 = _mm256_cvtps_pd(_mm_loadu_ps(reinterpret_cast<const float*>(r) + j));
            c1 = _mm256_cvtps_pd(_mm_loadu_ps(reinterpret_cast<const float*>(r) + j + 4));
        }
        if (Neg) {
            c0 = _mm256_xor_pd(c0, sgn);
            c1 = _mm256_xor_pd(c1, sgn);
        }
        const __m256d h0 = _mm256_add_pd(vb, _mm256_sub_pd(c0, _mm256_loadu_pd(vv + j)));
        const __m256d h1 = _mm256_add_pd(vb, _mm256_sub_pd(c1, _mm256_loadu_pd(vv + j + 4)));
        const __m256d d0 = _mm256_loadu_pd(d + j), d1 = _mm256_loadu_pd(d + j + 4);
        const __m256d lt0 = _mm256_cmp_pd(h0, d0, _CMP_LT_OQ), lt1 = _mm256_cmp_pd(h1, d1, _CMP_LT_OQ);
        const __m256d n0 = _mm256_min_pd(h0, d0), n1 = _mm256_min_pd(h1, d1);
        _mm256_storeu_pd(d + j, n0);
        _mm256_storeu_pd(d + j + 4, n1);
        if (_mm256_movemask_pd(_mm256_or_pd(lt0, lt1))) {
            const __m256 sh = _mm256_shuffle_ps(_mm256_castpd_ps(lt0), _mm256_castpd_ps(lt1),
                                                _MM_SHUFFLE(2, 0, 2, 0));
            const __m256i k = _mm256_permute4x64_epi64(_mm256_castps_si256(sh), _MM_SHUFFLE(3, 1, 2, 0));
            __m256i* pp = reinterpret_cast<__m256i*>(pred + j);
            _mm256_storeu_si256(pp, _mm256_blendv_epi8(_mm256_loadu_si256(pp), vi, k));
        }
        mn0 = _mm256_min_pd(mn0, n0);
        mn1 = _mm256_min_pd(mn1, n1);
    }
    mn0 = _mm256_min_pd(mn0, mn1);
    __m128d q = _mm_min_pd(_mm256_castpd256_pd128(mn0), _mm256_extractf128_pd(mn0, 1));
    q = _mm_min_pd(q, _mm_unpackhi_pd(q, q));
    double best = _mm_cvtsd_f64(q);
    for (; j < m; ++j) {
        const double h = base + (load<Neg>(r[j]) - vv[j]);
        if (h < d[j]) {
            d[j] = h;
            pred[j] = i;
        }
        best = d[j] < best ? d[j] : best;
    }
    return best;
}

template <bool Neg>
__attribute__((target("avx2"))) inline void load8_avx2(const double* p, __m256d& c0, __m256d& c1) {
    c0 = _mm256_loadu_pd(p);
    c1 = _mm256_loadu_pd(p + 4);
    if (Neg) {
        c0 = _mm256_xor_pd(c0, _mm256_set1_pd(-0.0));
        c1 = _mm256_xor_pd(c1, _mm256_set1_pd(-0.0));
    }
}
template <bool Neg>
__attribute__((target("avx2"))) inline void load8_avx2(const float* p, __m256d& c0, __m256d& c1) {
    c0 = _mm256_cvtps_pd(_mm_loadu_ps(p));
    c1 = _mm256_cvtps_pd(_mm_loadu_ps(p + 4));
    if (Neg) {
        c0 = _mm256_xor_pd(c0, _mm256_set1_pd(-0.0));
        c1 = _mm256_xor_pd(c1, _mm256_set1_pd(-0.0));
    }
}

// First index >= j (in steps of 8) where some C[k] - v[k] < bound, or the end of the 8-blocks.
// With Check, every entry loaded is also validated (-inf < C <= hi); a bad one clears `ok`.
template <class Real, bool Neg, bool Check>
__attribute__((target("avx2"))) idx_t skip_above_avx2(const Real* r, const double* v, idx_t j,
                                                      idx_t m, double bound, double hi, int& bad) {
    const __m256d vb = _mm256_set1_pd(bound);
    const __m256d ninf = _mm256_set1_pd(-kInf), vhi = _mm256_set1_pd(hi);
    for (; j + 8 <= m; j += 8) {
        __m256d c0, c1;
        load8_avx2<Neg>(r + j, c0, c1);
        if (Check) {
            const __m256d ok = _mm256_and_pd(
                _mm256_and_pd(_mm256_cmp_pd(c0, ninf, _CMP_GT_OQ), _mm256_cmp_pd(c0, vhi, _CMP_LE_OQ)),
                _mm256_and_pd(_mm256_cmp_pd(c1, ninf, _CMP_GT_OQ), _mm256_cmp_pd(c1, vhi, _CMP_LE_OQ)));
            bad |= _mm256_movemask_pd(ok) != 15;
        }
        const __m256d h = _mm256_min_pd(_mm256_sub_pd(c0, _mm256_loadu_pd(v + j)),
                                        _mm256_sub_pd(c1, _mm256_loadu_pd(v + j + 4)));
        if (_mm256_movemask_pd(_mm256_cmp_pd(h, vb, _CMP_LT_OQ))) return j;
    }
    return j;
}

// The smallest and second smallest C[k] - v[k] over the 8-blocks of a row, and the first index of
// the smallest: (u1, j1, u2) are the first two entries of the row in (value, index) order, as a
// sequential scan gives them. The pass is branch-free and keeps no indices: every lane keeps its
// two smallest values (a2 = min(a2, max(a1, h)), a1 = min(a1, h)); the lanes are merged at the
// end and j1 is found by a second, early-exit pass over the (now cache-hot) part of the row that
// holds it. With Check, every entry is also validated (-inf < C <= hi) at one add per vector: a
// running sum of the entries is NaN or -inf only if some entry is NaN or -inf, or the sum
// overflowed (then the exact check reruns on the row, cache-hot); with finite bounds (transport
// costs) a running maximum and minimum are checked against hi and lo too. Returns where the scalar tail continues.
template <class Real, bool Neg, bool Check>
__attribute__((target("avx2"))) idx_t top2_avx2(const Real* r, const double* v, idx_t m,
                                                double lo, double hi, int& bad, double& u1,
                                                idx_t& j1, double& u2) {
    const __m256d inf = _mm256_set1_pd(kInf);
    __m256d a1 = inf, a2 = inf, b1 = inf, b2 = inf;  // lane minima (a: j..j+3, b: j+4..j+7)
    __m256d sm = _mm256_setzero_pd(), mx = _mm256_set1_pd(-kInf), mn = _mm256_set1_pd(kInf);
    const bool bounded = Check && (hi < kInf || lo > -kInf);  // transport costs: finite bounds
    idx_t j = 0;
    for (; j + 8 <= m; j += 8) {
        __m256d c0, c1;
        load8_avx2<Neg>(r + j, c0, c1);
        if (Check) {
            sm = _mm256_add_pd(sm, _mm256_add_pd(c0, c1));
            if (bounded) {
                mx = _mm256_max_pd(mx, _mm256_max_pd(c0, c1));
                mn = _mm256_min_pd(mn, _mm256_min_pd(c0, c1));
            }
        }
        const __m256d h0 = _mm256_sub_pd(c0, _mm256_loadu_pd(v + j));
        const __m256d h1 = _mm256_sub_pd(c1, _mm256_loadu_pd(v + j + 4));
        a2 = _mm256_min_pd(a2, _mm256_max_pd(a1, h0));
        b2 = _mm256_min_pd(b2, _mm256_max_pd(b1, h1));
        a1 = _mm256_min_pd(a1, h0);
        b1 = _mm256_min_pd(b1, h1);
    }
    if (Check) {
        alignas(32) double t[4];
        _mm256_store_pd(t, sm);
        const double total = (t[0] + t[1]) + (t[2] + t[3]);
        __m128d q = _mm_max_pd(_mm256_castpd256_pd128(mx), _mm256_extractf128_pd(mx, 1));
        q = _mm_max_pd(q, _mm_unpackhi_pd(q, q));
        __m128d p = _mm_min_pd(_mm256_castpd256_pd128(mn), _mm256_extractf128_pd(mn, 1));
        p = _mm_min_pd(p, _mm_unpackhi_pd(p, p));
        if (!(total > -kInf) || (bounded && !(_mm_cvtsd_f64(q) <= hi && _mm_cvtsd_f64(p) > lo))) {
            int b = 0;  // rare: NaN, -inf, an overflowed sum or an entry above hi; check exactly
            for (idx_t k = 0; k < j; ++k) b |= !valid_entry(load<Neg>(r[k]), lo, hi);
            bad |= b;
        }
    }
    alignas(32) double m1[8], m2[8];
    _mm256_store_pd(m1, a1);
    _mm256_store_pd(m1 + 4, b1);
    _mm256_store_pd(m2, a2);
    _mm256_store_pd(m2 + 4, b2);
    int best = 0;
    for (int l = 1; l < 8; ++l) best = m1[l] < m1[best] ? l : best;
    u1 = m1[best];
    u2 = m2[best];
    for (int l = 0; l < 8; ++l) u2 = (l != best && m1[l] < u2) ? m1[l] : u2;
    j1 = -1;
    if (!(u1 < kInf)) {  // nothing below +inf in the 8-blocks
        u1 = u2 = kInf;
        return j;
    }
    const __m256d vu = _mm256_set1_pd(u1);
    for (idx_t k = 0; k < j; k += 8) {
        __m256d c0, c1;
        load8_avx2<Neg>(r + k, c0, c1);
        const int eq = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_sub_pd(c0, _mm256_loadu_pd(v + k)), vu, _CMP_EQ_OQ)) |
                       (_mm256_movemask_pd(_mm256_cmp_pd(_mm256_sub_pd(c1, _mm256_loadu_pd(v + k + 4)), vu, _CMP_EQ_OQ)) << 4);
        if (eq) {
            j1 = k + __builtin_ctz(static_cast<unsigned>(eq));
            break;
        }
    }
    return j;
}

// First column j (from 0) with row4col[j] < 0 and C[j] - v[j] == level, over the 8-blocks;
// returns -1 if none there, and the end of the 8-blocks in `end`.
template <class Real, bool Neg>
__attribute__((target("avx2"))) idx_t first_free_at_avx2(const Real* r, const double* v,
                                                         const idx_t* r4c, idx_t m, double level,
                                                         idx_t& end) {
    const __m256d vl = _mm256_set1_pd(level);
    idx_t j = 0;
    for (; j + 8 <= m; j += 8) {
        __m256d c0, c1;
        load8_avx2<Neg>(r + j, c0, c1);
        const int eq = _mm256_movemask_pd(_mm256_cmp_pd(_mm256_sub_pd(c0, _mm256_loadu_pd(v + j)), vl, _CMP_EQ_OQ)) |
                       (_mm256_movemask_pd(_mm256_cmp_pd(_mm256_sub_pd(c1, _mm256_loadu_pd(v + j + 4)), vl, _CMP_EQ_OQ)) << 4);
        const __m256i rc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r4c + j));
        const int fr = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_setzero_si256(), rc)));
        const int hit = eq & fr;  // free columns at the level, bit l = column j + l
        if (hit) return j + __builtin_ctz(static_cast<unsigned>(hit));
    }
    end = j;
    return -1;
}

// AVX2 version of first_at, 16 columns per step.
__attribute__((target("avx2"))) inline idx_t first_at_avx2(const double* d, idx_t m, double x) {
    const __m256d vx = _mm256_set1_pd(x);
    idx_t j = 0;
    for (; j + 16 <= m; j += 16) {
        const __m256d e0 = _mm256_cmp_pd(_mm256_loadu_pd(d + j), vx, _CMP_EQ_OQ);
        const __m256d e1 = _mm256_cmp_pd(_mm256_loadu_pd(d + j + 4), vx, _CMP_EQ_OQ);
        const __m256d e2 = _mm256_cmp_pd(_mm256_loadu_pd(d + j + 8), vx, _CMP_EQ_OQ);
        const __m256d e3 = _mm256_cmp_pd(_mm256_loadu_pd(d + j + 12), vx, _CMP_EQ_OQ);
        if (_mm256_movemask_pd(_mm256_or_pd(_mm256_or_pd(e0, e1), _mm256_or_pd(e2, e3)))) {
            const unsigned eq = unsigned(_mm256_movemask_pd(e0)) | (unsigned(_mm256_movemask_pd(e1)) << 4) |
                                (unsigned(_mm256_movemask_pd(e2)) << 8) | (unsigned(_mm256_movemask_pd(e3)) << 12);
            return j + __builtin_ctz(eq);
        }
    }
    const idx_t k = first_at(d + j, m - j, x);
    return k < 0 ? -1 : j + k;
}

// (The CPU model is initialised by a libgcc / compiler-rt constructor; this only reads it.)
inline bool cpu_has_avx2() noexcept { return __builtin_cpu_supports("avx2"); }
#endif

// Solver state for an n x m problem (n <= m), row-major costs with leading dimension m.
template <class Real, bool Neg>
class Solver {
public:
    Solver(const Real* C, idx_t n, idx_t m, const Checks& ck)
        : C_(C), n_(n), m_(m), ck_(ck), v_(static_cast<std::size_t>(m), 0.0),
          col4row_(static_cast<std::size_t>(n), -1), row4col_(static_cast<std::size_t>(m), -1) {}

    // Returns false if infeasible; throws std::invalid_argument on NaN / wrong infinity.
    bool run(std::int64_t& n_iter) {
        std::vector<idx_t> free_rows;
        free_rows.reserve(static_cast<std::size_t>(n_));
        // every problem starts from v = 0; rows are validated lazily by their first (cache-hot)
        // scan in augmenting row reduction
        for (idx_t i = 0; i < n_; ++i) free_rows.push_back(i);
        bool ok = true;
        for (int pass = 0; ok && pass < 2 && !free_rows.empty(); ++pass)
            ok = augmenting_row_reduction(free_rows);
        validate_rows_below(n_);  // NaN must throw even if the problem is infeasible
        return ok && shortest_paths(free_rows, n_iter);
    }

    const std::vector<idx_t>& col4row() const { return col4row_; }
    const std::vector<double>& v() const { return v_; }

private:
    const Real* row(idx_t i) const { return C_ + static_cast<std::int64_t>(i) * m_; }

    void validate_rows_below(idx_t end) {
        for (; validated_ < end; ++validated_) validate<Neg>(row(validated_), m_, ck_);
    }

    // The two smallest reduced costs C[i, j] - v[j] of a row in (value, index) order: u1 at
    // j1, u2 at j2 (j2 may be -1 on a first visit). With check (a row's first visit), the row
    // is validated in the same pass (throws on a bad entry).
    void two_smallest(const Real* r, double& u1, idx_t& j1, double& u2, idx_t& j2,
                      bool check) const {
        const double* v = v_.data();
        const idx_t m = m_;
        auto upd = [&](idx_t j) {
            const double h = load<Neg>(r[j]) - v[j];
            if (h < u2) {
                if (h >= u1) {
                    u2 = h;
                    j2 = j;
                } else {
                    u2 = u1;
                    j2 = j1;
                    u1 = h;
                    j1 = j;
                }
            }
        };
        idx_t j = 0;
#if defined(HOTALIGN_LSAP_AVX2)
        if (avx2_) {
            int bad = 0;
            if (check) {
                // first visit of a row (rectangular problems), usually not in cache: one
                // branch-free pass that also validates; j2 is not tracked by the lanes
                j = top2_avx2<Real, Neg, true>(r, v, m, ck_.lo, ck_.hi, bad, u1, j1, u2);
                j2 = -1;
            } else {
                // revisits (rows in cache, often tie-heavy): skip the blocks above u2
                for (;;) {
                    j = skip_above_avx2<Real, Neg, false>(r, v, j, m, u2, ck_.hi, bad);
                    if (j + 8 > m) break;
                    for (int l = 0; l < 8; ++l) upd(j + l);
                    j += 8;
                }
            }
            if (bad) bad_value(ck_);
            if (check) validate<Neg>(r + j, m - j, ck_);  // the tail of the 8-blocks
            check = false;
        }
#endif
        if (check) validate<Neg>(r, m, ck_);
#if defined(__SSE2__)
        const __m128d sgn = _mm_set1_pd(-0.0);
        for (; j + 4 <= m; j += 4) {
            __m128d c0, c1;
            load4(r + j, c0, c1);
            if (Neg) {
                c0 = _mm_xor_pd(c0, sgn);
                c1 = _mm_xor_pd(c1, sgn);
            }
            const __m128d h = _mm_min_pd(_mm_sub_pd(c0, _mm_loadu_pd(v + j)),
                                         _mm_sub_pd(c1, _mm_loadu_pd(v + j + 2)));
            if (_mm_movemask_pd(_mm_cmplt_pd(h, _mm_set1_pd(u2)))) {
                upd(j);
                upd(j + 1);
                upd(j + 2);
                upd(j + 3);
            }
        }
#endif
        for (; j < m; ++j) upd(j);
    }

    // First free column j with C[i, j] - v[j] == level (or -1).
    idx_t first_free_at(const Real* r, double level) const {
        const double* v = v_.data();
        idx_t j = 0;
#if defined(HOTALIGN_LSAP_AVX2)
        if (avx2_) {
            const idx_t f = first_free_at_avx2<Real, Neg>(r, v, row4col_.data(), m_, level, j);
            if (f >= 0) return f;
        }
#endif
        for (; j < m_; ++j)
            if (row4col_[j] < 0 && load<Neg>(r[j]) - v[j] == level) return j;
        return -1;
    }

    // One pass of augmenting row reduction over free_rows (replaced by the rows still
    // free). Returns false if a row has no allowed entry.
    bool augmenting_row_reduction(std::vector<idx_t>& free_rows) {
        std::vector<idx_t> todo(free_rows);
        free_rows.clear();
        std::size_t k = 0;
        // Efficiency cut-off: augmenting row reduction settles rows cheaply at first but can
        // ping-pong for long when few rows settle (and, with rounding, forever). A pass stops
        // after 4n row scans, or once a chunk of scans settles fewer than chunk / 256 rows; the
        // shortest path phase finishes the job. (Tuned on the benchmark regimes; the totals are
        // flat over ratios 64..inf and budgets 2n..8n.)
        constexpr std::int64_t kArrRatio = 256, kArrBudget = 4;
        const std::int64_t chunk = std::max<std::int64_t>(256, n_ / 8);
        std::int64_t budget = kArrBudget * static_cast<std::int64_t>(n_) + 16, in_chunk = 0;
        std::size_t free_at_chunk = todo.size();
        double* v = v_.data();
        while (k < todo.size()) {
            if (++in_chunk == chunk) {
                const std::size_t now = todo.size() - k + free_rows.size();
                const std::int64_t settled = static_cast<std::int64_t>(free_at_chunk) -
                                             static_cast<std::int64_t>(now);
                const bool slow = settled * kArrRatio < chunk;
                free_at_chunk = now;
                in_chunk = 0;
                if (slow) budget = 0;
            }
            if (--budget < 0) {
                for (; k < todo.size(); ++k) free_rows.push_back(todo[k]);
                break;
            }
            const idx_t i = todo[k++];
            const Real* r = row(i);
            // a row seen for the first time is validated by its own scan (rows come in order)
            validate_rows_below(i);
            const bool first_visit = validated_ == i;
            if (first_visit) ++validated_;
            double u1 = kInf, u2 = kInf;
            idx_t j1 = -1, j2 = -1;
            two_smallest(r, u1, j1, u2, j2, first_visit);
            if (j1 < 0) return false;  // row with no allowed entry
            idx_t i0 = row4col_[j1];
            bool strict = u1 < u2;
            if (strict && u2 < kInf) {
                const double nv = v[j1] - (u2 - u1);
                if (nv < v[j1]) v[j1] = nv;
                else strict = false;
            }
            bool reprocess = strict && u2 < kInf;
            if (!strict && i0 >= 0) {
                // tie: take the first free column among the row's minima, otherwise defer the row
                // (j1 is the first minimum and is taken, so that is j2 when j2 is free)
                idx_t jf = -1;
                if (j2 >= 0 && row4col_[j2] < 0 && u2 == u1) jf = j2;
                if (jf < 0 && u2 == u1) jf = first_free_at(r, u1);
                if (jf < 0) {
                    free_rows.push_back(i);
                    continue;
                }
                j1 = jf;
                i0 = -1;
            }
            row4col_[j1] = i;
            col4row_[i] = j1;
            if (i0 >= 0) {
                col4row_[i0] = -1;
                if (reprocess) todo[--k] = i0;
                else free_rows.push_back(i0);
            }
        }
        return true;
    }

    idx_t first_at_min(const double* d, idx_t m, double x) const {
#if defined(HOTALIGN_LSAP_AVX2)
        if (avx2_) return first_at_avx2(d, m, x);
#endif
        return first_at(d, m, x);
    }

    // Dijkstra shortest augmenting paths [JV87 Fig. 5], one contiguous pass per scanned row.
    // The reached (READY/SCAN) columns are listed in rj with their potential rv and distance rd;
    // while the search runs they are masked in place (v = -inf, d = +inf), see relax_row. Every
    // relaxation is a full pass, so it returns the minimum over all TODO columns; the first
    // column at that minimum (ascending column order) is scanned next, one column per step, and
    // the search ends at the first free one.
    bool shortest_paths(const std::vector<idx_t>& free_rows, std::int64_t& n_iter) {
        const idx_t m = m_;
        std::vector<double> dvec(static_cast<std::size_t>(m));
        std::vector<idx_t> pvec(static_cast<std::size_t>(m));
        std::vector<idx_t> rj;
        std::vector<double> rv, rd;
        rj.reserve(static_cast<std::size_t>(m));
        rv.reserve(static_cast<std::size_t>(m));
        rd.reserve(static_cast<std::size_t>(m));
        double* v = v_.data();
        double* d = dvec.data();
        idx_t* pred = pvec.data();
        const idx_t* r4c = row4col_.data();
#if defined(HOTALIGN_LSAP_AVX2)
        const bool avx2 = avx2_;
#endif
        auto relax = [&](idx_t i, double base) {
#if defined(HOTALIGN_LSAP_AVX2)
            if (avx2) return relax_row_avx2<Real, Neg>(row(i), v, d, pred, m, base, i);
#endif
            return relax_row<Real, Neg>(row(i), v, d, pred, m, base, i);
        };
        for (const idx_t f : free_rows) {
            ++n_iter;
            std::fill(dvec.begin(), dvec.end(), kInf);
            rj.clear();
            rv.clear();
            rd.clear();
            double mind = relax(f, 0.0);
            for (;;) {
                if (!(mind < kInf)) {
                    for (std::size_t k = 0; k < rj.size(); ++k) v[rj[k]] = rv[k];
                    return false;  // no augmenting path: infeasible
                }
                const idx_t j = first_at_min(d, m, mind);
                rj.push_back(j);
                rv.push_back(v[j]);
                rd.push_back(mind);
                d[j] = kInf;
                v[j] = -kInf;
                const idx_t i = r4c[j];
                if (i < 0) break;  // a free column: the sink
                mind = relax(i, mind - (load<Neg>(row(i)[j]) - rv.back()));
            }
            // the sink is rj.back(); lazy dual update of the reached columns (restores the marks)
            const idx_t sink = rj.back();
            for (std::size_t k = 0; k < rj.size(); ++k) v[rj[k]] = rv[k] + (rd[k] - mind);
            // augment
            idx_t j = sink;
            for (;;) {
                const idx_t i = pred[j];
                row4col_[j] = i;
                const idx_t nj = col4row_[i];
                col4row_[i] = j;
                if (i == f) break;
                j = nj;
            }
        }
        return true;
    }

    const Real* C_;
    idx_t n_, m_;
    Checks ck_;
    idx_t validated_ = 0;  // rows [0, validated_) of C are known to be free of NaN / -inf
#if defined(HOTALIGN_LSAP_AVX2)
    bool avx2_ = cpu_has_avx2();
#endif
    std::vector<double> v_;
    std::vector<idx_t> col4row_, row4col_;
};

// Solve rows-short problem (nr <= nc) and fill the result in the original orientation.
template <class Real, bool Neg>
AssignmentResult solve_oriented(const Real* Cr, idx_t nr, idx_t nc, bool transposed,
                                const Real* Corig, std::int64_t n, std::int64_t m,
                                const Checks& ck) {
    AssignmentResult res;
    Solver<Real, Neg> s(Cr, nr, nc, ck);
    std::int64_t it = 0;
    const bool ok = s.run(it);
    res.n_iter = it;
    if (!ok) {
        res.status = Status::infeasible;
        res.cost = std::numeric_limits<double>::quiet_NaN();
        return res;
    }
    const auto& x = s.col4row();
    const auto& vv = s.v();
    std::vector<double> ur(static_cast<std::size_t>(nr));
    for (idx_t i = 0; i < nr; ++i)
        ur[i] = load<Neg>(Cr[static_cast<std::int64_t>(i) * nc + x[i]]) - vv[x[i]];
    const double sg = Neg ? -1.0 : 1.0;
    res.row_ind.resize(static_cast<std::size_t>(nr));
    res.col_ind.resize(static_cast<std::size_t>(nr));
    res.u.assign(static_cast<std::size_t>(n), 0.0);
    res.v.assign(static_cast<std::size_t>(m), 0.0);
    if (!transposed) {
        for (idx_t i = 0; i < nr; ++i) {
            res.row_ind[i] = i;
            res.col_ind[i] = x[i];
            res.u[i] = sg * ur[i] + 0.0;
        }
        for (idx_t j = 0; j < nc; ++j) res.v[j] = sg * vv[j] + 0.0;
    } else {
        // rows of the solved problem are the original columns
        std::vector<idx_t> r4c(static_cast<std::size_t>(nc), -1);
        for (idx_t i = 0; i < nr; ++i) r4c[x[i]] = i;
        std::size_t k = 0;
        for (idx_t j = 0; j < nc; ++j) {
            if (r4c[j] < 0) continue;
            res.row_ind[k] = j;
            res.col_ind[k] = r4c[j];
            ++k;
        }
        for (idx_t i = 0; i < nr; ++i) res.v[i] = sg * ur[i] + 0.0;
        for (idx_t j = 0; j < nc; ++j) res.u[j] = sg * vv[j] + 0.0;
    }
    Summer sum;
    for (std::size_t k = 0; k < res.row_ind.size(); ++k)
        sum.add(static_cast<double>(Corig[res.row_ind[k] * m + res.col_ind[k]]));
    res.cost = sum.value();
    return res;
}

template <class Real, bool Neg>
AssignmentResult dispatch(const Real* C, std::int64_t n, std::int64_t m, const Checks& ck) {
    if (n <= m) return solve_oriented<Real, Neg>(C, static_cast<idx_t>(n), static_cast<idx_t>(m),
                                                 false, C, n, m, ck);
    std::vector<Real> T(static_cast<std::size_t>(n * m));
    constexpr std::int64_t B = 32;
    for (std::int64_t i0 = 0; i0 < n; i0 += B)
        for (std::int64_t j0 = 0; j0 < m; j0 += B) {
            const std::int64_t i1 = std::min(n, i0 + B), j1 = std::min(m, j0 + B);
            for (std::int64_t i = i0; i < i1; ++i)
                for (std::int64_t j = j0; j < j1; ++j) T[j * n + i] = C[i * m + j];
        }
    return solve_oriented<Real, Neg>(T.data(), static_cast<idx_t>(m), static_cast<idx_t>(n), true,
                                     C, n, m, ck);
}

}  // namespace detail_lsap

/// Solves min (or max) sum_k C[row_ind[k], col_ind[k]] over assignments of min(n, m) rows to
/// distinct columns; C is a row-major, C-contiguous n x m matrix of float or double.
/// See the header comment for the semantics of infinities, ties, duals and status.
///
/// finite_name: if not null, every entry of C must be finite (+inf is not a forbidden entry but
/// an error); a NaN or infinity throws std::invalid_argument("<finite_name> contains NaN or
/// infinity"). This check rides on the solver's own first pass over each row (its first scan in
/// augmenting row reduction), so the cost matrix is not read an extra time (solve_transport
/// uses it).
/// big (with finite_name): an entry with |x| > big throws detail_lsap::CostTooLarge instead
/// (solve_transport then routes the problem to the network simplex, which scales huge costs).
template <class Real>
AssignmentResult linear_sum_assignment(const Real* C, std::int64_t n, std::int64_t m,
                                       bool maximize = false, const char* finite_name = nullptr,
                                       double big = std::numeric_limits<double>::infinity()) {
    static_assert(std::is_same<Real, float>::value || std::is_same<Real, double>::value,
                  "linear_sum_assignment: Real must be float or double");
    if (n < 0 || m < 0) throw std::invalid_argument("C: negative dimension");
    if (n == 0 || m == 0) {
        AssignmentResult res;
        res.u.assign(static_cast<std::size_t>(n), 0.0);
        res.v.assign(static_cast<std::size_t>(m), 0.0);
        return res;
    }
    if (n >= std::numeric_limits<detail_lsap::idx_t>::max() ||
        m >= std::numeric_limits<detail_lsap::idx_t>::max())
        throw std::invalid_argument("C: dimension too large (must be < 2^31 - 1)");
    if (C == nullptr) throw std::invalid_argument("C: null pointer");
    detail_lsap::Checks ck;
    if (finite_name != nullptr) {
        ck.hi = std::numeric_limits<double>::max();
        ck.name = finite_name;
        if (big < std::numeric_limits<double>::max()) {  // also catch |x| > big (see Checks)
            ck.hi = big;
            ck.lo = std::nextafter(-big, -detail_lsap::kInf);
            ck.big = big;
            ck.data = C;
            ck.count = n * m;
            ck.f32 = std::is_same<Real, float>::value;
        }
    }
    return maximize ? detail_lsap::dispatch<Real, true>(C, n, m, ck)
                    : detail_lsap::dispatch<Real, false>(C, n, m, ck);
}

/// The SIMD path the assignment solver's hot loops take on this build and CPU: "avx2" (selected
/// at run time on x86-64 CPUs that have it), "sse2" (the x86-64 baseline) or "scalar" (other
/// targets, or a compiler without SSE2). Every path gives bit-identical results; this only says
/// which one runs (``hotalign info`` reports it for bug reports).
inline const char* assignment_simd_path() noexcept {
#if defined(HOTALIGN_LSAP_AVX2)
    if (detail_lsap::cpu_has_avx2()) return "avx2";
#endif
#if defined(__SSE2__)
    return "sse2";
#else
    return "scalar";
#endif
}

}  // namespace hotalign
