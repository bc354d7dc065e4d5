// test_cuda_backend.cpp: every kernel of the CUDA backend against its CPU twin (CpuBackend)
// on random inputs, in F32, F16 and BF16; the creation refusals; memory and stream
// ownership. Inputs are drawn already rounded to the dtype under test, so both backends see
// the same numbers and the tolerances below measure only the kernels' own arithmetic:
//
//   F32   1e-5 (absolute, against the output's scale, plus relative): fp32 arithmetic in a
//         different order.
//   F16   2e-3: fp32 arithmetic, results rounded to fp16 (2^-11 relative) once or twice
//         (RMSNorm rounds x·rsqrt before the weight, as transformers does; attention rounds
//         the probabilities before P·V, as FlashAttention does).
//   BF16  1.6e-2: the same with bf16's 2^-8 rounding.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <stdexcept>

#include "cuda_test_util.hpp"
#include "runtime/cpu_backend.hpp"
#include "runtime/cuda/cuda_backend.hpp"
#include "runtime/rope.hpp"

namespace mcomp {
namespace {

using testing::all_close;
using testing::max_abs;
using testing::random_values;
using testing::rms;
using testing::Tolerance;

Tolerance kernel_tolerance(DType dtype) {
    switch (dtype) {
        case DType::f16:
            return {2e-3, 2e-3};
        case DType::bf16:
            return {1.6e-2, 1.6e-2};
        default:
            return {1e-5, 1e-5};
    }
}

Tensor cpu_tensor(const std::vector<float>& values, std::vector<std::int64_t> shape) {
    Tensor tensor = Tensor::empty_cpu(DType::f32, std::move(shape));
    std::memcpy(tensor.data(), values.data(), tensor.num_bytes());
    return tensor;
}

std::vector<float> cpu_values(const Tensor& tensor) {
    return std::vector<float>(tensor.f32(), tensor.f32() + tensor.numel());
}

class CudaKernels : public ::testing::TestWithParam<DType> {
  protected:
    void SetUp() override {
        MCOMP_SKIP_WITHOUT_GPU();
        CudaBackendOptions options;
        options.compute_dtype = GetParam();
        Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create(options);
        ASSERT_TRUE(backend) << backend.error().message;
        gpu_ = std::move(*backend);
    }

    DType dtype() const { return GetParam(); }
    Tolerance tolerance() const { return kernel_tolerance(GetParam()); }

    Tensor to_gpu(const std::vector<float>& values, std::vector<std::int64_t> shape) {
        return gpu_->upload_as(values.data(), std::move(shape), dtype());
    }

    // A device tensor full of NaN: an element a kernel fails to write shows up.
    Tensor poisoned(std::vector<std::int64_t> shape, DType dtype) {
        std::int64_t count = 1;
        for (const std::int64_t extent : shape) {
            count *= extent;
        }
        const std::vector<float> nan(static_cast<std::size_t>(count),
                                     std::numeric_limits<float>::quiet_NaN());
        return gpu_->upload_as(nan.data(), std::move(shape), dtype);
    }
    Tensor poisoned(std::vector<std::int64_t> shape) { return poisoned(std::move(shape), dtype()); }

    std::vector<float> to_host(const Tensor& tensor) {
        std::vector<float> values(static_cast<std::size_t>(tensor.numel()));
        gpu_->download(tensor, values.data());
        return values;
    }

