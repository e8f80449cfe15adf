// Unit tests for hotalign/network_simplex.hpp.
//
// Optimality is checked by an independent dual certificate: feasible potentials
// (u_i + v_j <= M_ij everywhere), complementary slackness on the support, primal == dual, plus
// the marginals to 1e-12 and a forest support. Tiny problems are also compared with a brute-force
// enumeration of all basic feasible solutions.
#include "hotalign/network_simplex.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "check.hpp"

using hotalign::NetworkSimplexOptions;
using hotalign::Status;
using hotalign::TransportResult;
using hotalign::network_simplex;

namespace {

using i64 = std::int64_t;

std::vector<double> uniform_marginal(i64 k) { return std::vector<double>(k, 1.0 / k); }

std::vector<double> random_marginal(i64 k, std::mt19937_64& g, double zero_frac = 0.0) {
    std::uniform_real_distribution<double> U(0.0, 1.0);
    std::vector<double> x(k);
    double s = 0.0;
    for (auto& v : x) {
        v = U(g) < zero_frac ? 0.0 : 0.05 + U(g);
        s += v;
    }
    if (s == 0.0) {
        x[0] = 1.0;
        s = 1.0;
    }
    for (auto& v : x) v /= s;
    return x;
}

struct UnionFind {
    std::vector<i64> p;
    explicit UnionFind(i64 n) : p(n) { std::iota(p.begin(), p.end(), i64(0)); }
    i64 find(i64 x) {
        while (p[x] != x) x = p[x] = p[p[x]];
        return x;
    }
    bool unite(i64 a, i64 b) {
        a = find(a);
        b = find(b);
        if (a == b) return false;
        p[a] = b;
        return true;
    }
};

// Checks that res is a feasible basic plan with the given marginals (b rescaled to sum a).
template <class Real>
void check_feasible(const Real* M, i64 n, i64 m, const std::vector<double>& a,
                    const std::vector<double>& b, const TransportResult& res) {
    (void)M;
    const double sa = std::accumulate(a.begin(), a.end(), 0.0);
    const double sb = std::accumulate(b.begin(), b.end(), 0.0);
    const size_t k = res.weights.size();
    CHECK(res.rows.size() == k && res.cols.size() == k);
    CHECK(static_cast<i64>(k) <= n + m - 1);
    std::vector<long double> rs(n, 0.0L), cs(m, 0.0L);
    UnionFind uf(n + m);
    bool sorted = true, positive = true, inrange = true, acyclic = true;
    for (size_t t = 0; t < k; ++t) {
        const i64 i = res.rows[t], j = res.cols[t];
        if (i < 0 || i >= n || j < 0 || j >= m) {
            inrange = false;
            continue;
        }
        if (t > 0 && !(res.rows[t - 1] < i || (res.rows[t - 1] == i && res.cols[t - 1] < j)))
            sorted = false;
        if (!(res.weights[t] > 0.0)) positive = false;
        if (!uf.unite(i, n + j)) acyclic = false;
        rs[i] += res.weights[t];
        cs[j] += res.weights[t];
    }
    CHECK(sorted);
    CHECK(positive);
    CHECK(inrange);
    CHECK(acyclic);
    double err_a = 0.0, err_b = 0.0;
    for (i64 i = 0; i < n; ++i) err_a = std::max(err_a, std::fabs(double(rs[i]) - a[i]));
    for (i64 j = 0; j < m; ++j) err_b = std::max(err_b, std::fabs(double(cs[j]) - b[j] * sa / sb));
    CHECK(err_a <= 1e-12 * sa);
    CHECK(err_b <= 1e-12 * sa);
}

// Full optimality certificate. Returns the certified cost.
template <class Real>
double certify(const Real* M, i64 n, i64 m, const std::vector<double>& a,
               const std::vector<double>& b, const TransportResult& res) {
    CHECK(res.status == Status::optimal);
    check_feasible(M, n, m, a, b, res);
    CHECK(static_cast<i64>(res.u.size()) == n && static_cast<i64>(res.v.size()) == m);
    if (static_cast<i64>(res.u.size()) != n || static_cast<i64>(res.v.size()) != m) return 0.0;
    const double sa = std::accumulate(a.begin(), a.end(), 0.0);
    const double sb = std::accumulate(b.begin(), b.end(), 0.0);
    double maxabs = 0.0;
    for (i64 t = 0; t < n * m; ++t) maxabs = std::max(maxabs, std::fabs(double(M[t])));
    const double tol = 1e-11 * std::max(maxabs, 1e-300);
    double viol = 0.0;
    for (i64 i = 0; i < n; ++i)
        for (i64 j = 0; j < m; ++j) viol = std::max(viol, res.u[i] + res.v[j] - double(M[i * m + j]));
    CHECK(viol <= tol);
    double slack = 0.0;
    long double primal = 0.0L;
    for (size_t t = 0; t < res.weights.size(); ++t) {
        const double c = double(M[res.rows[t] * m + res.cols[t]]);
        slack = std::max(slack, std::fabs(c - res.u[res.rows[t]] - res.v[res.cols[t]]));
        primal += static_cast<long double>(res.weights[t]) * c;
    }
    CHECK(slack <= tol);
    long double dual = 0.0L;
    for (i64 i = 0; i < n; ++i) dual += static_cast<long double>(a[i]) * res.u[i];
    for (i64 j = 0; j < m; ++j) dual += static_cast<long double>(b[j] * sa / sb) * res.v[j];
    const double scale = std::max(std::fabs(double(primal)), 1e-300);
    CHECK_NEAR(res.cost, double(primal), 1e-13 * scale + 1e-300);
    CHECK_NEAR(double(primal), double(dual), 1e-12 * scale + 1e-13 * maxabs * sa);
    return double(primal);
}

// Brute force: minimum cost over all spanning trees of K_{n,m} whose tree flows are >= 0.
double brute_force(const std::vector<double>& M, i64 n, i64 m, const std::vector<double>& a,
                   const std::vector<double>& b) {
    const i64 cells = n * m, need = n + m - 1;
    double best = std::numeric_limits<double>::infinity();
    for (std::uint32_t mask = 0; mask < (1u << cells); ++mask) {
        if (__builtin_popcount(mask) != need) continue;
        UnionFind uf(n + m);
        bool tree = true;
        std::vector<std::vector<i64>> adj(n + m);
        for (i64 c = 0; c < cells && tree; ++c)
            if (mask >> c & 1u) {
                const i64 i = c / m, j = c % m;
                if (!uf.unite(i, n + j)) tree = false;
                adj[i].push_back(n + j);
                adj[n + j].push_back(i);
            }
        if (!tree) continue;
        // leaf peeling
        std::vector<double> ex(n + m);
        for (i64 i = 0; i < n; ++i) ex[i] = a[i];
        for (i64 j = 0; j < m; ++j) ex[n + j] = -b[j];
        std::vector<i64> deg(n + m);
        for (i64 x = 0; x < n + m; ++x) deg[x] = static_cast<i64>(adj[x].size());
        std::vector<bool> done(n + m, false);
        double cost = 0.0;
        bool ok = true;
        for (i64 round = 0; round < need; ++round) {
            i64 leaf = -1;
            for (i64 x = 0; x < n + m; ++x)
                if (!done[x] && deg[x] == 1) {
                    leaf = x;
                    break;
                }
            i64 nb = -1;
            for (i64 z : adj[leaf])
                if (!done[z]) nb = z;
            const double f = leaf < n ? ex[leaf] : -ex[leaf];  // flow row -> column
            if (f < -1e-12) ok = false;
            const i64 i = leaf < n ? leaf : nb, j = (leaf < n ? nb : leaf) - n;
            cost += f * M[i * m + j];
            ex[nb] += ex[leaf];
            done[leaf] = true;
            --deg[nb];
        }
        if (ok) best = std::min(best, cost);
    }
    return best;
}

template <class Real>
void random_problem(i64 n, i64 m, bool uniform, std::uint64_t seed) {
    std::mt19937_64 g(seed);
    std::uniform_real_distribution<double> U(0.0, 1.0);
    std::vector<Real> M(n * m);
    for (auto& x : M) x = static_cast<Real>(U(g));
    const auto a = uniform ? uniform_marginal(n) : random_marginal(n, g);
    const auto b = uniform ? uniform_marginal(m) : random_marginal(m, g);
    const auto res = uniform ? network_simplex(M.data(), n, m, nullptr, nullptr)
                             : network_simplex(M.data(), n, m, a.data(), b.data());
    certify(M.data(), n, m, a, b, res);
}

void test_random() {
    const i64 sizes[][2] = {{1, 1},  {1, 7},   {7, 1},   {2, 2},   {3, 5},    {5, 3},
                            {17, 23}, {40, 40}, {64, 37}, {37, 64}, {100, 150}, {150, 100},
                            {200, 200}};
    std::uint64_t seed = 1;
    for (const auto& s : sizes)
        for (int uni = 0; uni < 2; ++uni) {
            random_problem<double>(s[0], s[1], uni == 1, seed++);
            random_problem<float>(s[0], s[1], uni == 1, seed++);
        }
}

void test_brute_force() {
    std::mt19937_64 g(7);
    std::uniform_int_distribution<int> D(0, 9);
    for (int rep = 0; rep < 60; ++rep) {
        const i64 n = 1 + rep % 3, m = 1 + (rep / 3) % 4;
        if (n * m > 12) continue;
        std::vector<double> M(n * m);
        for (auto& x : M) x = rep % 2 ? D(g) : D(g) / 7.0 + 0.01 * D(g);  // ties when integral
        const auto a = rep % 4 < 2 ? uniform_marginal(n) : random_marginal(n, g, 0.2);
        const auto b = rep % 4 < 2 ? uniform_marginal(m) : random_marginal(m, g, 0.2);
        const auto res = network_simplex(M.data(), n, m, a.data(), b.data());
        const double c = certify(M.data(), n, m, a, b, res);
        CHECK_NEAR(c, brute_force(M, n, m, a, b), 1e-12);
    }
}

void test_degenerate() {
    // constant matrix: every feasible plan is optimal
    {
        const i64 n = 30, m = 45;
        std::vector<double> M(n * m, 2.5);
        const auto a = uniform_marginal(n), b = uniform_marginal(m);
        const auto res = network_simplex(M.data(), n, m, nullptr, nullptr);
        CHECK_NEAR(certify(M.data(), n, m, a, b, res), 2.5, 1e-13);
    }
    // massive ties: costs in {0, 1, 2}
    for (int rep = 0; rep < 4; ++rep) {
        const i64 n = 60 + 7 * rep, m = 80 - 9 * rep;
        std::mt19937_64 g(100 + rep);
        std::uniform_int_distribution<int> D(0, 2);
        std::vector<double> M(n * m);
        for (auto& x : M) x = D(g);
        const auto a = rep % 2 ? random_marginal(n, g) : uniform_marginal(n);
        const auto b = rep % 2 ? random_marginal(m, g) : uniform_marginal(m);
        certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data()));
    }
    // the assignment (identity-like) case with uniform square marginals
    {
        const i64 n = 50;
        std::vector<double> M(n * n, 1.0);
        for (i64 i = 0; i < n; ++i) M[i * n + (i * 7) % n] = 0.0;
        const auto a = uniform_marginal(n);
        CHECK_NEAR(certify(M.data(), n, n, a, a, network_simplex(M.data(), n, n, nullptr, nullptr)),
                   0.0, 1e-15);
    }
}

