// hotalign/sparse_network_simplex.hpp -- exact transport on a given arc set (sparse costs).
//
// Solves  min sum_e c_e f_e  s.t.  sum_{e out of row i} f_e = a_i,  sum_{e into col j} f_e = b_j,
// f >= 0, over the arcs e = (row_e -> col_e) listed by the caller only: a pair that is not listed
// is forbidden. The arc set may make the problem infeasible (the arcs cannot carry the
// marginals); that is detected and reported as Status::infeasible.
//
// Method: primal network simplex on spanning-tree bases (R. K. Ahuja, T. L. Magnanti,
// J. B. Orlin, "Network Flows", 1993, ch. 11), with an artificial root node joined to every node
// by an artificial arc, so that the all-artificial tree is a strongly feasible start (row i ->
// root carries a_i, root -> column j carries b_j, zero-mass nodes point toward the root). The
// artificial arcs are priced by an infinitely large cost ("big M" made exact): every potential
// and reduced cost is a pair (artificial part, real part) compared lexicographically, so the
// artificial part (integers) and the real costs never share one float and nothing is rounded
// against a large constant. Leaving arc: the last blocking arc of the cycle in the flow
// direction from the apex (W. H. Cunningham, Math. Programming 11 (1976) 105-116), which keeps
// the tree strongly feasible and prevents cycling. Entering arc: block search over the arc list
// (P. Kovacs, Optim. Methods Softw. 30 (2015) 94-127, sect. 3.3). The tree is held as parent /
// children lists with depths; the re-hung subtree has its depths and potentials updated.
//
// Exactness, as in network_simplex.hpp: after the last pivot the flows are recomputed from the
// supplies by leaf peeling and the potentials from the tree, optimality is re-checked, and the
// cost is summed in long double. Costs at the float edges are solved on a copy scaled by an
// exact power of two (scaling.hpp). The dual potentials returned satisfy u_i + v_j <= c_e on
// every listed arc, with equality on the plan's support (a certificate on the given arcs).
//
// Thread-safe: no global or static mutable state. No Python headers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "network_simplex.hpp"
#include "scaling.hpp"
#include "status.hpp"

namespace hotalign {

/// Result of sparse_network_simplex(): the plan as flows on (a subset of) the given arcs.
struct SparseTransportResult {
    std::vector<std::int64_t> arcs;  ///< indices into the input arc list, flow > 0, ascending
    std::vector<double> flows;       ///< flow on each of those arcs
    std::vector<double> u;           ///< row potentials (size n)
    std::vector<double> v;           ///< column potentials (size m)
    double cost = 0.0;
    Status status = Status::optimal;
    std::int64_t n_iter = 0;
};

namespace detail_sns {

using idx = std::int64_t;

class SparseSimplex {
public:
    SparseSimplex(idx n, idx m, const idx* row, const idx* col, const double* cost, idx E)
        : n_(n), m_(m), E_(E), N_(n + m + 1), root_(n + m) {
        const idx A = E + n + m;
        src_.resize(A);
        tgt_.resize(A);
        c2_.resize(A);
        c1_.assign(A, 0.0);
        for (idx e = 0; e < E; ++e) {
            src_[e] = row[e];
            tgt_[e] = n + col[e];
            c2_[e] = cost[e];
        }
        A_ = A;
    }

