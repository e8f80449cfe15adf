// Tests of solve_transport() dispatch, the grid, and the plain C ABI.
#include <hotalign/hotalign.hpp>
#define HOTALIGN_C_API_IMPLEMENTATION
#include <hotalign/c_api.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"

using hotalign::Method;
using hotalign::Status;

namespace {

std::vector<double> random_matrix(std::int64_t n, std::int64_t m, unsigned seed) {
    std::mt19937_64 gen(seed);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::vector<double> M(static_cast<std::size_t>(n * m));
    for (double& x : M) x = u(gen);
    return M;
}

double plan_cost(const hotalign::TransportResult& r, const std::vector<double>& M, std::int64_t m) {
    double c = 0.0;
    for (std::size_t k = 0; k < r.weights.size(); ++k)
        c += r.weights[k] * M[static_cast<std::size_t>(r.rows[k] * m + r.cols[k])];
    return c;
}

void test_dispatch_agrees() {
    for (unsigned seed = 0; seed < 20; ++seed) {
        const std::int64_t n = 3 + seed % 17;
        const auto M = random_matrix(n, n, seed);
        const auto a = hotalign::solve_transport(M.data(), n, n, nullptr, nullptr, {},
                                                 Method::assignment);
        const auto s = hotalign::solve_transport(M.data(), n, n, nullptr, nullptr, {},
                                                 Method::network_simplex);
        const auto d = hotalign::solve_transport(M.data(), n, n, nullptr, nullptr);
        CHECK(a.status == Status::optimal && s.status == Status::optimal);
        CHECK(a.method == Method::assignment && s.method == Method::network_simplex);
        CHECK(d.method == Method::assignment);
        CHECK_NEAR(a.cost, s.cost, 1e-12);
        CHECK_NEAR(d.cost, a.cost, 0.0);
        CHECK(static_cast<std::int64_t>(a.weights.size()) == n);  // a permutation / n
        for (double w : a.weights) CHECK_NEAR(w, 1.0 / static_cast<double>(n), 0.0);
        CHECK_NEAR(plan_cost(a, M, n), a.cost, 1e-12);
        // the assignment path's potentials certify the transport problem too
        double dual = 0.0, worst = 0.0;
        for (std::int64_t i = 0; i < n; ++i) dual += a.u[static_cast<std::size_t>(i)] / n;
        for (std::int64_t j = 0; j < n; ++j) dual += a.v[static_cast<std::size_t>(j)] / n;
        for (std::int64_t i = 0; i < n; ++i)
            for (std::int64_t j = 0; j < n; ++j)
                worst = std::fmax(worst, a.u[i] + a.v[j] - M[static_cast<std::size_t>(i * n + j)]);
        CHECK_NEAR(dual, a.cost, 1e-12);
        CHECK(worst <= 1e-12);
    }
}

void test_dispatch_uses_simplex_for_nonuniform() {
    const std::int64_t n = 4;
    const auto M = random_matrix(n, n, 7);
    const std::vector<double> a = {0.1, 0.2, 0.3, 0.4};
    const auto r = hotalign::solve_transport(M.data(), n, n, a.data(), nullptr);
    CHECK(r.status == Status::optimal);
    std::vector<double> rows(n, 0.0);
    for (std::size_t k = 0; k < r.weights.size(); ++k) rows[r.rows[k]] += r.weights[k];
    for (std::int64_t i = 0; i < n; ++i) CHECK_NEAR(rows[i], a[i], 1e-15);
    CHECK_THROWS(hotalign::solve_transport(M.data(), n, n, a.data(), nullptr, {},
                                           Method::assignment));
}

void test_nonfinite_costs_rejected_on_both_paths() {
    std::vector<double> M = {0.0, 1.0, 1.0, INFINITY};
    CHECK_THROWS(hotalign::solve_transport(M.data(), 2, 2, nullptr, nullptr));
    M[3] = NAN;
    CHECK_THROWS(hotalign::solve_transport(M.data(), 2, 2, nullptr, nullptr));
    CHECK_THROWS(hotalign::solve_transport(M.data(), 1, 4, nullptr, nullptr));
    CHECK_THROWS(hotalign::solve_transport(M.data(), 0, 4, nullptr, nullptr));
}

// The finite check of the assignment path rides on the first scan of each row (SIMD body and scalar
// tail): a bad entry anywhere, in either dtype, must throw with a message naming M.
template <class Real>
void check_fused_finite_check(std::int64_t n) {
    const auto base = random_matrix(n, n, 11);
    const double bad[] = {INFINITY, -INFINITY, NAN};
    const std::int64_t cells[] = {0, n - 1, n, n * n / 2 + 3, n * n - 2, n * n - 1};
    for (const double x : bad) {
        for (const std::int64_t k : cells) {
            if (k < 0 || k >= n * n) continue;
            std::vector<Real> M(base.begin(), base.end());
            M[static_cast<std::size_t>(k)] = static_cast<Real>(x);
            bool thrown = false;
            try {
                hotalign::solve_transport(M.data(), n, n, nullptr, nullptr);
            } catch (const std::invalid_argument& e) {
                thrown = std::string(e.what()).find("M contains NaN or infinity") == 0;
            }
            CHECK(thrown);
        }
    }
    std::vector<Real> ok(base.begin(), base.end());
    CHECK(hotalign::solve_transport(ok.data(), n, n, nullptr, nullptr).status == Status::optimal);
}

void test_fused_finite_check() {
    for (const std::int64_t n : {1, 2, 3, 7, 8, 9, 17, 33}) {
        check_fused_finite_check<double>(n);
        check_fused_finite_check<float>(n);
    }
    // huge finite costs (sums could overflow) leave the assignment path for the network
    // simplex, detected by the same fused pass; NaN next to them still throws
    std::vector<double> H = {1e308, -1e308, 3e307, 1e307};  // bound: max / 12 = 1.5e307
    CHECK(hotalign::solve_transport(H.data(), 2, 2, nullptr, nullptr).method ==
          hotalign::Method::network_simplex);
    H[3] = NAN;
    CHECK_THROWS(hotalign::solve_transport(H.data(), 2, 2, nullptr, nullptr));
    std::vector<double> S = {1e300, -1e300, 3e299, 1e299};  // below the bound: assignment
    CHECK(hotalign::solve_transport(S.data(), 2, 2, nullptr, nullptr).method ==
          hotalign::Method::assignment);
    // linear_sum_assignment itself still takes +inf as a forbidden entry
    std::vector<double> C = {INFINITY, 1.0, 1.0, INFINITY};
    CHECK(hotalign::linear_sum_assignment(C.data(), 2, 2).status == Status::optimal);
}

// Square uniform problems with costs near the double limit go to the network simplex (which
// solves them on an exactly scaled copy) instead of the assignment solver, whose sums overflow.
void test_huge_costs_square_uniform() {
    const std::int64_t n = 8;
    auto M = random_matrix(n, n, 11);
    const double D = std::numeric_limits<double>::max();
    std::vector<double> S(M.size());
    for (std::size_t q = 0; q < M.size(); ++q) {
        M[q] = (2.0 * M[q] - 1.0) * D;
        S[q] = std::ldexp(M[q], -12);
    }
    const auto r = hotalign::solve_transport(M.data(), n, n, nullptr, nullptr);
    const auto ref = hotalign::solve_transport(S.data(), n, n, nullptr, nullptr);
    CHECK(r.status == Status::optimal);
    CHECK(r.method == Method::network_simplex);
    CHECK(std::isfinite(r.cost));
    CHECK_NEAR(std::ldexp(r.cost, -12) / ref.cost, 1.0, 1e-12);
}

void test_unequal_uniform_masses_infeasible() {
    const auto M = random_matrix(3, 3, 1);
    const std::vector<double> a(3, 1.0), b(3, 2.0);
    const auto r = hotalign::solve_transport(M.data(), 3, 3, a.data(), b.data());
    CHECK(r.status == Status::infeasible);
    CHECK(r.weights.empty());
}

void test_float32_costs() {
    const std::int64_t n = 9, m = 13;
    const auto M = random_matrix(n, m, 3);
    std::vector<float> Mf(M.begin(), M.end());
    std::vector<double> Md(Mf.begin(), Mf.end());  // the float values, exactly
    const auto rf = hotalign::solve_transport(Mf.data(), n, m, nullptr, nullptr);
    const auto rd = hotalign::solve_transport(Md.data(), n, m, nullptr, nullptr);
    CHECK_NEAR(rf.cost, rd.cost, 1e-14);
}

void test_grid_matches_loop_and_threads() {
    const std::int64_t T = 30;
    std::mt19937_64 gen(11);
    std::normal_distribution<double> g;
    const std::vector<std::int64_t> wx = {5, 8}, wy = {8, 3, 5};
    std::vector<std::vector<double>> zx, zy;
    auto make = [&](std::int64_t w) {
        std::vector<double> X(static_cast<std::size_t>(T * w)), Z(X.size());
        for (double& x : X) x = g(gen);
        const auto st = hotalign::column_stats(X.data(), T, w, w);
        hotalign::standardize(X.data(), T, w, w, st, Z.data());
        return Z;
    };
    for (auto w : wx) zx.push_back(make(w));
    for (auto w : wy) zy.push_back(make(w));
    std::vector<hotalign::StandardizedLayer<double>> X, Y;
    for (std::size_t l = 0; l < wx.size(); ++l) X.push_back({zx[l].data(), wx[l], nullptr});
    for (std::size_t m = 0; m < wy.size(); ++m) Y.push_back({zy[m].data(), wy[m], nullptr});
    hotalign::GridOptions one, two;
    two.n_threads = 2;
    const auto g1 = hotalign::solve_grid(X, Y, T, hotalign::Gemm<double>{}, one);
    const auto g2 = hotalign::solve_grid(X, Y, T, hotalign::Gemm<double>{}, two);
    for (std::size_t k = 0; k < g1.costs.size(); ++k) CHECK(g1.costs[k] == g2.costs[k]);
    for (std::size_t l = 0; l < wx.size(); ++l)
        for (std::size_t m = 0; m < wy.size(); ++m) {
            std::vector<double> K(static_cast<std::size_t>(wx[l] * wy[m]));
            hotalign::correlation_cost_standardized(zx[l].data(), T, wx[l], zy[m].data(), wy[m],
                                                    K.data());
            const auto r = hotalign::solve_transport(K.data(), wx[l], wy[m], nullptr, nullptr);
            CHECK_NEAR(g1.costs[l * wy.size() + m], r.cost, 0.0);
        }
    // cancellation before the start: nothing solved, flagged
    std::atomic<bool> cancel{true};
    std::atomic<std::int64_t> done{0};
    hotalign::GridOptions c;
    c.cancel = &cancel;
    c.n_done = &done;
    const auto gc = hotalign::solve_grid(X, Y, T, hotalign::Gemm<double>{}, c);
    CHECK(gc.cancelled && done.load() == 0);
    // a worker's exception reaches the caller
    std::vector<double> bad(static_cast<std::size_t>(wy[1]), -1.0);
    Y[1].marginal = bad.data();
    CHECK_THROWS(hotalign::solve_grid(X, Y, T, hotalign::Gemm<double>{}, two));
}

void test_c_api() {
    const std::int64_t n = 6, m = 9;
    const auto M = random_matrix(n, m, 5);
    std::vector<std::int64_t> rows(n + m - 1), cols(n + m - 1);
    std::vector<double> w(n + m - 1), u(n), v(m);
    std::int64_t nnz = -1, it = -1;
    double cost = -1.0;
    char err[128] = {0};
    const int st = hotalign_solve_transport_f64(M.data(), n, m, nullptr, nullptr, 0, 0, nullptr,
                                                nullptr, rows.data(), cols.data(), w.data(), &nnz,
                                                u.data(), v.data(), &cost, &it, err, sizeof err);
    CHECK(st == 0);
    const auto ref = hotalign::solve_transport(M.data(), n, m, nullptr, nullptr);
    CHECK_NEAR(cost, ref.cost, 0.0);
    CHECK(nnz == static_cast<std::int64_t>(ref.weights.size()));
    // bad argument -> -1 and a message naming it
    const int bad = hotalign_solve_transport_f64(M.data(), n, m, nullptr, nullptr, 7, 0, nullptr,
                                                 nullptr, nullptr, nullptr, nullptr, nullptr,
                                                 nullptr, nullptr, nullptr, nullptr, err,
                                                 sizeof err);
    CHECK(bad == -1 && std::strstr(err, "method") != nullptr);
    // a tiny error buffer is truncated, not overrun
    char tiny[4];
    hotalign_solve_transport_f64(nullptr, n, m, nullptr, nullptr, 0, 0, nullptr, nullptr, nullptr,
                                 nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                 tiny, sizeof tiny);
    CHECK(std::strlen(tiny) == 3);
    // float32 and the assignment entry point
    std::vector<float> Mf(M.begin(), M.end());
    CHECK(hotalign_solve_transport_f32(Mf.data(), n, m, nullptr, nullptr, 0, 0, nullptr, nullptr,
                                       nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                       &cost, nullptr, err, sizeof err) == 0);
    // the _ex entry points report the solver that ran
    int used = -1;
    CHECK(hotalign_solve_transport_ex_f64(M.data(), n, m, nullptr, nullptr, 0, 0, nullptr,
                                          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                          nullptr, &cost, nullptr, &used, err, sizeof err) == 0);
    CHECK(used == static_cast<int>(hotalign::Method::network_simplex));  // 6 x 9
    const auto Sq = random_matrix(n, n, 6);
    CHECK(hotalign_solve_transport_ex_f64(Sq.data(), n, n, nullptr, nullptr, 0, 0, nullptr,
                                          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                          nullptr, &cost, nullptr, &used, err, sizeof err) == 0);
    CHECK(used == static_cast<int>(hotalign::Method::assignment));  // square, uniform
    std::vector<float> Sqf(Sq.begin(), Sq.end());
    CHECK(hotalign_solve_transport_ex_f32(Sqf.data(), n, n, nullptr, nullptr, 1, 0, nullptr,
                                          nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                                          nullptr, &cost, nullptr, &used, err, sizeof err) == 0);
    CHECK(used == static_cast<int>(hotalign::Method::network_simplex));  // asked for
    std::vector<std::int64_t> ri(n), ci(n);
    CHECK(hotalign_linear_sum_assignment_f64(M.data(), n, m, 0, ri.data(), ci.data(), nullptr,
                                             nullptr, &cost, err, sizeof err) == 0);
    const auto lsa = hotalign::linear_sum_assignment(M.data(), n, m);
    CHECK_NEAR(cost, lsa.cost, 0.0);
}

}  // namespace

int main() {
    test_dispatch_agrees();
    test_dispatch_uses_simplex_for_nonuniform();
    test_nonfinite_costs_rejected_on_both_paths();
    test_fused_finite_check();
    test_unequal_uniform_masses_infeasible();
    test_huge_costs_square_uniform();
    test_float32_costs();
    test_grid_matches_loop_and_threads();
    test_c_api();
    return hotalign_test::report("test_transport");
}