void test_zero_marginals() {
    for (int rep = 0; rep < 6; ++rep) {
        const i64 n = 20 + rep * 5, m = 35 - rep * 3;
        std::mt19937_64 g(200 + rep);
        std::uniform_real_distribution<double> U(-1.0, 3.0);
        std::vector<double> M(n * m);
        for (auto& x : M) x = U(g);
        const auto a = random_marginal(n, g, 0.3), b = random_marginal(m, g, 0.3);
        certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data()));
    }
    // a single nonzero entry on each side
    {
        const i64 n = 4, m = 5;
        std::vector<double> M(n * m);
        for (i64 t = 0; t < n * m; ++t) M[t] = double(t % 7);
        std::vector<double> a = {0, 0, 2, 0}, b = {0, 0, 0, 0, 2};
        const auto res = network_simplex(M.data(), n, m, a.data(), b.data());
        certify(M.data(), n, m, a, b, res);
        CHECK(res.weights.size() == 1 && res.rows[0] == 2 && res.cols[0] == 4);
    }
}

void test_scales() {
    const i64 n = 45, m = 60;
    std::mt19937_64 g(300);
    std::uniform_real_distribution<double> U(0.0, 1.0);
    std::vector<double> M(n * m);
    for (auto& x : M) x = U(g);
    const auto a = random_marginal(n, g), b = random_marginal(m, g);
    const auto ref = network_simplex(M.data(), n, m, a.data(), b.data());
    const double ref_cost = certify(M.data(), n, m, a, b, ref);
    for (double s : {1e-12, 1e-6, 1e6, 1e12}) {
        std::vector<double> Ms(M);
        for (auto& x : Ms) x *= s;
        const auto res = network_simplex(Ms.data(), n, m, a.data(), b.data());
        const double c = certify(Ms.data(), n, m, a, b, res);
        CHECK_NEAR(c / s, ref_cost, 1e-12 * ref_cost);
    }
    // entries spanning 1e-12 .. 1e12 within one matrix
    std::vector<double> W(n * m);
    for (auto& x : W) x = std::pow(10.0, -12.0 + 24.0 * U(g));
    certify(W.data(), n, m, a, b, network_simplex(W.data(), n, m, a.data(), b.data()));
    // negative costs
    for (auto& x : W) x = -std::log10(x);
    certify(W.data(), n, m, a, b, network_simplex(W.data(), n, m, a.data(), b.data()));
}

