// test_cpu_backend.cpp: each CPU kernel against a direct loop over its formula. A CUDA
// backend's kernels are to be held against these same cases.
#include "runtime/cpu_backend.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "runtime/cpu_matmul.hpp"

namespace mcomp {
namespace {

Tensor random_tensor(std::vector<std::int64_t> shape, std::uint32_t seed, float scale = 1.0f) {
    Tensor tensor = Tensor::empty_cpu(DType::f32, std::move(shape));
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, scale);
    for (std::int64_t i = 0; i < tensor.numel(); ++i) {
        tensor.f32()[i] = normal(rng);
    }
    return tensor;
}

TEST(CpuBackend, LinearWithAndWithoutBias) {
    CpuBackend backend;
    const std::int64_t rows = 37, in = 29, out = 19;
    const Tensor x = random_tensor({rows, in}, 1);
    const Tensor w = random_tensor({out, in}, 2);
    const Tensor b = random_tensor({out}, 3);
    for (const bool with_bias : {false, true}) {
        Tensor y = backend.alloc(DType::f32, {rows, out});
        backend.linear(x, w, with_bias ? b : Tensor(), y);
        for (std::int64_t r = 0; r < rows; ++r) {
            for (std::int64_t o = 0; o < out; ++o) {
                double sum = with_bias ? b.f32()[o] : 0.0;
                for (std::int64_t i = 0; i < in; ++i) {
                    sum += static_cast<double>(x.f32()[r * in + i]) * w.f32()[o * in + i];
                }
                ASSERT_NEAR(y.f32()[r * out + o], sum, 1e-4) << r << "," << o;
            }
        }
    }
    // One primitive per distinct shape, reused on the next call.
    const std::size_t count = backend.matmul().num_primitives();
    Tensor y = backend.alloc(DType::f32, {rows, out});
    backend.linear(x, w, Tensor(), y);
    EXPECT_EQ(backend.matmul().num_primitives(), count);
}

TEST(CpuBackend, RmsNormMatchesFormula) {
    CpuBackend backend;
    const Tensor x = random_tensor({5, 3, 64}, 4, 3.0f);
    const Tensor w = random_tensor({64}, 5);
    Tensor y = backend.alloc(DType::f32, x.shape());
    backend.rms_norm(x, w, 1e-6f, y);
    for (std::int64_t r = 0; r < 15; ++r) {
        double mean_square = 0.0;
        for (std::int64_t i = 0; i < 64; ++i) {
            mean_square += std::pow(x.f32()[r * 64 + i], 2) / 64.0;
        }
        for (std::int64_t i = 0; i < 64; ++i) {
            const double expected =
                w.f32()[i] * x.f32()[r * 64 + i] / std::sqrt(mean_square + 1e-6);
            ASSERT_NEAR(y.f32()[r * 64 + i], expected, 1e-5 * (1 + std::abs(expected)));
        }
    }
    // In place gives the same values.
    Tensor z = backend.upload(x.f32(), x.shape());
    backend.rms_norm(z, w, 1e-6f, z);
    for (std::int64_t i = 0; i < z.numel(); ++i) {
        ASSERT_EQ(z.f32()[i], y.f32()[i]);
    }
}

TEST(CpuBackend, RopeRotatesHalvesByPosition) {
    CpuBackend backend;
    const std::int64_t batch = 2, seq = 5, heads = 3, d = 8;
    Tensor x = random_tensor({batch, seq, heads * d}, 6);
    const Tensor original = backend.upload(x.f32(), x.shape());
    std::vector<float> cos(seq * d / 2), sin(seq * d / 2);
    for (std::int64_t p = 0; p < seq; ++p) {
        for (std::int64_t i = 0; i < d / 2; ++i) {
            cos[p * d / 2 + i] = std::cos(0.3f * p * (i + 1));
            sin[p * d / 2 + i] = std::sin(0.3f * p * (i + 1));
        }
    }
    const Tensor cos_t = backend.upload(cos.data(), {seq, d / 2});
    const Tensor sin_t = backend.upload(sin.data(), {seq, d / 2});
    backend.rope(x, heads, d, cos_t, sin_t);
    for (std::int64_t b = 0; b < batch; ++b) {
        for (std::int64_t p = 0; p < seq; ++p) {
            for (std::int64_t h = 0; h < heads; ++h) {
                const float* src = original.f32() + (b * seq + p) * heads * d + h * d;
                const float* dst = x.f32() + (b * seq + p) * heads * d + h * d;
                for (std::int64_t i = 0; i < d / 2; ++i) {
                    const float c = cos[p * d / 2 + i], s = sin[p * d / 2 + i];
                    EXPECT_NEAR(dst[i], src[i] * c - src[i + d / 2] * s, 1e-6);
                    EXPECT_NEAR(dst[i + d / 2], src[i + d / 2] * c + src[i] * s, 1e-6);
                }
            }
        }
    }
}

void check_attention(const AttentionShape& shape) {
    CpuBackend backend;
    const std::int64_t B = shape.batch, T = shape.seq_len, d = shape.head_dim;
    const std::int64_t nh = shape.num_heads, nkv = shape.num_kv_heads;
    const Tensor q = random_tensor({B, T, nh * d}, 7);
    const Tensor k = random_tensor({B, T, nkv * d}, 8);
    const Tensor v = random_tensor({B, T, nkv * d}, 9);
    Tensor o = backend.alloc(DType::f32, {B, T, nh * d});
    backend.attention(q, k, v, shape, o);
    for (std::int64_t b = 0; b < B; ++b) {
        for (std::int64_t h = 0; h < nh; ++h) {
            const std::int64_t g = h / (nh / nkv);
            for (std::int64_t t = 0; t < T; ++t) {
                std::vector<double> p(T, 0.0);
                double max_score = -1e300, sum = 0.0;
                const std::int64_t first =
                    shape.window ? std::max<std::int64_t>(0, t - *shape.window + 1) : 0;
                for (std::int64_t s = first; s <= t; ++s) {
                    double dot = 0.0;
                    for (std::int64_t i = 0; i < d; ++i) {
                        dot += static_cast<double>(q.f32()[(b * T + t) * nh * d + h * d + i]) *
                               k.f32()[(b * T + s) * nkv * d + g * d + i];
                    }
                    p[s] = dot * shape.scale;
                    max_score = std::max(max_score, p[s]);
                }
                for (std::int64_t s = first; s <= t; ++s) {
                    p[s] = std::exp(p[s] - max_score);
                    sum += p[s];
                }
                for (std::int64_t i = 0; i < d; ++i) {
                    double expected = 0.0;
                    for (std::int64_t s = first; s <= t; ++s) {
                        expected += p[s] / sum * v.f32()[(b * T + s) * nkv * d + g * d + i];
                    }
                    ASSERT_NEAR(o.f32()[(b * T + t) * nh * d + h * d + i], expected, 2e-5)
                        << "b" << b << " h" << h << " t" << t << " i" << i;
                }
            }
        }
    }
}

TEST(CpuBackend, AttentionCausalGqa) {
    AttentionShape shape;
    shape.batch = 2;
    shape.seq_len = 33;
    shape.num_heads = 6;
    shape.num_kv_heads = 2;
    shape.head_dim = 8;
    shape.scale = 1.0f / std::sqrt(8.0f);
    check_attention(shape);
}

TEST(CpuBackend, AttentionMultiHeadAndSlidingWindow) {
    AttentionShape shape;
    shape.batch = 1;
    shape.seq_len = 20;
    shape.num_heads = 4;
    shape.num_kv_heads = 4;
    shape.head_dim = 16;
    shape.scale = 0.25f;
    check_attention(shape);
    shape.window = 6;
    check_attention(shape);
}

TEST(CpuBackend, AttentionAcrossQueryTiles) {
    // 300 queries make three tiles of 128; the window reaches back across a tile border.
    AttentionShape shape;
    shape.batch = 2;
    shape.seq_len = 300;
    shape.num_heads = 4;
    shape.num_kv_heads = 2;
    shape.head_dim = 8;
    shape.scale = 0.3f;
    check_attention(shape);
    shape.window = 150;
    check_attention(shape);
    // One sequence with one kv head (multi-query): the tiles shrink to keep threads busy.
    shape.batch = 1;
    shape.num_heads = 3;
    shape.num_kv_heads = 1;
    shape.seq_len = 200;
    shape.window.reset();
    check_attention(shape);
}

TEST(CpuBackend, SwigluAddEmbed) {
    CpuBackend backend;
    const Tensor g = random_tensor({4, 50}, 10, 3.0f);
    const Tensor u = random_tensor({4, 50}, 11);
    Tensor y = backend.alloc(DType::f32, {4, 50});
    backend.swiglu(g, u, y);
    Tensor s = backend.alloc(DType::f32, {4, 50});
    backend.add(g, u, s);
    for (std::int64_t i = 0; i < 200; ++i) {
        const double x = g.f32()[i];
        EXPECT_NEAR(y.f32()[i], x / (1 + std::exp(-x)) * u.f32()[i], 1e-6 * (1 + std::abs(x)));
        EXPECT_EQ(s.f32()[i], g.f32()[i] + u.f32()[i]);
    }
    const Tensor table = random_tensor({10, 6}, 12);
    const std::int32_t tokens[] = {9, 0, 9, 4};
    Tensor e = backend.alloc(DType::f32, {4, 6});
    backend.embed(table, tokens, 4, e);
    for (std::int64_t r = 0; r < 4; ++r) {
        for (std::int64_t i = 0; i < 6; ++i) {
            EXPECT_EQ(e.f32()[r * 6 + i], table.f32()[tokens[r] * 6 + i]);
        }
    }
}

TEST(CpuBackend, CrossEntropyIsLogSumExpMinusTarget) {
    CpuBackend backend;
    Tensor logits = random_tensor({3, 100}, 13, 5.0f);
    logits.f32()[150] = 80.0f;  // a large logit must not overflow
    const std::int32_t targets[] = {0, 50, 99};
    float nll[3] = {0, 0, 0};
    backend.cross_entropy(logits, targets, nll);
    for (std::int64_t r = 0; r < 3; ++r) {
        double max_value = -1e300, sum = 0.0;
        for (std::int64_t i = 0; i < 100; ++i) {
            max_value = std::max<double>(max_value, logits.f32()[r * 100 + i]);
        }
        for (std::int64_t i = 0; i < 100; ++i) {
            sum += std::exp(logits.f32()[r * 100 + i] - max_value);
        }
        const double expected = max_value + std::log(sum) - logits.f32()[r * 100 + targets[r]];
        EXPECT_NEAR(nll[r], expected, 1e-5 * (1 + expected));
    }
    EXPECT_NEAR(nll[1], 0.0, 1e-5);  // the huge logit is the target
}

TEST(CpuBackend, UploadWeightBorrowsF32AndWidensHalves) {
    CpuBackend backend;
    std::vector<float> f32 = {1.5f, -2.0f, 3.25f, 0.0f};
    TensorView view{DType::f32, {2, 2}, reinterpret_cast<const std::byte*>(f32.data()), 16};
    const Tensor borrowed = backend.upload_weight(view);
    EXPECT_EQ(borrowed.data(), f32.data());
    EXPECT_FALSE(borrowed.owns_memory());
    std::vector<std::uint16_t> bf16 = {0x3fc0, 0xc000, 0x4050, 0x0000};
    view = {DType::bf16, {2, 2}, reinterpret_cast<const std::byte*>(bf16.data()), 8};
    const Tensor widened = backend.upload_weight(view);
    EXPECT_TRUE(widened.owns_memory());
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(widened.f32()[i], f32[i]);
    }
}

}  // namespace
}  // namespace mcomp
