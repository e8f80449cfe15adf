// hotalign._core -- the pybind11 translation layer over the header-only C++ core.
//
// No algorithmic logic lives here: arrays are checked for dtype/layout (the Python layer has
// already converted them, so nothing is copied), the GIL is released around every solve, and
// std::invalid_argument from the core becomes ValueError (pybind11's standard translation).
// Solver outcomes come back as integer status codes; hotalign.results.raise_for_status maps them
// to exceptions.
#define HOTALIGN_C_API_IMPLEMENTATION
#include <hotalign/c_api.h>
#include <hotalign/hotalign.hpp>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace py = pybind11;

namespace {

using f64_array = py::array_t<double, py::array::c_style>;
using f32_array = py::array_t<float, py::array::c_style>;

// Hand a std::vector to NumPy without copying: the capsule owns the moved vector.
template <class T>
py::array_t<T> to_numpy(std::vector<T>&& v) {
    auto* owner = new std::vector<T>(std::move(v));
    py::capsule free_when_done(owner, [](void* p) { delete static_cast<std::vector<T>*>(p); });
    return py::array_t<T>({static_cast<py::ssize_t>(owner->size())}, {sizeof(T)}, owner->data(),
                          free_when_done);
}

const double* optional_vector(const std::optional<f64_array>& x, py::ssize_t size,
                              const char* name) {
    if (!x) return nullptr;
    if (x->ndim() != 1 || x->shape(0) != size)
        throw std::invalid_argument(std::string(name) + " must be a 1-D array of length " +
                                    std::to_string(size));
    return x->data();
}

py::tuple pack(hotalign::TransportResult&& r) {
    return py::make_tuple(to_numpy(std::move(r.rows)), to_numpy(std::move(r.cols)),
                          to_numpy(std::move(r.weights)), to_numpy(std::move(r.u)),
                          to_numpy(std::move(r.v)), r.cost, static_cast<int>(r.status), r.n_iter,
                          static_cast<int>(r.method));
}

template <class Real>
py::tuple solve_transport_typed(const py::array_t<Real, py::array::c_style>& M,
                                const std::optional<f64_array>& a,
                                const std::optional<f64_array>& b, int method,
                                std::int64_t max_iter, const std::optional<f64_array>& u0,
                                const std::optional<f64_array>& v0) {
    if (M.ndim() != 2) throw std::invalid_argument("M must be a 2-D array");
    const std::int64_t n = M.shape(0), m = M.shape(1);
    if (method < 0 || method > 2) throw std::invalid_argument("method must be 0, 1 or 2");
    hotalign::NetworkSimplexOptions opt;
    opt.max_iter = max_iter;
    opt.u0 = optional_vector(u0, n, "warm_start[0] (u)");
    opt.v0 = optional_vector(v0, m, "warm_start[1] (v)");
    if ((opt.u0 == nullptr) != (opt.v0 == nullptr))
        throw std::invalid_argument("warm_start needs both potentials u and v");
    const double* pa = optional_vector(a, n, "a");
    const double* pb = optional_vector(b, m, "b");
    hotalign::TransportResult r;
    {
        py::gil_scoped_release release;
        r = hotalign::solve_transport(M.data(), n, m, pa, pb, opt,
                                      static_cast<hotalign::Method>(method));
    }
    return pack(std::move(r));
}

using i64_array = py::array_t<std::int64_t, py::array::c_style>;

py::tuple sparse_transport(std::int64_t n, std::int64_t m, const i64_array& rows,
                           const i64_array& cols, const f64_array& costs,
                           const std::optional<f64_array>& a, const std::optional<f64_array>& b,
                           std::int64_t max_iter) {
    if (rows.ndim() != 1 || cols.ndim() != 1 || costs.ndim() != 1 ||
        rows.shape(0) != costs.shape(0) || cols.shape(0) != costs.shape(0))
        throw std::invalid_argument("rows, cols and costs must be 1-D arrays of one length");
    const double* pa = optional_vector(a, n, "a");
    const double* pb = optional_vector(b, m, "b");
    hotalign::SparseTransportResult r;
    {
        py::gil_scoped_release release;
        r = hotalign::sparse_network_simplex(n, m, rows.data(), cols.data(), costs.data(),
                                             costs.shape(0), pa, pb, max_iter);
    }
    return py::make_tuple(to_numpy(std::move(r.arcs)), to_numpy(std::move(r.flows)),
                          to_numpy(std::move(r.u)), to_numpy(std::move(r.v)), r.cost,
                          static_cast<int>(r.status), r.n_iter);
}

template <class Real>
py::tuple lsa_typed(const py::array_t<Real, py::array::c_style>& C, bool maximize) {
    if (C.ndim() != 2) throw std::invalid_argument("cost_matrix must be a 2-D array");
    hotalign::AssignmentResult r;
    {
        py::gil_scoped_release release;
        r = hotalign::linear_sum_assignment_scaled(C.data(), C.shape(0), C.shape(1), maximize,
                                                      "cost_matrix");
    }
    return py::make_tuple(to_numpy(std::move(r.row_ind)), to_numpy(std::move(r.col_ind)),
                          to_numpy(std::move(r.u)), to_numpy(std::move(r.v)), r.cost,
                          static_cast<int>(r.status), r.n_iter);
}

bool is_float32(const py::array& x) { return x.dtype().is(py::dtype::of<float>()); }

// ---- correlation costs ----------------------------------------------------------------------

// Row stride (in elements) of a 2-D array whose columns are contiguous; the Python layer copies
// anything else before calling.
std::int64_t row_stride(const py::array& X, const char* name) {
    if (X.ndim() != 2) throw std::invalid_argument(std::string(name) + " must be a 2-D array");
    const auto item = static_cast<py::ssize_t>(X.itemsize());
    if (X.shape(1) > 1 && X.strides(1) != item)
        throw std::invalid_argument(std::string(name) + " must have contiguous rows");
    if (X.shape(0) > 1 && (X.strides(0) % item != 0 || X.strides(0) < X.shape(1) * item))
        throw std::invalid_argument(std::string(name) + " has an unsupported row stride");
    return X.shape(0) > 1 ? X.strides(0) / item : X.shape(1);
}

template <class Real>
hotalign::Gemm<Real> gemm_from(std::uintptr_t address) {
    return hotalign::Gemm<Real>(reinterpret_cast<typename hotalign::Gemm<Real>::fn_type>(address));
}

template <class Real>
py::tuple column_stats_typed(const py::array& X) {
    const std::int64_t ld = row_stride(X, "X");
    const Real* data = static_cast<const Real*>(X.data());
    hotalign::ColumnStats st;
    {
        py::gil_scoped_release release;
        st = hotalign::column_stats(data, X.shape(0), X.shape(1), ld);
    }
    if (st.prescale.empty()) st.prescale.assign(st.mean.size(), 1.0);
    return py::make_tuple(to_numpy(std::move(st.mean)), to_numpy(std::move(st.inv_norm)),
                          to_numpy(std::move(st.constant)), st.rows,
                          to_numpy(std::move(st.prescale)));
}

template <class Real, class Out>
py::array standardize_typed(const py::array& X, const f64_array& mean, const f64_array& inv_norm,
                            std::int64_t rows, int threads,
                            const std::optional<f64_array>& prescale) {
    const std::int64_t ld = row_stride(X, "X");
    const std::int64_t T = X.shape(0), n = X.shape(1);
    hotalign::ColumnStats st;
    st.rows = rows;
    st.mean.assign(mean.data(), mean.data() + mean.size());
    st.inv_norm.assign(inv_norm.data(), inv_norm.data() + inv_norm.size());
    if (prescale) {
        const double* p = prescale->data();
        const std::size_t k = static_cast<std::size_t>(prescale->size());
        // All ones: leave it empty so standardize takes the plain loop (bit-identical).
        bool ones = true;
        for (std::size_t q = 0; q < k; ++q) ones = ones && p[q] == 1.0;
        if (!ones || k != st.mean.size()) st.prescale.assign(p, p + k);
    }
    py::array_t<Out> out({static_cast<py::ssize_t>(T), static_cast<py::ssize_t>(n)});
    const Real* data = static_cast<const Real*>(X.data());
    Out* dst = out.mutable_data();
    {
        py::gil_scoped_release release;
        hotalign::standardize(data, T, n, ld, st, dst, threads);
    }
    return out;
}

template <class Real>
void correlation_cost_typed(const py::array& X, const py::array& Y, py::array& out,
                            std::uintptr_t gemm_address, const std::optional<py::array>& work,
                            int threads) {
    const std::int64_t ldx = row_stride(X, "X"), ldy = row_stride(Y, "Y");
    if (X.shape(0) != Y.shape(0))
        throw std::invalid_argument("X and Y must have the same number of rows");
    if (out.ndim() != 2 || out.shape(0) != X.shape(1) || out.shape(1) != Y.shape(1) ||
        !(out.flags() & py::array::c_style) || !out.writeable())
        throw std::invalid_argument("out must be a writeable C-contiguous (n, m) array");
    const Real* x = static_cast<const Real*>(X.data());
    const Real* y = static_cast<const Real*>(Y.data());
    Real* o = static_cast<Real*>(out.mutable_data());
    const auto gemm = gemm_from<Real>(gemm_address);
    hotalign::CorrelationCostOptions opt;
    opt.threads = threads;
    if (work) {  // caller-owned scratch, reused across calls (no fresh pages to fault in)
        py::array w = *work;
        if (!(w.flags() & py::array::c_style) || !w.writeable())
            throw std::invalid_argument("workspace must be a writeable contiguous array");
        opt.workspace = w.mutable_data();
        opt.workspace_bytes = static_cast<std::size_t>(w.nbytes());
    }
    py::gil_scoped_release release;
    hotalign::correlation_cost(x, X.shape(0), X.shape(1), ldx, y, Y.shape(1), ldy, o, gemm, opt);
}

// ---- the layer-pair grid ------------------------------------------------------------------

// One grid run. run() releases the GIL and may be called from a Python worker thread while the
// main thread polls n_done() / take_finished() and calls cancel() (on Ctrl-C). Arrays are kept
// alive here. With `pairs` only those flat indices l * M + m are solved (results per position in
// that list); with `stream`, each finished pair is queued on its worker thread and handed to
// Python by take_finished() as it finishes, instead of being kept until result().
class GridJob {
  public:
    GridJob(const py::list& Zx, const py::list& Zy, const py::list& a, const py::list& b,
            int n_threads, bool keep_plans, std::int64_t max_iter, std::uintptr_t gemm_address,
            const std::optional<py::array_t<std::int64_t, py::array::c_style>>& pairs,
            bool stream)
        : gemm_address_(gemm_address) {
        if (Zx.empty() || Zy.empty()) throw std::invalid_argument("X and Y must hold layers");
        f32_ = is_float32(Zx[0].cast<py::array>());
        T_ = Zx[0].cast<py::array>().shape(0);
        collect(Zx, a, "X", x_);
        collect(Zy, b, "Y", y_);
        if (pairs) {
            if (pairs->ndim() != 1) throw std::invalid_argument("pairs must be a 1-D array");
            pairs_.assign(pairs->data(), pairs->data() + pairs->size());
            opt_.pairs = &pairs_;
        }
        opt_.n_threads = n_threads;
        opt_.keep_plans = keep_plans;
        opt_.max_iter = max_iter;
        opt_.cancel = &cancel_;
        opt_.n_done = &done_;
        if (stream) {
            opt_.on_pair = [this, keep_plans](std::int64_t k, hotalign::TransportResult&& r) {
                std::lock_guard<std::mutex> lock(queue_mutex_);
                if (!keep_plans) {  // cost, status and n_iter only
                    hotalign::TransportResult slim;
                    slim.cost = r.cost;
                    slim.status = r.status;
                    slim.n_iter = r.n_iter;
                    slim.method = r.method;
                    queue_.emplace_back(k, std::move(slim));
                } else {
                    queue_.emplace_back(k, std::move(r));
                }
            };
        }
    }

