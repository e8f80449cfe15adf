// hotalign/network_simplex.hpp -- exact optimal transport by the primal network simplex method.
//
// Solves the transportation problem  min <M, P>  s.t.  P 1 = a,  P^T 1 = b,  P >= 0  on the
// complete bipartite network rows -> columns (n + m nodes, n * m implicit arcs: the cost of arc
// (i, j) is read from M in place, float or double, never copied).
//
// Method and sources
//   * Primal network simplex on spanning-tree bases, tree stored as parent / preorder thread /
//     depth arrays, potentials updated on the re-hung subtree only: R. K. Ahuja, T. L. Magnanti,
//     J. B. Orlin, "Network Flows: Theory, Algorithms, and Applications", Prentice Hall 1993,
//     ch. 11 (pp. 402-460; tree indices pp. 407-412, pivot and update pp. 412-421).
//   * Strongly feasible bases and the leaving-arc rule (last blocking arc met when walking the
//     pivot cycle in the flow direction from the apex) that prevents cycling on degenerate
//     pivots: W. H. Cunningham, "A network simplex method", Mathematical Programming 11 (1976)
//     105-116; AMO section 11.5, pp. 421-425.
//   * Block-search pivoting (scan blocks of ~sqrt(#arcs) arcs cyclically, take the most
//     negative reduced cost of the first block that has one): P. Kovacs, "Minimum-cost flow
//     algorithms: an experimental evaluation", Optimization Methods & Software 30(1) (2015)
//     94-127, section 3.3; also Grigoriadis, Math. Programming Study 26 (1986) 83-111.
//   * Initial basis: a greedy least-reduced-cost feasible tree (the "matrix minimum" start of
//     transportation-problem texts, here restricted to per-row / per-column candidate lists on
//     reduced costs M_ij - u_i - v_j, with u, v the row/column-minimum duals or the warm-start
//     potentials), made strongly feasible by hanging every degenerate component from a column of
//     the tree by a zero-flow arc pointing toward the root (AMO p. 422). Cold-start duals are
//     the minima of the larger side first, then of the other side (symmetric under M <-> M^T).
//   * Two pricing phases: first only over the candidate arcs (K = 8 cheapest reduced costs per
//     row and per column, costs copied into a compact list), then block search over all n*m
//     arcs until none has a negative reduced cost (a restricted-master / "sparse first" scheme;
//     cf. the candidate-list rules of AMO pp. 417-418).
//   * Zero-mass rows/columns are removed from the network (they cannot be in a strongly
//     feasible tree); their potentials are set to the tightest feasible values at the end.
//
// Exactness: after the last pivot the flows of the final tree are recomputed from the supplies by
// leaf peeling, the potentials are recomputed from the tree (root potential 0, u_i + v_j = M_ij
// on tree arcs), optimality is re-checked with the fresh potentials (pivoting resumes if needed),
// and the cost is summed in long double. Reduced-cost tolerance is relative to max |M_ij|.
// Costs so large (near the double limit) that a sum of n + m of them could overflow, or so small
// (subnormal) that the tolerance underflows, are solved on a copy scaled by an exact power of
// two, and the cost and potentials scaled back (run_scaled, scaling.hpp).
//
// Thread-safe: no global or static mutable state. No Python headers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if defined(__SSE2__) || defined(_M_X64)
#include <emmintrin.h>
#endif

#include "scaling.hpp"
#include "status.hpp"