// Costs near the double limit: solved on an exactly scaled copy, cost and potentials scaled back
// (finite), identical to the solution of the problem scaled by hand.
void test_huge_costs() {
    const double D = std::numeric_limits<double>::max();
    std::mt19937_64 g(900);
    std::uniform_real_distribution<double> U(-1.0, 1.0);
    for (auto [n, m] : {std::pair<i64, i64>{5, 7}, {30, 40}, {40, 30}, {12, 12}}) {
        std::vector<double> M(n * m), S(n * m);
        for (i64 q = 0; q < n * m; ++q) {
            M[q] = U(g) * D;
            S[q] = std::ldexp(M[q], -12);  // exact
        }
        const auto a = random_marginal(n, g), b = random_marginal(m, g);
        const auto ref = network_simplex(S.data(), n, m, a.data(), b.data());
        const double ref_cost = certify(S.data(), n, m, a, b, ref);
        const auto res = network_simplex(M.data(), n, m, a.data(), b.data());
        check_feasible(M.data(), n, m, a, b, res);
        CHECK(res.status == Status::optimal);
        CHECK(std::isfinite(res.cost));
        CHECK_NEAR(std::ldexp(res.cost, -12), ref_cost, 1e-12 * std::fabs(ref_cost));
        // certificate on M / D (u, v finite; reduced costs >= 0, zero on the support)
        bool finite = true, feasible = true, slack = true;
        for (double x : res.u) finite &= std::isfinite(x);
        for (double x : res.v) finite &= std::isfinite(x);
        CHECK(finite);
        for (i64 i = 0; i < n; ++i)
            for (i64 j = 0; j < m; ++j)
                feasible &= M[i * m + j] / D - res.u[i] / D - res.v[j] / D >= -1e-12;
        for (size_t t = 0; t < res.weights.size(); ++t) {
            const i64 i = res.rows[t], j = res.cols[t];
            slack &= std::fabs(M[i * m + j] / D - res.u[i] / D - res.v[j] / D) <= 1e-12;
        }
        CHECK(feasible);
        CHECK(slack);
        // a warm start from these potentials gives the same cost
        NetworkSimplexOptions opt;
        opt.u0 = res.u.data();
        opt.v0 = res.v.data();
        const auto warm = network_simplex(M.data(), n, m, a.data(), b.data(), opt);
        CHECK_NEAR(warm.cost / D, res.cost / D, 1e-12);
    }
    // the optimal cost itself exceeds the double range: an error naming M, never inf or NaN
    std::vector<double> M(2 * 3, D), a{2.0, 2.0}, b(3, 4.0 / 3.0);
    bool threw = false;
    try {
        network_simplex(M.data(), 2, 3, a.data(), b.data());
    } catch (const std::invalid_argument& e) {
        threw = std::string(e.what()).rfind("M:", 0) == 0;
    }
    CHECK(threw);
}

