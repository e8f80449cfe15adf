// Tests of hotalign/correlation_cost.hpp: the built-in kernel (no BLAS linked) and the BLAS call
// convention (through a naive Fortran-convention gemm) against a naive long-double reference.
#include <hotalign/correlation_cost.hpp>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"

using hotalign::ColumnStats;
using std::int64_t;

namespace {

// Naive column-major Fortran gemm: C = alpha op(A) op(B) + beta C (reference for the BLAS path).
int g_gemm_calls = 0;
template <class Real>
void naive_gemm(const char* ta, const char* tb, const int* M, const int* N, const int* K,
                const Real* alpha, const Real* A, const int* lda, const Real* B, const int* ldb,
                const Real* beta, Real* C, const int* ldc) {
    ++g_gemm_calls;
    for (int j = 0; j < *N; ++j)
        for (int i = 0; i < *M; ++i) {
            long double s = 0;
            for (int k = 0; k < *K; ++k) {
                const Real a = (*ta == 'N') ? A[i + k * *lda] : A[k + i * *lda];
                const Real b = (*tb == 'N') ? B[k + j * *ldb] : B[j + k * *ldb];
                s += static_cast<long double>(a) * b;
            }
            Real& c = C[i + j * *ldc];
            const Real old = *beta == 0 ? Real(0) : *beta * c;  // beta = 0: C is not read
            c = static_cast<Real>(*alpha * static_cast<Real>(s) + old);
        }
}

// Reference: 1 - pearson over rows [0, T), long double two-pass.
template <class Real>
std::vector<double> ref_cost(const Real* X, int64_t T, int64_t n, int64_t ldx, const Real* Y,
                             int64_t m, int64_t ldy) {
    auto centered = [T](const Real* A, int64_t w, int64_t ld) {
        std::vector<long double> c(static_cast<size_t>(T * w));
        for (int64_t j = 0; j < w; ++j) {
            long double mu = 0;
            for (int64_t t = 0; t < T; ++t) mu += A[t * ld + j];
            mu /= T;
            long double ss = 0;
            for (int64_t t = 0; t < T; ++t) {
                c[t * w + j] = A[t * ld + j] - mu;
                ss += c[t * w + j] * c[t * w + j];
            }
            for (int64_t t = 0; t < T; ++t)
                c[t * w + j] = ss > 0 ? c[t * w + j] / std::sqrt(ss) : 0;
        }
        return c;
    };
    const auto cx = centered(X, n, ldx), cy = centered(Y, m, ldy);
    std::vector<double> out(static_cast<size_t>(n * m));
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
            long double s = 0;
            for (int64_t t = 0; t < T; ++t) s += cx[t * n + i] * cy[t * m + j];
            out[i * m + j] = static_cast<double>(1.0L - s);
        }
    return out;
}

// Random data with per-column offsets and scales (offsets >> spread stress the centering).
template <class Real>
std::vector<Real> make_data(int64_t T, int64_t w, int64_t ld, std::mt19937_64& rng,
                            double offset = 10.0) {
    std::normal_distribution<double> g(0.0, 1.0);
    std::uniform_real_distribution<double> u(-1.0, 1.0);
    std::vector<double> off(static_cast<size_t>(w)), sc(static_cast<size_t>(w));
    for (int64_t j = 0; j < w; ++j) {
        off[j] = offset * u(rng);
        sc[j] = std::pow(10.0, 2.0 * u(rng));
    }
    std::vector<double> shared(static_cast<size_t>(T));  // common factor -> nonzero correlations
    for (auto& s : shared) s = g(rng);
    std::vector<Real> a(static_cast<size_t>(T * ld), Real(-777));  // padding must be ignored
    for (int64_t t = 0; t < T; ++t)
        for (int64_t j = 0; j < w; ++j)
            a[t * ld + j] = static_cast<Real>(off[j] + sc[j] * (g(rng) + 0.7 * u(rng) * shared[t]));
    return a;
}

double max_err(const std::vector<double>& ref, const std::vector<double>& got) {
    double e = 0;
    for (size_t k = 0; k < ref.size(); ++k) e = std::max(e, std::fabs(ref[k] - got[k]));
    return e;
}

template <class Real>
std::vector<double> as_double(const std::vector<Real>& v) {
    return std::vector<double>(v.begin(), v.end());
}

template <class Real>
constexpr double tol() {
    return sizeof(Real) == 4 ? 1e-5 : 1e-12;
}

