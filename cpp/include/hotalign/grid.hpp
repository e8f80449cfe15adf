// hotalign/grid.hpp -- every layer pair of two systems: cost tile + exact transport, in parallel.
//
// HOT solves one transport problem per layer pair (L x M of them, thousands for large models).
// solve_grid() takes standardized layers (centered, unit-norm columns; see correlation_cost.hpp),
// and for each pair (l, m) builds the n_l x n_m correlation-distance tile with one GEMM into a
// per-thread buffer, solves it exactly (solve_transport: assignment for square uniform problems,
// network simplex otherwise), and keeps only the sparse plan, its cost and potentials. Peak extra
// memory is one tile per thread; no L x M collection of dense costs or plans is ever held.
//
// Pairs. By default every pair (l, m) is solved, in row-major order; GridOptions::pairs names a
// subset instead (e.g. the pairs a cache lacks), and results are then indexed by position in
// that list. GridOptions::on_pair, when set, receives each finished pair on its worker thread
// (its plan moved out instead of kept), so a caller can store or forward pairs as they finish.
//
// Threads. A fixed pool of std::threads pulls pair indices from an atomic counter. Results do
// not depend on the number of threads or on scheduling: each pair is computed by exactly the same
// code on the same inputs (the BLAS is expected to be single-threaded inside the pool; the Python
// layer limits it with threadpoolctl). The first exception thrown by a worker stops the others
// and is rethrown on the calling thread. A caller-owned atomic flag cancels the grid between
// pairs, and a caller-owned counter reports progress; both may be polled from another thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "correlation_cost.hpp"
#include "status.hpp"
#include "transport.hpp"