void test_warm_start() {
    const i64 n = 120, m = 170;
    std::mt19937_64 g(400);
    std::uniform_real_distribution<double> U(0.0, 1.0);
    std::vector<double> M(n * m);
    for (auto& x : M) x = U(g);
    const auto a = random_marginal(n, g), b = random_marginal(m, g);
    const auto cold = network_simplex(M.data(), n, m, a.data(), b.data());
    const double c0 = certify(M.data(), n, m, a, b, cold);
    // from the optimal potentials
    NetworkSimplexOptions o;
    o.u0 = cold.u.data();
    o.v0 = cold.v.data();
    const auto warm = network_simplex(M.data(), n, m, a.data(), b.data(), o);
    CHECK_NEAR(certify(M.data(), n, m, a, b, warm), c0, 1e-12 * c0);
    CHECK(warm.n_iter <= cold.n_iter);
    // from garbage potentials
    std::vector<double> gu(n), gv(m);
    for (auto& x : gu) x = 1e6 * (U(g) - 0.5);
    for (auto& x : gv) x = 1e3 * (U(g) - 0.5);
    o.u0 = gu.data();
    o.v0 = gv.data();
    CHECK_NEAR(certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data(), o)),
               c0, 1e-12 * c0);
    std::vector<double> zu(n, 0.0), zv(m, 0.0);
    o.u0 = zu.data();
    o.v0 = zv.data();
    CHECK_NEAR(certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data(), o)),
               c0, 1e-12 * c0);
    // only one side given
    o.u0 = cold.u.data();
    o.v0 = nullptr;
    CHECK_NEAR(certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data(), o)),
               c0, 1e-12 * c0);
    o.u0 = nullptr;
    o.v0 = cold.v.data();
    CHECK_NEAR(certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data(), o)),
               c0, 1e-12 * c0);
    // a perturbed problem: warm start from the old optimum needs fewer pivots than a cold start
    std::vector<double> M2(M);
    for (auto& x : M2) x += 0.01 * U(g);
    const auto cold2 = network_simplex(M2.data(), n, m, a.data(), b.data());
    const double c2 = certify(M2.data(), n, m, a, b, cold2);
    o.u0 = cold.u.data();
    o.v0 = cold.v.data();
    const auto warm2 = network_simplex(M2.data(), n, m, a.data(), b.data(), o);
    CHECK_NEAR(certify(M2.data(), n, m, a, b, warm2), c2, 1e-12 * c2);
    CHECK(warm2.n_iter < cold2.n_iter);
    std::printf("warm start: perturbed problem %lld pivots warm vs %lld cold\n",
                static_cast<long long>(warm2.n_iter), static_cast<long long>(cold2.n_iter));
}