namespace hotalign {

struct NetworkSimplexOptions {
    std::int64_t max_iter = 0;      // pivots; <= 0 means no limit
    const double* u0 = nullptr;     // optional warm-start row potentials (size n); with v0
    const double* v0 = nullptr;     // optional warm-start column potentials (size m)
    std::int64_t block_size = 0;    // pivot-search block size; 0 = automatic
};

namespace detail_ns {

using idx = std::int64_t;

#if defined(__SSE2__) || defined(_M_X64)
inline __m128d load2(const double* p) { return _mm_loadu_pd(p); }
inline __m128d load2(const float* p) {
    return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
}
#endif

// One pass over a row: minimum and maximum |x|; false when a NaN or inf is present.
template <class Real>
inline bool row_stats(const Real* x, idx len, double& mn, double& mxabs) {
    idx k = 0;
    double lo = std::numeric_limits<double>::infinity(), hi = 0.0, bad = 0.0;
#if defined(__SSE2__) || defined(_M_X64)
    if (len >= 2) {
        const __m128d sign = _mm_set1_pd(-0.0), zero = _mm_setzero_pd();
        __m128d vlo = _mm_set1_pd(lo), vhi = zero, vbad = zero;
        for (; k + 2 <= len; k += 2) {
            const __m128d v = load2(x + k);
            vlo = _mm_min_pd(vlo, v);
            vhi = _mm_max_pd(vhi, _mm_andnot_pd(sign, v));
            vbad = _mm_add_pd(vbad, _mm_mul_pd(v, zero));  // NaN iff some v is NaN or inf
        }
        double t[2];
        _mm_storeu_pd(t, vlo);
        lo = std::min(t[0], t[1]);
        _mm_storeu_pd(t, vhi);
        hi = std::max(t[0], t[1]);
        _mm_storeu_pd(t, vbad);
        bad = t[0] + t[1];
    }
#endif
    for (; k < len; ++k) {
        const double v = static_cast<double>(x[k]);
        lo = v < lo ? v : lo;
        const double av = std::fabs(v);
        hi = av > hi ? av : hi;
        bad += v * 0.0;
    }
    mn = lo;
    mxabs = hi;
    return bad == 0.0 && std::isfinite(hi);
}

// g[k] = min(g[k], x[k] - s) for k < len.
template <class Real>
inline void colmin_update(double* g, const Real* x, double s, idx len) {
    idx k = 0;
#if defined(__SSE2__) || defined(_M_X64)
    const __m128d vs = _mm_set1_pd(s);
    for (; k + 2 <= len; k += 2)
        _mm_storeu_pd(g + k, _mm_min_pd(_mm_loadu_pd(g + k), _mm_sub_pd(load2(x + k), vs)));
#endif
    for (; k < len; ++k) {
        const double v = static_cast<double>(x[k]) - s;
        g[k] = v < g[k] ? v : g[k];
    }
}

// min_k (x[k] - y[k]) over k < len (len a multiple of 4), in double.
inline double chunk_min(const double* x, const double* y, idx len) {
#if defined(__SSE2__) || defined(_M_X64)
    __m128d m0 = _mm_sub_pd(_mm_loadu_pd(x), _mm_loadu_pd(y));
    __m128d m1 = _mm_sub_pd(_mm_loadu_pd(x + 2), _mm_loadu_pd(y + 2));
    for (idx k = 4; k < len; k += 4) {
        m0 = _mm_min_pd(m0, _mm_sub_pd(_mm_loadu_pd(x + k), _mm_loadu_pd(y + k)));
        m1 = _mm_min_pd(m1, _mm_sub_pd(_mm_loadu_pd(x + k + 2), _mm_loadu_pd(y + k + 2)));
    }
    m0 = _mm_min_pd(m0, m1);
    return std::min(_mm_cvtsd_f64(m0), _mm_cvtsd_f64(_mm_unpackhi_pd(m0, m0)));
#else
    double m0 = x[0] - y[0], m1 = x[1] - y[1], m2 = x[2] - y[2], m3 = x[3] - y[3];
    for (idx k = 4; k < len; k += 4) {
        const double v0 = x[k] - y[k], v1 = x[k + 1] - y[k + 1];
        const double v2 = x[k + 2] - y[k + 2], v3 = x[k + 3] - y[k + 3];
        m0 = v0 < m0 ? v0 : m0;
        m1 = v1 < m1 ? v1 : m1;
        m2 = v2 < m2 ? v2 : m2;
        m3 = v3 < m3 ? v3 : m3;
    }
    return std::min(std::min(m0, m1), std::min(m2, m3));
#endif
}

inline double chunk_min(const float* x, const double* y, idx len) {
#if defined(__SSE2__) || defined(_M_X64)
    auto ld = [](const float* p) {
        return _mm_cvtps_pd(_mm_castsi128_ps(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p))));
    };
    __m128d m0 = _mm_sub_pd(ld(x), _mm_loadu_pd(y));
    __m128d m1 = _mm_sub_pd(ld(x + 2), _mm_loadu_pd(y + 2));
    for (idx k = 4; k < len; k += 4) {
        m0 = _mm_min_pd(m0, _mm_sub_pd(ld(x + k), _mm_loadu_pd(y + k)));
        m1 = _mm_min_pd(m1, _mm_sub_pd(ld(x + k + 2), _mm_loadu_pd(y + k + 2)));
    }
    m0 = _mm_min_pd(m0, m1);
    return std::min(_mm_cvtsd_f64(m0), _mm_cvtsd_f64(_mm_unpackhi_pd(m0, m0)));
#else
    double m0 = double(x[0]) - y[0], m1 = double(x[1]) - y[1];
    double m2 = double(x[2]) - y[2], m3 = double(x[3]) - y[3];
    for (idx k = 4; k < len; k += 4) {
        const double v0 = double(x[k]) - y[k], v1 = double(x[k + 1]) - y[k + 1];
        const double v2 = double(x[k + 2]) - y[k + 2], v3 = double(x[k + 3]) - y[k + 3];
        m0 = v0 < m0 ? v0 : m0;
        m1 = v1 < m1 ? v1 : m1;
        m2 = v2 < m2 ? v2 : m2;
        m3 = v3 < m3 ? v3 : m3;
    }
    return std::min(std::min(m0, m1), std::min(m2, m3));
#endif
}

template <class Real>
class TransportSimplex {
public:
    TransportSimplex(const Real* M, idx n, idx m) : M_(M), n_(n), m_(m) {}

    TransportResult run(const double* a, const double* b, const NetworkSimplexOptions& opt);

private:
    TransportResult run_scaled(const double* a, const double* b, const NetworkSimplexOptions& opt,
                               double maxabs, int s) const;
    // The phases of run(), in order.
    double scan_costs(std::vector<double>& rowmin) const;
    bool read_marginals(const double* a, const double* b, const NetworkSimplexOptions& opt,
                        std::vector<double>& av, std::vector<double>& bv) const;
    void activate(const std::vector<double>& av, const std::vector<double>& bv, double maxabs);
    void guide_potentials(const NetworkSimplexOptions& opt, const std::vector<double>& rowmin,
                          std::vector<double>& gu, std::vector<double>& gv) const;
    Status pivot_to_optimality(const NetworkSimplexOptions& opt, idx& iters);
    TransportResult extract_result(const std::vector<double>& av,
                                   const std::vector<double>& bv) const;

    const Real* M_;
    idx n_, m_;
    // active (positive-mass) rows and columns; tree nodes 0..nr-1 rows, nr..nr+nc-1 columns
    idx nr_ = 0, nc_ = 0, N_ = 0;
    std::vector<idx> rowid_, colid_;
    bool col_ident_ = true;
    std::vector<double> supply_;  // +a_i for rows, -b_j for columns
    // spanning tree
    idx root_ = 0;
    std::vector<idx> parent_, thread_, rthread_, depth_;
    std::vector<double> flow_;  // flow on the arc between x and parent_[x] (arcs are row -> col)
    std::vector<double> y_;     // y[row] = -u_i, y[col] = v_j; reduced cost M_ij + y_i - y_j
    std::vector<idx> pieces_;  // scratch for pivot(): thread pieces of the re-hung subtree
    double tol_ = 0.0;
    // phase-1 candidate arcs (the cheapest reduced costs of each row), costs copied compactly
    std::vector<idx> sp_row_, sp_col_;
    std::vector<double> sp_cost_;
    idx sp_pos_ = 0, sp_block_ = 1;
    idx sparse_k_ = 0;
    bool price_sparse(idx& er, idx& ec, double& erc);
    idx block_ = 1, scan_r_ = 0, scan_c_ = 0;

