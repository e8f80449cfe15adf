// Unit tests for hotalign/sparse_network_simplex.hpp and hotalign/scaling.hpp.
//
// The sparse solver is checked against the dense network simplex on the same problem with the
// missing pairs priced far above any path of given arcs (their optimum then avoids them), by a
// dual certificate on the given arcs (u_i + v_j <= c_e, equality on the support, primal ==
// dual), the marginals to 1e-12, infeasible arc sets, and costs at the float edges.
#include "hotalign/sparse_network_simplex.hpp"

#include <cmath>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"
#include "hotalign/transport.hpp"

using hotalign::SparseTransportResult;
using hotalign::Status;
using hotalign::sparse_network_simplex;

namespace {

using i64 = std::int64_t;

struct Arcs {
    std::vector<i64> row, col;
    std::vector<double> cost;
};

// Random arcs with density p, plus a permutation-like cover so that uniform or Dirichlet
// marginals can be feasible (not guaranteed for rectangular shapes: that is checked separately).
Arcs random_arcs(i64 n, i64 m, double p, std::mt19937_64& g, double scale) {
    std::uniform_real_distribution<double> U(0.0, 1.0);
    Arcs A;
    for (i64 i = 0; i < n; ++i)
        for (i64 j = 0; j < m; ++j)
            if (U(g) < p || j == i % m || i == j % n) {
                A.row.push_back(i);
                A.col.push_back(j);
                A.cost.push_back(scale * U(g));
            }
    return A;
}

std::vector<double> marginal(i64 k, std::mt19937_64& g) {
    std::uniform_real_distribution<double> U(0.05, 1.0);
    std::vector<double> x(k);
    double s = 0.0;
    for (auto& v : x) s += (v = U(g));
    for (auto& v : x) v /= s;
    return x;
}

// Certificate on the given arcs; returns the worst relative violation.
double certificate(const Arcs& A, const SparseTransportResult& r, const std::vector<double>& a,
                   const std::vector<double>& b, double scale) {
    double worst = 0.0;
    for (std::size_t e = 0; e < A.cost.size(); ++e)
        worst = std::max(worst, (r.u[A.row[e]] + r.v[A.col[e]] - A.cost[e]) / scale);
    std::vector<double> rs(a.size(), 0.0), cs(b.size(), 0.0);
    double primal = 0.0;
    for (std::size_t k = 0; k < r.arcs.size(); ++k) {
        const i64 e = r.arcs[k];
        rs[A.row[e]] += r.flows[k];
        cs[A.col[e]] += r.flows[k];
        primal += r.flows[k] * A.cost[e];
        worst = std::max(worst, std::fabs(A.cost[e] - r.u[A.row[e]] - r.v[A.col[e]]) / scale);
    }
    for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(rs[i] - a[i]));
    for (std::size_t j = 0; j < b.size(); ++j) worst = std::max(worst, std::fabs(cs[j] - b[j]));
    double dual = 0.0;
    for (std::size_t i = 0; i < a.size(); ++i) dual += a[i] * r.u[i];
    for (std::size_t j = 0; j < b.size(); ++j) dual += b[j] * r.v[j];
    worst = std::max(worst, std::fabs(primal - dual) / scale);
    worst = std::max(worst, std::fabs(primal - r.cost) / scale);
    return worst;
}

void test_matches_dense_and_certifies() {
    std::mt19937_64 g(7);
    for (int t = 0; t < 300; ++t) {
        const i64 n = 1 + static_cast<i64>(g() % 15), m = 1 + static_cast<i64>(g() % 15);
        Arcs A = random_arcs(n, m, 0.3, g, 1.0);
        const auto a = marginal(n, g), b = marginal(m, g);
        const auto r = sparse_network_simplex(n, m, A.row.data(), A.col.data(), A.cost.data(),
                                              static_cast<i64>(A.cost.size()), a.data(), b.data());
        // dense twin: missing pairs cost more than any path of given arcs could save
        std::vector<double> M(static_cast<std::size_t>(n * m), 1e6);
        for (std::size_t e = 0; e < A.cost.size(); ++e) M[A.row[e] * m + A.col[e]] = A.cost[e];
        const auto d = hotalign::network_simplex(M.data(), n, m, a.data(), b.data());
        bool uses_missing = false;
        for (std::size_t k = 0; k < d.rows.size(); ++k)
            uses_missing |= M[d.rows[k] * m + d.cols[k]] == 1e6;
        if (uses_missing) {  // the arcs cannot carry the marginals
            CHECK(r.status == Status::infeasible);
            continue;
        }
        CHECK(r.status == Status::optimal);
        if (r.status != Status::optimal) continue;
        CHECK(std::fabs(r.cost - d.cost) <= 1e-12 * (1.0 + std::fabs(d.cost)));
        CHECK(certificate(A, r, a, b, 1.0) <= 1e-12);
        CHECK(static_cast<i64>(r.arcs.size()) <= n + m - 1);
    }
}