void test_max_iter_and_block() {
    const i64 n = 80, m = 110;
    std::mt19937_64 g(500);
    std::uniform_real_distribution<double> U(0.0, 1.0);
    std::vector<double> M(n * m);
    for (auto& x : M) x = U(g);
    const auto a = random_marginal(n, g), b = random_marginal(m, g);
    const auto full = network_simplex(M.data(), n, m, a.data(), b.data());
    const double c0 = certify(M.data(), n, m, a, b, full);
    CHECK(full.n_iter > 1);
    NetworkSimplexOptions o;
    o.max_iter = 1;
    const auto res = network_simplex(M.data(), n, m, a.data(), b.data(), o);
    CHECK(res.status == Status::max_iter);
    CHECK(res.n_iter == 1);
    check_feasible(M.data(), n, m, a, b, res);
    CHECK(res.cost >= c0 - 1e-12);
    CHECK(res.u.size() == size_t(n) && res.v.size() == size_t(m));
    for (i64 bs : {1, 7, 100000}) {
        NetworkSimplexOptions ob;
        ob.block_size = bs;
        CHECK_NEAR(certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data(), ob)),
                   c0, 1e-12 * c0);
    }
}

void test_totals() {
    const i64 n = 10, m = 12;
    std::vector<double> M(n * m);
    for (i64 t = 0; t < n * m; ++t) M[t] = std::sin(double(t));
    std::mt19937_64 g(600);
    auto a = random_marginal(n, g), b = random_marginal(m, g);
    // totals within 1e-9 relative: b is rescaled
    std::vector<double> b2(b);
    for (auto& x : b2) x *= 1.0 + 1e-11;
    certify(M.data(), n, m, a, b2, network_simplex(M.data(), n, m, a.data(), b2.data()));
    // unnormalised but equal totals
    std::vector<double> a3(a), b3(b);
    for (auto& x : a3) x *= 1000.0;
    for (auto& x : b3) x *= 1000.0;
    certify(M.data(), n, m, a3, b3, network_simplex(M.data(), n, m, a3.data(), b3.data()));
    // totals differ: infeasible, empty plan
    for (auto& x : b2) x *= 1.001;
    const auto res = network_simplex(M.data(), n, m, a.data(), b2.data());
    CHECK(res.status == Status::infeasible);
    CHECK(res.weights.empty() && res.rows.empty() && res.cols.empty());
}

