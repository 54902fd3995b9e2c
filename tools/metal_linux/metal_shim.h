// metal_shim.h: the subset of the Metal Shading Language that bridgec's kernels
// (runtime_kernels/Metal/*.metal) use, as plain C++17, so that each kernel can be compiled with
// g++ or clang++ and run on the CPU on Linux, where there is no Metal.
//
// This is not a Metal implementation, only enough of its surface, with IEEE semantics (no fast
// math), to test the kernels' logic and numerics against the numpy reference:
//   - `half` = _Float16 (IEEE 754 binary16); vector types {half,float,short,ushort,int,uint,bool}
//     {2,3,4} with .x .y .z .w and the .xy swizzle (read only), broadcast and converting
//     constructors, element-wise arithmetic, comparison and bitwise operators;
//   - tensor<T, dextents<I, 1>, tensor_handle> (a Metal 4 tensor of rank 1) over a CPU buffer;
//   - texture2d_array<T, access::read|write> over a CPU texel store (4 lanes per texel) that
//     aborts on any out-of-range access; a read-only texture has no write() (compile error);
//   - as_type, select, clamp, min, max (vector arguments of one type, as Metal declares them), fmin, fmax, abs, fabs, exp, exp2, log, log2, tanh, erf,
//     sqrt, rsqrt, fma, copysign, floor, isnan, isinf, any, all (scalar and vector);
//   - the address-space qualifiers `constant` (-> const), `device`, `thread`, `threadgroup`
//     (-> nothing), the `kernel` keyword (-> nothing), and `#include <metal_stdlib>` +
//     `using namespace metal;` (include/metal_stdlib includes this header). Metal attributes such as
//     [[texture(0)]] are standard C++ attribute syntax: compile with -Wno-attributes to ignore them.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

