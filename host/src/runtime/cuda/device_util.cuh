// device_util.cuh: helpers shared by the CUDA backend's kernels — fp32 views of the three
// storage types, 16-byte vector access, block reductions, and the host-side dispatch from
// ElemType to a C++ type.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>

#include "runtime/cuda/kernels.hpp"

namespace mcomp::cuda {

// ---- storage types ------------------------------------------------------------------------

__device__ __forceinline__ float to_float(float x) {
    return x;
}
__device__ __forceinline__ float to_float(__half x) {
    return __half2float(x);
}
__device__ __forceinline__ float to_float(__nv_bfloat16 x) {
    return __bfloat162float(x);
}

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
    return x;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
    return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
}

// x rounded to T and back: what a value stored in T reads as.
template <typename T>
__device__ __forceinline__ float round_to(float x) {
    return to_float(from_float<T>(x));
}

template <typename T>
struct TypeTag {
    using type = T;
};

// Calls fn(TypeTag<T>{}) for the C++ type of `type`.
template <typename Fn>
void dispatch_type(ElemType type, Fn&& fn) {
    switch (type) {
        case ElemType::f32:
            fn(TypeTag<float>{});
            break;
        case ElemType::f16:
            fn(TypeTag<__half>{});
            break;
        case ElemType::bf16:
            fn(TypeTag<__nv_bfloat16>{});
            break;
    }
}

// ---- 16-byte vectors ----------------------------------------------------------------------

// kVec elements of T in one 16-byte access.
template <typename T>
struct Vec {
    static constexpr int kSize = 16 / static_cast<int>(sizeof(T));
    uint4 bits;

    __device__ __forceinline__ float get(int i) const {
        T value;
        memcpy(&value, reinterpret_cast<const char*>(&bits) + i * sizeof(T), sizeof(T));
        return to_float(value);
    }
    __device__ __forceinline__ void set(int i, float x) {
        const T value = from_float<T>(x);
        memcpy(reinterpret_cast<char*>(&bits) + i * sizeof(T), &value, sizeof(T));
    }
};

template <typename T>
__device__ __forceinline__ Vec<T> load_vec(const T* src) {
    return Vec<T>{*reinterpret_cast<const uint4*>(src)};
}

template <typename T>
__device__ __forceinline__ void store_vec(T* dst, const Vec<T>& vec) {
    *reinterpret_cast<uint4*>(dst) = vec.bits;
}

inline bool is_aligned16(const void* p) {
    return reinterpret_cast<std::uintptr_t>(p) % 16 == 0;
}

// ---- reductions ---------------------------------------------------------------------------

constexpr int kWarpSize = 32;

__device__ __forceinline__ float warp_sum(float x) {
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        x += __shfl_xor_sync(0xffffffffu, x, offset);
    }
    return x;
}

__device__ __forceinline__ double warp_sum(double x) {
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        x += __shfl_xor_sync(0xffffffffu, x, offset);
    }
    return x;
}

__device__ __forceinline__ float warp_max(float x) {
    for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
    }
    return x;
}

// Sum (or max) over the whole block, returned to every thread. blockDim.x is a multiple
// of 32 and at most 1024; `scratch` holds 32 values. Ends with a barrier, so scratch may be
// reused by the next call.
template <typename U, typename WarpOp>
__device__ __forceinline__ U block_reduce(U x, U* scratch, WarpOp warp_op) {
    const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
    const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
    const int num_warps = static_cast<int>(blockDim.x) / kWarpSize;
    x = warp_op(x);
    if (lane == 0) {
        scratch[warp] = x;
    }
    __syncthreads();
    U total = scratch[0];
    for (int w = 1; w < num_warps; ++w) {
        total = warp_op.combine(total, scratch[w]);
    }
    __syncthreads();
    return total;
}

struct SumOp {
    __device__ __forceinline__ float operator()(float x) const { return warp_sum(x); }
    __device__ __forceinline__ double operator()(double x) const { return warp_sum(x); }
    __device__ __forceinline__ float combine(float a, float b) const { return a + b; }
    __device__ __forceinline__ double combine(double a, double b) const { return a + b; }
};

struct MaxOp {
    __device__ __forceinline__ float operator()(float x) const { return warp_max(x); }
    __device__ __forceinline__ float combine(float a, float b) const { return fmaxf(a, b); }
};

// Blocks for a grid-stride loop over `count` items: enough to fill the GPU, no more.
inline unsigned grid_for(std::int64_t count, int threads) {
    const std::int64_t blocks = (count + threads - 1) / threads;
    return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > 8192 ? 8192 : blocks));
}

}  // namespace mcomp::cuda
