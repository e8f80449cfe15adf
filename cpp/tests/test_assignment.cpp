// Tests for hotalign/assignment.hpp: dual certificates, brute force, ties, forbidden entries,
// degenerate shapes, wide dynamic range, invalid input.
#include "hotalign/assignment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "check.hpp"

using hotalign::AssignmentResult;
using hotalign::Status;
using hotalign::linear_sum_assignment;

namespace {

const double kInf = std::numeric_limits<double>::infinity();

// Full certificate check: a valid assignment, cost, dual feasibility, complementary slackness,
// sign conditions on unassigned rows/columns, and strong duality.
template <class Real>
void check_certificate(const std::vector<Real>& C, std::int64_t n, std::int64_t m, bool maximize,
                       const AssignmentResult& r) {
    const std::int64_t k = std::min(n, m);
    CHECK(r.status == Status::optimal);
    if (r.status != Status::optimal) return;
    CHECK((std::int64_t)r.row_ind.size() == k);
    CHECK((std::int64_t)r.col_ind.size() == k);
    CHECK((std::int64_t)r.u.size() == n);
    CHECK((std::int64_t)r.v.size() == m);
    if ((std::int64_t)r.row_ind.size() != k || (std::int64_t)r.col_ind.size() != k ||
        (std::int64_t)r.u.size() != n || (std::int64_t)r.v.size() != m)
        return;
    double scale = 0.0;
    for (Real c : C)
        if (std::isfinite((double)c)) scale = std::max(scale, std::fabs((double)c));
    const double tol = 1e-9 * (1.0 + scale);
    std::vector<char> row_used(n, 0), col_used(m, 0);
    bool ok_idx = true, ok_inc = true;
    double cost = 0.0;
    for (std::int64_t t = 0; t < k; ++t) {
        const std::int64_t i = r.row_ind[t], j = r.col_ind[t];
        if (i < 0 || i >= n || j < 0 || j >= m || row_used[i] || col_used[j]) {
            ok_idx = false;
            continue;
        }
        if (t > 0 && r.row_ind[t] <= r.row_ind[t - 1]) ok_inc = false;
        row_used[i] = col_used[j] = 1;
        cost += (double)C[i * m + j];
    }
    CHECK(ok_idx);
    CHECK(ok_inc);
    if (!ok_idx) return;
    CHECK_NEAR(r.cost, cost, tol);
    const double sg = maximize ? -1.0 : 1.0;  // minimisation sense: sg * (C - u - v) >= 0
    double worst_feas = 0.0, worst_tight = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < m; ++j) {
            const double c = (double)C[i * m + j];
            if (!std::isfinite(c)) continue;
            const double red = sg * (c - r.u[i] - r.v[j]);
            worst_feas = std::min(worst_feas, red);
        }
    for (std::int64_t t = 0; t < k; ++t) {
        const std::int64_t i = r.row_ind[t], j = r.col_ind[t];
        worst_tight = std::max(worst_tight, std::fabs((double)C[i * m + j] - r.u[i] - r.v[j]));
    }
    CHECK(worst_feas >= -tol);
    CHECK(worst_tight <= tol);
    double sign_bad = 0.0;
    for (std::int64_t i = 0; i < n; ++i)
        if (!row_used[i]) sign_bad = std::max(sign_bad, sg * r.u[i]);
    for (std::int64_t j = 0; j < m; ++j)
        if (!col_used[j]) sign_bad = std::max(sign_bad, sg * r.v[j]);
    CHECK(sign_bad <= tol);
    double dual = 0.0;
    for (double x : r.u) dual += x;
    for (double x : r.v) dual += x;
    CHECK_NEAR(dual, r.cost, tol * (1.0 + (double)k));
}

