// hotalign/status.hpp -- solver outcomes and result structures shared by every solver.
//
// Solver outcomes are reported as a Status field of the result (as POT and scipy do), never as
// text on stderr. Bad arguments (NaN, negative mass, wrong sizes) throw std::invalid_argument
// naming the argument; a caller-visible outcome of a well-formed problem is a Status.
#pragma once

#include <cstdint>
#include <vector>

namespace hotalign {

/// Outcome of a solve. The integer values are part of the C ABI (see c_api.h).
enum class Status : int {
    optimal = 0,     ///< an optimal solution and a dual certificate were found
    infeasible = 1,  ///< no feasible solution (totals differ, or every completion is forbidden)
    unbounded = 2,   ///< the objective is unbounded below (cannot happen with finite costs)
    max_iter = 3,    ///< the iteration limit was reached before optimality; the plan is feasible
};

/// Which exact solver to use (solve_transport) or was used (TransportResult::method).
enum class Method : int { automatic = 0, network_simplex = 1, assignment = 2 };

inline const char* status_name(Status s) noexcept {
    switch (s) {
        case Status::optimal: return "optimal";
        case Status::infeasible: return "infeasible";
        case Status::unbounded: return "unbounded";
        case Status::max_iter: return "max_iter";
    }
    return "unknown";
}

/// Result of an exact transport solve, min <M, P> s.t. P 1 = a, P^T 1 = b, P >= 0.
///
/// The plan is sparse: cell k carries mass weights[k] from row rows[k] to column cols[k]. Only
/// cells with strictly positive mass are listed; there are at most n + m - 1 of them (the plan is
/// a vertex of the transportation polytope, so its support is a forest). u (size n) and v (size m)
/// are dual potentials: u[i] + v[j] <= M[i, j] for every cell, with equality on the support, and
/// cost == sum_i a[i] u[i] + sum_j b[j] v[j] at optimality.
struct TransportResult {
    std::vector<std::int64_t> rows;
    std::vector<std::int64_t> cols;
    std::vector<double> weights;
    std::vector<double> u;
    std::vector<double> v;
    double cost = 0.0;
    Status status = Status::optimal;
    std::int64_t n_iter = 0;
    Method method = Method::network_simplex;  ///< the solver that produced this result
};

/// Result of a linear sum assignment on an n x m cost matrix (scipy semantics).
///
/// k = min(n, m) pairs (row_ind[k], col_ind[k]) with row_ind increasing. Dual potentials u (size n)
/// and v (size m) satisfy u[i] + v[j] <= C[i, j] everywhere and equality on assigned pairs; the
/// rows (n > m) or columns (n < m) left unassigned have potential <= 0 (for the minimisation), so
/// cost == sum(u) + sum(v) certifies optimality.
struct AssignmentResult {
    std::vector<std::int64_t> row_ind;
    std::vector<std::int64_t> col_ind;
    std::vector<double> u;
    std::vector<double> v;
    double cost = 0.0;
    Status status = Status::optimal;
    std::int64_t n_iter = 0;
};

}  // namespace hotalign
