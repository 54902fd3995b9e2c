// Runs bridgec's Metal 4 tensor kernels (the Core AI adapter, compiled as C++ with metal_shim.h) on
// the CPU over a dispatch of whole 32-thread groups, so that some threads fall past the tensor and
// must return early (any out-of-range tensor access aborts).
//
// Reads cases from stdin, two lines each:
//   <kernel> <element count> <scalar parameters, as C hex floats ...>
//   <element count float32 bit patterns in hex>
// and writes for each case:
//   ok <threads dispatched>
//   <element count float32 bit patterns of the output>
// Aborts (non-zero exit) on an unknown kernel, a wrong number of parameters, or an output element
// not written exactly once.
#include <cstdio>
#include <iostream>
#include <sstream>

#include "metal4_harness.h"

namespace bridgec_metal4 {
std::vector<Entry>& registry() {
    static std::vector<Entry> entries;
    return entries;
}
}  // namespace bridgec_metal4

using namespace bridgec_metal4;

static void fail(const std::string& message) {
    std::fprintf(stderr, "metal4 harness: %s\n", message.c_str());
    std::exit(2);
}

int main() {
    const long group = 32;
    const long lanes = 4;  // elements per thread (runtime_kernels/metal4.py LANES)
    std::string line;
    while (std::getline(std::cin, line)) {
        if (line.empty()) continue;
        std::istringstream header(line);
        std::string name;
        long n;
        if (!(header >> name >> n)) fail("bad header: " + line);
        std::vector<double> params;
        for (std::string word; header >> word;) params.push_back(std::strtod(word.c_str(), nullptr));
        const Entry* entry = nullptr;
        for (const auto& e : registry())
            if (e.name == name) entry = &e;
        if (!entry) fail("unknown kernel " + name);
        if (params.size() != entry->scalars)
            fail(name + ": " + std::to_string(params.size()) + " parameters, the kernel takes " +
                 std::to_string(entry->scalars));
        std::string data_line;
        if (!std::getline(std::cin, data_line)) fail("missing data line");
        std::istringstream data(data_line);
        std::vector<float> x(n), y(n, 0.0f);
        for (long i = 0; i < n; ++i) {
            std::string word;
            if (!(data >> word)) fail("short data line");
            x[i] = metal::as_type<float>(static_cast<uint32_t>(std::stoul(word, nullptr, 16)));
        }
        std::vector<unsigned> writes(n);
        Tensor in{x.data(), {{static_cast<int>(n)}}, nullptr};
        Tensor out{y.data(), {{static_cast<int>(n)}}, &writes};
        const long threads = (n + lanes - 1) / lanes;
        const long dispatched = (threads + group - 1) / group * group;
        for (long tid = 0; tid < dispatched; ++tid) entry->run(params, in, out, static_cast<unsigned>(tid));
        for (long i = 0; i < n; ++i)
            if (writes[i] != 1) fail(name + ": element " + std::to_string(i) + " written " + std::to_string(writes[i]) + " times");
        std::printf("ok %ld\n", dispatched);
        for (long i = 0; i < n; ++i) std::printf("%08x ", metal::as_type<uint32_t>(y[i]));
        std::printf("\n");
    }
    return 0;
}
