// hotalign/hotalign.hpp -- umbrella header of the hotalign C++ core.
//
// Header-only, namespace hotalign, no dependencies beyond the C++17 standard library (a BLAS
// gemm may be passed in as a function pointer to the correlation kernels).
#pragma once

#include "status.hpp"
#include "network_simplex.hpp"
#include "sparse_network_simplex.hpp"
#include "assignment.hpp"
#include "transport.hpp"
#include "correlation_cost.hpp"
#include "grid.hpp"

#define HOTALIGN_VERSION_MAJOR 0
#define HOTALIGN_VERSION_MINOR 1
#define HOTALIGN_VERSION_PATCH 0