// Optimal value by enumerating all injective maps of the short side (n, m <= 6).
template <class Real>
double brute_force(const std::vector<Real>& C, std::int64_t n, std::int64_t m, bool maximize,
                   bool* feasible) {
    const bool tr = n > m;
    const std::int64_t a = tr ? m : n, b = tr ? n : m;
    auto at = [&](std::int64_t i, std::int64_t j) {
        return tr ? (double)C[j * m + i] : (double)C[i * m + j];
    };
    std::vector<int> perm(b);
    std::iota(perm.begin(), perm.end(), 0);
    double best = maximize ? -kInf : kInf;
    *feasible = false;
    do {
        double s = 0.0;
        bool ok = true;
        for (std::int64_t i = 0; i < a; ++i) {
            const double c = at(i, perm[i]);
            if (!std::isfinite(c)) {
                ok = false;
                break;
            }
            s += c;
        }
        if (!ok) continue;
        *feasible = true;
        best = maximize ? std::max(best, s) : std::min(best, s);
    } while (std::next_permutation(perm.begin(), perm.end()));
    return best;
}

template <class Real, class Gen>
std::vector<Real> random_matrix(std::int64_t n, std::int64_t m, Gen&& gen) {
    std::vector<Real> C(n * m);
    for (auto& c : C) c = (Real)gen();
    return C;
}

template <class Real>
void check_brute(const std::vector<Real>& C, std::int64_t n, std::int64_t m, bool maximize) {
    const AssignmentResult r = linear_sum_assignment(C.data(), n, m, maximize);
    bool feasible = false;
    const double best = brute_force(C, n, m, maximize, &feasible);
    if (!feasible) {
        CHECK(r.status == Status::infeasible);
        CHECK(r.row_ind.empty());
        return;
    }
    check_certificate(C, n, m, maximize, r);
    double scale = 0.0;
    for (Real c : C)
        if (std::isfinite((double)c)) scale = std::max(scale, std::fabs((double)c));
    CHECK_NEAR(r.cost, best, 1e-12 * (1.0 + scale) * 8);
}

template <class Real>
void test_random_small() {
    std::mt19937_64 rng(12345);
    std::uniform_real_distribution<double> U(0.0, 1.0);
    std::uniform_int_distribution<int> I01(0, 1), I5(0, 4);
    for (std::int64_t n = 1; n <= 6; ++n)
        for (std::int64_t m = 1; m <= 6; ++m)
            for (int rep = 0; rep < 6; ++rep)
                for (int maximize = 0; maximize < 2; ++maximize) {
                    check_brute(random_matrix<Real>(n, m, [&] { return U(rng); }), n, m,
                                maximize != 0);
                    // massive ties
                    check_brute(random_matrix<Real>(n, m, [&] { return (double)I01(rng); }), n, m,
                                maximize != 0);
                    check_brute(random_matrix<Real>(n, m, [&] { return (double)I5(rng); }), n, m,
                                maximize != 0);
                    // forbidden entries (feasible or not)
                    const double forbid = maximize ? -kInf : kInf;
                    auto C = random_matrix<Real>(n, m, [&] {
                        return U(rng) < 0.35 ? forbid : std::floor(10 * U(rng));
                    });
                    check_brute(C, n, m, maximize != 0);
                    // wide dynamic range 1e-12 .. 1e12
                    check_brute(random_matrix<Real>(
                                    n, m, [&] { return std::pow(10.0, -12.0 + 24.0 * U(rng)); }),
                                n, m, maximize != 0);
                }
}

