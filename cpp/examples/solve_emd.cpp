// Solve a small exact transport problem with the header-only core and check its certificate.
//
//   cmake -S cpp -B build && cmake --build build && ./build/solve_emd
#include <cmath>
#include <cstdio>
#include <vector>

#include <hotalign/hotalign.hpp>

int main() {
    const std::int64_t n = 3, m = 4;
    // Row-major 3 x 4 cost matrix, marginals with equal totals.
    const std::vector<double> M = {0.0, 2.0, 1.0, 3.0,  //
                                   2.0, 0.0, 2.0, 1.0,  //
                                   1.0, 3.0, 0.0, 2.0};
    const std::vector<double> a = {0.5, 0.3, 0.2};
    const std::vector<double> b = {0.25, 0.25, 0.25, 0.25};

    const hotalign::TransportResult r = hotalign::solve_transport(M.data(), n, m, a.data(), b.data());
    std::printf("status %s, cost %.6f, %zu cells, %lld pivots\n", hotalign::status_name(r.status),
                r.cost, r.weights.size(), static_cast<long long>(r.n_iter));
    for (std::size_t k = 0; k < r.weights.size(); ++k)
        std::printf("  P[%lld, %lld] = %.4f\n", static_cast<long long>(r.rows[k]),
                    static_cast<long long>(r.cols[k]), r.weights[k]);

    // Dual certificate: u_i + v_j <= M_ij everywhere, and the dual objective equals the cost.
    double dual = 0.0, worst = 0.0;
    for (std::int64_t i = 0; i < n; ++i) dual += a[i] * r.u[i];
    for (std::int64_t j = 0; j < m; ++j) dual += b[j] * r.v[j];
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t j = 0; j < m; ++j)
            worst = std::fmax(worst, r.u[i] + r.v[j] - M[i * m + j]);
    std::printf("dual objective %.6f, worst dual violation %.2e\n", dual, worst);
    const bool ok = r.status == hotalign::Status::optimal && std::fabs(dual - r.cost) < 1e-12 &&
                    worst < 1e-12;
    return ok ? 0 : 1;
}
