/* hotalign/c_api.h -- plain C ABI of the hotalign transport solvers.
 *
 * For callers that cannot use C++ templates or pybind11: C programs, ctypes/cffi, and numba's
 * nopython loops (which call these through a function pointer). Every function takes pointers
 * plus sizes, writes into caller-owned buffers, and returns a status code:
 *
 *    0 optimal, 1 infeasible, 2 unbounded, 3 max_iter      (hotalign::Status)
 *   -1 invalid argument (a message is written to err, if err_len > 0)
 *   -2 out of memory or another internal error (message in err)
 *
 * Nothing is thrown across the boundary and no global state is kept: calls are thread safe.
 * The definitions are compiled in exactly one C++ translation unit that defines
 * HOTALIGN_C_API_IMPLEMENTATION before including this header (the Python extension does).
 */
#ifndef HOTALIGN_C_API_H
#define HOTALIGN_C_API_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exact transport min <M, P>, P 1 = a, P^T 1 = b, P >= 0, on a row-major n x m cost matrix M.
 *
 * a, b:        marginals (n and m entries) or NULL for uniform.
 * method:      0 automatic (assignment solver for square uniform problems), 1 network simplex,
 *              2 assignment.
 * max_iter:    pivot limit of the network simplex, <= 0 for none.
 * u0, v0:      warm-start potentials (n and m entries) or both NULL.
 * rows, cols, weights: the sparse plan, room for n + m - 1 cells; *nnz receives the count.
 * u, v:        dual potentials (n and m entries); cost, n_iter: scalars. Any output may be NULL
 *              except nnz when rows/cols/weights are given.
 */
int hotalign_solve_transport_f64(const double* M, int64_t n, int64_t m, const double* a,
                                 const double* b, int method, int64_t max_iter,
                                 const double* u0, const double* v0, int64_t* rows,
                                 int64_t* cols, double* weights, int64_t* nnz, double* u,
                                 double* v, double* cost, int64_t* n_iter, char* err,
                                 int64_t err_len);

/* Same with float32 costs (read in place; all arithmetic in double). */
int hotalign_solve_transport_f32(const float* M, int64_t n, int64_t m, const double* a,
                                 const double* b, int method, int64_t max_iter,
                                 const double* u0, const double* v0, int64_t* rows,
                                 int64_t* cols, double* weights, int64_t* nnz, double* u,
                                 double* v, double* cost, int64_t* n_iter, char* err,
                                 int64_t err_len);

/* As hotalign_solve_transport_f64 / _f32, and *method_used (if not NULL) receives the solver
 * that ran: 1 network simplex, 2 assignment (hotalign::Method), so callers never re-derive the
 * dispatch rule of method 0. */
int hotalign_solve_transport_ex_f64(const double* M, int64_t n, int64_t m, const double* a,
                                    const double* b, int method, int64_t max_iter,
                                    const double* u0, const double* v0, int64_t* rows,
                                    int64_t* cols, double* weights, int64_t* nnz, double* u,
                                    double* v, double* cost, int64_t* n_iter, int* method_used,
                                    char* err, int64_t err_len);
int hotalign_solve_transport_ex_f32(const float* M, int64_t n, int64_t m, const double* a,
                                    const double* b, int method, int64_t max_iter,
                                    const double* u0, const double* v0, int64_t* rows,
                                    int64_t* cols, double* weights, int64_t* nnz, double* u,
                                    double* v, double* cost, int64_t* n_iter, int* method_used,
                                    char* err, int64_t err_len);

/* Linear sum assignment (scipy semantics) on a row-major n x m cost matrix C. row_ind and
 * col_ind need min(n, m) entries, u n entries, v m entries (each may be NULL). */
int hotalign_linear_sum_assignment_f64(const double* C, int64_t n, int64_t m, int maximize,
                                       int64_t* row_ind, int64_t* col_ind, double* u,
                                       double* v, double* cost, char* err, int64_t err_len);

#ifdef __cplusplus
} /* extern "C" */
#endif

#ifdef HOTALIGN_C_API_IMPLEMENTATION
#ifndef __cplusplus
#error "HOTALIGN_C_API_IMPLEMENTATION must be defined in a C++ translation unit"
#endif
#include <algorithm>
#include <cstring>
#include <exception>
#include <new>
#include <stdexcept>

#include "transport.hpp"