template <class Real>
void test_random_large() {
    std::mt19937_64 rng(777);
    std::uniform_real_distribution<double> U(0.0, 1.0);
    std::uniform_int_distribution<int> I100(0, 99), I01(0, 1);
    const std::int64_t shapes[][2] = {{1, 1}, {7, 7},     {50, 50},   {200, 200}, {150, 300},
                                      {300, 150}, {1, 40}, {40, 1},   {99, 100},  {100, 99},
                                      {257, 257}, {64, 500}, {500, 64}};
    for (auto& s : shapes) {
        const std::int64_t n = s[0], m = s[1];
        for (int maximize = 0; maximize < 2; ++maximize) {
            const bool mx = maximize != 0;
            auto C = random_matrix<Real>(n, m, [&] { return U(rng); });
            auto r = linear_sum_assignment(C.data(), n, m, mx);
            check_certificate(C, n, m, mx, r);
            // a permutation output for square problems
            if (n == m) {
                std::vector<std::int64_t> cs(r.col_ind);
                std::sort(cs.begin(), cs.end());
                bool perm = (std::int64_t)cs.size() == n;
                for (std::int64_t t = 0; perm && t < n; ++t) perm = cs[t] == t;
                CHECK(perm);
            }
            C = random_matrix<Real>(n, m, [&] { return (double)I100(rng); });
            check_certificate(C, n, m, mx, linear_sum_assignment(C.data(), n, m, mx));
            C = random_matrix<Real>(n, m, [&] { return (double)I01(rng); });
            check_certificate(C, n, m, mx, linear_sum_assignment(C.data(), n, m, mx));
            C = random_matrix<Real>(n, m, [&] { return std::pow(10.0, -12.0 + 24.0 * U(rng)); });
            check_certificate(C, n, m, mx, linear_sum_assignment(C.data(), n, m, mx));
            // forbidden entries with a guaranteed finite matching on the diagonal
            const double forbid = mx ? -kInf : kInf;
            C = random_matrix<Real>(n, m, [&] { return U(rng) < 0.5 ? forbid : U(rng); });
            for (std::int64_t t = 0; t < std::min(n, m); ++t) C[t * m + t] = (Real)U(rng);
            check_certificate(C, n, m, mx, linear_sum_assignment(C.data(), n, m, mx));
        }
    }
}

template <class Real>
void test_constant_identity() {
    const std::int64_t shapes[][2] = {{1, 1}, {5, 5}, {64, 64}, {300, 300}, {4, 9}, {9, 4},
                                      {100, 250}, {250, 100}};
    for (auto& s : shapes) {
        const std::int64_t n = s[0], m = s[1], k = std::min(n, m);
        for (int maximize = 0; maximize < 2; ++maximize) {
            for (double val : {0.0, 1.0, -3.5}) {
                std::vector<Real> C(n * m, (Real)val);
                auto r = linear_sum_assignment(C.data(), n, m, maximize != 0);
                bool ident = (std::int64_t)r.col_ind.size() == k &&
                             (std::int64_t)r.row_ind.size() == k;
                for (std::int64_t t = 0; ident && t < k; ++t)
                    ident = r.row_ind[t] == t && r.col_ind[t] == t;
                CHECK(ident);
                check_certificate(C, n, m, maximize != 0, r);
            }
        }
    }
}