std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::invalid_argument& e) {
        return e.what();
    }
    return "<no exception>";
}

bool names(const std::function<void()>& f, const char* arg) {
    const std::string msg = message_of(f);
    const bool ok = msg.find(std::string("'") + arg + "'") != std::string::npos;
    if (!ok) std::printf("  expected argument '%s' in: %s\n", arg, msg.c_str());
    return ok;
}

template <class Real>
void test_shapes() {
    std::mt19937_64 rng(12345 + sizeof(Real));
    struct Shape { int64_t T, n, m, padx, pady; };
    const Shape shapes[] = {{2, 1, 1, 0, 0},    {2, 3, 5, 1, 2},     {3, 1, 7, 0, 3},
                            {17, 5, 9, 2, 0},   {5, 9, 1, 3, 1},     {300, 13, 37, 1, 4},
                            {257, 131, 3, 0, 0}, {260, 133, 521, 7, 3}, {513, 6, 10, 2, 2}};
    for (const Shape& s : shapes) {
        const int64_t ldx = s.n + s.padx, ldy = s.m + s.pady;
        const auto X = make_data<Real>(s.T, s.n, ldx, rng);
        const auto Y = make_data<Real>(s.T, s.m, ldy, rng);
        const auto ref = ref_cost(X.data(), s.T, s.n, ldx, Y.data(), s.m, ldy);
        std::vector<Real> out(static_cast<size_t>(s.n * s.m), Real(-1));
        ColumnStats sx, sy;
        hotalign::correlation_cost<Real>(X.data(), s.T, s.n, ldx, Y.data(), s.m, ldy, out.data(),
                                         {}, {}, &sx, &sy);
        const double e = max_err(ref, as_double(out));
        CHECK(e <= tol<Real>());
        if (!(e <= tol<Real>()))
            std::printf("  fallback T=%lld n=%lld m=%lld err %g\n", (long long)s.T,
                        (long long)s.n, (long long)s.m, e);
        CHECK(sx.constant.empty() && sy.constant.empty());
        // Threads split columns (statistics) and rows (standardize): bitwise the same result.
        std::vector<Real> out_mt(out.size(), Real(-1));
        hotalign::correlation_cost<Real>(X.data(), s.T, s.n, ldx, Y.data(), s.m, ldy,
                                         out_mt.data(), {}, {hotalign::kConstantColumnTol, 3});
        CHECK(max_err(as_double(out), as_double(out_mt)) == 0.0);
        // Caller-owned workspace: same result, nothing allocated for the copies.
        std::vector<Real> ws(hotalign::correlation_cost_workspace_bytes<Real>(s.T, s.n, s.m) /
                             sizeof(Real));
        hotalign::CorrelationCostOptions wopt;
        wopt.workspace = ws.data();
        wopt.workspace_bytes = ws.size() * sizeof(Real);
        std::fill(out_mt.begin(), out_mt.end(), Real(-1));
        hotalign::correlation_cost<Real>(X.data(), s.T, s.n, ldx, Y.data(), s.m, ldy,
                                         out_mt.data(), {}, wopt);
        CHECK(max_err(as_double(out), as_double(out_mt)) == 0.0);
        wopt.workspace_bytes -= 1;
        CHECK(names([&] {
            hotalign::correlation_cost<Real>(X.data(), s.T, s.n, ldx, Y.data(), s.m, ldy,
                                             out_mt.data(), {}, wopt);
        }, "workspace"));
        CHECK(sx.rows == s.T && (int64_t)sx.mean.size() == s.n && (int64_t)sy.mean.size() == s.m);
        for (double v : as_double(out)) CHECK(v >= 0.0 && v <= 2.0);

        // Same through the BLAS call convention (naive Fortran gemm): transposes and lds.
        if (s.T * s.n * s.m <= 2000000) {
            std::vector<Real> out2(out.size(), Real(-1));
            const int calls = g_gemm_calls;
            hotalign::correlation_cost<Real>(X.data(), s.T, s.n, ldx, Y.data(), s.m, ldy,
                                             out2.data(), &naive_gemm<Real>);
            CHECK(g_gemm_calls == calls + 1);
            CHECK(max_err(ref, as_double(out2)) <= tol<Real>());
        }

        // column_stats + standardize + correlation_cost_standardized == correlation_cost.
        const ColumnStats cx = hotalign::column_stats<Real>(X.data(), s.T, s.n, ldx);
        const ColumnStats cy = hotalign::column_stats<Real>(Y.data(), s.T, s.m, ldy);
        std::vector<Real> zx(static_cast<size_t>(s.T * s.n)), zy(static_cast<size_t>(s.T * s.m));
        hotalign::standardize<Real>(X.data(), s.T, s.n, ldx, cx, zx.data());
        hotalign::standardize<Real>(Y.data(), s.T, s.m, ldy, cy, zy.data());
        for (int64_t j = 0; j < s.n; ++j) {  // centered, unit norm
            double sum = 0, ss = 0;
            for (int64_t t = 0; t < s.T; ++t) {
                sum += zx[t * s.n + j];
                ss += double(zx[t * s.n + j]) * zx[t * s.n + j];
            }
            CHECK_NEAR(sum, 0.0, sizeof(Real) == 4 ? 1e-4 : 1e-10);  // mean rounding
            CHECK_NEAR(ss, 1.0, 10 * tol<Real>());
        }
        std::vector<Real> out3(out.size());
        hotalign::correlation_cost_standardized<Real>(zx.data(), s.T, s.n, zy.data(), s.m,
                                                      out3.data());
        CHECK(max_err(as_double(out), as_double(out3)) == 0.0);
    }
}

