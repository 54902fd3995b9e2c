// Registry of the Metal kernels compiled into the Linux test harness (see harness_main.cpp).
// Each runtime_kernels/Metal/<name>.metal is compiled as C++ in a wrapper translation unit that
// includes it and then registers its kernel functions with BRIDGEC_REGISTER(function_name).
#pragma once

#include "metal_shim.h"

namespace bridgec_harness {

using metal::access;
using metal::half;
using metal::texture2d_array;
using metal::texture_store;
using metal::uint3;

struct KernelEntry {
    std::string name;
    size_t param_size;  // bytes of the kernel's parameter struct at buffer(0); 0 if it takes none
    std::function<void(texture_store<half>&, texture_store<half>&, const void*, uint3)> run;
};

std::vector<KernelEntry>& registry();

using In = texture2d_array<half, access::read>;
using Out = texture2d_array<half, access::write>;

// An elementwise kernel without parameters: (input [[texture(0)]], output [[texture(1)]], gid).
inline bool add(const char* name, void (*f)(In, Out, uint3)) {
    registry().push_back({name, 0, [f](texture_store<half>& i, texture_store<half>& o, const void*, uint3 gid) {
                              f(In{&i}, Out{&o}, gid);
                          }});
    return true;
}

// With a parameter struct bound with setBytes at buffer(0): (input, output, constant P& params, gid).
template <class P>
bool add(const char* name, void (*f)(In, Out, const P&, uint3)) {
    registry().push_back(
        {name, sizeof(P), [f](texture_store<half>& i, texture_store<half>& o, const void* bytes, uint3 gid) {
             P params;
             std::memcpy(&params, bytes, sizeof(P));
             f(In{&i}, Out{&o}, params, gid);
         }});
    return true;
}

}  // namespace bridgec_harness

#define BRIDGEC_REGISTER(fn) static const bool bridgec_registered_##fn = bridgec_harness::add(#fn, &fn);