    CpuBackend cpu_;
    std::unique_ptr<CudaBackend> gpu_;
};

// ---- memory -------------------------------------------------------------------------------

TEST_P(CudaKernels, UploadWeightConvertsEveryStoredDtypeToTheComputeDtype) {
    const std::vector<float> values = random_values(301, 1, DType::f32, 3.0f);
    for (const DType stored : {DType::f32, DType::f16, DType::bf16}) {
        std::vector<std::uint16_t> halves(values.size());
        std::vector<float> expected(values.size());
        for (std::size_t i = 0; i < values.size(); ++i) {
            halves[i] = stored == DType::bf16 ? f32_to_bf16(values[i]) : f32_to_f16(values[i]);
            expected[i] = testing::round_as(testing::round_as(values[i], stored), dtype());
        }
        TensorView view;
        view.dtype = stored;
        view.shape = {7, 43};
        view.data = stored == DType::f32 ? reinterpret_cast<const std::byte*>(values.data())
                                         : reinterpret_cast<const std::byte*>(halves.data());
        view.num_bytes = values.size() * dtype_size(stored);
        const Tensor weight = gpu_->upload_weight(view);
        EXPECT_EQ(weight.dtype(), dtype());
        EXPECT_EQ(weight.device(), Device::cuda);
        EXPECT_EQ(weight.shape(), view.shape);
        EXPECT_TRUE(all_close(to_host(weight), expected, {0.0, 0.0})) << dtype_name(stored);
    }
}

TEST_P(CudaKernels, ToDtypeRoundsToNearestEven) {
    const std::vector<float> values = random_values(1000, 2, DType::f32, 10.0f);
    const Tensor wide = gpu_->upload(values.data(), {1000});
    const Tensor narrow = gpu_->to_dtype(wide, dtype());
    std::vector<float> expected(values.size());
    for (std::size_t i = 0; i < values.size(); ++i) {
        expected[i] = testing::round_as(values[i], dtype());
    }
    EXPECT_TRUE(all_close(to_host(narrow), expected, {0.0, 0.0}));
}

// ---- kernels ------------------------------------------------------------------------------

TEST_P(CudaKernels, EmbedCopiesRowsExactly) {
    const std::int64_t vocab = 50, width = 40, count = 23;
    const std::vector<float> table = random_values(vocab * width, 3, dtype());
    std::vector<std::int32_t> tokens(static_cast<std::size_t>(count));
    for (std::int64_t i = 0; i < count; ++i) {
        tokens[static_cast<std::size_t>(i)] = static_cast<std::int32_t>((i * 17 + 3) % vocab);
    }
    Tensor ref = cpu_.alloc(DType::f32, {count, width});
    cpu_.embed(cpu_tensor(table, {vocab, width}), tokens.data(), count, ref);
    Tensor got = poisoned({count, width});
    gpu_->embed(to_gpu(table, {vocab, width}), tokens.data(), count, got);
    EXPECT_TRUE(all_close(to_host(got), cpu_values(ref), {0.0, 0.0}));
}

TEST_P(CudaKernels, RmsNormMatchesCpu) {
    // Widths: vectorized (128, 4096) and not (100, 33, a row the block must loop over).
    for (const std::int64_t width : {128, 100, 33, 4096}) {
        const std::int64_t rows = 9;
        const std::vector<float> x = random_values(rows * width, 4, dtype(), 2.0f);
        const std::vector<float> w = random_values(width, 5, dtype(), 0.3f, 1.0f);
        Tensor ref = cpu_.alloc(DType::f32, {rows, width});
        cpu_.rms_norm(cpu_tensor(x, {rows, width}), cpu_tensor(w, {width}), 1e-6f, ref);
        Tensor got = poisoned({rows, width});
        gpu_->rms_norm(to_gpu(x, {rows, width}), to_gpu(w, {width}), 1e-6f, got);
        EXPECT_TRUE(all_close(to_host(got), cpu_values(ref), tolerance(), rms(cpu_values(ref))))
            << "width " << width;
    }
}

TEST_P(CudaKernels, RmsNormInPlace) {
    const std::int64_t rows = 4, width = 64;
    const std::vector<float> x = random_values(rows * width, 6, dtype());
    const std::vector<float> w = random_values(width, 7, dtype(), 0.3f, 1.0f);
    Tensor ref = cpu_.alloc(DType::f32, {rows, width});
    cpu_.rms_norm(cpu_tensor(x, {rows, width}), cpu_tensor(w, {width}), 1e-5f, ref);
    Tensor inout = to_gpu(x, {rows, width});
    gpu_->rms_norm(inout, to_gpu(w, {width}), 1e-5f, inout);
    EXPECT_TRUE(all_close(to_host(inout), cpu_values(ref), tolerance(), rms(cpu_values(ref))));
}

TEST_P(CudaKernels, LinearMatchesCpuWithAndWithoutBias) {
    struct Shape {
        std::int64_t rows, in, out;
    };
    for (const Shape shape : {Shape{37, 64, 48}, Shape{1, 96, 40}, Shape{130, 256, 72}}) {
        const std::vector<float> x = random_values(shape.rows * shape.in, 8, dtype());
        const std::vector<float> w = random_values(shape.out * shape.in, 9, dtype(), 0.1f);
        const std::vector<float> b = random_values(shape.out, 10, dtype());
        for (const bool with_bias : {false, true}) {
            Tensor ref = cpu_.alloc(DType::f32, {shape.rows, shape.out});
            cpu_.linear(cpu_tensor(x, {shape.rows, shape.in}), cpu_tensor(w, {shape.out, shape.in}),
                        with_bias ? cpu_tensor(b, {shape.out}) : Tensor(), ref);
            Tensor got = poisoned({shape.rows, shape.out});
            gpu_->linear(to_gpu(x, {shape.rows, shape.in}), to_gpu(w, {shape.out, shape.in}),
                         with_bias ? to_gpu(b, {shape.out}) : Tensor(), got);
            EXPECT_TRUE(all_close(to_host(got), cpu_values(ref), tolerance(), rms(cpu_values(ref))))
                << shape.rows << "x" << shape.in << "x" << shape.out << " bias " << with_bias;
        }
    }
}

// The logits path: 16-bit operands, an fp32 result (rounded only by the accumulation).
TEST_P(CudaKernels, LinearWritesAnFp32Destination) {
    const std::int64_t rows = 33, in = 128, out = 300;
    const std::vector<float> x = random_values(rows * in, 11, dtype());
    const std::vector<float> w = random_values(out * in, 12, dtype(), 0.1f);
    Tensor ref = cpu_.alloc(DType::f32, {rows, out});
    cpu_.linear(cpu_tensor(x, {rows, in}), cpu_tensor(w, {out, in}), Tensor(), ref);
    Tensor got = poisoned({rows, out}, DType::f32);
    gpu_->linear(to_gpu(x, {rows, in}), to_gpu(w, {out, in}), Tensor(), got);
    EXPECT_TRUE(all_close(to_host(got), cpu_values(ref), kernel_tolerance(DType::f32),
                          rms(cpu_values(ref))));
}

TEST_P(CudaKernels, RopeMatchesCpu) {
    const std::int64_t batch = 2, seq = 33;
    for (const std::int64_t head_dim : {16, 64, 6}) {
        const std::int64_t heads = 3;
        std::vector<float> inv_freq(static_cast<std::size_t>(head_dim / 2));
        for (std::size_t i = 0; i < inv_freq.size(); ++i) {
            inv_freq[i] =
                1.0f / std::pow(10000.0f, static_cast<float>(2 * i) / static_cast<float>(head_dim));
        }
        const RopeTables tables = rope_tables(inv_freq, 40);
        const std::vector<std::int64_t> shape = {batch, seq, heads * head_dim};
        const std::vector<float> x = random_values(batch * seq * heads * head_dim, 13, dtype());
        Tensor ref = cpu_tensor(x, shape);
        cpu_.rope(ref, heads, head_dim, cpu_tensor(tables.cos, {40, head_dim / 2}),
                  cpu_tensor(tables.sin, {40, head_dim / 2}));
        Tensor got = to_gpu(x, shape);
        gpu_->rope(got, heads, head_dim, gpu_->upload(tables.cos.data(), {40, head_dim / 2}),
                   gpu_->upload(tables.sin.data(), {40, head_dim / 2}));
        EXPECT_TRUE(all_close(to_host(got), cpu_values(ref), tolerance(), rms(cpu_values(ref))))
            << "head_dim " << head_dim;
    }
}

TEST_P(CudaKernels, SwigluAndAddMatchCpuIncludingAliasing) {
    for (const std::int64_t count : {4096, 1003, 5}) {
        const std::vector<float> a = random_values(count, 14, dtype(), 2.0f);
        const std::vector<float> b = random_values(count, 15, dtype());
        Tensor swiglu_ref = cpu_.alloc(DType::f32, {count});
        cpu_.swiglu(cpu_tensor(a, {count}), cpu_tensor(b, {count}), swiglu_ref);
        Tensor add_ref = cpu_.alloc(DType::f32, {count});
        cpu_.add(cpu_tensor(a, {count}), cpu_tensor(b, {count}), add_ref);

        Tensor gate = to_gpu(a, {count});
        gpu_->swiglu(gate, to_gpu(b, {count}), gate);  // in place, as the MLP runs it
        EXPECT_TRUE(all_close(to_host(gate), cpu_values(swiglu_ref), tolerance(),
                              rms(cpu_values(swiglu_ref))))
            << "swiglu " << count;
        Tensor sum = to_gpu(a, {count});
        gpu_->add(sum, to_gpu(b, {count}), sum);  // residual += branch
        EXPECT_TRUE(
            all_close(to_host(sum), cpu_values(add_ref), tolerance(), rms(cpu_values(add_ref))))
            << "add " << count;
    }
}

// Unaligned views (a slice starting one row in) take the scalar paths.
TEST_P(CudaKernels, ElementwiseKernelsOnUnalignedSlices) {
    const std::int64_t rows = 6, width = 5;
    const std::vector<float> a = random_values(rows * width, 16, dtype());
    const std::vector<float> b = random_values(rows * width, 17, dtype());
    const Tensor ga = to_gpu(a, {rows, width}).slice_rows(1, rows - 1);
    const Tensor gb = to_gpu(b, {rows, width}).slice_rows(1, rows - 1);
    Tensor got = poisoned({rows, width}).slice_rows(1, rows - 1);
    gpu_->add(ga, gb, got);
    std::vector<float> expected;
    for (std::int64_t i = width; i < rows * width; ++i) {
        expected.push_back(testing::round_as(
            a[static_cast<std::size_t>(i)] + b[static_cast<std::size_t>(i)], dtype()));
    }
    EXPECT_TRUE(all_close(to_host(got), expected, {0.0, 0.0}));
}

struct AttentionCase {
    std::int64_t batch, seq, heads, kv_heads, head_dim, window;
};

std::string describe(const AttentionCase& c) {
    return "batch " + std::to_string(c.batch) + " seq " + std::to_string(c.seq) + " heads " +
           std::to_string(c.heads) + "/" + std::to_string(c.kv_heads) + " head_dim " +
           std::to_string(c.head_dim) + " window " + std::to_string(c.window);
}

TEST_P(CudaKernels, AttentionMatchesCpu) {
    const AttentionCase cases[] = {
        {1, 1, 2, 1, 16, 0},     {2, 17, 4, 2, 16, 0},   {1, 64, 2, 2, 32, 0},
        {2, 130, 4, 1, 64, 0},   {1, 200, 8, 2, 128, 0}, {1, 96, 2, 1, 80, 0},
        {1, 77, 4, 2, 96, 0},    {1, 512, 4, 1, 64, 0},  {1, 150, 4, 2, 64, 40},
        {1, 300, 2, 1, 16, 100}, {1, 70, 2, 2, 128, 1},  // windows: 40, 100, only itself
        {2, 45, 4, 2, 4, 0},     {1, 70, 2, 1, 6, 0},    {1, 40, 2, 2, 24, 7},  // any size
        {1, 33, 1, 1, 200, 0},
    };
    std::uint32_t seed = 20;
    for (const AttentionCase& c : cases) {
        const std::int64_t tokens = c.batch * c.seq;
        const std::vector<std::int64_t> q_shape = {c.batch, c.seq, c.heads * c.head_dim};
        const std::vector<std::int64_t> kv_shape = {c.batch, c.seq, c.kv_heads * c.head_dim};
        const std::vector<float> q = random_values(tokens * c.heads * c.head_dim, ++seed, dtype());
        const std::vector<float> k =
            random_values(tokens * c.kv_heads * c.head_dim, ++seed, dtype());
        const std::vector<float> v =
            random_values(tokens * c.kv_heads * c.head_dim, ++seed, dtype());
        AttentionShape shape;
        shape.batch = c.batch;
        shape.seq_len = c.seq;
        shape.num_heads = c.heads;
        shape.num_kv_heads = c.kv_heads;
        shape.head_dim = c.head_dim;
        shape.scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
        if (c.window > 0) {
            shape.window = c.window;
        }
        Tensor ref = cpu_.alloc(DType::f32, q_shape);
        cpu_.attention(cpu_tensor(q, q_shape), cpu_tensor(k, kv_shape), cpu_tensor(v, kv_shape),
                       shape, ref);
        Tensor got = poisoned(q_shape);
        gpu_->attention(to_gpu(q, q_shape), to_gpu(k, kv_shape), to_gpu(v, kv_shape), shape, got);
        // Outputs are convex combinations of rows of v: measure against its size.
        EXPECT_TRUE(all_close(to_host(got), cpu_values(ref), tolerance(), max_abs(v)))
            << describe(c);
    }
}

// Views that start one element in: the tiled kernels need 16-byte alignment, so these take
// the one-warp-per-query kernel, with the same result.
TEST_P(CudaKernels, AttentionOnUnalignedViews) {
    const std::int64_t batch = 1, seq = 70, heads = 4, kv_heads = 2, head_dim = 64;
    const std::vector<std::int64_t> q_shape = {batch, seq, heads * head_dim};
    const std::vector<std::int64_t> kv_shape = {batch, seq, kv_heads * head_dim};
    const std::int64_t q_count = batch * seq * heads * head_dim;
    const std::int64_t kv_count = batch * seq * kv_heads * head_dim;
    const std::vector<float> q = random_values(q_count + 1, 60, dtype());
    const std::vector<float> k = random_values(kv_count + 1, 61, dtype());
    const std::vector<float> v = random_values(kv_count + 1, 62, dtype());
    const auto tail = [](const std::vector<float>& values) {
        return std::vector<float>(values.begin() + 1, values.end());
    };
    AttentionShape shape;
    shape.batch = batch;
    shape.seq_len = seq;
    shape.num_heads = heads;
    shape.num_kv_heads = kv_heads;
    shape.head_dim = head_dim;
    shape.scale = 0.125f;
    Tensor ref = cpu_.alloc(DType::f32, q_shape);
    cpu_.attention(cpu_tensor(tail(q), q_shape), cpu_tensor(tail(k), kv_shape),
                   cpu_tensor(tail(v), kv_shape), shape, ref);
    const auto view = [&](const std::vector<float>& values, const std::vector<std::int64_t>& s) {
        const std::int64_t count = static_cast<std::int64_t>(values.size());
        return to_gpu(values, {count, 1}).slice_rows(1, count - 1).reshaped(s);
    };
    Tensor got = poisoned({q_count + 1, 1}).slice_rows(1, q_count).reshaped(q_shape);
    gpu_->attention(view(q, q_shape), view(k, kv_shape), view(v, kv_shape), shape, got);
    EXPECT_TRUE(all_close(to_host(got), cpu_values(ref), tolerance(), max_abs(v)));
}

TEST_P(CudaKernels, CrossEntropyMatchesCpu) {
    const std::int64_t rows = 9, vocab = 1000;
    const std::vector<float> logits = random_values(rows * vocab, 40, dtype(), 4.0f);
    std::vector<std::int32_t> targets(static_cast<std::size_t>(rows));
    for (std::int64_t r = 0; r < rows; ++r) {
        targets[static_cast<std::size_t>(r)] = static_cast<std::int32_t>((r * 131) % vocab);
    }
    std::vector<float> ref(static_cast<std::size_t>(rows));
    cpu_.cross_entropy(cpu_tensor(logits, {rows, vocab}), targets.data(), ref.data());
    std::vector<float> got(static_cast<std::size_t>(rows), std::nanf(""));
    gpu_->cross_entropy(to_gpu(logits, {rows, vocab}), targets.data(), got.data());
    // Same inputs, fp32/double arithmetic on both sides whatever the storage dtype.
    EXPECT_TRUE(all_close(got, ref, {1e-5, 1e-5}, max_abs(ref)));
}

// ---- argument checks ----------------------------------------------------------------------

void expect_invalid(const std::function<void()>& call, const std::string& message) {
    try {
        call();
        ADD_FAILURE() << "no exception; expected: " << message;
    } catch (const std::invalid_argument& error) {
        EXPECT_TRUE(std::string(error.what()).ends_with(message))
            << error.what() << "\nexpected to end with: " << message;
    }
}

TEST_P(CudaKernels, BadArgumentsAreRefusedWithAMessage) {
    const std::string dt(dtype_name(dtype()));
    Tensor x = gpu_->alloc(dtype(), {3, 4});
    Tensor w = gpu_->alloc(dtype(), {5, 6});
    Tensor y = gpu_->alloc(dtype(), {3, 5});
    Tensor host = Tensor::empty_cpu(DType::f32, {3, 4});
    Tensor ints = gpu_->alloc(DType::i32, {3, 4});
    expect_invalid([&] { gpu_->linear(x, w, Tensor(), y); },
                   "linear: src " + dt + " cuda [3, 4], weight " + dt + " cuda [5, 6] and dst " +
                       dt + " cuda [3, 5] do not fit");
    expect_invalid([&] { gpu_->add(host, x, x); },
                   "add a must be an F32, F16 or BF16 cuda tensor, got F32 cpu [3, 4]");
    expect_invalid([&] { gpu_->add(ints, x, x); },
                   "add a must be an F32, F16 or BF16 cuda tensor, got I32 cuda [3, 4]");
    expect_invalid([&] { gpu_->swiglu(x, y, x); }, "swiglu: gate " + dt + " cuda [3, 4], up " + dt +
                                                       " cuda [3, 5] and dst " + dt +
                                                       " cuda [3, 4] differ in size");
    AttentionShape shape;
    shape.batch = 1;
    shape.seq_len = 3;
    shape.num_heads = 1;
    shape.num_kv_heads = 1;
    shape.head_dim = 300;
    Tensor big = gpu_->alloc(dtype(), {1, 3, 300});
    expect_invalid([&] { gpu_->attention(big, big, big, shape, big); },
                   "attention: head_dim 300 is larger than the CUDA kernels take (256)");
}

INSTANTIATE_TEST_SUITE_P(ComputeDtypes, CudaKernels,
                         ::testing::Values(DType::f32, DType::f16, DType::bf16),
                         [](const ::testing::TestParamInfo<DType>& info) {
                             return testing::dtype_test_name(info.param);
                         });

// ---- creation, math mode, ownership -------------------------------------------------------

TEST(CudaBackend, CreateWithoutAGpuSaysWhy) {
    if (cuda_device_count() > 0) {
        GTEST_SKIP() << "a GPU answers here; this test is for machines without one";
    }
    const std::string reason = cuda_unavailable_reason();
    EXPECT_FALSE(reason.empty());
    Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create();
    ASSERT_FALSE(backend);
    EXPECT_EQ(backend.error().kind, ErrorKind::unsupported);
    EXPECT_EQ(backend.error().message, "cannot create the CUDA backend: " + reason +
                                           "; use the CPU backend (device = \"cpu\")");
}

TEST(CudaBackend, CreateRefusesBadOptions) {
    MCOMP_SKIP_WITHOUT_GPU();
    const int count = cuda_device_count();
    const std::string devices =
        "; this machine has " + std::to_string(count) + " (0.." + std::to_string(count - 1) + ")";
    struct Case {
        CudaBackendOptions options;
        std::string message;
    };
    const Case cases[] = {
        {{-1, DType::f32, CudaMathMode::exact_fp32}, "CUDA device -1 does not exist" + devices},
        {{count, DType::f32, CudaMathMode::exact_fp32},
         "CUDA device " + std::to_string(count) + " does not exist" + devices},
        {{0, DType::i32, CudaMathMode::exact_fp32},
         "the CUDA backend computes in F32, F16 or BF16, not I32"},
        {{0, DType::f64, CudaMathMode::exact_fp32},
         "the CUDA backend computes in F32, F16 or BF16, not F64"},
    };
    for (const Case& c : cases) {
        Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create(c.options);
        ASSERT_FALSE(backend) << c.message;
        EXPECT_EQ(backend.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(backend.error().message, c.message);
    }
}

TEST(CudaBackend, DescribesItsDeviceAndOwnsItsStream) {
    MCOMP_SKIP_WITHOUT_GPU();
    Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create();
    ASSERT_TRUE(backend) << backend.error().message;
    EXPECT_NE((*backend)->description().find(" (sm_"), std::string::npos)
        << (*backend)->description();
    EXPECT_EQ((*backend)->device(), Device::cuda);
    EXPECT_EQ((*backend)->compute_dtype(), DType::f32);
    // Not the legacy default stream (0) nor the per-thread one: a stream of its own.
    EXPECT_NE((*backend)->stream(), nullptr);
    EXPECT_NE(reinterpret_cast<std::uintptr_t>((*backend)->stream()), std::uintptr_t{1});
    EXPECT_NE(reinterpret_cast<std::uintptr_t>((*backend)->stream()), std::uintptr_t{2});
}

TEST(CudaBackend, TensorsMayOutliveTheBackend) {
    MCOMP_SKIP_WITHOUT_GPU();
    Tensor survivor;
    std::vector<float> values = random_values(64, 50, DType::f32);
    {
        Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create();
        ASSERT_TRUE(backend) << backend.error().message;
        survivor = (*backend)->upload(values.data(), {8, 8});
        Tensor scratch = (*backend)->alloc(DType::f32, {1 << 20});
    }
    EXPECT_TRUE(survivor.owns_memory());
    survivor = Tensor();  // frees on the stream that the dead backend left behind
    Expected<std::unique_ptr<CudaBackend>> again = CudaBackend::create();
    ASSERT_TRUE(again) << again.error().message;
    const Tensor fresh = (*again)->upload(values.data(), {8, 8});
    std::vector<float> back(64);
    (*again)->download(fresh, back.data());
    EXPECT_EQ(back, values);
}

// TF32 is opt-in: fp32 GEMMs on tensor cores with 10-bit operands, near 1e-3 of the result.
TEST(CudaBackend, Tf32MathModeStaysNearTheExactResult) {
    MCOMP_SKIP_WITHOUT_GPU();
    CudaBackendOptions options;
    options.math = CudaMathMode::tf32;
    Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create(options);
    ASSERT_TRUE(backend) << backend.error().message;
    CpuBackend cpu;
    const std::int64_t rows = 256, in = 512, out = 256;
    const std::vector<float> x = random_values(rows * in, 51, DType::f32);
    const std::vector<float> w = random_values(out * in, 52, DType::f32, 0.05f);
    Tensor ref = cpu.alloc(DType::f32, {rows, out});
    cpu.linear(cpu_tensor(x, {rows, in}), cpu_tensor(w, {out, in}), Tensor(), ref);
    Tensor got = (*backend)->alloc(DType::f32, {rows, out});
    (*backend)->linear((*backend)->upload(x.data(), {rows, in}),
                       (*backend)->upload(w.data(), {out, in}), Tensor(), got);
    std::vector<float> host(static_cast<std::size_t>(rows * out));
    (*backend)->download(got, host.data());
    EXPECT_TRUE(all_close(host, cpu_values(ref), {5e-3, 0.0}, rms(cpu_values(ref))));
}

}  // namespace
}  // namespace mcomp