void test_infeasible_and_edges() {
    // rows 0 and 1 can only use column 0
    {
        std::vector<double> C = {1, kInf, kInf, 2, kInf, kInf, 3, 4, 5};
        auto r = linear_sum_assignment(C.data(), 3, 3);
        CHECK(r.status == Status::infeasible);
        CHECK(r.row_ind.empty() && r.col_ind.empty());
        std::vector<double> Cm(C);
        for (auto& c : Cm) c = std::isinf(c) ? -kInf : -c;
        CHECK(linear_sum_assignment(Cm.data(), 3, 3, true).status == Status::infeasible);
    }
    // a column with only forbidden entries (square) and a fully forbidden matrix
    {
        std::vector<double> C = {1, kInf, 2, kInf};
        CHECK(linear_sum_assignment(C.data(), 2, 2).status == Status::infeasible);
        std::vector<float> F(12, std::numeric_limits<float>::infinity());
        CHECK(linear_sum_assignment(F.data(), 3, 4).status == Status::infeasible);
        CHECK(linear_sum_assignment(F.data(), 4, 3).status == Status::infeasible);
    }
    // rectangular: both rows only allow column 1; transposed version
    {
        std::vector<double> C = {kInf, 1, kInf, kInf, 2, kInf};
        CHECK(linear_sum_assignment(C.data(), 2, 3).status == Status::infeasible);
        std::vector<double> T = {kInf, kInf, 1, 2, kInf, kInf};
        CHECK(linear_sum_assignment(T.data(), 3, 2).status == Status::infeasible);
    }
    // a feasible pattern that forces a long alternating path
    {
        const std::int64_t n = 40;
        std::vector<double> C(n * n, kInf);
        for (std::int64_t i = 0; i < n; ++i) {
            C[i * n + i] = 1.0;
            if (i + 1 < n) C[i * n + i + 1] = 0.0;
        }
        auto r = linear_sum_assignment(C.data(), n, n);
        check_certificate(C, n, n, false, r);
        CHECK_NEAR(r.cost, (double)n, 1e-12);
    }
    // 1x1, 1xm, nx1, 0xm, nx0
    {
        std::vector<double> one = {4.25};
        auto r = linear_sum_assignment(one.data(), 1, 1);
        CHECK(r.row_ind.size() == 1 && r.col_ind[0] == 0);
        CHECK_NEAR(r.cost, 4.25, 0);
        check_certificate(one, 1, 1, false, r);
        std::vector<double> row = {3, 1, 2, 1, 5};
        r = linear_sum_assignment(row.data(), 1, 5);
        CHECK(r.col_ind.size() == 1 && r.col_ind[0] == 1);
        check_certificate(row, 1, 5, false, r);
        r = linear_sum_assignment(row.data(), 5, 1);
        CHECK(r.row_ind.size() == 1 && r.row_ind[0] == 1 && r.col_ind[0] == 0);
        check_certificate(row, 5, 1, false, r);
        r = linear_sum_assignment(row.data(), 5, 1, true);
        CHECK(r.row_ind.size() == 1 && r.row_ind[0] == 4);
        check_certificate(row, 5, 1, true, r);
        r = linear_sum_assignment(row.data(), 0, 5);
        CHECK(r.status == Status::optimal && r.row_ind.empty() && r.col_ind.empty());
        CHECK(r.u.empty() && r.v.size() == 5 && r.cost == 0.0);
        r = linear_sum_assignment(row.data(), 5, 0);
        CHECK(r.status == Status::optimal && r.row_ind.empty() && r.u.size() == 5);
        const double* null = nullptr;
        r = linear_sum_assignment(null, 0, 0);
        CHECK(r.status == Status::optimal && r.row_ind.empty());
    }
    // invalid input
    {
        const double nan = std::numeric_limits<double>::quiet_NaN();
        std::vector<double> C = {1, 2, nan, 4};
        CHECK_THROWS(linear_sum_assignment(C.data(), 2, 2));
        CHECK_THROWS(linear_sum_assignment(C.data(), 2, 2, true));
        CHECK_THROWS(linear_sum_assignment(C.data(), 1, 4));
        CHECK_THROWS(linear_sum_assignment(C.data(), 4, 1));
        std::vector<float> F = {1, 2, std::numeric_limits<float>::quiet_NaN(), 4, 5, 6};
        CHECK_THROWS(linear_sum_assignment(F.data(), 2, 3));
        std::vector<double> ninf = {1, -kInf, 3, 4};
        CHECK_THROWS(linear_sum_assignment(ninf.data(), 2, 2));
        std::vector<double> pinf = {1, kInf, 3, 4};
        CHECK_THROWS(linear_sum_assignment(pinf.data(), 2, 2, true));
        CHECK_THROWS(linear_sum_assignment(C.data(), -1, 2));
        CHECK_THROWS(linear_sum_assignment(C.data(), 2, -1));
        bool msg = false;
        try {
            linear_sum_assignment(C.data(), 2, 2);
        } catch (const std::invalid_argument& e) {
            msg = std::string(e.what()).find("C") != std::string::npos;
        }
        CHECK(msg);
    }
}

