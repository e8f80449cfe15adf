// Call the solver through the plain C ABI (as ctypes, cffi or numba would).
#define HOTALIGN_C_API_IMPLEMENTATION
#include <hotalign/c_api.h>

#include <cstdio>

int main() {
    const double M[4] = {1.0, 0.0, 0.0, 1.0};  // 2 x 2: the anti-diagonal is free
    int64_t rows[3], cols[3], nnz = 0, n_iter = 0;
    double weights[3], u[2], v[2], cost = -1.0;
    char err[256] = {0};
    const int status = hotalign_solve_transport_f64(M, 2, 2, nullptr, nullptr, 0, 0, nullptr,
                                                    nullptr, rows, cols, weights, &nnz, u, v,
                                                    &cost, &n_iter, err, sizeof err);
    std::printf("status %d, cost %g, nnz %lld\n", status, cost, static_cast<long long>(nnz));
    if (status != 0 || cost != 0.0 || nnz != 2 || cols[0] != 1 || cols[1] != 0) return 1;

    // A bad argument is reported as -1 with a message, never thrown across the C boundary.
    const double bad[2] = {-1.0, 2.0};
    const int code = hotalign_solve_transport_f64(M, 2, 2, bad, nullptr, 0, 0, nullptr, nullptr,
                                                  nullptr, nullptr, nullptr, nullptr, nullptr,
                                                  nullptr, nullptr, nullptr, err, sizeof err);
    std::printf("bad marginal -> %d: %s\n", code, err);
    return code == -1 ? 0 : 1;
}