void test_invalid() {
    const i64 n = 3, m = 4;
    std::vector<double> M(n * m, 1.0), a = uniform_marginal(n), b = uniform_marginal(m);
    std::vector<float> Mf(n * m, 1.0f);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    const double inf = std::numeric_limits<double>::infinity();
    CHECK_THROWS(network_simplex(M.data(), 0, m, nullptr, nullptr));
    CHECK_THROWS(network_simplex(M.data(), n, 0, nullptr, nullptr));
    CHECK_THROWS(network_simplex(M.data(), -1, m, nullptr, nullptr));
    CHECK_THROWS(network_simplex(static_cast<const double*>(nullptr), n, m, nullptr, nullptr));
    {
        auto M2 = M;
        M2[5] = nan;
        CHECK_THROWS(network_simplex(M2.data(), n, m, nullptr, nullptr));
        M2[5] = inf;
        CHECK_THROWS(network_simplex(M2.data(), n, m, nullptr, nullptr));
        M2[5] = -inf;
        CHECK_THROWS(network_simplex(M2.data(), n, m, nullptr, nullptr));
        auto Mf2 = Mf;
        Mf2[11] = std::numeric_limits<float>::quiet_NaN();
        CHECK_THROWS(network_simplex(Mf2.data(), n, m, nullptr, nullptr));
        Mf2[11] = std::numeric_limits<float>::infinity();
        CHECK_THROWS(network_simplex(Mf2.data(), n, m, nullptr, nullptr));
    }
    for (double bad : {-0.1, nan, inf}) {
        auto a2 = a;
        a2[1] = bad;
        CHECK_THROWS(network_simplex(M.data(), n, m, a2.data(), b.data()));
        auto b2 = b;
        b2[3] = bad;
        CHECK_THROWS(network_simplex(M.data(), n, m, a.data(), b2.data()));
    }
    {
        std::vector<double> z(n, 0.0), zb(m, 0.0);
        CHECK_THROWS(network_simplex(M.data(), n, m, z.data(), b.data()));
        CHECK_THROWS(network_simplex(M.data(), n, m, a.data(), zb.data()));
    }
    {
        std::vector<double> u(n, 0.0), v(m, 0.0);
        NetworkSimplexOptions o;
        o.u0 = u.data();
        o.v0 = v.data();
        u[2] = nan;
        CHECK_THROWS(network_simplex(M.data(), n, m, a.data(), b.data(), o));
        u[2] = 0.0;
        v[0] = inf;
        CHECK_THROWS(network_simplex(M.data(), n, m, a.data(), b.data(), o));
    }
    // the message names the argument
    try {
        std::vector<double> a2(a);
        a2[0] = -1.0;
        (void)network_simplex(M.data(), n, m, a2.data(), b.data());
        CHECK(false);
    } catch (const std::invalid_argument& e) {
        CHECK(std::string(e.what()).find(" a ") != std::string::npos);
    }
}