namespace metal {

using half = _Float16;
using uint = unsigned int;
using ushort = unsigned short;
using uchar = unsigned char;

template <class T, int N>
struct vec;

template <class T>
inline constexpr bool is_scalar_v = std::is_arithmetic_v<T> || std::is_same_v<T, half>;

// The .xy swizzle: a trivial union member that converts to the 2-vector it aliases.
template <class T>
struct swizzle2 {
    T a, b;
    operator vec<T, 2>() const;
};

#define BRIDGEC_VEC_COMMON(N)                                                      \
    vec() = default;                                                               \
    template <class U, std::enable_if_t<is_scalar_v<U>, int> = 0>                  \
    explicit vec(U s) {                                                            \
        for (int i = 0; i < N; ++i) v[i] = static_cast<T>(s);                      \
    }                                                                              \
    template <class U>                                                             \
    explicit vec(const vec<U, N>& o) {                                             \
        for (int i = 0; i < N; ++i) v[i] = static_cast<T>(o.v[i]);                 \
    }                                                                              \
    T& operator[](int i) { return v[i]; }                                          \
    const T& operator[](int i) const { return v[i]; }

template <class T>
struct vec<T, 2> {
    union {
        T v[2];
        struct {
            T x, y;
        };
    };
    BRIDGEC_VEC_COMMON(2)
    vec(T a, T b) {
        v[0] = a;
        v[1] = b;
    }
};

template <class T>
struct vec<T, 3> {
    union {
        T v[3];
        struct {
            T x, y, z;
        };
        swizzle2<T> xy;
    };
    BRIDGEC_VEC_COMMON(3)
    vec(T a, T b, T c) {
        v[0] = a;
        v[1] = b;
        v[2] = c;
    }
};

template <class T>
struct vec<T, 4> {
    union {
        T v[4];
        struct {
            T x, y, z, w;
        };
        swizzle2<T> xy;
    };
    BRIDGEC_VEC_COMMON(4)
    vec(T a, T b, T c, T d) {
        v[0] = a;
        v[1] = b;
        v[2] = c;
        v[3] = d;
    }
};

#undef BRIDGEC_VEC_COMMON

template <class T>
swizzle2<T>::operator vec<T, 2>() const {
    return vec<T, 2>(a, b);
}

#define BRIDGEC_VEC_TYPES(T, name) \
    using name##2 = vec<T, 2>;     \
    using name##3 = vec<T, 3>;     \
    using name##4 = vec<T, 4>;
BRIDGEC_VEC_TYPES(half, half)
BRIDGEC_VEC_TYPES(float, float)
BRIDGEC_VEC_TYPES(short, short)
BRIDGEC_VEC_TYPES(ushort, ushort)
BRIDGEC_VEC_TYPES(int, int)
BRIDGEC_VEC_TYPES(uint, uint)
BRIDGEC_VEC_TYPES(bool, bool)
#undef BRIDGEC_VEC_TYPES

// Element-wise operators: vector op vector, vector op scalar, scalar op vector. The result of
// each element is computed as T op T (as in Metal, where `half4 * float` is not implicit either;
// scalars are converted to the vector's element type).
#define BRIDGEC_BINARY(op, R)                                                                  \
    template <class T, int N>                                                                  \
    inline vec<R, N> operator op(const vec<T, N>& a, const vec<T, N>& b) {                      \
        vec<R, N> r;                                                                           \
        for (int i = 0; i < N; ++i) r.v[i] = static_cast<R>(a.v[i] op b.v[i]);                 \
        return r;                                                                              \
    }                                                                                          \
    template <class T, int N, class U, std::enable_if_t<is_scalar_v<U>, int> = 0>              \
    inline vec<R, N> operator op(const vec<T, N>& a, U b) {                                    \
        return a op vec<T, N>(b);                                                              \
    }                                                                                          \
    template <class T, int N, class U, std::enable_if_t<is_scalar_v<U>, int> = 0>              \
    inline vec<R, N> operator op(U a, const vec<T, N>& b) {                                    \
        return vec<T, N>(a) op b;                                                              \
    }
BRIDGEC_BINARY(+, T)
BRIDGEC_BINARY(-, T)
BRIDGEC_BINARY(*, T)
BRIDGEC_BINARY(/, T)
BRIDGEC_BINARY(&, T)
BRIDGEC_BINARY(|, T)
BRIDGEC_BINARY(^, T)
BRIDGEC_BINARY(<, bool)
BRIDGEC_BINARY(>, bool)
BRIDGEC_BINARY(<=, bool)
BRIDGEC_BINARY(>=, bool)
BRIDGEC_BINARY(==, bool)
BRIDGEC_BINARY(!=, bool)
BRIDGEC_BINARY(&&, bool)
BRIDGEC_BINARY(||, bool)
#undef BRIDGEC_BINARY

#define BRIDGEC_ASSIGN(op)                                                          \
    template <class T, int N, class B>                                              \
    inline vec<T, N>& operator op##=(vec<T, N>& a, const B& b) {                    \
        a = a op b;                                                                 \
        return a;                                                                   \
    }
BRIDGEC_ASSIGN(+)
BRIDGEC_ASSIGN(-)
BRIDGEC_ASSIGN(*)
BRIDGEC_ASSIGN(/)
BRIDGEC_ASSIGN(&)
BRIDGEC_ASSIGN(|)
#undef BRIDGEC_ASSIGN

template <class T, int N>
inline vec<T, N> operator-(const vec<T, N>& a) {
    vec<T, N> r;
    for (int i = 0; i < N; ++i) r.v[i] = -a.v[i];
    return r;
}

template <int N>
inline vec<bool, N> operator!(const vec<bool, N>& a) {
    vec<bool, N> r;
    for (int i = 0; i < N; ++i) r.v[i] = !a.v[i];
    return r;
}

template <class T, int N>
inline vec<T, N> operator~(const vec<T, N>& a) {
    vec<T, N> r;
    for (int i = 0; i < N; ++i) r.v[i] = static_cast<T>(~a.v[i]);
    return r;
}

template <int N>
inline bool any(const vec<bool, N>& a) {
    for (int i = 0; i < N; ++i)
        if (a.v[i]) return true;
    return false;
}
template <int N>
inline bool all(const vec<bool, N>& a) {
    for (int i = 0; i < N; ++i)
        if (!a.v[i]) return false;
    return true;
}
inline bool any(bool a) { return a; }
inline bool all(bool a) { return a; }

// as_type: reinterpret the bits of a value of the same size.
template <class To, class From>
inline To as_type(const From& from) {
    static_assert(sizeof(To) == sizeof(From), "as_type needs types of equal size");
    To to;
    std::memcpy(&to, &from, sizeof(To));
    return to;
}