    const Real* row_ptr(idx r) const { return M_ + rowid_[r] * m_; }
    double cost(idx r, idx c) const { return static_cast<double>(row_ptr(r)[colid_[c]]); }

    void build_initial_tree(const std::vector<double>& gu, const std::vector<double>& gv);
    void build_tree_from_arcs(const std::vector<std::pair<idx, idx>>& arcs);
    void recompute_flows();
    void recompute_potentials();
    template <bool Ident>
    bool price(idx& er, idx& ec, double& erc);
    void pivot(idx r, idx c, double rc);
};

// ---------------------------------------------------------------------------------------------
// Initial basis: greedy on candidate arcs sorted by reduced cost, then completion.
template <class Real>
void TransportSimplex<Real>::build_initial_tree(const std::vector<double>& gu,
                                                const std::vector<double>& gv) {
    const idx nr = nr_, nc = nc_;
    // Candidates: the K cheapest reduced-cost arcs of each row and of each column (symmetric in
    // rows and columns, so that M and M^T behave alike). They seed the greedy basis and form
    // the arc set of the first (sparse-pricing) phase.
    const idx K = std::max<idx>(1, sparse_k_);
    const idx Kr = std::min(K, nc), Kc = std::min(K, nr);
    const double inf = std::numeric_limits<double>::infinity();
    struct Cand {
        double rc;
        idx r, c;
    };
    std::vector<Cand> cand;
    cand.reserve(static_cast<size_t>(nr * Kr + nc * Kc));
    std::vector<double> colv(static_cast<size_t>(nc * Kc), inf), colthr(nc, inf);
    std::vector<idx> colr(static_cast<size_t>(nc * Kc), 0);
    std::vector<double> kv(Kr);
    std::vector<idx> kc(Kr);
    std::vector<double> rowrc(nc);
    for (idx r = 0; r < nr; ++r) {
        const Real* Mr = row_ptr(r);
        const double ur = gu[r];
        if (col_ident_) {
            for (idx c = 0; c < nc; ++c) rowrc[c] = static_cast<double>(Mr[c]) - ur - gv[c];
        } else {
            for (idx c = 0; c < nc; ++c)
                rowrc[c] = static_cast<double>(Mr[colid_[c]]) - ur - gv[c];
        }
        idx cnt = 0;
        double thr = inf;
        for (idx c = 0; c < nc; ++c) {
            const double v = rowrc[c];
            if (v < colthr[c] || r < Kc) {
                // sorted insertion into column c's top-Kc list
                double* cv = colv.data() + c * Kc;
                idx* cr = colr.data() + c * Kc;
                idx p = r < Kc ? r : Kc - 1;
                while (p > 0 && cv[p - 1] > v) {
                    cv[p] = cv[p - 1];
                    cr[p] = cr[p - 1];
                    --p;
                }
                cv[p] = v;
                cr[p] = r;
                colthr[c] = cv[Kc - 1];
            }
            if (v < thr || cnt < Kr) {
                // sorted insertion into the row's top-Kr list
                idx p = cnt < Kr ? cnt++ : Kr - 1;
                while (p > 0 && kv[p - 1] > v) {
                    kv[p] = kv[p - 1];
                    kc[p] = kc[p - 1];
                    --p;
                }
                kv[p] = v;
                kc[p] = c;
                if (cnt == Kr) thr = kv[Kr - 1];
            }
        }
        for (idx k = 0; k < cnt; ++k) cand.push_back({kv[k], r, kc[k]});
    }
    for (idx c = 0; c < nc; ++c)
        for (idx k = 0; k < Kc; ++k) cand.push_back({colv[c * Kc + k], colr[c * Kc + k], c});
    // dedupe (by row, then column); the phase-1 arc list keeps that order
    std::sort(cand.begin(), cand.end(), [](const Cand& x, const Cand& y) {
        return x.r != y.r ? x.r < y.r : x.c < y.c;
    });
    cand.erase(std::unique(cand.begin(), cand.end(),
                           [](const Cand& x, const Cand& y) { return x.r == y.r && x.c == y.c; }),
               cand.end());
    if (sparse_k_ > 0 && static_cast<idx>(cand.size()) * 4 < nr * nc) {
        sp_row_.reserve(cand.size());
        sp_col_.reserve(cand.size());
        sp_cost_.reserve(cand.size());
        for (const Cand& x : cand) {
            sp_row_.push_back(x.r);
            sp_col_.push_back(x.c);
            sp_cost_.push_back(cost(x.r, x.c));
        }
    }
    std::sort(cand.begin(), cand.end(), [](const Cand& x, const Cand& y) {
        if (x.rc != y.rc) return x.rc < y.rc;
        if (x.r != y.r) return x.r < y.r;
        return x.c < y.c;
    });

    std::vector<double> ra(nr), rb(nc);
    double maxmass = 0.0;
    for (idx r = 0; r < nr; ++r) {
        ra[r] = supply_[r];
        maxmass = std::max(maxmass, ra[r]);
    }
    for (idx c = 0; c < nc; ++c) {
        rb[c] = -supply_[nr + c];
        maxmass = std::max(maxmass, rb[c]);
    }
    const double snap = 64.0 * std::numeric_limits<double>::epsilon() * maxmass;
    std::vector<std::pair<idx, idx>> arcs;
    arcs.reserve(static_cast<size_t>(nr + nc));
    auto assign = [&](idx r, idx c) {
        const double f = std::min(ra[r], rb[c]);
        ra[r] -= f;
        rb[c] -= f;
        if (ra[r] <= snap) ra[r] = 0.0;
        if (rb[c] <= snap) rb[c] = 0.0;
        arcs.emplace_back(r, c);
    };
    for (const Cand& x : cand)
        if (ra[x.r] > 0.0 && rb[x.c] > 0.0) assign(x.r, x.c);
    // Completion: rows with supply left take their cheapest open column.
    std::vector<idx> open;
    for (idx c = 0; c < nc; ++c)
        if (rb[c] > 0.0) open.push_back(c);
    for (idx r = 0; r < nr && !open.empty(); ++r) {
        while (ra[r] > 0.0 && !open.empty()) {
            size_t bk = 0;
            double bv = std::numeric_limits<double>::infinity();
            for (size_t k = 0; k < open.size(); ++k) {
                const double v = cost(r, open[k]) - gu[r] - gv[open[k]];
                if (v < bv) {
                    bv = v;
                    bk = k;
                }
            }
            const idx c = open[bk];
            assign(r, c);
            if (rb[c] == 0.0) {
                open[bk] = open.back();
                open.pop_back();
            }
        }
    }
    // The greedy arcs form a forest (each assignment exhausts one endpoint for good). Connect
    // its components: each component hangs from the part already attached to the root's
    // component through one of its rows by a (zero-flow) arc pointing toward the root, or, for a
    // component without a row, through its column (then the arc carries the column's demand).
    std::vector<idx> uf(static_cast<size_t>(N_));
    std::iota(uf.begin(), uf.end(), idx(0));
    auto find = [&](idx x) {
        while (uf[x] != x) {
            uf[x] = uf[uf[x]];
            x = uf[x];
        }
        return x;
    };
    for (const auto& e : arcs) {
        const idx x = find(e.first), z = find(nr + e.second);
        if (x != z) uf[x] = z;
    }
    root_ = nr;  // column 0
    const idx rootcomp = find(root_);
    // group nodes by component
    std::vector<idx> first(static_cast<size_t>(N_), -1), nxt(static_cast<size_t>(N_), -1);
    std::vector<idx> comps;
    for (idx x = N_ - 1; x >= 0; --x) {
        const idx cx = find(x);
        if (first[cx] < 0) comps.push_back(cx);
        nxt[x] = first[cx];
        first[cx] = x;
    }
    if (comps.size() > 1) {
        std::vector<idx> att_cols, att_rows;
        for (idx x = first[rootcomp]; x >= 0; x = nxt[x])
            (x < nr ? att_rows : att_cols).push_back(x);
        for (auto it = comps.rbegin(); it != comps.rend(); ++it) {
            const idx cc = *it;
            if (cc == rootcomp) continue;
            idx row = -1, col = -1;
            for (idx x = first[cc]; x >= 0; x = nxt[x]) {
                if (x < nr && row < 0) row = x;
                if (x >= nr && col < 0) col = x;
            }
            if (row >= 0 && !att_cols.empty()) {
                idx bc = att_cols[0];
                double bv = std::numeric_limits<double>::infinity();
                for (idx c : att_cols) {
                    const double v = cost(row, c - nr) - gu[row] - gv[c - nr];
                    if (v < bv) {
                        bv = v;
                        bc = c;
                    }
                }
                arcs.emplace_back(row, bc - nr);
            } else {
                idx br = att_rows[0];
                double bv = std::numeric_limits<double>::infinity();
                for (idx r : att_rows) {
                    const double v = cost(r, col - nr) - gu[r] - gv[col - nr];
                    if (v < bv) {
                        bv = v;
                        br = r;
                    }
                }
                arcs.emplace_back(br, col - nr);
            }
            for (idx x = first[cc]; x >= 0; x = nxt[x])
                (x < nr ? att_rows : att_cols).push_back(x);
        }
    }
    build_tree_from_arcs(arcs);
}