void test_shapes() {
    // 1 x 1
    {
        const double M = 3.0;
        const std::vector<double> a = {2.0}, b = {2.0};
        const auto res = network_simplex(&M, 1, 1, a.data(), b.data());
        CHECK(certify(&M, 1, 1, a, b, res) == 6.0);
        CHECK(res.weights.size() == 1 && res.weights[0] == 2.0);
    }
    // 1 x m and n x 1: the plan is forced
    {
        const i64 m = 9;
        std::vector<double> M(m);
        for (i64 j = 0; j < m; ++j) M[j] = double(j) - 3.0;
        const auto a = uniform_marginal(1), b = uniform_marginal(m);
        const auto r1 = network_simplex(M.data(), 1, m, nullptr, nullptr);
        certify(M.data(), 1, m, a, b, r1);
        CHECK(r1.weights.size() == size_t(m));
        const auto r2 = network_simplex(M.data(), m, 1, nullptr, nullptr);
        certify(M.data(), m, 1, b, a, r2);
        CHECK(r2.weights.size() == size_t(m));
    }
    // M and its transpose give the same cost
    {
        const i64 n = 33, m = 71;
        std::mt19937_64 g(700);
        std::uniform_real_distribution<double> U(0.0, 1.0);
        std::vector<double> M(n * m), T(n * m);
        for (auto& x : M) x = U(g);
        for (i64 i = 0; i < n; ++i)
            for (i64 j = 0; j < m; ++j) T[j * n + i] = M[i * m + j];
        const auto a = random_marginal(n, g), b = random_marginal(m, g);
        const double c1 = certify(M.data(), n, m, a, b, network_simplex(M.data(), n, m, a.data(), b.data()));
        const double c2 = certify(T.data(), m, n, b, a, network_simplex(T.data(), m, n, b.data(), a.data()));
        CHECK_NEAR(c1, c2, 1e-12 * c1);
    }
}

}  // namespace

int main() {
    test_shapes();
    test_random();
    test_brute_force();
    test_degenerate();
    test_zero_marginals();
    test_scales();
    test_huge_costs();
    test_warm_start();
    test_max_iter_and_block();
    test_totals();
    test_invalid();
    return hotalign_test::report("test_network_simplex");
}