// select(a, b, c): c ? b : a, element-wise.
template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>
inline T select(T a, T b, bool c) {
    return c ? b : a;
}
template <class T, int N>
inline vec<T, N> select(const vec<T, N>& a, const vec<T, N>& b, const vec<bool, N>& c) {
    vec<T, N> r;
    for (int i = 0; i < N; ++i) r.v[i] = c.v[i] ? b.v[i] : a.v[i];
    return r;
}

// Math. half arguments are evaluated in float and rounded back, as Metal's half functions may be.
namespace detail {
template <class T>
using calc_t = std::conditional_t<std::is_same_v<T, half>, float, T>;
}

#define BRIDGEC_UNARY(name, expr)                                             \
    template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>              \
    inline T name(T a) {                                                       \
        using C = detail::calc_t<T>;                                           \
        C x = static_cast<C>(a);                                               \
        return static_cast<T>(expr);                                           \
    }                                                                          \
    template <class T, int N>                                                  \
    inline vec<T, N> name(const vec<T, N>& a) {                                \
        vec<T, N> r;                                                           \
        for (int i = 0; i < N; ++i) r.v[i] = name(a.v[i]);                     \
        return r;                                                              \
    }
BRIDGEC_UNARY(exp, std::exp(x))
BRIDGEC_UNARY(exp2, std::exp2(x))
BRIDGEC_UNARY(log, std::log(x))
BRIDGEC_UNARY(log2, std::log2(x))
BRIDGEC_UNARY(tanh, std::tanh(x))
BRIDGEC_UNARY(erf, std::erf(x))
BRIDGEC_UNARY(sqrt, std::sqrt(x))
BRIDGEC_UNARY(rsqrt, C(1) / std::sqrt(x))
BRIDGEC_UNARY(fabs, std::fabs(x))
BRIDGEC_UNARY(floor, std::floor(x))
#undef BRIDGEC_UNARY

template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>
inline T abs(T a) {
    return a < T(0) ? T(-a) : (a == T(0) ? T(0) : a);
}
template <class T, int N>
inline vec<T, N> abs(const vec<T, N>& a) {
    vec<T, N> r;
    for (int i = 0; i < N; ++i) r.v[i] = abs(a.v[i]);
    return r;
}

template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>
inline bool isnan(T a) {
    return a != a;
}
template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>
inline bool isinf(T a) {
    return std::isinf(static_cast<double>(a));
}
template <class T, int N>
inline vec<bool, N> isnan(const vec<T, N>& a) {
    return a != a;
}
template <class T, int N>
inline vec<bool, N> isinf(const vec<T, N>& a) {
    vec<bool, N> r;
    for (int i = 0; i < N; ++i) r.v[i] = isinf(a.v[i]);
    return r;
}

#define BRIDGEC_BINARY_FN(name, expr)                                                    \
    template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>                         \
    inline T name(T a, T b) {                                                             \
        using C = detail::calc_t<T>;                                                      \
        C x = static_cast<C>(a), y = static_cast<C>(b);                                   \
        return static_cast<T>(expr);                                                      \
    }                                                                                     \
    template <class T, int N>                                                             \
    inline vec<T, N> name(const vec<T, N>& a, const vec<T, N>& b) {                       \
        vec<T, N> r;                                                                      \
        for (int i = 0; i < N; ++i) r.v[i] = name(a.v[i], b.v[i]);                        \
        return r;                                                                         \
    }
// Metal's fmin/fmax/min/max return the other operand when one is NaN (IEEE minNum/maxNum),
// except under fast math, where the result for NaN is undefined. The kernels must not rely on it.
BRIDGEC_BINARY_FN(fmin, std::fmin(x, y))
BRIDGEC_BINARY_FN(fmax, std::fmax(x, y))
BRIDGEC_BINARY_FN(min, std::fmin(x, y))
BRIDGEC_BINARY_FN(max, std::fmax(x, y))
BRIDGEC_BINARY_FN(copysign, std::copysign(x, y))
BRIDGEC_BINARY_FN(pow, std::pow(x, y))
#undef BRIDGEC_BINARY_FN