    SparseTransportResult run(const double* a, const double* b, idx max_iter, double maxabs) {
        init_tree(a, b);
        greedy_basis();
        tol_ = 1e-13 * maxabs;
        if (tol_ == 0.0) tol_ = std::numeric_limits<double>::min();
        idx iters = 0;
        Status status = Status::optimal;
        lim_ = A_;
        block_ = std::max<idx>(16, static_cast<idx>(std::sqrt(static_cast<double>(A_))));
        for (int round = 0; round < 8; ++round) {
            status = pivot_loop(max_iter, iters);
            recompute_flows();
            recompute_potentials();
            if (status != Status::optimal || !any_entering()) break;
        }
        return extract(status, iters);
    }

private:
    idx n_, m_, E_, N_, root_, A_ = 0, lim_ = 0;  // lim_: arcs priced
    std::vector<idx> src_, tgt_;
    std::vector<double> c1_, c2_;  // artificial and real part of each arc's cost
    std::vector<double> supply_;
    // tree: node x hangs from parent_[x] by arc pred_[x]; up_[x]: the arc points x -> parent
    std::vector<idx> parent_, pred_, depth_, first_child_, next_sib_, prev_sib_;
    std::vector<char> up_;
    struct Pot {
        double p1, p2;  // potential: artificial part, real part
    };
    std::vector<double> flow_;  // flow on pred_[x]
    std::vector<Pot> pot_;
    double tol_ = 0.0;
    idx block_ = 16, next_arc_ = 0;
    std::vector<idx> stack_;

    void attach(idx x, idx p) {
        parent_[x] = p;
        prev_sib_[x] = -1;
        next_sib_[x] = first_child_[p];
        if (first_child_[p] >= 0) prev_sib_[first_child_[p]] = x;
        first_child_[p] = x;
    }
    void detach(idx x) {
        const idx p = parent_[x];
        if (prev_sib_[x] >= 0) next_sib_[prev_sib_[x]] = next_sib_[x];
        else first_child_[p] = next_sib_[x];
        if (next_sib_[x] >= 0) prev_sib_[next_sib_[x]] = prev_sib_[x];
    }

    void init_tree(const double* a, const double* b) {
        supply_.assign(N_, 0.0);
        for (idx i = 0; i < n_; ++i) supply_[i] = a[i];
        for (idx j = 0; j < m_; ++j) supply_[n_ + j] = -b[j];
        parent_.assign(N_, -1);
        pred_.assign(N_, -1);
        depth_.assign(N_, 0);
        first_child_.assign(N_, -1);
        next_sib_.assign(N_, -1);
        prev_sib_.assign(N_, -1);
        up_.assign(N_, 0);
        flow_.assign(N_, 0.0);
        pot_.assign(N_, Pot{0.0, 0.0});
        for (idx x = 0; x < root_; ++x) {
            const idx e = E_ + x;
            c1_[e] = 1.0;
            c2_[e] = 0.0;
            if (supply_[x] >= 0.0) {  // x -> root carries the supply (zero: points to the root)
                src_[e] = x;
                tgt_[e] = root_;
                up_[x] = 1;
                flow_[x] = supply_[x];
                pot_[x].p1 = -1.0;  // reduced cost 1 + p1[x] - p1[root] = 0
            } else {
                src_[e] = root_;
                tgt_[e] = x;
                up_[x] = 0;
                flow_[x] = -supply_[x];
                pot_[x].p1 = 1.0;
            }
            pred_[x] = e;
            depth_[x] = 1;
            attach(x, root_);
        }
    }