template <class Real>
void TransportSimplex<Real>::build_tree_from_arcs(const std::vector<std::pair<idx, idx>>& arcs) {
    const idx N = N_;
    std::vector<idx> deg(static_cast<size_t>(N + 1), 0), adj(2 * arcs.size());
    for (const auto& e : arcs) {
        ++deg[e.first + 1];
        ++deg[nr_ + e.second + 1];
    }
    for (idx x = 0; x < N; ++x) deg[x + 1] += deg[x];
    std::vector<idx> pos(deg.begin(), deg.end() - 1);
    for (const auto& e : arcs) {
        adj[pos[e.first]++] = nr_ + e.second;
        adj[pos[nr_ + e.second]++] = e.first;
    }
    parent_.assign(N, -1);
    depth_.assign(N, 0);
    thread_.assign(N, root_);
    rthread_.assign(N, root_);
    y_.assign(N, 0.0);
    flow_.assign(N, 0.0);
    std::vector<idx> stack;
    stack.reserve(N);
    stack.push_back(root_);
    parent_[root_] = root_;
    idx prev = -1;
    idx visited = 0;
    while (!stack.empty()) {
        const idx x = stack.back();
        stack.pop_back();
        ++visited;
        if (prev >= 0) {
            thread_[prev] = x;
            rthread_[x] = prev;
        }
        prev = x;
        for (idx k = deg[x]; k < deg[x + 1]; ++k) {
            const idx z = adj[k];
            if (z == parent_[x]) continue;
            parent_[z] = x;
            depth_[z] = depth_[x] + 1;
            stack.push_back(z);
        }
    }
    thread_[prev] = root_;
    rthread_[root_] = prev;
    parent_[root_] = -1;
    if (visited != N) throw std::logic_error("network_simplex: initial basis is not a tree");
    recompute_potentials();
    recompute_flows();
}

// Flows of the tree from the supplies, children before parents (reverse preorder).
template <class Real>
void TransportSimplex<Real>::recompute_flows() {
    std::vector<double> ex(supply_);
    for (idx x = rthread_[root_]; x != root_; x = rthread_[x]) {
        const double e = ex[x];
        double f = x < nr_ ? e : -e;  // row: arc x -> parent; column: arc parent -> x
        flow_[x] = f > 0.0 ? f : 0.0;
        ex[parent_[x]] += e;
    }
    flow_[root_] = 0.0;
}

// Potentials from the tree: y_root = 0 and M_ij + y_i - y_j = 0 on tree arcs (preorder).
template <class Real>
void TransportSimplex<Real>::recompute_potentials() {
    y_[root_] = 0.0;
    for (idx x = thread_[root_]; x != root_; x = thread_[x]) {
        const idx p = parent_[x];
        if (x < nr_)
            y_[x] = y_[p] - cost(x, p - nr_);
        else
            y_[x] = y_[p] + cost(p, x - nr_);
    }
}