namespace hotalign {

/// A standardized layer: row-major T x width array of the working dtype, and its marginal.
template <class Real>
struct StandardizedLayer {
    const Real* data = nullptr;
    std::int64_t width = 0;
    const double* marginal = nullptr;  ///< width entries, or nullptr for uniform
};

struct GridOptions {
    int n_threads = 1;                               ///< worker threads, >= 1
    bool keep_plans = true;                          ///< keep every pair's TransportResult
    std::int64_t max_iter = 0;                       ///< network simplex pivot limit (0: none)
    const std::atomic<bool>* cancel = nullptr;       ///< set by the caller to stop between pairs
    std::atomic<std::int64_t>* n_done = nullptr;     ///< incremented after each finished pair
    /// Flat indices l * M + m of the pairs to solve (nullptr: all L * M, row-major).
    const std::vector<std::int64_t>* pairs = nullptr;
    /// Called on the worker thread after each pair: (position in the pair list, its result).
    /// Must be thread-safe. When set, plans are handed over here and not kept in GridSolution.
    std::function<void(std::int64_t, TransportResult&&)> on_pair;
};

struct GridSolution {
    std::int64_t n_rows = 0, n_cols = 0;     ///< L and M
    std::vector<std::int64_t> pairs;         ///< flat index l * M + m of each solved pair
    std::vector<double> costs;               ///< per pair (row-major L x M when all pairs)
    std::vector<int> statuses;               ///< per pair: Status codes
    std::vector<std::int64_t> n_iter;        ///< per pair: pivots / augmentations
    std::vector<TransportResult> plans;      ///< per pair (empty unless keep_plans, no on_pair)
    bool cancelled = false;                  ///< true if stopped by the cancel flag
};

/// Solve the correlation-distance transport of every pair (X[l], Y[m]) of standardized layers.
///
/// All layers have T rows. gemm is the BLAS gemm (or the built-in kernel when gemm.fn is null).
/// Throws std::invalid_argument on bad arguments; rethrows the first worker exception.
template <class Real>
GridSolution solve_grid(const std::vector<StandardizedLayer<Real>>& X,
                        const std::vector<StandardizedLayer<Real>>& Y, std::int64_t T,
                        const Gemm<Real>& gemm, const GridOptions& options = {}) {
    if (X.empty()) throw std::invalid_argument("X must hold at least one layer");
    if (Y.empty()) throw std::invalid_argument("Y must hold at least one layer");
    if (T < 1) throw std::invalid_argument("T must be positive");
    if (options.n_threads < 1) throw std::invalid_argument("n_threads must be >= 1");
    std::int64_t max_n = 0, max_m = 0;
    for (std::size_t l = 0; l < X.size(); ++l) {
        if (X[l].data == nullptr || X[l].width < 1)
            throw std::invalid_argument("X[" + std::to_string(l) + "] is empty");
        max_n = std::max(max_n, X[l].width);
    }
    for (std::size_t m = 0; m < Y.size(); ++m) {
        if (Y[m].data == nullptr || Y[m].width < 1)
            throw std::invalid_argument("Y[" + std::to_string(m) + "] is empty");
        max_m = std::max(max_m, Y[m].width);
    }

    const std::int64_t L = static_cast<std::int64_t>(X.size());
    const std::int64_t M = static_cast<std::int64_t>(Y.size());
    GridSolution out;
    out.n_rows = L;
    out.n_cols = M;
    if (options.pairs != nullptr) {
        for (const std::int64_t k : *options.pairs)
            if (k < 0 || k >= L * M)
                throw std::invalid_argument("pair index " + std::to_string(k) +
                                            " is outside the " + std::to_string(L) + " x " +
                                            std::to_string(M) + " grid");
        out.pairs = *options.pairs;
    } else {
        out.pairs.resize(static_cast<std::size_t>(L * M));
        for (std::int64_t k = 0; k < L * M; ++k) out.pairs[static_cast<std::size_t>(k)] = k;
    }
    const std::int64_t n_pairs = static_cast<std::int64_t>(out.pairs.size());
    out.costs.assign(static_cast<std::size_t>(n_pairs), 0.0);
    out.statuses.assign(static_cast<std::size_t>(n_pairs), static_cast<int>(Status::optimal));
    out.n_iter.assign(static_cast<std::size_t>(n_pairs), 0);
    const bool keep = options.keep_plans && !options.on_pair;
    if (keep) out.plans.resize(static_cast<std::size_t>(n_pairs));
    if (n_pairs == 0) return out;

    std::atomic<std::int64_t> next{0};
    std::atomic<bool> failed{false};
    std::atomic<bool> cancelled{false};
    std::exception_ptr error;
    std::mutex error_mutex;
    NetworkSimplexOptions ns;
    ns.max_iter = options.max_iter;

    auto worker = [&]() {
        try {
            std::vector<Real> tile(static_cast<std::size_t>(max_n * max_m));
            for (;;) {
                if (failed.load(std::memory_order_relaxed)) return;
                if (options.cancel && options.cancel->load(std::memory_order_relaxed)) {
                    cancelled.store(true);
                    return;
                }
                const std::int64_t k = next.fetch_add(1);
                if (k >= n_pairs) return;
                const std::int64_t flat = out.pairs[static_cast<std::size_t>(k)];
                const std::int64_t l = flat / M, m = flat % M;
                const auto& x = X[static_cast<std::size_t>(l)];
                const auto& y = Y[static_cast<std::size_t>(m)];
                correlation_cost_standardized(x.data, T, x.width, y.data, y.width, tile.data(),
                                              gemm);
                TransportResult r = solve_transport(tile.data(), x.width, y.width, x.marginal,
                                                    y.marginal, ns);
                out.costs[static_cast<std::size_t>(k)] = r.cost;
                out.statuses[static_cast<std::size_t>(k)] = static_cast<int>(r.status);
                out.n_iter[static_cast<std::size_t>(k)] = r.n_iter;
                if (options.on_pair)
                    options.on_pair(k, std::move(r));
                else if (keep)
                    out.plans[static_cast<std::size_t>(k)] = std::move(r);
                if (options.n_done) options.n_done->fetch_add(1);
            }
        } catch (...) {
            std::lock_guard<std::mutex> lock(error_mutex);
            if (!error) error = std::current_exception();
            failed.store(true);
        }
    };

    const int n_threads =
        static_cast<int>(std::min<std::int64_t>(options.n_threads, n_pairs));
    if (n_threads == 1) {
        worker();
    } else {
        std::vector<std::thread> pool;
        pool.reserve(static_cast<std::size_t>(n_threads));
        for (int t = 0; t < n_threads; ++t) pool.emplace_back(worker);
        for (auto& th : pool) th.join();
    }
    if (error) std::rethrow_exception(error);
    out.cancelled = cancelled.load();
    return out;
}

}  // namespace hotalign