    // Initial basis: greedy on the arcs by increasing cost, each assignment exhausting a row or
    // a column (so that every greedy arc carries positive flow and each component of the greedy
    // forest keeps at most one node with mass left); each component hangs from the root by the
    // artificial arc of that node (or of any node, at zero flow toward the root). The tree is
    // strongly feasible, and the artificial arcs carry only the mass the greedy left.
    void greedy_basis() {
        if (E_ == 0) return;
        std::vector<idx> order(E_);
        std::iota(order.begin(), order.end(), idx(0));
        std::sort(order.begin(), order.end(), [this](idx x, idx y) {
            return c2_[x] != c2_[y] ? c2_[x] < c2_[y] : x < y;
        });
        std::vector<double> res(N_);
        double maxmass = 0.0;
        for (idx x = 0; x < root_; ++x) {
            res[x] = std::fabs(supply_[x]);
            maxmass = std::max(maxmass, res[x]);
        }
        const double snap = 64.0 * std::numeric_limits<double>::epsilon() * maxmass;
        std::vector<idx> chosen;
        chosen.reserve(static_cast<size_t>(root_));
        for (idx e : order) {
            const idx r = src_[e], c = tgt_[e];
            if (!(res[r] > 0.0 && res[c] > 0.0)) continue;
            const double f = std::min(res[r], res[c]);
            res[r] -= f;
            res[c] -= f;
            if (res[r] <= snap) res[r] = 0.0;
            if (res[c] <= snap) res[c] = 0.0;
            chosen.push_back(e);
        }
        // adjacency of the greedy forest
        std::vector<idx> deg(static_cast<size_t>(N_ + 1), 0), adj(2 * chosen.size());
        for (idx e : chosen) {
            ++deg[src_[e] + 1];
            ++deg[tgt_[e] + 1];
        }
        for (idx x = 0; x < N_; ++x) deg[x + 1] += deg[x];
        std::vector<idx> pos(deg.begin(), deg.end() - 1);
        for (idx e : chosen) {
            adj[pos[src_[e]]++] = e;
            adj[pos[tgt_[e]]++] = e;
        }
        // components: find the node with mass left (the hanging node), then hang by BFS
        first_child_.assign(N_, -1);
        std::vector<char> seen(static_cast<size_t>(N_), 0);
        std::vector<idx> comp;
        for (idx x0 = 0; x0 < root_; ++x0) {
            if (seen[x0]) continue;
            comp.clear();
            comp.push_back(x0);
            seen[x0] = 1;
            for (size_t q = 0; q < comp.size(); ++q)
                for (idx k = deg[comp[q]]; k < deg[comp[q] + 1]; ++k) {
                    const idx e = adj[k], y = src_[e] == comp[q] ? tgt_[e] : src_[e];
                    if (!seen[y]) {
                        seen[y] = 1;
                        comp.push_back(y);
                    }
                }
            idx h = comp[0];
            for (idx x : comp)
                if (res[x] > 0.0) h = x;
            hang(h, root_, E_ + h, res[h]);
            // BFS from h over the greedy arcs
            stack_.assign(1, h);
            for (size_t q = 0; q < stack_.size(); ++q) {
                const idx x = stack_[q];
                for (idx k = deg[x]; k < deg[x + 1]; ++k) {
                    const idx e = adj[k], y = src_[e] == x ? tgt_[e] : src_[e];
                    if (y == parent_[x] && pred_[x] == e) continue;
                    hang(y, x, e, 0.0);
                    stack_.push_back(y);
                }
            }
        }
        recompute_flows();
        recompute_potentials();
    }

    // x hangs from p by arc e (artificial arcs are re-oriented by the sign of `left`)
    void hang(idx x, idx p, idx e, double left) {
        if (e >= E_) {
            const bool toward_root = x < n_ || !(left > 0.0);  // rows only supply
            src_[e] = toward_root ? x : root_;
            tgt_[e] = toward_root ? root_ : x;
        }
        pred_[x] = e;
        up_[x] = src_[e] == x;
        depth_[x] = depth_[p] + 1;
        attach(x, p);
    }

    // reduced cost of arc e, lexicographic (r1, r2)
    void reduced(idx e, double& r1, double& r2) const {
        const idx s = src_[e], t = tgt_[e];
        r1 = c1_[e] + pot_[s].p1 - pot_[t].p1;
        r2 = c2_[e] + pot_[s].p2 - pot_[t].p2;
    }
    bool negative(double r1, double r2) const { return r1 < 0.0 || (r1 == 0.0 && r2 < -tol_); }