namespace hotalign {
namespace c_api_detail {

inline void write_error(char* err, int64_t err_len, const char* what) {
    if (err == nullptr || err_len <= 0) return;
    const std::size_t cap = static_cast<std::size_t>(err_len) - 1;
    const std::size_t len = std::min(cap, std::strlen(what));
    std::memcpy(err, what, len);
    err[len] = '\0';
}

template <class F>
int guarded(char* err, int64_t err_len, F&& body) noexcept {
    try {
        return body();
    } catch (const std::invalid_argument& e) {
        write_error(err, err_len, e.what());
        return -1;
    } catch (const std::bad_alloc&) {
        write_error(err, err_len, "out of memory");
        return -2;
    } catch (const std::exception& e) {
        write_error(err, err_len, e.what());
        return -2;
    } catch (...) {
        write_error(err, err_len, "unknown error");
        return -2;
    }
}

template <class Real>
int solve_transport_c(const Real* M, int64_t n, int64_t m, const double* a, const double* b,
                      int method, int64_t max_iter, const double* u0, const double* v0,
                      int64_t* rows, int64_t* cols, double* weights, int64_t* nnz, double* u,
                      double* v, double* cost, int64_t* n_iter, int* method_used, char* err,
                      int64_t err_len) {
    return guarded(err, err_len, [&]() -> int {
        if (M == nullptr) throw std::invalid_argument("M must not be NULL");
        if (method < 0 || method > 2) throw std::invalid_argument("method must be 0, 1 or 2");
        if ((u0 == nullptr) != (v0 == nullptr))
            throw std::invalid_argument("u0 and v0: give both warm-start potentials or neither");
        if ((rows || cols || weights) && !(rows && cols && weights && nnz))
            throw std::invalid_argument("rows, cols, weights and nnz go together");
        NetworkSimplexOptions opt;
        opt.max_iter = max_iter;
        opt.u0 = u0;
        opt.v0 = v0;
        TransportResult r = solve_transport(M, n, m, a, b, opt, static_cast<Method>(method));
        const std::size_t k = r.weights.size();
        if (rows) {
            std::copy(r.rows.begin(), r.rows.end(), rows);
            std::copy(r.cols.begin(), r.cols.end(), cols);
            std::copy(r.weights.begin(), r.weights.end(), weights);
        }
        if (nnz) *nnz = static_cast<int64_t>(k);
        if (u && !r.u.empty()) std::copy(r.u.begin(), r.u.end(), u);
        if (v && !r.v.empty()) std::copy(r.v.begin(), r.v.end(), v);
        if (cost) *cost = r.cost;
        if (n_iter) *n_iter = r.n_iter;
        if (method_used) *method_used = static_cast<int>(r.method);
        return static_cast<int>(r.status);
    });
}

}  // namespace c_api_detail
}  // namespace hotalign

extern "C" {

int hotalign_solve_transport_f64(const double* M, int64_t n, int64_t m, const double* a,
                                 const double* b, int method, int64_t max_iter,
                                 const double* u0, const double* v0, int64_t* rows,
                                 int64_t* cols, double* weights, int64_t* nnz, double* u,
                                 double* v, double* cost, int64_t* n_iter, char* err,
                                 int64_t err_len) {
    return hotalign::c_api_detail::solve_transport_c(M, n, m, a, b, method, max_iter, u0, v0,
                                                     rows, cols, weights, nnz, u, v, cost,
                                                     n_iter, nullptr, err, err_len);
}

int hotalign_solve_transport_f32(const float* M, int64_t n, int64_t m, const double* a,
                                 const double* b, int method, int64_t max_iter,
                                 const double* u0, const double* v0, int64_t* rows,
                                 int64_t* cols, double* weights, int64_t* nnz, double* u,
                                 double* v, double* cost, int64_t* n_iter, char* err,
                                 int64_t err_len) {
    return hotalign::c_api_detail::solve_transport_c(M, n, m, a, b, method, max_iter, u0, v0,
                                                     rows, cols, weights, nnz, u, v, cost,
                                                     n_iter, nullptr, err, err_len);
}

int hotalign_solve_transport_ex_f64(const double* M, int64_t n, int64_t m, const double* a,
                                    const double* b, int method, int64_t max_iter,
                                    const double* u0, const double* v0, int64_t* rows,
                                    int64_t* cols, double* weights, int64_t* nnz, double* u,
                                    double* v, double* cost, int64_t* n_iter, int* method_used,
                                    char* err, int64_t err_len) {
    return hotalign::c_api_detail::solve_transport_c(M, n, m, a, b, method, max_iter, u0, v0,
                                                     rows, cols, weights, nnz, u, v, cost,
                                                     n_iter, method_used, err, err_len);
}

int hotalign_solve_transport_ex_f32(const float* M, int64_t n, int64_t m, const double* a,
                                    const double* b, int method, int64_t max_iter,
                                    const double* u0, const double* v0, int64_t* rows,
                                    int64_t* cols, double* weights, int64_t* nnz, double* u,
                                    double* v, double* cost, int64_t* n_iter, int* method_used,
                                    char* err, int64_t err_len) {
    return hotalign::c_api_detail::solve_transport_c(M, n, m, a, b, method, max_iter, u0, v0,
                                                     rows, cols, weights, nnz, u, v, cost,
                                                     n_iter, method_used, err, err_len);
}

int hotalign_linear_sum_assignment_f64(const double* C, int64_t n, int64_t m, int maximize,
                                       int64_t* row_ind, int64_t* col_ind, double* u,
                                       double* v, double* cost, char* err, int64_t err_len) {
    return hotalign::c_api_detail::guarded(err, err_len, [&]() -> int {
        if (C == nullptr && n > 0 && m > 0) throw std::invalid_argument("C must not be NULL");
        hotalign::AssignmentResult r = hotalign::linear_sum_assignment(C, n, m, maximize != 0);
        if (row_ind) std::copy(r.row_ind.begin(), r.row_ind.end(), row_ind);
        if (col_ind) std::copy(r.col_ind.begin(), r.col_ind.end(), col_ind);
        if (u && !r.u.empty()) std::copy(r.u.begin(), r.u.end(), u);
        if (v && !r.v.empty()) std::copy(r.v.begin(), r.v.end(), v);
        if (cost) *cost = r.cost;
        return static_cast<int>(r.status);
    });
}

}  // extern "C"
#endif /* HOTALIGN_C_API_IMPLEMENTATION */

#endif /* HOTALIGN_C_API_H */