// Block search: scan arcs row-major from the saved position in blocks of block_ arcs; return
// the most negative reduced cost of the first block containing one (false: none anywhere).
template <class Real>
bool TransportSimplex<Real>::price_sparse(idx& er, idx& ec, double& erc) {
    const idx S = static_cast<idx>(sp_row_.size());
    const double* y = y_.data();
    const double* yc = y_.data() + nr_;
    double best = -tol_;
    idx bk = -1;
    idx k = sp_pos_, scanned = 0, inblock = 0;
    while (scanned < S) {
        const double v = sp_cost_[k] + y[sp_row_[k]] - yc[sp_col_[k]];
        if (v < best) {
            best = v;
            bk = k;
        }
        ++scanned;
        if (++k == S) k = 0;
        if (++inblock == sp_block_) {
            if (bk >= 0) break;
            inblock = 0;
        }
    }
    sp_pos_ = k;
    if (bk < 0) return false;
    er = sp_row_[bk];
    ec = sp_col_[bk];
    erc = best;
    return true;
}

template <class Real>
template <bool Ident>
bool TransportSimplex<Real>::price(idx& er, idx& ec, double& erc) {
    const idx nr = nr_, nc = nc_;
    const idx total = nr * nc;
    const double* yc = y_.data() + nr;
    const idx* cid = colid_.data();
    idx r = scan_r_, c = scan_c_;
    idx scanned = 0, inblock = 0;
    double best = -tol_;
    idx br = -1, bc = -1;
    while (scanned < total) {
        const idx len = std::min(nc - c, block_ - inblock);
        const Real* Mr = row_ptr(r);
        const double yr = y_[r];
        double thr = best - yr;  // M_ij - y_j < thr  <=>  reduced cost < best
        idx bj = -1;
        const idx end = c + len;
        if (Ident) {
            // chunked: a cheap (vectorised) minimum per chunk, an exact scan only of the rare
            // chunks that beat the running threshold
            constexpr idx CH = 32;
            idx j = c;
            for (; j + CH <= end; j += CH) {
                if (detail_ns::chunk_min(Mr + j, yc + j, CH) < thr) {
                    for (idx k = j; k < j + CH; ++k) {
                        const double v = static_cast<double>(Mr[k]) - yc[k];
                        if (v < thr) {
                            thr = v;
                            bj = k;
                        }
                    }
                }
            }
            for (; j < end; ++j) {
                const double v = static_cast<double>(Mr[j]) - yc[j];
                if (v < thr) {
                    thr = v;
                    bj = j;
                }
            }
        } else {
            for (idx j = c; j < end; ++j) {
                const double v = static_cast<double>(Mr[cid[j]]) - yc[j];
                if (v < thr) {
                    thr = v;
                    bj = j;
                }
            }
        }
        if (bj >= 0) {
            const double rc = static_cast<double>(Mr[Ident ? bj : cid[bj]]) + yr - yc[bj];
            if (rc < best) {
                best = rc;
                br = r;
                bc = bj;
            }
        }
        scanned += len;
        inblock += len;
        c = end;
        if (c == nc) {
            c = 0;
            if (++r == nr) r = 0;
        }
        if (inblock >= block_) {
            if (br >= 0) break;
            inblock = 0;
        }
    }
    scan_r_ = r;
    scan_c_ = c;
    if (br < 0) return false;
    er = br;
    ec = bc;
    erc = best;
    return true;
}