template <class Real>
void test_accuracy_large_offset() {
    // mean 1e6 (float: 1e3), spread ~1: Welford in double keeps the correlation accurate.
    std::mt19937_64 rng(7);
    const int64_t T = 1000, n = 4, m = 3;
    const double off = sizeof(Real) == 4 ? 1e3 : 1e6;
    const auto X = make_data<Real>(T, n, n, rng, off);
    const auto Y = make_data<Real>(T, m, m, rng, off);
    std::vector<Real> out(static_cast<size_t>(n * m));
    hotalign::correlation_cost<Real>(X.data(), T, n, n, Y.data(), m, m, out.data());
    const double e = max_err(ref_cost(X.data(), T, n, n, Y.data(), m, m), as_double(out));
    CHECK(e <= tol<Real>());
    if (!(e <= tol<Real>()))
        std::printf("  large offset (sizeof %d): err %g\n", (int)sizeof(Real), e);
}

template <class Real>
void test_constant_columns() {
    std::mt19937_64 rng(99);
    const int64_t T = 40, n = 6, m = 5, ld = 8;
    auto X = make_data<Real>(T, n, ld, rng);
    auto Y = make_data<Real>(T, m, ld, rng);
    std::normal_distribution<double> g(0.0, 1.0);
    for (int64_t t = 0; t < T; ++t) {
        X[t * ld + 1] = Real(3.25);                                  // constant
        X[t * ld + 3] = Real(0);                                     // all zero
        Y[t * ld + 4] = Real(-1e6);                                  // constant, large
        if (sizeof(Real) == 8) X[t * ld + 5] = Real(1 + 1e-14 * g(rng));  // rounding-level noise
    }
    std::vector<Real> out(static_cast<size_t>(n * m));
    ColumnStats sx, sy;
    hotalign::correlation_cost<Real>(X.data(), T, n, ld, Y.data(), m, ld, out.data(), {},
                                     {}, &sx, &sy);
    const std::vector<int64_t> want_x =
        sizeof(Real) == 8 ? std::vector<int64_t>{1, 3, 5} : std::vector<int64_t>{1, 3};
    CHECK(sx.constant == want_x);
    CHECK(sy.constant == std::vector<int64_t>{4});
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
            const double v = out[i * m + j];
            CHECK(!std::isnan(v));
            const bool c = std::find(want_x.begin(), want_x.end(), i) != want_x.end() || j == 4;
            if (c) CHECK(v == 1.0);
        }
    for (int64_t i : want_x) CHECK(sx.inv_norm[i] == 0.0);
    // A small but genuine spread (1e-9 relative) is not constant.
    std::vector<Real> Z(static_cast<size_t>(T * 2));
    for (int64_t t = 0; t < T; ++t) {
        Z[2 * t] = Real(5.0 + (sizeof(Real) == 8 ? 1e-9 : 1e-3) * g(rng));
        Z[2 * t + 1] = Real(t % 2);
    }
    CHECK(hotalign::column_stats<Real>(Z.data(), T, 2, 2).constant.empty());
    // T = 2 with equal rows: every column constant, cost all 1.
    const Real two[4] = {1, 2, 1, 2};
    Real o2[4];
    hotalign::correlation_cost<Real>(two, 2, 2, 2, two, 2, 2, o2);
    for (Real v : o2) CHECK(v == Real(1));
}

