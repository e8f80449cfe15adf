// hotalign/transport.hpp -- one entry point for exact transport: picks the solver.
//
// solve_transport() routes a problem to the assignment solver when the answer is a permutation
// (n == m and both marginals uniform: by Birkhoff-von Neumann an optimal vertex is then a
// permutation matrix scaled by the common mass) and to the network simplex otherwise. Both paths
// return the same TransportResult: a sparse vertex plan, the cost and dual potentials.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "assignment.hpp"
#include "network_simplex.hpp"
#include "scaling.hpp"
#include "status.hpp"

namespace hotalign {

namespace detail {

/// True when every entry of x (size k) equals x[0] exactly; nullptr means uniform.
inline bool is_constant(const double* x, std::int64_t k) noexcept {
    if (x == nullptr) return true;
    for (std::int64_t i = 1; i < k; ++i)
        if (x[i] != x[0]) return false;
    return true;
}

}  // namespace detail

/// True when (n, m, a, b) is an assignment problem in disguise: n == m and uniform marginals.
inline bool is_assignment_problem(std::int64_t n, std::int64_t m, const double* a,
                                  const double* b) noexcept {
    return n == m && detail::is_constant(a, n) && detail::is_constant(b, m);
}

/// Exact transport min <M, P> s.t. P 1 = a, P^T 1 = b, P >= 0 (see network_simplex()).
///
/// M is row-major n x m; a == nullptr / b == nullptr mean uniform marginals (1/n, 1/m).
/// Method::automatic uses the assignment solver when is_assignment_problem() holds, else the
/// network simplex; Method::assignment on any other problem throws std::invalid_argument.
/// The warm-start potentials in `options` are used by the network simplex only.
template <class Real>
TransportResult solve_transport(const Real* M, std::int64_t n, std::int64_t m, const double* a,
                                const double* b, const NetworkSimplexOptions& options = {},
                                Method method = Method::automatic) {
    if (n < 1) throw std::invalid_argument("n must be positive");
    if (m < 1) throw std::invalid_argument("m must be positive");
    const bool square_uniform = is_assignment_problem(n, m, a, b);
    if (method == Method::assignment && !square_uniform)
        throw std::invalid_argument(
            "method: 'assignment' needs a square cost matrix and uniform marginals a, b");
    if (method == Method::network_simplex || !square_uniform)
        return network_simplex(M, n, m, a, b, options);

    // Uniform marginals of equal size: mass per row and per column is the same number w.
    const double wa = a ? a[0] : 1.0 / static_cast<double>(n);
    const double wb = b ? b[0] : 1.0 / static_cast<double>(m);
    if (!(wa > 0.0) || !(wb > 0.0) || !std::isfinite(wa) || !std::isfinite(wb))
        return network_simplex(M, n, m, a, b, options);  // reports the bad marginal
    const double rel = (wa > wb ? wa - wb : wb - wa) / (wa > wb ? wa : wb);
    if (rel > 1e-9) {
        TransportResult infeasible;
        infeasible.method = Method::assignment;
        infeasible.status = Status::infeasible;
        return infeasible;
    }
    // Transport costs must be finite (the assignment solver alone would read +inf as a
    // forbidden pair, as scipy does), and costs so large that sums could overflow go to the
    // network simplex; both checks ride on the solver's first row scans (no extra pass).
    // The bound is the network simplex's overflow-safe cost (detail_ns::overflow_safe_cost).
    const double big = detail_ns::overflow_safe_cost(n, m);
    AssignmentResult lsa;
    try {
        lsa = linear_sum_assignment(M, n, m, false, "M", big);
    } catch (const detail_lsap::CostTooLarge&) {
        return network_simplex(M, n, m, a, b, options);
    }
    TransportResult out;
    out.method = Method::assignment;
    out.status = lsa.status;
    out.n_iter = lsa.n_iter;
    if (lsa.status != Status::optimal) return out;
    out.rows = std::move(lsa.row_ind);
    out.cols = std::move(lsa.col_ind);
    out.weights.assign(static_cast<std::size_t>(n), wa);
    // The transport LP with every row and column mass w has the assignment LP's duals:
    // max w (sum u + sum v) s.t. u_i + v_j <= M_ij.
    out.u = std::move(lsa.u);
    out.v = std::move(lsa.v);
    out.cost = lsa.cost * wa;
    return out;
}

/// linear_sum_assignment() exact up to the float edges: costs so large that the solver's sums
/// of n + m terms could overflow (finite entries above detail_ns::overflow_safe_cost) are solved
/// on a copy scaled by an exact power of two (infinities stay forbidden pairs), and the cost and
/// potentials scaled back (a potential or the cost beyond the double range becomes +-inf; the
/// assignment itself is exact). Throws std::invalid_argument naming C when no single scaling
/// represents every entry exactly (see scaling.hpp); `name` is the matrix named in that message. Subnormal costs need no scaling: sums and
/// differences of subnormals are exact, and the solver has no cost-relative tolerance.
template <class Real>
AssignmentResult linear_sum_assignment_scaled(const Real* C, std::int64_t n, std::int64_t m,
                                              bool maximize = false,
                                              const char* name = "C") {
    if (n < 1 || m < 1 || C == nullptr) return linear_sum_assignment(C, n, m, maximize);
    const double maxabs = detail_scale::max_abs_finite(C, n * m);
    const double safe = detail_ns::overflow_safe_cost(n, m);
    if (!(maxabs > safe)) return linear_sum_assignment(C, n, m, maximize);
    const int s = detail_scale::scale_exponent(maxabs, safe);
    const std::vector<Real> scaled = detail_scale::scaled_copy(C, n * m, s, name, maxabs);
    AssignmentResult res = linear_sum_assignment(scaled.data(), n, m, maximize);
    res.cost = std::ldexp(res.cost, -s);
    detail_scale::unscale_potentials(res.u, res.v, s);
    return res;
}

}  // namespace hotalign