    void run() {
        py::gil_scoped_release release;
        if (f32_)
            sol_ = hotalign::solve_grid(layers<float>(x_), layers<float>(y_), T_,
                                        gemm_from<float>(gemm_address_), opt_);
        else
            sol_ = hotalign::solve_grid(layers<double>(x_), layers<double>(y_), T_,
                                        gemm_from<double>(gemm_address_), opt_);
        finished_ = true;
    }

    void cancel() { cancel_.store(true); }
    std::int64_t n_done() const { return done_.load(); }
    std::int64_t n_total() const {
        return opt_.pairs ? static_cast<std::int64_t>(pairs_.size())
                          : static_cast<std::int64_t>(x_.size() * y_.size());
    }

    // Pairs finished since the last call (stream mode): a list of
    // (position, cost, status, n_iter, plan tuple or None).
    py::list take_finished() {
        std::vector<std::pair<std::int64_t, hotalign::TransportResult>> ready;
        {
            std::lock_guard<std::mutex> lock(queue_mutex_);
            ready.swap(queue_);
        }
        py::list out;
        for (auto& [k, r] : ready) {
            const double cost = r.cost;
            const int status = static_cast<int>(r.status);
            const std::int64_t n_iter = r.n_iter;
            py::object plan = opt_.keep_plans ? py::object(pack(std::move(r))) : py::none();
            out.append(py::make_tuple(k, cost, status, n_iter, plan));
        }
        return out;
    }