template <class Real>
void test_held_out() {
    std::mt19937_64 rng(2024);
    const int64_t T = 90, Ttr = 60, Tte = T - Ttr, n = 7, m = 11, ldx = 9, ldy = 11;
    auto X = make_data<Real>(T, n, ldx, rng);
    auto Y = make_data<Real>(T, m, ldy, rng);
    for (int64_t t = 0; t < Ttr; ++t) X[t * ldx + 2] = Real(4);  // constant on training rows only
    const ColumnStats sx = hotalign::column_stats<Real>(X.data(), Ttr, n, ldx);
    const ColumnStats sy = hotalign::column_stats<Real>(Y.data(), Ttr, m, ldy);
    CHECK(sx.constant == std::vector<int64_t>{2});
    std::vector<Real> zx(static_cast<size_t>(Tte * n)), zy(static_cast<size_t>(Tte * m));
    hotalign::standardize<Real>(X.data() + Ttr * ldx, Tte, n, ldx, sx, zx.data());
    hotalign::standardize<Real>(Y.data() + Ttr * ldy, Tte, m, ldy, sy, zy.data(), 2);
    for (int64_t t = 0; t < Tte; ++t) CHECK(zx[t * n + 2] == Real(0));
    std::vector<Real> out(static_cast<size_t>(n * m));
    hotalign::correlation_cost_standardized<Real>(zx.data(), Tte, n, zy.data(), m, out.data());
    // Reference: held-out correlation with training mean and population sd.
    auto train = [&](const std::vector<Real>& A, int64_t ld, int64_t j, long double& mu,
                     long double& sd) {
        mu = 0;
        for (int64_t t = 0; t < Ttr; ++t) mu += A[t * ld + j];
        mu /= Ttr;
        long double ss = 0;
        for (int64_t t = 0; t < Ttr; ++t) ss += (A[t * ld + j] - mu) * (A[t * ld + j] - mu);
        sd = std::sqrt(ss / Ttr);
    };
    for (int64_t i = 0; i < n; ++i)
        for (int64_t j = 0; j < m; ++j) {
            long double mx, sdx, my, sdy, s = 0;
            train(X, ldx, i, mx, sdx);
            train(Y, ldy, j, my, sdy);
            for (int64_t t = Ttr; t < T; ++t) s += (X[t * ldx + i] - mx) * (Y[t * ldy + j] - my);
            double want = i == 2 ? 1.0 : static_cast<double>(1.0L - s / (Tte * sdx * sdy));
            want = std::min(2.0, std::max(0.0, want));
            CHECK_NEAR(static_cast<double>(out[i * m + j]), want, tol<Real>());
        }
    // On the training rows themselves the statistics reproduce correlation_cost.
    std::vector<Real> ztr(static_cast<size_t>(Ttr * m)), o1(static_cast<size_t>(m * m)),
        o2(static_cast<size_t>(m * m));
    hotalign::standardize<Real>(Y.data(), Ttr, m, ldy, sy, ztr.data());
    hotalign::correlation_cost_standardized<Real>(ztr.data(), Ttr, m, ztr.data(), m, o1.data());
    hotalign::correlation_cost<Real>(Y.data(), Ttr, m, ldy, Y.data(), m, ldy, o2.data());
    CHECK(max_err(as_double(o1), as_double(o2)) <= tol<Real>());
    for (int64_t j = 0; j < m; ++j) CHECK_NEAR(double(o2[j * m + j]), 0.0, tol<Real>());
    for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < m; ++j) CHECK(o2[i * m + j] == o2[j * m + i]);
}