    // Block search: the lexicographically most negative reduced cost of the first block that
    // has one; -1 when no arc has a negative reduced cost.
    idx find_entering() {
        idx best = -1;
        double b1 = 0.0, b2 = 0.0;
        idx scanned = 0, in_block = 0;
        if (next_arc_ >= lim_) next_arc_ = 0;
        idx e = next_arc_;
        while (scanned < lim_) {
            double r1, r2;
            reduced(e, r1, r2);
            if (negative(r1, r2) && (best < 0 || r1 < b1 || (r1 == b1 && r2 < b2))) {
                best = e;
                b1 = r1;
                b2 = r2;
            }
            ++scanned;
            ++in_block;
            if (++e == lim_) e = 0;
            if (in_block == block_) {
                if (best >= 0) break;
                in_block = 0;
            }
        }
        next_arc_ = e;
        return best;
    }

    bool any_entering() {
        for (idx e = 0; e < A_; ++e) {
            double r1, r2;
            reduced(e, r1, r2);
            if (negative(r1, r2)) return true;
        }
        return false;
    }

    Status pivot_loop(idx max_iter, idx& iters) {
        for (;;) {
            const idx e = find_entering();
            if (e < 0) return Status::optimal;
            if (max_iter > 0 && iters >= max_iter) return Status::max_iter;
            pivot(e);
            ++iters;
        }
    }

    void pivot(idx e) {
        const idx s = src_[e], t = tgt_[e];
        double r1, r2;
        reduced(e, r1, r2);
        // apex of the cycle
        idx x = s, y = t;
        while (x != y) {
            if (depth_[x] > depth_[y]) x = parent_[x];
            else if (depth_[y] > depth_[x]) y = parent_[y];
            else {
                x = parent_[x];
                y = parent_[y];
            }
        }
        const idx join = x;
        // Flow goes s -> t, up from t to the apex, down from the apex to s. Blocking arcs are those
        // whose flow decreases; the leaving one is the last met from the apex in flow direction.
        double delta = std::numeric_limits<double>::infinity();
        idx out = -1;
        bool out_on_s_side = false;
        for (idx z = s; z != join; z = parent_[z])
            if (up_[z] && flow_[z] < delta) {
                delta = flow_[z];
                out = z;
                out_on_s_side = true;
            }
        for (idx z = t; z != join; z = parent_[z])
            if (!up_[z] && flow_[z] <= delta) {
                delta = flow_[z];
                out = z;
                out_on_s_side = false;
            }
        if (out < 0) throw std::logic_error("sparse_network_simplex: unbounded cycle");
        if (delta > 0.0) {
            for (idx z = s; z != join; z = parent_[z]) flow_[z] += up_[z] ? -delta : delta;
            for (idx z = t; z != join; z = parent_[z]) flow_[z] += up_[z] ? delta : -delta;
        }
        // Re-hang the subtree of `out` from the entering arc.
        const idx u_in = out_on_s_side ? s : t, v_in = out_on_s_side ? t : s;
        const double sig1 = u_in == t ? r1 : -r1, sig2 = u_in == t ? r2 : -r2;
        idx prev = v_in, z = u_in, arc = e;
        bool arc_up = (u_in == s);
        double arc_flow = delta;
        for (;;) {
            const idx old_parent = parent_[z], old_pred = pred_[z];
            const bool old_up = up_[z];
            const double old_flow = flow_[z];
            detach(z);
            attach(z, prev);
            pred_[z] = arc;
            up_[z] = arc_up;
            flow_[z] = arc_flow;
            if (z == out) break;
            prev = z;
            arc = old_pred;
            arc_up = !old_up;
            arc_flow = old_flow;
            z = old_parent;
        }
        // depths and potentials of the moved subtree
        stack_.clear();
        stack_.push_back(u_in);
        while (!stack_.empty()) {
            const idx q = stack_.back();
            stack_.pop_back();
            depth_[q] = depth_[parent_[q]] + 1;
            pot_[q].p1 += sig1;
            pot_[q].p2 += sig2;
            for (idx c = first_child_[q]; c >= 0; c = next_sib_[c]) stack_.push_back(c);
        }
    }

