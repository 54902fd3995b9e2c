// Registry of the Metal 4 tensor kernels (bridgec's Core AI adapter, runtime_kernels/metal4.py)
// compiled into the Linux test harness (metal4_main.cpp). Each generated source is compiled as C++
// in a wrapper translation unit (written by metal4_run.py) that registers a runner for its kernel.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "metal_shim.h"

namespace bridgec_metal4 {

using Tensor = metal::tensor<float, metal::dextents<int, 1>, metal::tensor_handle>;

// (scalar parameters, input, output, the thread position) -> one thread of the kernel
struct Entry {
    std::string name;
    size_t scalars;
    std::function<void(const std::vector<double>&, Tensor, Tensor, unsigned)> run;
};

std::vector<Entry>& registry();

inline bool add(const char* name, size_t scalars,
                std::function<void(const std::vector<double>&, Tensor, Tensor, unsigned)> run) {
    registry().push_back({name, scalars, std::move(run)});
    return true;
}

}  // namespace bridgec_metal4