// Correlation is scale-invariant: layers scaled by 1e-200, 1e200, 1e300 or into the subnormal
// range give the costs of the unscaled layer (a power-of-two factor is exact, so these compare
// at rounding level), constant columns stay constant at any scale, and ordinary columns keep
// prescale 1 (the statistics take exactly the arithmetic they always took).
void test_extreme_magnitudes() {
    std::mt19937_64 rng(99);
    const int64_t T = 37, n = 5, m = 4;
    auto X = make_data<double>(T, n, n, rng);
    auto Y = make_data<double>(T, m, m, rng);
    for (int64_t t = 0; t < T; ++t) X[t * n + 2] = 7.0;  // constant
    std::vector<double> ref(static_cast<size_t>(n * m)), out(ref.size());
    ColumnStats s0;
    hotalign::correlation_cost<double>(X.data(), T, n, n, Y.data(), m, m, ref.data(), {}, {},
                                       &s0);
    CHECK(s0.prescale.empty());
    CHECK(s0.constant == std::vector<int64_t>{2});
    for (const int e : {-665, -1030, 665, 997, 1010}) {  // 1e-200, subnormal, 1e200, 1e300
        std::vector<double> Xs(X), Ys(Y);
        for (double& v : Xs) v = std::ldexp(v, e);
        for (double& v : Ys) v = std::ldexp(v, e);
        // Subnormal data lose low bits when scaled down: compare with the data as stored.
        std::vector<double> Xb(Xs), Yb(Ys), want(ref.size());
        for (double& v : Xb) v = std::ldexp(v, -e);
        for (double& v : Yb) v = std::ldexp(v, -e);
        hotalign::correlation_cost<double>(Xb.data(), T, n, n, Yb.data(), m, m, want.data());
        ColumnStats sx;
        hotalign::correlation_cost<double>(Xs.data(), T, n, n, Ys.data(), m, m, out.data(), {},
                                           {}, &sx);
        CHECK(sx.constant == std::vector<int64_t>{2});
        CHECK(sx.prescale.size() == static_cast<size_t>(n));
        CHECK(max_err(out, want) <= 1e-13);
        if (e > -1000) CHECK(max_err(out, ref) <= 1e-13);
        // column_stats + standardize agree, also on other rows (held-out use).
        const ColumnStats cs = hotalign::column_stats<double>(Xs.data(), T - 5, n, n);
        std::vector<double> z(static_cast<size_t>(5 * n));
        hotalign::standardize<double>(Xs.data() + (T - 5) * n, 5, n, n, cs, z.data());
        const ColumnStats cb = hotalign::column_stats<double>(Xb.data(), T - 5, n, n);
        std::vector<double> zb(z.size());
        hotalign::standardize<double>(Xb.data() + (T - 5) * n, 5, n, n, cb, zb.data());
        CHECK(max_err(z, zb) <= 1e-12);
    }
    // Huge values of both signs whose differences overflow (|x| near DBL_MAX).
    std::vector<double> H = {1.5e308, -1.7e308, 1e308, 0.0, -1e308, 1.7e308};
    std::vector<double> Hb(H), o1(1), o2(1);
    for (double& v : Hb) v /= 1e308;
    hotalign::correlation_cost<double>(H.data(), 6, 1, 1, H.data(), 1, 1, o1.data());
    CHECK_NEAR(o1[0], 0.0, 1e-15);
    std::vector<double> L2 = {1e308, -1e308, 3e307, 0.0, 2e307, -5e307};
    hotalign::correlation_cost<double>(H.data(), 6, 1, 1, L2.data(), 1, 1, o1.data());
    std::vector<double> L2b(L2);
    for (double& v : L2b) v /= 1e308;
    hotalign::correlation_cost<double>(Hb.data(), 6, 1, 1, L2b.data(), 1, 1, o2.data());
    CHECK_NEAR(o1[0], o2[0], 1e-14);
    // Constant at tiny and huge scale; all-zero.
    for (const double c : {1e-310, 1e-200, 1e200, 1.7e308, 0.0}) {
        std::vector<double> C(12, c);
        CHECK(hotalign::column_stats<double>(C.data(), 6, 2, 2).constant ==
              (std::vector<int64_t>{0, 1}));
    }
}