    // preorder of the tree from the root
    void preorder(std::vector<idx>& order) {
        order.clear();
        order.reserve(N_);
        stack_.clear();
        stack_.push_back(root_);
        while (!stack_.empty()) {
            const idx q = stack_.back();
            stack_.pop_back();
            order.push_back(q);
            for (idx c = first_child_[q]; c >= 0; c = next_sib_[c]) stack_.push_back(c);
        }
    }

    void recompute_flows() {
        std::vector<idx> order;
        preorder(order);
        std::vector<double> net(supply_);
        for (idx k = N_ - 1; k >= 1; --k) {
            const idx x = order[k];
            const double f = up_[x] ? net[x] : -net[x];
            flow_[x] = f > 0.0 ? f : 0.0;
            net[parent_[x]] += net[x];
        }
    }

    void recompute_potentials() {
        std::vector<idx> order;
        preorder(order);
        pot_[root_].p1 = pot_[root_].p2 = 0.0;
        for (idx k = 1; k < N_; ++k) {
            const idx x = order[k], p = parent_[x], e = pred_[x];
            // reduced cost c + p[src] - p[tgt] = 0 on the tree arc
            if (up_[x]) {
                pot_[x].p1 = pot_[p].p1 - c1_[e];
                pot_[x].p2 = pot_[p].p2 - c2_[e];
            } else {
                pot_[x].p1 = pot_[p].p1 + c1_[e];
                pot_[x].p2 = pot_[p].p2 + c2_[e];
            }
        }
    }