void test_infeasible_and_bad_input() {
    // row 1 has no arc: its mass cannot leave
    std::vector<i64> row{0, 0}, col{0, 1};
    std::vector<double> cost{1.0, 2.0};
    auto r = sparse_network_simplex(2, 2, row.data(), col.data(), cost.data(), 2, nullptr, nullptr);
    CHECK(r.status == Status::infeasible);
    CHECK(r.arcs.empty());
    bool threw = false;
    col[1] = 5;
    try {
        sparse_network_simplex(2, 2, row.data(), col.data(), cost.data(), 2, nullptr, nullptr);
    } catch (const std::invalid_argument&) {
        threw = true;
    }
    CHECK(threw);
    col[1] = 1;
    cost[0] = std::nan("");
    threw = false;
    try {
        sparse_network_simplex(2, 2, row.data(), col.data(), cost.data(), 2, nullptr, nullptr);
    } catch (const std::invalid_argument& e) {
        threw = std::string(e.what()).find("M contains NaN") != std::string::npos;
    }
    CHECK(threw);
}

void test_float_edges() {
    std::mt19937_64 g(11);
    for (int s : {1000, 0, -1060}) {
        for (int t = 0; t < 40; ++t) {
            const i64 n = 2 + static_cast<i64>(g() % 10), m = n;
            Arcs A = random_arcs(n, m, 0.4, g, 1.0);
            Arcs B = A;  // the same problem scaled by 2^s (exact)
            for (double& c : B.cost) c = std::ldexp(c, s) * (t % 2 ? -1.0 : 1.0);
            for (double& c : A.cost) c = c * (t % 2 ? -1.0 : 1.0);
            const std::vector<double> a(n, 1.0 / n), b = a;  // feasible: the diagonal is given
            const i64 E = static_cast<i64>(A.cost.size());
            const auto ra = sparse_network_simplex(n, m, A.row.data(), A.col.data(), A.cost.data(),
                                                   E, a.data(), b.data());
            const auto rb = sparse_network_simplex(n, m, B.row.data(), B.col.data(), B.cost.data(),
                                                   E, a.data(), b.data());
            CHECK(ra.status == Status::optimal && rb.status == Status::optimal);
            double primal = 0.0;  // B's plan priced in A's units
            for (std::size_t k = 0; k < rb.arcs.size(); ++k) primal += rb.flows[k] * A.cost[rb.arcs[k]];
            CHECK(std::fabs(primal - ra.cost) <= 1e-12);
        }
    }
}

void test_scaling_refuses_inexact() {
    std::vector<double> C{1.7e308, 5e-324, 1.0, 1.7e308};
    bool threw = false;
    try {
        hotalign::linear_sum_assignment_scaled(C.data(), 2, 2, false, "C");
    } catch (const std::invalid_argument& e) {
        threw = std::string(e.what()).find("dynamic range") != std::string::npos;
    }
    CHECK(threw);
    // near float max, exact scaling: the assignment with the smaller sum
    std::vector<double> D{1.7e308, -1.7e308, -1.7e308, 1.7e308};
    const auto r = hotalign::linear_sum_assignment_scaled(D.data(), 2, 2);
    CHECK(r.status == Status::optimal && r.col_ind[0] == 1 && r.col_ind[1] == 0);
    CHECK(r.cost == -std::numeric_limits<double>::infinity() || r.cost < -1e308);
}

}  // namespace

int main() {
    test_matches_dense_and_certifies();
    test_infeasible_and_bad_input();
    test_float_edges();
    test_scaling_refuses_inexact();
    return hotalign_test::report("sparse_network_simplex");
}