template <class Real>
void TransportSimplex<Real>::pivot(idx r, idx c, double rc) {
    idx* parent = parent_.data();
    idx* depth = depth_.data();
    double* flow = flow_.data();
    const idx nr = nr_;
    const idx jn = nr + c;
    // apex of the pivot cycle
    idx x = r, z = jn;
    while (x != z) {
        if (depth[x] > depth[z])
            x = parent[x];
        else if (depth[z] > depth[x])
            z = parent[z];
        else {
            x = parent[x];
            z = parent[z];
        }
    }
    const idx join = x;
    // Ratio test with Cunningham's rule. Cycle orientation: join -> ... -> r -> jn -> ... -> join.
    // On the r-side path (walked downward) arcs of row nodes are traversed backward (blocking);
    // on the jn-side path (walked upward) arcs of column nodes are backward. Ties: the last
    // blocking arc in cycle order, i.e. the deepest on the r side, but any on the jn side wins,
    // the one nearest the apex first.
    double delta = std::numeric_limits<double>::infinity();
    idx leave = -1;
    bool rside = false;
    for (x = r; x != join; x = parent[x])
        if (x < nr && flow[x] < delta) {
            delta = flow[x];
            leave = x;
            rside = true;
        }
    for (x = jn; x != join; x = parent[x])
        if (x >= nr && flow[x] <= delta) {
            delta = flow[x];
            leave = x;
            rside = false;
        }
    if (delta > 0.0) {
        for (x = r; x != join; x = parent[x]) flow[x] += x < nr ? -delta : delta;
        for (x = jn; x != join; x = parent[x]) flow[x] += x < nr ? delta : -delta;
    }
    // Re-hang the subtree T2 under the leaving arc: q (entering endpoint inside T2) becomes a
    // child of p and the stem q = x0, x1, .., xk = leave is reversed. With e_t the last thread
    // node of the old subtree of x_t, the new preorder of T2 is the concatenation of the old
    // thread pieces S0 = [x0 .. e0], then for t = 1..k: A_t = [x_t .. before x_{t-1}] and
    // B_t = [after e_{t-1} .. e_t] (AMO pp. 412-418). Depths and potentials are updated in the
    // same walk; the pieces are then relinked in O(k).
    const idx q = rside ? r : jn;
    const idx p = rside ? jn : r;
    const double shift = rside ? -rc : rc;
    idx* thread = thread_.data();
    idx* rthread = rthread_.data();
    double* yy = y_.data();
    idx* pc = pieces_.data();  // pairs (first, last)
    idx np = 0;
    idx newd = depth[p] + 1;
    idx d0 = depth[q];
    depth[q] = newd;
    yy[q] += shift;
    idx e = q;
    for (idx t = thread[q]; depth[t] > d0; t = thread[t]) {
        depth[t] += newd - d0;
        yy[t] += shift;
        e = t;
    }
    pc[np++] = q;
    pc[np++] = e;
    idx prev_x = q;
    while (prev_x != leave) {
        const idx xx = parent[prev_x];
        ++newd;
        d0 = depth[xx];
        const idx dd = newd - d0;
        // A_t
        depth[xx] = newd;
        yy[xx] += shift;
        for (idx t = thread[xx]; t != prev_x; t = thread[t]) {
            depth[t] += dd;
            yy[t] += shift;
        }
        pc[np++] = xx;
        pc[np++] = rthread[prev_x];
        // B_t
        const idx bstart = thread[e];
        idx be = -1;
        for (idx t = bstart; depth[t] > d0; t = thread[t]) {
            depth[t] += dd;
            yy[t] += shift;
            be = t;
        }
        if (be >= 0) {
            pc[np++] = bstart;
            pc[np++] = be;
            e = be;
        }
        prev_x = xx;
    }
    // cut the old segment [leave .. e]
    {
        const idx before = rthread[leave], after = thread[e];
        thread[before] = after;
        rthread[after] = before;
    }
    // insert the pieces after p
    {
        const idx after = thread[p];
        idx prevn = p;
        for (idx k = 0; k < np; k += 2) {
            thread[prevn] = pc[k];
            rthread[pc[k]] = prevn;
            prevn = pc[k + 1];
        }
        thread[prevn] = after;
        rthread[after] = prevn;
    }
    // reverse the parent pointers (and move the flows) along q .. leave
    {
        idx pn = p, xx = q;
        double carry = delta;
        for (;;) {
            const idx op = parent[xx];
            const double of = flow[xx];
            parent[xx] = pn;
            flow[xx] = carry;
            if (xx == leave) break;
            pn = xx;
            carry = of;
            xx = op;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Costs at the float edges. A tree potential is an alternating sum of at most n + m costs, and a
// reduced cost adds one more, so with max |M| <= overflow_safe_cost(n, m) no intermediate value
// can overflow; with subnormal costs the pricing tolerance (1e-13 max |M|) underflows. Either
// way the problem is solved on a copy of M scaled by an exact power of two 2^s (scaling.hpp:
// refused when an entry would be rounded), and the cost and potentials are scaled back; if the
// cost or a potential then exceeds the double range, no finite certificate exists and
// std::invalid_argument naming M is thrown.
inline double overflow_safe_cost(idx n, idx m) {
    return std::numeric_limits<double>::max() / (2.0 * static_cast<double>(n + m) + 4.0);
}

template <class Real>
TransportResult TransportSimplex<Real>::run_scaled(const double* a, const double* b,
                                                   const NetworkSimplexOptions& opt,
                                                   double maxabs, int s) const {
    const std::vector<Real> scaled = detail_scale::scaled_copy(M_, n_ * m_, s, "M", maxabs);
    const std::vector<double> u0 = detail_scale::scaled_potentials(opt.u0, n_, s);
    const std::vector<double> v0 = detail_scale::scaled_potentials(opt.v0, m_, s);
    NetworkSimplexOptions o = opt;
    const bool warm = !u0.empty() && !v0.empty();
    o.u0 = warm ? u0.data() : nullptr;
    o.v0 = warm ? v0.data() : nullptr;
    TransportSimplex<Real> inner(scaled.data(), n_, m_);
    TransportResult res = inner.run(a, b, o);
    if (res.status == Status::infeasible) return res;
    res.cost = std::ldexp(res.cost, -s);
    if (!detail_scale::unscale_potentials(res.u, res.v, s) || !std::isfinite(res.cost))
        detail_scale::throw_out_of_range("M", maxabs);
    return res;
}

template <class Real>
TransportResult TransportSimplex<Real>::run(const double* a, const double* b,
                                            const NetworkSimplexOptions& opt) {
    std::vector<double> rowmin;
    const double maxabs = scan_costs(rowmin);
    const int s = detail_scale::scale_exponent(maxabs, overflow_safe_cost(n_, m_));
    if (s != 0) return run_scaled(a, b, opt, maxabs, s);
    std::vector<double> av, bv;
    if (!read_marginals(a, b, opt, av, bv)) {
        TransportResult res;
        res.status = Status::infeasible;
        res.cost = std::numeric_limits<double>::quiet_NaN();
        return res;
    }
    activate(av, bv, maxabs);
    std::vector<double> gu(static_cast<size_t>(nr_)), gv(static_cast<size_t>(nc_));
    guide_potentials(opt, rowmin, gu, gv);
    sparse_k_ = 8;
    build_initial_tree(gu, gv);
    idx iters = 0;
    const Status status = pivot_to_optimality(opt, iters);
    recompute_flows();
    recompute_potentials();
    TransportResult res = extract_result(av, bv);
    res.status = status;
    res.n_iter = iters;
    return res;
}

// Validate M in one pass; returns max |M| and fills the row minima.
template <class Real>
double TransportSimplex<Real>::scan_costs(std::vector<double>& rowmin) const {
    double maxabs = 0.0;
    rowmin.assign(static_cast<size_t>(n_), 0.0);
    for (idx i = 0; i < n_; ++i) {
        double mx;
        if (!detail_ns::row_stats(M_ + i * m_, m_, rowmin[i], mx))
            throw std::invalid_argument("network_simplex: M contains NaN or inf");
        maxabs = std::max(maxabs, mx);
    }
    return maxabs;
}

// Marginals (uniform when null) and warm-start potentials, validated; b rescaled to a's total.
// False when the totals differ (an infeasible problem).
template <class Real>
bool TransportSimplex<Real>::read_marginals(const double* a, const double* b,
                                            const NetworkSimplexOptions& opt,
                                            std::vector<double>& av,
                                            std::vector<double>& bv) const {
    const idx n = n_, m = m_;
    av.assign(static_cast<size_t>(n), 0.0);
    bv.assign(static_cast<size_t>(m), 0.0);
    long double sa = 0.0L, sb = 0.0L;
    for (idx i = 0; i < n; ++i) {
        const double v = a ? a[i] : 1.0 / static_cast<double>(n);
        if (!(std::isfinite(v) && v >= 0.0))
            throw std::invalid_argument("network_simplex: a must be finite and nonnegative");
        av[i] = v;
        sa += v;
    }
    for (idx j = 0; j < m; ++j) {
        const double v = b ? b[j] : 1.0 / static_cast<double>(m);
        if (!(std::isfinite(v) && v >= 0.0))
            throw std::invalid_argument("network_simplex: b must be finite and nonnegative");
        bv[j] = v;
        sb += v;
    }
    if (!(sa > 0.0L)) throw std::invalid_argument("network_simplex: a is all zero");
    if (!(sb > 0.0L)) throw std::invalid_argument("network_simplex: b is all zero");
    if (!std::isfinite(static_cast<double>(sa)))
        throw std::invalid_argument("network_simplex: sum of a overflows");
    if (!std::isfinite(static_cast<double>(sb)))
        throw std::invalid_argument("network_simplex: sum of b overflows");
    if (opt.u0)
        for (idx i = 0; i < n; ++i)
            if (!std::isfinite(opt.u0[i]))
                throw std::invalid_argument("network_simplex: u0 contains NaN or inf");
    if (opt.v0)
        for (idx j = 0; j < m; ++j)
            if (!std::isfinite(opt.v0[j]))
                throw std::invalid_argument("network_simplex: v0 contains NaN or inf");
    if (std::fabs(static_cast<double>(sa - sb)) >
        1e-9 * static_cast<double>(std::max(sa, sb)))
        return false;
    const double scale_b = static_cast<double>(sa / sb);
    if (scale_b != 1.0)
        for (idx j = 0; j < m; ++j) bv[j] *= scale_b;
    return true;
}

// The active (positive-mass) rows and columns, their supplies, and the pricing tolerance.
template <class Real>
void TransportSimplex<Real>::activate(const std::vector<double>& av,
                                      const std::vector<double>& bv, double maxabs) {
    for (idx i = 0; i < n_; ++i)
        if (av[i] > 0.0) rowid_.push_back(i);
    for (idx j = 0; j < m_; ++j)
        if (bv[j] > 0.0) colid_.push_back(j);
    nr_ = static_cast<idx>(rowid_.size());
    nc_ = static_cast<idx>(colid_.size());
    N_ = nr_ + nc_;
    col_ident_ = (nc_ == m_);
    supply_.resize(static_cast<size_t>(N_));
    for (idx r = 0; r < nr_; ++r) supply_[r] = av[rowid_[r]];
    for (idx c = 0; c < nc_; ++c) supply_[nr_ + c] = -bv[colid_[c]];
    tol_ = 1e-13 * maxabs;
    if (tol_ == 0.0) tol_ = std::numeric_limits<double>::min();
}

// Potentials that steer the initial basis: the warm start, or row/column minima.
template <class Real>
void TransportSimplex<Real>::guide_potentials(const NetworkSimplexOptions& opt,
                                              const std::vector<double>& rowmin,
                                              std::vector<double>& gu,
                                              std::vector<double>& gv) const {
    const double inf = std::numeric_limits<double>::infinity();
    const bool warm_u = opt.u0 != nullptr, warm_v = opt.v0 != nullptr;
    if (warm_u)
        for (idx r = 0; r < nr_; ++r) gu[r] = opt.u0[rowid_[r]];
    if (warm_v)
        for (idx c = 0; c < nc_; ++c) gv[c] = opt.v0[colid_[c]];
    if (!warm_u && !warm_v && nc_ > nr_) {
        // cold start, more columns than rows: normalise the larger side first (column minima,
        // then row minima of M - v); this keeps the guidance symmetric under transposition
        std::fill(gv.begin(), gv.end(), inf);
        for (idx r = 0; r < nr_; ++r) {
            const Real* Mr = row_ptr(r);
            if (col_ident_)
                detail_ns::colmin_update(gv.data(), Mr, 0.0, nc_);
            else
                for (idx c = 0; c < nc_; ++c)
                    gv[c] = std::min(gv[c], static_cast<double>(Mr[colid_[c]]));
        }
        for (idx r = 0; r < nr_; ++r) {
            const Real* Mr = row_ptr(r);
            double mn = inf;
            for (idx c = 0; c < nc_; ++c)
                mn = std::min(mn, static_cast<double>(Mr[colid_[c]]) - gv[c]);
            gu[r] = mn;
        }
    } else if (!warm_u && !warm_v && col_ident_) {
        for (idx r = 0; r < nr_; ++r) gu[r] = rowmin[rowid_[r]];
    } else if (!warm_u) {
        for (idx r = 0; r < nr_; ++r) {
            const Real* Mr = row_ptr(r);
            double mn = inf;
            if (col_ident_)
                for (idx c = 0; c < nc_; ++c)
                    mn = std::min(mn, static_cast<double>(Mr[c]) - (warm_v ? gv[c] : 0.0));
            else
                for (idx c = 0; c < nc_; ++c)
                    mn = std::min(mn, static_cast<double>(Mr[colid_[c]]) - (warm_v ? gv[c] : 0.0));
            gu[r] = mn;
        }
    }
    if (!warm_v && !(nc_ > nr_ && !warm_u)) {
        std::fill(gv.begin(), gv.end(), inf);
        for (idx r = 0; r < nr_; ++r) {
            const Real* Mr = row_ptr(r);
            const double ur = gu[r];
            if (col_ident_)
                detail_ns::colmin_update(gv.data(), Mr, ur, nc_);
            else
                for (idx c = 0; c < nc_; ++c)
                    gv[c] = std::min(gv[c], static_cast<double>(Mr[colid_[c]]) - ur);
        }
    }
}

// Block pricing (candidate lists first) and pivots until no arc prices out, with optimality
// re-checked on potentials recomputed from the tree; the status and the pivot count.
template <class Real>
Status TransportSimplex<Real>::pivot_to_optimality(const NetworkSimplexOptions& opt,
                                                   idx& iters) {
    block_ = opt.block_size > 0
                 ? opt.block_size
                 : std::max<idx>(16, static_cast<idx>(std::sqrt(static_cast<double>(nr_ * nc_))));
    pieces_.assign(static_cast<size_t>(2 * N_ + 2), 0);
    iters = 0;
    Status status = Status::optimal;
    bool sparse_phase = !sp_row_.empty();
    sp_block_ = std::max<idx>(8, static_cast<idx>(std::sqrt(static_cast<double>(sp_row_.size()))));
    bool fresh = false;  // potentials recomputed from the tree since the last pivot
    int rechecks = 0;
    for (;;) {
        idx er, ec;
        double erc;
        bool found;
        if (sparse_phase) {
            found = price_sparse(er, ec, erc);
            if (!found) {
                sparse_phase = false;
                continue;
            }
        } else {
            found = col_ident_ ? price<true>(er, ec, erc) : price<false>(er, ec, erc);
        }
        if (!found) {
            // re-check optimality with potentials recomputed from the tree (bounded number of
            // rounds, a guard against rounding-level ping-pong)
            if (fresh || ++rechecks > 64) break;
            recompute_potentials();
            fresh = true;
            continue;
        }
        erc = cost(er, ec) + y_[er] - y_[nr_ + ec];
        if (!(erc < 0.0)) {  // drifted potentials: refresh and rescan
            if (fresh) break;
            recompute_potentials();
            fresh = true;
            continue;
        }
        if (opt.max_iter > 0 && iters >= opt.max_iter) {
            status = Status::max_iter;
            break;
        }
        pivot(er, ec, erc);
        fresh = false;
        ++iters;
    }
    return status;
}

// The sparse plan (sorted by row then column, positive cells only), its cost summed in long
// double, and the potentials (zero-mass rows and columns get the tightest feasible ones).
template <class Real>
TransportResult TransportSimplex<Real>::extract_result(const std::vector<double>& av,
                                                      const std::vector<double>& bv) const {
    const idx n = n_, m = m_;
    const double inf = std::numeric_limits<double>::infinity();
    TransportResult res;
    struct Cell {
        idx i, j;
        double w;
    };
    std::vector<Cell> cells;
    cells.reserve(static_cast<size_t>(N_));
    for (idx x = 0; x < N_; ++x) {
        if (x == root_ || !(flow_[x] > 0.0)) continue;
        const idx p = parent_[x];
        const idx r = x < nr_ ? x : p;
        const idx c = (x < nr_ ? p : x) - nr_;
        cells.push_back({rowid_[r], colid_[c], flow_[x]});
    }
    std::sort(cells.begin(), cells.end(), [](const Cell& s, const Cell& t) {
        return s.i != t.i ? s.i < t.i : s.j < t.j;
    });
    long double total = 0.0L;
    res.rows.reserve(cells.size());
    res.cols.reserve(cells.size());
    res.weights.reserve(cells.size());
    for (const Cell& e : cells) {
        res.rows.push_back(e.i);
        res.cols.push_back(e.j);
        res.weights.push_back(e.w);
        total += static_cast<long double>(e.w) * static_cast<long double>(M_[e.i * m + e.j]);
    }
    res.cost = static_cast<double>(total);
    res.u.assign(static_cast<size_t>(n), inf);
    res.v.assign(static_cast<size_t>(m), inf);
    for (idx r = 0; r < nr_; ++r) res.u[rowid_[r]] = -y_[r];
    for (idx c = 0; c < nc_; ++c) res.v[colid_[c]] = y_[nr_ + c];
    // zero-mass rows / columns: tightest feasible potentials (they do not enter the objective)
    if (nr_ < n) {
        for (idx i = 0; i < n; ++i) {
            if (av[i] > 0.0) continue;
            const Real* Mi = M_ + i * m;
            double mn = inf;
            for (idx c = 0; c < nc_; ++c)
                mn = std::min(mn, static_cast<double>(Mi[colid_[c]]) - y_[nr_ + c]);
            res.u[i] = mn;
        }
    }
    if (nc_ < m) {
        std::vector<double> mn(static_cast<size_t>(m), inf);
        for (idx i = 0; i < n; ++i) {
            const Real* Mi = M_ + i * m;
            const double ui = res.u[i];
            for (idx j = 0; j < m; ++j)
                if (!(bv[j] > 0.0)) mn[j] = std::min(mn[j], static_cast<double>(Mi[j]) - ui);
        }
        for (idx j = 0; j < m; ++j)
            if (!(bv[j] > 0.0)) res.v[j] = mn[j];
    }
    return res;
}

}  // namespace detail_ns

/// Exact optimal transport min <M, P> s.t. P 1 = a, P^T 1 = b, P >= 0 by the network simplex.
///
/// M: row-major n x m costs (float or double; read in place). a / b: marginals (nullptr =
/// uniform). The totals must agree to 1e-9 relative (else Status::infeasible, empty plan);
/// b is rescaled to sum(a). Returns a basic optimal plan (sparse, sorted by row then column,
/// strictly positive cells only), its cost, and dual potentials u, v certifying optimality.
/// Throws std::invalid_argument naming the bad argument (n, m, M, a, b, u0, v0).
/// Warm start: options.u0 / options.v0 (either or both) steer the initial basis only; the
/// result is optimal whatever their quality.
template <class Real>
TransportResult network_simplex(const Real* M, std::int64_t n, std::int64_t m, const double* a,
                                const double* b, const NetworkSimplexOptions& options = {}) {
    static_assert(std::is_same<Real, float>::value || std::is_same<Real, double>::value,
                  "network_simplex: costs must be float or double");
    if (n < 1) throw std::invalid_argument("network_simplex: n must be positive");
    if (m < 1) throw std::invalid_argument("network_simplex: m must be positive");
    if (M == nullptr) throw std::invalid_argument("network_simplex: M is null");
    if (n > std::numeric_limits<std::int64_t>::max() / m)
        throw std::invalid_argument("network_simplex: n * m overflows");
    detail_ns::TransportSimplex<Real> solver(M, n, m);
    return solver.run(a, b, options);
}

}  // namespace hotalign