    SparseTransportResult extract(Status status, idx iters) {
        SparseTransportResult res;
        res.n_iter = iters;
        res.status = status;
        double mass = 0.0, art = 0.0;
        for (idx i = 0; i < n_; ++i) mass += supply_[i];
        for (idx x = 0; x < root_; ++x)
            if (pred_[x] >= E_) art += flow_[x];
        if (art > 1e-9 * mass) {
            res.status = Status::infeasible;
            res.cost = std::numeric_limits<double>::quiet_NaN();
            return res;
        }
        // Real duals: the artificial part of the potentials is constant on pieces of the tree;
        // the smallest weight W with W r1 + r2 >= 0 on every real arc makes W p1 + p2 dual
        // feasible for the problem without artificial arcs (the cost is unchanged: no
        // artificial arc carries flow).
        double W = 0.0;
        for (idx e = 0; e < E_; ++e) {
            double r1, r2;
            reduced(e, r1, r2);
            if (r1 > 0.0 && r2 < 0.0) W = std::max(W, -r2 / r1);
        }
        std::vector<double> pot(N_);
        for (idx x = 0; x < N_; ++x) pot[x] = W * pot_[x].p1 + pot_[x].p2;
        res.u.resize(n_);
        res.v.resize(m_);
        for (idx i = 0; i < n_; ++i) res.u[i] = -pot[i];
        for (idx j = 0; j < m_; ++j) res.v[j] = pot[n_ + j];
        std::vector<std::pair<idx, double>> cells;
        long double total = 0.0L;
        for (idx x = 0; x < root_; ++x)
            if (pred_[x] < E_ && flow_[x] > 0.0) {
                cells.emplace_back(pred_[x], flow_[x]);
                total += static_cast<long double>(flow_[x]) * static_cast<long double>(c2_[pred_[x]]);
            }
        std::sort(cells.begin(), cells.end());
        for (const auto& [e, f] : cells) {
            res.arcs.push_back(e);
            res.flows.push_back(f);
        }
        res.cost = static_cast<double>(total);
        return res;
    }
};

// Marginals (uniform when null), validated; b rescaled to a's total. False when totals differ.
inline bool read_marginals(const double* a, const double* b, idx n, idx m,
                           std::vector<double>& av, std::vector<double>& bv) {
    long double sa = 0.0L, sb = 0.0L;
    av.resize(n);
    bv.resize(m);
    for (idx i = 0; i < n; ++i) {
        av[i] = a ? a[i] : 1.0 / static_cast<double>(n);
        if (!(std::isfinite(av[i]) && av[i] >= 0.0))
            throw std::invalid_argument("sparse_network_simplex: a must be finite and nonnegative");
        sa += av[i];
    }
    for (idx j = 0; j < m; ++j) {
        bv[j] = b ? b[j] : 1.0 / static_cast<double>(m);
        if (!(std::isfinite(bv[j]) && bv[j] >= 0.0))
            throw std::invalid_argument("sparse_network_simplex: b must be finite and nonnegative");
        sb += bv[j];
    }
    if (!(sa > 0.0L)) throw std::invalid_argument("sparse_network_simplex: a is all zero");
    if (!(sb > 0.0L)) throw std::invalid_argument("sparse_network_simplex: b is all zero");
    if (std::fabs(static_cast<double>(sa - sb)) > 1e-9 * static_cast<double>(std::max(sa, sb)))
        return false;
    const double scale_b = static_cast<double>(sa / sb);
    if (scale_b != 1.0)
        for (double& x : bv) x *= scale_b;
    return true;
}

}  // namespace detail_sns

/// Exact transport restricted to the arcs (row[e] -> col[e], cost[e]), e < n_arcs: pairs not
/// listed are forbidden. a / b: marginals (nullptr = uniform); totals must agree to 1e-9
/// relative. Returns Status::infeasible (empty plan, NaN cost) when the totals differ or the arcs
/// cannot carry the marginals. Repeated (row, col) pairs are parallel arcs. max_iter <= 0: no
/// pivot limit. Throws std::invalid_argument naming the bad argument.
inline SparseTransportResult sparse_network_simplex(std::int64_t n, std::int64_t m,
                                                    const std::int64_t* row,
                                                    const std::int64_t* col, const double* cost,
                                                    std::int64_t n_arcs, const double* a,
                                                    const double* b, std::int64_t max_iter = 0) {
    if (n < 1) throw std::invalid_argument("sparse_network_simplex: n must be positive");
    if (m < 1) throw std::invalid_argument("sparse_network_simplex: m must be positive");
    if (n_arcs < 0) throw std::invalid_argument("sparse_network_simplex: negative arc count");
    if (n_arcs > 0 && (row == nullptr || col == nullptr || cost == nullptr))
        throw std::invalid_argument("sparse_network_simplex: null arc arrays");
    for (std::int64_t e = 0; e < n_arcs; ++e) {
        if (row[e] < 0 || row[e] >= n)
            throw std::invalid_argument("sparse_network_simplex: row index out of range");
        if (col[e] < 0 || col[e] >= m)
            throw std::invalid_argument("sparse_network_simplex: column index out of range");
        if (!std::isfinite(cost[e]))
            throw std::invalid_argument("M contains NaN or infinity");
    }
    std::vector<double> av, bv;
    SparseTransportResult res;
    if (!detail_sns::read_marginals(a, b, n, m, av, bv)) {
        res.status = Status::infeasible;
        res.cost = std::numeric_limits<double>::quiet_NaN();
        return res;
    }
    const double maxabs = detail_scale::max_abs_finite(cost, n_arcs);
    const int s = detail_scale::scale_exponent(maxabs, detail_ns::overflow_safe_cost(n, m));
    std::vector<double> scaled;
    const double* c = cost;
    if (s != 0) {
        scaled = detail_scale::scaled_copy(cost, n_arcs, s, "M", maxabs);
        c = scaled.data();
    }
    detail_sns::SparseSimplex solver(n, m, row, col, c, n_arcs);
    res = solver.run(av.data(), bv.data(), max_iter, std::ldexp(maxabs, s));
    if (s != 0 && res.status != Status::infeasible) {
        res.cost = std::ldexp(res.cost, -s);
        if (!detail_scale::unscale_potentials(res.u, res.v, s) || !std::isfinite(res.cost))
            detail_scale::throw_out_of_range("M", maxabs);
    }
    return res;
}

}  // namespace hotalign