    // (costs (K,), statuses (K,), n_iter (K,), plans (list of K) or None, cancelled), K pairs
    // in the order solved: all L * M row-major, or the given pair list.
    py::tuple result() {
        if (!finished_) throw std::runtime_error("the grid has not run");
        const auto K = static_cast<py::ssize_t>(sol_.costs.size());
        py::array_t<double> costs(K);
        std::copy(sol_.costs.begin(), sol_.costs.end(), costs.mutable_data());
        py::array_t<int> statuses(K);
        std::copy(sol_.statuses.begin(), sol_.statuses.end(), statuses.mutable_data());
        py::array_t<std::int64_t> n_iter(K);
        std::copy(sol_.n_iter.begin(), sol_.n_iter.end(), n_iter.mutable_data());
        py::object plans = py::none();
        if (!sol_.plans.empty() && !sol_.cancelled) {
            py::list all;
            for (auto& r : sol_.plans) all.append(pack(std::move(r)));
            plans = all;
            sol_.plans.clear();
        }
        return py::make_tuple(costs, statuses, n_iter, plans, sol_.cancelled);
    }

  private:
    struct Held {
        py::array data;
        std::optional<f64_array> marginal;
    };

    void collect(const py::list& Z, const py::list& marginals, const char* name,
                 std::vector<Held>& out) {
        if (!marginals.empty() && marginals.size() != Z.size())
            throw std::invalid_argument(std::string(name) + ": one marginal per layer");
        for (std::size_t k = 0; k < Z.size(); ++k) {
            auto arr = Z[k].cast<py::array>();
            const std::string label = std::string(name) + "[" + std::to_string(k) + "]";
            if (arr.ndim() != 2 || !(arr.flags() & py::array::c_style))
                throw std::invalid_argument(label + " must be a C-contiguous 2-D array");
            if (is_float32(arr) != f32_)
                throw std::invalid_argument(label + ": every layer must have the same dtype");
            if (!is_float32(arr) && !arr.dtype().is(py::dtype::of<double>()))
                throw std::invalid_argument(label + " must be float32 or float64");
            if (arr.shape(0) != T_)
                throw std::invalid_argument(label + " must have " + std::to_string(T_) + " rows");
            Held h{arr, std::nullopt};
            if (!marginals.empty() && !marginals[k].is_none()) {
                h.marginal = marginals[k].cast<f64_array>();
                if (h.marginal->ndim() != 1 || h.marginal->shape(0) != arr.shape(1))
                    throw std::invalid_argument(label + ": marginal has the wrong length");
            }
            out.push_back(std::move(h));
        }
    }