// float and double inputs holding the same values give the same assignment.
// Rectangular problems validate each row inside its first scan (augmenting row reduction,
// AVX2 blocks plus a scalar tail): a bad entry anywhere, in both orientations and both senses,
// must throw.
template <class Real>
void test_rectangular_validation_everywhere() {
    for (const std::int64_t n : {1, 3, 8, 9}) {
        for (const std::int64_t m : {n + 1, n + 8, n + 13}) {
            for (std::int64_t k = 0; k < n * m; ++k) {
                for (const bool mx : {false, true}) {
                    for (const double bad : {std::nan(""), mx ? double(INFINITY) : -double(INFINITY)}) {
                        std::vector<Real> C(static_cast<std::size_t>(n * m));
                        for (std::int64_t q = 0; q < n * m; ++q)
                            C[static_cast<std::size_t>(q)] = static_cast<Real>((q * 7919) % 101);
                        C[static_cast<std::size_t>(k)] = static_cast<Real>(bad);
                        CHECK_THROWS(linear_sum_assignment(C.data(), n, m, mx));  // n < m
                        CHECK_THROWS(linear_sum_assignment(C.data(), m, n, mx));  // n > m
                    }
                }
            }
        }
    }
}

void test_float_double_agree() {
    std::mt19937_64 rng(99);
    std::uniform_int_distribution<int> I(0, 1000);
    for (std::int64_t n : {30, 120}) {
        std::vector<float> F(n * (n + 7));
        for (auto& c : F) c = (float)I(rng) / 8.0f;
        std::vector<double> D(F.begin(), F.end());
        auto rf = linear_sum_assignment(F.data(), n, n + 7);
        auto rd = linear_sum_assignment(D.data(), n, n + 7);
        CHECK(rf.col_ind == rd.col_ind);
        CHECK_NEAR(rf.cost, rd.cost, 1e-9);
    }
}

// Concurrent calls share no state: results equal the serial ones.
void test_concurrent() {
    std::mt19937_64 rng(5);
    std::uniform_real_distribution<double> U(0.0, 1.0);
    const int T = 4;
    const std::int64_t n = 150, m = 170;
    std::vector<std::vector<double>> Cs(T);
    std::vector<AssignmentResult> serial(T), conc(T);
    for (int t = 0; t < T; ++t) {
        Cs[t] = random_matrix<double>(n, m, [&] { return U(rng); });
        serial[t] = linear_sum_assignment(Cs[t].data(), n, m, t % 2 == 1);
    }
    std::vector<std::thread> th;
    for (int t = 0; t < T; ++t)
        th.emplace_back([&, t] {
            for (int rep = 0; rep < 5; ++rep)
                conc[t] = linear_sum_assignment(Cs[t].data(), n, m, t % 2 == 1);
        });
    for (auto& x : th) x.join();
    for (int t = 0; t < T; ++t) {
        CHECK(conc[t].col_ind == serial[t].col_ind);
        CHECK(conc[t].cost == serial[t].cost);
        CHECK(conc[t].v == serial[t].v);
    }
}

void test_simd_path() {
    const std::string path = hotalign::assignment_simd_path();
    CHECK(path == "avx2" || path == "sse2" || path == "scalar");
#if !defined(__SSE2__)
    CHECK(path == "scalar");
#endif
}

}  // namespace

int main() {
    test_random_small<double>();
    test_random_small<float>();
    test_random_large<double>();
    test_random_large<float>();
    test_constant_identity<double>();
    test_constant_identity<float>();
    test_infeasible_and_edges();
    test_float_double_agree();
    test_rectangular_validation_everywhere<double>();
    test_rectangular_validation_everywhere<float>();
    test_concurrent();
    test_simd_path();
    return hotalign_test::report("test_assignment");
}
