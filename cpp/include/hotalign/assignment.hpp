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
//     float costs are converted to double register by register, never copied.
//   * Square problems (n == m) use the full JV initialisation:
//       1. column reduction (v_j = min_i C_ij, computed with contiguous row scans, fused with the
//          NaN / wrong-infinity validation of C);
//       2. column j (ascending) is given to its first minimising row if that row is free; on ties
//          it goes to the lowest-index free row attaining the minimum (this is what makes a
//          constant matrix solve to the identity, like scipy);
//       3. reduction transfer for every assigned row;
//       4. two passes of augmenting row reduction (with a step budget, so float rounding can never
//          make it cycle);
//       5. shortest augmenting paths for the remaining free rows.
//     Rectangular problems (n < m after orientation) skip steps 1-3 (column reduction would break
//     the sign conditions of the rectangular dual) and start from v = 0; augmenting row reduction
//     and the shortest path phase only lower v of columns that are assigned afterwards, so the
//     unassigned columns keep v_j = 0 and every v_j <= 0 [Cr16].
//   * The row potentials are implicit (u_i = C_{i,x_i} - v_{x_i}) and materialised at the end.
//   * Shortest augmenting path: Dijkstra from the free row over a permutation `cols` of the
//     columns split in [READY | SCAN | TODO]; each scanned row is one contiguous pass over C's row
//     (gathered through the TODO part of `cols`); all columns at the current minimum distance are
//     moved to SCAN at once and the search stops at the first free one in `cols` order.
//     Distances and potentials are double for float costs too.
//
// Tie-breaking (deterministic): the initial assignment is as in step 2 above; in the path search,
// among the columns at the minimum distance the first free one in the search order is taken, the
// search order being ascending column index for the first minimum level. A constant matrix gives
// col_ind == arange(k) (pinned by tests/test_assignment.cpp).
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
#include <cstring>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "hotalign/status.hpp"

#ifdef HA_PROFILE
#include <chrono>
#include <cstdio>
#define HA_T(k) do { static const char* nm[]={"start","colred","assign","transfer","arr1","arr2","sap"}; auto t_=std::chrono::steady_clock::now(); if(k) std::fprintf(stderr,"  %s %.3f ms\n", nm[k], std::chrono::duration<double,std::milli>(t_-tp_).count()); tp_=t_; } while(0)
#define HA_P(s, x) std::fprintf(stderr, "  %s %zu\n", s, (size_t)(x))
#else
#define HA_T(k) (void)0
#define HA_P(s, x) (void)0
#endif
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

[[noreturn]] inline void bad_value() {
    throw std::invalid_argument(
        "C: cost matrix contains NaN or an infinity of the wrong sign (only +inf for minimize, "
        "-inf for maximize mark forbidden entries)");
}