    template <class Real>
    static std::vector<hotalign::StandardizedLayer<Real>> layers(const std::vector<Held>& held) {
        std::vector<hotalign::StandardizedLayer<Real>> v;
        for (const auto& h : held)
            v.push_back({static_cast<const Real*>(h.data.data()), h.data.shape(1),
                         h.marginal ? h.marginal->data() : nullptr});
        return v;
    }

    std::vector<Held> x_, y_;
    bool f32_ = false;
    std::int64_t T_ = 0;
    std::uintptr_t gemm_address_ = 0;
    hotalign::GridOptions opt_;
    std::atomic<bool> cancel_{false};
    std::atomic<std::int64_t> done_{0};
    hotalign::GridSolution sol_;
    bool finished_ = false;
    std::vector<std::int64_t> pairs_;
    std::mutex queue_mutex_;
    std::vector<std::pair<std::int64_t, hotalign::TransportResult>> queue_;
};

}  // namespace

PYBIND11_MODULE(_core, mod) {
    mod.doc() = "hotalign C++ core: exact transport solvers and correlation-cost kernels.";

    mod.def(
        "solve_transport",
        [](const py::array& M, const std::optional<f64_array>& a,
           const std::optional<f64_array>& b, int method, std::int64_t max_iter,
           const std::optional<f64_array>& u0, const std::optional<f64_array>& v0) {
            if (is_float32(M))
                return solve_transport_typed<float>(M.cast<f32_array>(), a, b, method, max_iter,
                                                    u0, v0);
            return solve_transport_typed<double>(M.cast<f64_array>(), a, b, method, max_iter,
                                                 u0, v0);
        },
        py::arg("M"), py::arg("a").none(true), py::arg("b").none(true), py::arg("method"),
        py::arg("max_iter"), py::arg("u0").none(true), py::arg("v0").none(true),
        "Exact transport on a C-contiguous float32/float64 cost matrix; returns "
        "(rows, cols, weights, u, v, cost, status, n_iter, method).");

    mod.def("sparse_transport", &sparse_transport, py::arg("n"), py::arg("m"), py::arg("rows"),
            py::arg("cols"), py::arg("costs"), py::arg("a").none(true),
            py::arg("b").none(true), py::arg("max_iter"),
            "Exact transport on the arcs (rows[e], cols[e]) with costs[e] only; returns (arcs, "
            "flows, u, v, cost, status, n_iter), arcs indexing the input arcs.");

    mod.def(
        "linear_sum_assignment",
        [](const py::array& C, bool maximize) {
            if (is_float32(C)) return lsa_typed<float>(C.cast<f32_array>(), maximize);
            return lsa_typed<double>(C.cast<f64_array>(), maximize);
        },
        py::arg("cost_matrix"), py::arg("maximize"),
        "Linear sum assignment; returns (row_ind, col_ind, u, v, cost, status, n_iter).");

    mod.def(
        "column_stats",
        [](const py::array& X) {
            return is_float32(X) ? column_stats_typed<float>(X) : column_stats_typed<double>(X);
        },
        py::arg("X"),
        "(mean, inv_norm, constant_indices, rows, prescale) of the columns of X; mean and "
        "inv_norm are in units of X * prescale (1 except for columns of extreme magnitude).");

    mod.def(
        "standardize",
        [](const py::array& X, const f64_array& mean, const f64_array& inv_norm,
           std::int64_t rows, bool out_float32, int threads,
           const std::optional<f64_array>& prescale) {
            if (is_float32(X))
                return out_float32
                           ? standardize_typed<float, float>(X, mean, inv_norm, rows, threads,
                                                             prescale)
                           : standardize_typed<float, double>(X, mean, inv_norm, rows, threads,
                                                              prescale);
            return out_float32
                       ? standardize_typed<double, float>(X, mean, inv_norm, rows, threads,
                                                          prescale)
                       : standardize_typed<double, double>(X, mean, inv_norm, rows, threads,
                                                           prescale);
        },
        py::arg("X"), py::arg("mean"), py::arg("inv_norm"), py::arg("rows"),
        py::arg("out_float32"), py::arg("threads") = 1,
        py::arg("prescale").none(true) = py::none(),
        "Standardize X (float32/float64, rows contiguous) with statistics of `rows` training "
        "rows; the result is float32 or float64 (computed in double, rounded once).");

    mod.def(
        "correlation_cost",
        [](const py::array& X, const py::array& Y, py::array& out, std::uintptr_t gemm,
           const std::optional<py::array>& workspace, int threads) {
            if (is_float32(X)) correlation_cost_typed<float>(X, Y, out, gemm, workspace, threads);
            else correlation_cost_typed<double>(X, Y, out, gemm, workspace, threads);
        },
        py::arg("X"), py::arg("Y"), py::arg("out"), py::arg("gemm_address"),
        py::arg("workspace").none(true) = py::none(), py::arg("threads") = 1,
        "Write 1 - pearson(X[:, i], Y[:, j]) into out; gemm_address 0 = built-in kernel. "
        "workspace: optional reusable scratch of workspace_bytes(...) bytes.");

    mod.def(
        "correlation_cost_workspace_bytes",
        [](std::int64_t T, std::int64_t n, std::int64_t m, bool f32) {
            return f32 ? hotalign::correlation_cost_workspace_bytes<float>(T, n, m)
                       : hotalign::correlation_cost_workspace_bytes<double>(T, n, m);
        },
        py::arg("T"), py::arg("n"), py::arg("m"), py::arg("float32"));

    mod.def(
        "cost_and_product",
        [](const f64_array& Zx, const f64_array& Zy, std::uintptr_t gemm_address) {
            if (Zx.ndim() != 2 || Zy.ndim() != 2 || Zx.shape(0) != Zy.shape(0))
                throw std::invalid_argument("Zx and Zy must be 2-D with the same rows");
            const auto n = Zx.shape(1), m = Zy.shape(1);
            py::array_t<double> cost({n, m}), product({n, m});
            double* g = product.mutable_data();
            double* k = cost.mutable_data();
            {
                py::gil_scoped_release release;
                hotalign::cross_product_standardized(Zx.data(), Zx.shape(0), n, Zy.data(), m, g,
                                                     gemm_from<double>(gemm_address));
                hotalign::correlation_distance(g, n * m, k);
            }
            return py::make_tuple(cost, product);
        },
        py::arg("Zx"), py::arg("Zy"), py::arg("gemm_address"),
        "The cost tile clamp(1 - Zx^T Zy, 0, 2) of standardized float64 layers (the grid's own "
        "kernel) and the product Zx^T Zy it comes from, both (n, m).");
    mod.def("assignment_simd_path", &hotalign::assignment_simd_path,
            "SIMD path of the assignment solver on this CPU: 'avx2', 'sse2' or 'scalar'.");

    py::class_<GridJob>(mod, "GridJob")
        .def(py::init<const py::list&, const py::list&, const py::list&, const py::list&, int,
                      bool, std::int64_t, std::uintptr_t,
                      const std::optional<py::array_t<std::int64_t, py::array::c_style>>&,
                      bool>(),
             py::arg("Zx"), py::arg("Zy"), py::arg("a"), py::arg("b"), py::arg("n_threads"),
             py::arg("keep_plans"), py::arg("max_iter"), py::arg("gemm_address"),
             py::arg("pairs") = py::none(), py::arg("stream") = false)
        .def("run", &GridJob::run)
        .def("take_finished", &GridJob::take_finished)
        .def("cancel", &GridJob::cancel)
        .def("n_done", &GridJob::n_done)
        .def("n_total", &GridJob::n_total)
        .def("result", &GridJob::result);

    py::dict status_names;
    for (auto s : {hotalign::Status::optimal, hotalign::Status::infeasible,
                   hotalign::Status::unbounded, hotalign::Status::max_iter})
        status_names[py::int_(static_cast<int>(s))] = hotalign::status_name(s);
    mod.attr("STATUS_NAMES") = status_names;
    py::dict method_names;
    method_names[py::int_(static_cast<int>(hotalign::Method::network_simplex))] = "network_simplex";
    method_names[py::int_(static_cast<int>(hotalign::Method::assignment))] = "assignment";
    mod.attr("METHOD_NAMES") = method_names;

    // Addresses of the C ABI entry points (hotalign/c_api.h), for ctypes / numba callers.
    py::dict c_api;
    c_api["hotalign_solve_transport_f64"] =
        reinterpret_cast<std::uintptr_t>(&hotalign_solve_transport_f64);
    c_api["hotalign_solve_transport_f32"] =
        reinterpret_cast<std::uintptr_t>(&hotalign_solve_transport_f32);
    c_api["hotalign_solve_transport_ex_f64"] =
        reinterpret_cast<std::uintptr_t>(&hotalign_solve_transport_ex_f64);
    c_api["hotalign_solve_transport_ex_f32"] =
        reinterpret_cast<std::uintptr_t>(&hotalign_solve_transport_ex_f32);
    c_api["hotalign_linear_sum_assignment_f64"] =
        reinterpret_cast<std::uintptr_t>(&hotalign_linear_sum_assignment_f64);
    mod.attr("C_API") = c_api;
}