template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>
inline T fma(T a, T b, T c) {
    using C = detail::calc_t<T>;
    return static_cast<T>(std::fma(static_cast<C>(a), static_cast<C>(b), static_cast<C>(c)));
}
template <class T, int N>
inline vec<T, N> fma(const vec<T, N>& a, const vec<T, N>& b, const vec<T, N>& c) {
    vec<T, N> r;
    for (int i = 0; i < N; ++i) r.v[i] = fma(a.v[i], b.v[i], c.v[i]);
    return r;
}

template <class T, std::enable_if_t<is_scalar_v<T>, int> = 0>
inline T clamp(T x, T lo, T hi) {
    return min(max(x, lo), hi);
}
template <class T, int N>
inline vec<T, N> clamp(const vec<T, N>& x, const vec<T, N>& lo, const vec<T, N>& hi) {
    return min(max(x, lo), hi);
}

// Textures: texture2d_array<T, access> over a CPU store of width x height x arrayLength texels,
// four lanes each (.rgba16Float for T = half). Any out-of-range access aborts the process with a
// message, since on a GPU it would be undefined.
enum class access { sample, read, write, read_write };

template <class T>
struct texture_store {
    uint width = 0, height = 0, array_length = 0;
    std::vector<vec<T, 4>> texels;
    std::vector<unsigned> writes;  // per texel, to check every texel is written exactly once
    texture_store(uint w, uint h, uint n)
        : width(w), height(h), array_length(n), texels(size_t(w) * h * n), writes(size_t(w) * h * n) {}
    size_t index(uint x, uint y, uint slice, const char* what) const {
        if (x >= width || y >= height || slice >= array_length) {
            std::fprintf(stderr, "metal_shim: out-of-range texture %s at (%u, %u) slice %u of %ux%u x %u\n",
                         what, x, y, slice, width, height, array_length);
            std::abort();
        }
        return (size_t(slice) * height + y) * width + x;
    }
};

template <class T, access A = access::sample>
struct texture2d_array {
    texture_store<T>* store;
    uint get_width(uint lod = 0) const { return lod == 0 ? store->width : 0; }
    uint get_height(uint lod = 0) const { return lod == 0 ? store->height : 0; }
    uint get_array_size() const { return store->array_length; }

    template <access B = A, std::enable_if_t<B == access::read || B == access::read_write, int> = 0>
    vec<T, 4> read(uint2 coord, uint slice, uint lod = 0) const {
        (void)lod;
        return store->texels[store->index(coord.x, coord.y, slice, "read")];
    }
    template <access B = A, std::enable_if_t<B == access::write || B == access::read_write, int> = 0>
    void write(vec<T, 4> value, uint2 coord, uint slice, uint lod = 0) const {
        (void)lod;
        size_t i = store->index(coord.x, coord.y, slice, "write");
        store->texels[i] = value;
        store->writes[i] += 1;
    }
};

// Metal 4 tensors, as Core AI's coreai.metal4_kernel binds them (tensor<device T, dextents<int, R>,
// tensor_handle>): a view of a CPU buffer with its extents. Only rank 1 is used (bridgec's Metal 4
// adapter, runtime_kernels/metal4.py, flattens); element access out of range aborts, as a texture's does.
struct tensor_handle {};

template <class I, int R>
struct dextents {
    I extents[R];
};

template <class T, class Extents, class Handle = tensor_handle>
struct tensor;

template <class T, class I, class Handle>
struct tensor<T, dextents<I, 1>, Handle> {
    T* data = nullptr;
    dextents<I, 1> shape{};
    std::vector<unsigned>* writes = nullptr;  // optional: counts writes per element
    I get_extent(int dim) const { return dim == 0 ? shape.extents[0] : I(1); }
    T& operator[](I i) const {
        if (i < 0 || i >= shape.extents[0]) {
            std::fprintf(stderr, "metal_shim: out-of-range tensor access at %lld of %lld\n", (long long)i,
                         (long long)shape.extents[0]);
            std::abort();
        }
        if (writes != nullptr) (*writes)[size_t(i)] += 1;
        return data[i];
    }
};

}  // namespace metal

#define constant const
#define device
#define thread
#define threadgroup
#define kernel