void test_bad_arguments() {
    using hotalign::column_stats;
    using hotalign::correlation_cost;
    using hotalign::correlation_cost_standardized;
    using hotalign::standardize;
    std::vector<double> X(12, 1.0), Y(12, 2.0), out(16);
    for (int k = 0; k < 12; ++k) X[k] = k * k, Y[k] = std::sin(k);
    double* o = out.data();
    const double* x = X.data();
    const double* y = Y.data();
    CHECK(names([&] { correlation_cost(x, 1, 2, 2, y, 2, 2, o); }, "T"));
    CHECK(names([&] { correlation_cost(x, 3, 0, 2, y, 2, 2, o); }, "n"));
    CHECK(names([&] { correlation_cost(x, 3, 2, 2, y, 0, 2, o); }, "m"));
    CHECK(names([&] { correlation_cost<double>(nullptr, 3, 2, 2, y, 2, 2, o); }, "X"));
    CHECK(names([&] { correlation_cost<double>(x, 3, 2, 2, nullptr, 2, 2, o); }, "Y"));
    CHECK(names([&] { correlation_cost<double>(x, 3, 2, 2, y, 2, 2, nullptr); }, "out"));
    CHECK(names([&] { correlation_cost(x, 3, 4, 3, y, 2, 2, o); }, "ldx"));
    CHECK(names([&] { correlation_cost(x, 3, 2, 2, y, 3, 2, o); }, "ldy"));
    CHECK(names([&] { correlation_cost(x, 3, 2, 2, y, 2, 2, o, {}, {-1.0, 1}); },
                "constant_tol"));
    CHECK(names([&] { column_stats(x, 1, 2, 2); }, "T"));
    CHECK(names([&] { column_stats(x, 4, 3, 2); }, "row_stride"));
    CHECK(names([&] { column_stats<double>(nullptr, 4, 3, 3); }, "X"));
    CHECK_THROWS(correlation_cost_standardized(x, 0, 2, y, 2, o));
    CHECK(names([&] { correlation_cost_standardized<double>(x, 3, 2, nullptr, 2, o); }, "Zy"));
    // NaN / inf named X or Y, found by the statistics pass (or the standardize pass).
    const double nan = std::nan(""), inf = HUGE_VAL;
    X[5] = nan;
    CHECK(names([&] { correlation_cost(x, 4, 3, 3, y, 3, 3, o); }, "X"));
    CHECK(names([&] { column_stats(x, 4, 3, 3); }, "X"));
    X[5] = 25;
    Y[7] = -inf;
    CHECK(names([&] { correlation_cost(x, 4, 3, 3, y, 3, 3, o); }, "Y"));
    Y[7] = 1e300;  // squares would overflow: summed prescaled, not an error
    CHECK(message_of([&] { correlation_cost(x, 4, 3, 3, y, 3, 3, o); }) == "<no exception>");
    Y[7] = 1e300;
    Y[10] = -inf;  // ... but a real inf in such a column still is
    CHECK(names([&] { correlation_cost(x, 4, 3, 3, y, 3, 3, o); }, "Y"));
    Y[7] = std::sin(7);
    Y[10] = std::sin(10);
    std::vector<float> xf(12, 1.0f);
    xf[3] = std::numeric_limits<float>::infinity();
    float of[9];
    CHECK(names([&] { hotalign::correlation_cost(xf.data(), 4, 3, 3, xf.data(), 3, 3, of); },
                "X"));
    // Padding (beyond the row width) is never read, even if it holds NaN.
    std::vector<double> P = {1, 2, nan, 2, 5, nan, 3, 1, nan};
    CHECK(message_of([&] { correlation_cost(P.data(), 3, 2, 3, P.data(), 2, 3, o); }) ==
          "<no exception>");
    // standardize: stats of another width; NaN in held-out rows.
    const ColumnStats s = column_stats(x, 4, 3, 3);
    std::vector<double> z(12);
    CHECK(names([&] { standardize(x, 4, 2, 3, s, z.data()); }, "stats"));
    CHECK(names([&] { standardize<double>(x, 4, 3, 3, s, static_cast<double*>(nullptr)); }, "out"));
    CHECK(names([&] { standardize(x, 0, 3, 3, s, z.data()); }, "T"));
    X[10] = inf;
    CHECK(names([&] { standardize(x, 4, 3, 3, s, z.data()); }, "X"));
    CHECK(names([&] { standardize(x, 4, 3, 3, s, z.data(), 4); }, "X"));
    // BLAS int range: n > INT_MAX is rejected before any data are touched.
    const int64_t big = int64_t(INT_MAX) + 1;
    CHECK(names([&] {
        correlation_cost_standardized<double>(x, 1, big, y, 1, o, &naive_gemm<double>);
    }, "n"));
    CHECK(names([&] {
        correlation_cost_standardized<double>(x, 1, 1, y, big, o, &naive_gemm<double>);
    }, "m"));
}

}  // namespace

int main() {
    test_shapes<double>();
    test_shapes<float>();
    test_accuracy_large_offset<double>();
    test_accuracy_large_offset<float>();
    test_constant_columns<double>();
    test_constant_columns<float>();
    test_held_out<double>();
    test_held_out<float>();
    test_extreme_magnitudes();
    test_bad_arguments();
    return hotalign_test::report("test_correlation_cost");
}