// Checks that every (sign-adjusted) entry is > -inf (this rejects NaN and -inf).
template <bool Neg, class Real>
void validate(const Real* C, std::int64_t count) {
    int bad = 0;
    std::int64_t k = 0;
    for (; k + 4 <= count; k += 4) {
        bad |= !(load<Neg>(C[k]) > -kInf);
        bad |= !(load<Neg>(C[k + 1]) > -kInf);
        bad |= !(load<Neg>(C[k + 2]) > -kInf);
        bad |= !(load<Neg>(C[k + 3]) > -kInf);
    }
    for (; k < count; ++k) bad |= !(load<Neg>(C[k]) > -kInf);
    if (bad) bad_value();
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

// One Dijkstra relaxation step over a full cost row: for every column j,
//   d[j] = min(d[j], base + (C[i, j] - vv[j])), pred[j] = i where it decreased,
// and returns min_j d[j]. READY columns carry vv[j] = -inf and d[j] = +inf, so they are never
// updated and never win the minimum; this keeps the loop contiguous and branch-free.
template <class Real, bool Neg>
inline double relax_row(const Real* r, const double* vv, double* d, std::int64_t* pred, idx_t m,
                        double base, std::int64_t i) noexcept {
    idx_t j = 0;
    double best = kInf;
#if defined(__SSE2__)
    const __m128d vb = _mm_set1_pd(base);
    const __m128d sgn = _mm_set1_pd(-0.0);
    const __m128i vi = _mm_set1_epi64x(i);
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
        mn0 = _mm_min_pd(mn0, n0);
        mn1 = _mm_min_pd(mn1, n1);
        if (_mm_movemask_pd(_mm_or_pd(lt0, lt1))) {
            __m128i* pp = reinterpret_cast<__m128i*>(pred + j);
            const __m128i k0 = _mm_castpd_si128(lt0), k1 = _mm_castpd_si128(lt1);
            const __m128i p0 = _mm_loadu_si128(pp), p1 = _mm_loadu_si128(pp + 1);
            _mm_storeu_si128(pp, _mm_or_si128(_mm_and_si128(k0, vi), _mm_andnot_si128(k0, p0)));
            _mm_storeu_si128(pp + 1, _mm_or_si128(_mm_and_si128(k1, vi), _mm_andnot_si128(k1, p1)));
        }
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

// Solver state for an n x m problem (n <= m), row-major costs with leading dimension m.
template <class Real, bool Neg>
class Solver {
public:
    Solver(const Real* C, idx_t n, idx_t m)
        : C_(C), n_(n), m_(m), v_(static_cast<std::size_t>(m), 0.0),
          col4row_(static_cast<std::size_t>(n), -1), row4col_(static_cast<std::size_t>(m), -1) {}

    // Returns false if infeasible; throws std::invalid_argument on NaN / wrong infinity.
    bool run(std::int64_t& n_iter) {
        std::vector<idx_t> free_rows;
        free_rows.reserve(static_cast<std::size_t>(n_));
        HA_T(0);
        if (n_ == m_) {
            if (!column_reduction()) return false;
            HA_T(1);
            initial_assignment();
            HA_T(2);
            for (idx_t i = 0; i < n_; ++i)
                if (col4row_[i] < 0) free_rows.push_back(i);
            if (free_rows.empty()) return true;
            reduction_transfer();
            HA_T(3);
        } else {
            validate<Neg>(C_, static_cast<std::int64_t>(n_) * m_);
            for (idx_t i = 0; i < n_; ++i) free_rows.push_back(i);
        }
        HA_P("free after init", free_rows.size());
        #ifndef HA_ARR_PASSES
#define HA_ARR_PASSES 2
#endif
        for (int pass = 0; pass < HA_ARR_PASSES && !free_rows.empty(); ++pass) {
            if (!augmenting_row_reduction(free_rows)) return false;
            HA_T(4 + pass);
            HA_P("free after arr", free_rows.size());
            HA_P("arr steps", narr_);
        }
#ifdef HA_COMPACT_SAP
        bool ok = shortest_paths(free_rows, n_iter);
#else
        bool ok = shortest_paths_dense(free_rows, n_iter);
#endif
        HA_T(6);
        HA_P("rows scanned", nscan_);
        HA_P("elements scanned", nelem_);
        return ok;
    }

    const std::vector<idx_t>& col4row() const { return col4row_; }
    const std::vector<double>& v() const { return v_; }

private:
    const Real* row(idx_t i) const { return C_ + static_cast<std::int64_t>(i) * m_; }

    // Step 1: v_j = min_i C_ij via contiguous, branch-free row scans; also validates C.
    // argrow_[j] = first row attaining the minimum.
    bool column_reduction() {
        const idx_t n = n_, m = m_;
        argrow_.assign(static_cast<std::size_t>(m), 0);
        double* v = v_.data();
        std::int64_t* arg = argrow_.data();
        int bad = 0;
        {
            const Real* r = row(0);
            for (idx_t j = 0; j < m; ++j) {
                const double x = load<Neg>(r[j]);
                bad |= !(x > -kInf);
                v[j] = x;
            }
        }
        for (idx_t i = 1; i < n; ++i) {
            const Real* r = row(i);
            idx_t j = 0;
#if defined(__SSE2__)
            const __m128d ninf = _mm_set1_pd(-kInf), sgn = _mm_set1_pd(-0.0);
            const __m128i vi = _mm_set1_epi64x(i);
            __m128d ok = _mm_castsi128_pd(_mm_set1_epi32(-1));
            for (; j + 4 <= m; j += 4) {
                __m128d x0, x1;
                load4(r + j, x0, x1);
                if (Neg) {
                    x0 = _mm_xor_pd(x0, sgn);
                    x1 = _mm_xor_pd(x1, sgn);
                }
                ok = _mm_and_pd(ok, _mm_and_pd(_mm_cmpgt_pd(x0, ninf), _mm_cmpgt_pd(x1, ninf)));
                const __m128d v0 = _mm_loadu_pd(v + j), v1 = _mm_loadu_pd(v + j + 2);
                const __m128d l0 = _mm_cmplt_pd(x0, v0), l1 = _mm_cmplt_pd(x1, v1);
                _mm_storeu_pd(v + j, _mm_min_pd(x0, v0));
                _mm_storeu_pd(v + j + 2, _mm_min_pd(x1, v1));
                if (_mm_movemask_pd(_mm_or_pd(l0, l1))) {
                    __m128i* pa = reinterpret_cast<__m128i*>(arg + j);
                    const __m128i k0 = _mm_castpd_si128(l0), k1 = _mm_castpd_si128(l1);
                    const __m128i a0 = _mm_loadu_si128(pa), a1 = _mm_loadu_si128(pa + 1);
                    _mm_storeu_si128(pa, _mm_or_si128(_mm_and_si128(k0, vi), _mm_andnot_si128(k0, a0)));
                    _mm_storeu_si128(pa + 1, _mm_or_si128(_mm_and_si128(k1, vi), _mm_andnot_si128(k1, a1)));
                }
            }
            bad |= _mm_movemask_pd(ok) != 3;
#endif
            for (; j < m; ++j) {
                const double x = load<Neg>(r[j]);
                bad |= !(x > -kInf);
                const bool lt = x < v[j];
                arg[j] = lt ? i : arg[j];
                v[j] = lt ? x : v[j];
            }
        }
        if (bad) bad_value();
        for (idx_t j = 0; j < m; ++j)
            if (!(v[j] < kInf)) return false;  // a column with only forbidden entries
        return true;
    }

    // Step 2: column j (ascending) goes to its first minimising row if that row is still free.
    // (Ties are resolved later by augmenting row reduction, which hands a row the first free
    // column among its tied minima.)
    void initial_assignment() {
        for (idx_t j = 0; j < m_; ++j) {
            const idx_t i = static_cast<idx_t>(argrow_[j]);
            if (col4row_[i] >= 0) continue;
            col4row_[i] = j;
            row4col_[j] = i;
        }
        argrow_.clear();
        argrow_.shrink_to_fit();
    }

    // Minimum of C[i, j] - v[j] over j in [a, b).
    double min_reduced(const Real* r, idx_t a, idx_t b) const {
        const double* v = v_.data();
        double best = kInf;
        idx_t j = a;
#if defined(__SSE2__)
        const __m128d sgn = _mm_set1_pd(-0.0);
        __m128d m0 = _mm_set1_pd(kInf), m1 = m0;
        for (; j + 4 <= b; j += 4) {
            __m128d c0, c1;
            load4(r + j, c0, c1);
            if (Neg) {
                c0 = _mm_xor_pd(c0, sgn);
                c1 = _mm_xor_pd(c1, sgn);
            }
            m0 = _mm_min_pd(m0, _mm_sub_pd(c0, _mm_loadu_pd(v + j)));
            m1 = _mm_min_pd(m1, _mm_sub_pd(c1, _mm_loadu_pd(v + j + 2)));
        }
        m0 = _mm_min_pd(m0, m1);
        m0 = _mm_min_pd(m0, _mm_unpackhi_pd(m0, m0));
        best = _mm_cvtsd_f64(m0);
#endif
        for (; j < b; ++j) {
            const double h = load<Neg>(r[j]) - v[j];
            best = h < best ? h : best;
        }
        return best;
    }

    // Step 3: reduction transfer, v_{x_i} -= min_{j != x_i} (C_ij - v_j) for assigned rows.
    void reduction_transfer() {
        for (idx_t i = 0; i < n_; ++i) {
            const idx_t j1 = col4row_[i];
            if (j1 < 0) continue;
            const Real* r = row(i);
            const double a = min_reduced(r, 0, j1), b = min_reduced(r, j1 + 1, m_);
            const double mu = a < b ? a : b;
            if (mu < kInf && mu > 0) v_[j1] -= mu;  // mu >= 0; +inf if the row has one entry
        }
    }

    // The two smallest reduced costs C[i, j] - v[j] of a row (first index on ties; j2 != j1).
    void two_smallest(const Real* r, double& u1, idx_t& j1, double& u2, idx_t& j2) const {
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
        for (idx_t j = 0; j < m_; ++j)
            if (row4col_[j] < 0 && load<Neg>(r[j]) - v[j] == level) return j;
        return -1;
    }

    // Step 4: one pass of augmenting row reduction over free_rows (replaced by the rows still
    // free). Returns false if a row has no allowed entry.
    bool augmenting_row_reduction(std::vector<idx_t>& free_rows) {
        std::vector<idx_t> todo(free_rows);
        free_rows.clear();
        std::size_t k = 0;
        // Efficiency cut-off: JV's augmenting row reduction is cheap per settled row at first but
        // can ping-pong for long when few rows settle (and, with rounding, forever). Stop the pass
        // once a chunk of row scans settles fewer than chunk / kArrRatio rows, or after 4n scans;
        // the shortest path phase finishes the job.
#ifndef HA_ARR_T
#define HA_ARR_T 64
#endif
        constexpr std::int64_t kArrRatio = HA_ARR_T;
        const std::int64_t chunk = std::max<std::int64_t>(256, n_ / 8);
        std::int64_t budget = 4 * static_cast<std::int64_t>(n_) + 16, in_chunk = 0;
        std::size_t free_at_chunk = todo.size();
        double* v = v_.data();
        while (k < todo.size()) {
            if (++in_chunk == chunk) {
                const std::size_t now = todo.size() - k + free_rows.size();
                const bool slow = static_cast<std::int64_t>(free_at_chunk - now) * kArrRatio < chunk;
                free_at_chunk = now;
                in_chunk = 0;
                if (slow) budget = 0;
            }
            if (--budget < 0) {
                for (; k < todo.size(); ++k) free_rows.push_back(todo[k]);
                break;
            }
            const idx_t i = todo[k++];
#ifdef HA_PROFILE
            ++narr_;
#endif
            const Real* r = row(i);
            double u1 = kInf, u2 = kInf;
            idx_t j1 = -1, j2 = -1;
            two_smallest(r, u1, j1, u2, j2);
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

    // Step 5 (dense variant): Dijkstra shortest augmenting paths, one contiguous pass per row.
    bool shortest_paths_dense(const std::vector<idx_t>& free_rows, std::int64_t& n_iter) {
        const idx_t m = m_;
        std::vector<double> dvec(static_cast<std::size_t>(m));
        std::vector<std::int64_t> pvec(static_cast<std::size_t>(m));
        std::vector<idx_t> rj;   // READY/SCAN columns in the order they were reached
        std::vector<double> rv;  // their potentials before the search
        std::vector<double> rd;  // their distances
        rj.reserve(static_cast<std::size_t>(m));
        rv.reserve(static_cast<std::size_t>(m));
        rd.reserve(static_cast<std::size_t>(m));
        double* v = v_.data();
        double* d = dvec.data();
        std::int64_t* pred = pvec.data();
        const idx_t* r4c = row4col_.data();
        for (const idx_t f : free_rows) {
            ++n_iter;
            std::fill(dvec.begin(), dvec.end(), kInf);
            double mind = relax_row<Real, Neg>(row(f), v, d, pred, m, 0.0, f);
            rj.clear();
            rv.clear();
            rd.clear();
            std::size_t scan = 0;
            idx_t sink = -1;
            for (;;) {
                if (!(mind < kInf)) {
                    for (std::size_t k = 0; k < rj.size(); ++k) v[rj[k]] = rv[k];
                    return false;  // no augmenting path: infeasible
                }
                // move the columns at distance mind from TODO to SCAN (ascending index)
                idx_t j = 0;
#if defined(__SSE2__)
                const __m128d vm = _mm_set1_pd(mind);
                for (; j + 2 <= m && sink < 0; j += 2) {
                    const int msk = _mm_movemask_pd(_mm_cmpeq_pd(_mm_loadu_pd(d + j), vm));
                    if (!msk) continue;
                    for (int l = 0; l < 2; ++l) {
                        if (!(msk & (1 << l))) continue;
                        const idx_t jj = j + l;
                        rj.push_back(jj);
                        rv.push_back(v[jj]);
                        rd.push_back(mind);
                        d[jj] = kInf;
                        v[jj] = -kInf;
                        if (r4c[jj] < 0) {
                            sink = jj;
                            break;
                        }
                    }
                }
#endif
                for (; j < m && sink < 0; ++j) {
                    if (d[j] != mind) continue;
                    rj.push_back(j);
                    rv.push_back(v[j]);
                    rd.push_back(mind);
                    d[j] = kInf;
                    v[j] = -kInf;
                    if (r4c[j] < 0) sink = j;
                }
                if (sink >= 0) break;
                // scan the rows of the SCAN columns; the last pass yields the new minimum
                double nm = kInf;
                for (; scan < rj.size(); ++scan) {
                    const idx_t j0 = rj[scan];
                    const idx_t i = r4c[j0];
                    const Real* r = row(i);
                    const double base = mind - (load<Neg>(r[j0]) - rv[scan]);
#ifdef HA_PROFILE
                    ++nscan_; nelem_ += m;
#endif
                    nm = relax_row<Real, Neg>(r, v, d, pred, m, base, i);
                }
                mind = nm;
            }
            // lazy dual update of the reached columns (restores their -inf marks)
            // every reached column has distance <= mind; those of the final level have == mind.
            for (std::size_t k = 0; k < rj.size(); ++k) v[rj[k]] = rv[k] + (rd[k] - mind);
            // augment
            idx_t j = sink;
            for (;;) {
                const idx_t i = static_cast<idx_t>(pred[j]);
                row4col_[j] = i;
                const idx_t nj = col4row_[i];
                col4row_[i] = j;
                if (i == f) break;
                j = nj;
            }
        }
        return true;
    }

    // Step 5: Dijkstra shortest augmenting paths from each free row.
    bool shortest_paths(const std::vector<idx_t>& free_rows, std::int64_t& n_iter) {
        const idx_t m = m_;
        std::vector<idx_t> cols(static_cast<std::size_t>(m)), pred(static_cast<std::size_t>(m));
        std::vector<double> d(static_cast<std::size_t>(m));
        double* v = v_.data();
        double* dist = d.data();
        idx_t* cl = cols.data();
        idx_t* pr = pred.data();
        const idx_t* r4c = row4col_.data();
        for (const idx_t f : free_rows) {
            ++n_iter;
            {
                const Real* r = row(f);
                for (idx_t j = 0; j < m; ++j) {
                    cl[j] = j;
                    dist[j] = load<Neg>(r[j]) - v[j];
                    pr[j] = f;
                }
            }
            idx_t lo = 0, hi = 0, sink = -1;
            double mind = 0.0;
            while (sink < 0) {
                if (lo == hi) {
                    // collect the TODO columns at the minimum distance into SCAN = cols[lo, hi)
                    mind = dist[cl[hi]];
                    idx_t nh = hi + 1;
                    for (idx_t k = hi + 1; k < m; ++k) {
                        const idx_t j = cl[k];
                        const double h = dist[j];
                        if (h <= mind) {
                            if (h < mind) {
                                nh = hi;
                                mind = h;
                            }
                            cl[k] = cl[nh];
                            cl[nh++] = j;
                        }
                    }
                    if (!(mind < kInf)) return false;  // no augmenting path: infeasible
                    hi = nh;
                    for (idx_t k = lo; k < hi; ++k) {
                        if (r4c[cl[k]] < 0) {
                            sink = cl[k];
                            break;
                        }
                    }
                    if (sink >= 0) break;
                }
                // scan the row assigned to the next SCAN column
                const idx_t j0 = cl[lo++];
                const idx_t i = r4c[j0];
                const Real* r = row(i);
                const double base = dist[j0] - (load<Neg>(r[j0]) - v[j0]);
#ifdef HA_PROFILE
                ++nscan_; nelem_ += m - hi;
#endif
                for (idx_t k = hi; k < m; ++k) {
                    const idx_t j = cl[k];
                    const double h = base + (load<Neg>(r[j]) - v[j]);
                    if (h < dist[j]) {
                        dist[j] = h;
                        pr[j] = i;
                        if (h <= mind) {
                            if (r4c[j] < 0) {
                                sink = j;
                                break;
                            }
                            cl[k] = cl[hi];
                            cl[hi++] = j;
                        }
                    }
                }
            }
            // lazy dual update of the scanned (READY) columns
            for (idx_t k = 0; k < lo; ++k) {
                const idx_t j = cl[k];
                v[j] += dist[j] - mind;
            }
            // augment
            idx_t j = sink;
            for (;;) {
                const idx_t i = pr[j];
                row4col_[j] = i;
                const idx_t nj = col4row_[i];
                col4row_[i] = j;
                if (i == f) break;
                j = nj;
            }
        }
        return true;
    }

#ifdef HA_PROFILE
    std::chrono::steady_clock::time_point tp_;
    std::int64_t nscan_ = 0, nelem_ = 0, narr_ = 0;
#endif
    const Real* C_;
    idx_t n_, m_;
    std::vector<double> v_;
    std::vector<idx_t> col4row_, row4col_;
    std::vector<std::int64_t> argrow_;
};

// Solve rows-short problem (nr <= nc) and fill the result in the original orientation.
template <class Real, bool Neg>
AssignmentResult solve_oriented(const Real* Cr, idx_t nr, idx_t nc, bool transposed,
                                const Real* Corig, std::int64_t n, std::int64_t m) {
    AssignmentResult res;
    Solver<Real, Neg> s(Cr, nr, nc);
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
            res.u[i] = sg * ur[i];
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
        for (idx_t i = 0; i < nr; ++i) res.v[i] = sg * ur[i];
        for (idx_t j = 0; j < nc; ++j) res.u[j] = sg * vv[j] + 0.0;
    }
    Summer sum;
    for (std::size_t k = 0; k < res.row_ind.size(); ++k)
        sum.add(static_cast<double>(Corig[res.row_ind[k] * m + res.col_ind[k]]));
    res.cost = sum.value();
    return res;
}

template <class Real, bool Neg>
AssignmentResult dispatch(const Real* C, std::int64_t n, std::int64_t m) {
    if (n <= m) return solve_oriented<Real, Neg>(C, static_cast<idx_t>(n), static_cast<idx_t>(m),
                                                 false, C, n, m);
    std::vector<Real> T(static_cast<std::size_t>(n * m));
    constexpr std::int64_t B = 32;
    for (std::int64_t i0 = 0; i0 < n; i0 += B)
        for (std::int64_t j0 = 0; j0 < m; j0 += B) {
            const std::int64_t i1 = std::min(n, i0 + B), j1 = std::min(m, j0 + B);
            for (std::int64_t i = i0; i < i1; ++i)
                for (std::int64_t j = j0; j < j1; ++j) T[j * n + i] = C[i * m + j];
        }
    return solve_oriented<Real, Neg>(T.data(), static_cast<idx_t>(m), static_cast<idx_t>(n), true,
                                     C, n, m);
}

}  // namespace detail_lsap

/// Solves min (or max) sum_k C[row_ind[k], col_ind[k]] over assignments of min(n, m) rows to
/// distinct columns; C is a row-major, C-contiguous n x m matrix of float or double.
/// See the header comment for the semantics of infinities, ties, duals and status.
template <class Real>
AssignmentResult linear_sum_assignment(const Real* C, std::int64_t n, std::int64_t m,
                                       bool maximize = false) {
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
    return maximize ? detail_lsap::dispatch<Real, true>(C, n, m)
                    : detail_lsap::dispatch<Real, false>(C, n, m);
}

}  // namespace hotalign
