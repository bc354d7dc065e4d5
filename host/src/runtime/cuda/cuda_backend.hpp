// cuda_backend.hpp: the Backend of backend.hpp on an NVIDIA GPU — cuBLAS for the linears,
// kernels of our own (kernels.hpp) for everything else, every call enqueued on one stream
// that the backend owns. Each kernel has its CPU twin in CpuBackend, and the tests in
// tests/unit/runtime_cuda hold the two against each other.
//
// Compute dtype: activations and weights live on the device in one dtype chosen at
// creation — F32 (the reference: fp32 arithmetic, cuBLAS without TF32 unless asked for),
// F16 or BF16 (tensor cores; fp32 accumulation in every GEMM, reduction and softmax, one
// rounding per stored result, like transformers running the model in that dtype).
// upload_weight() converts checkpoint tensors to it; upload() keeps host fp32 data fp32
// (rotary tables); linear() may write an fp32 dst from 16-bit operands (logits).
//
// Errors: create() returns recoverable failures (no GPU, a bad option). Once created, a
// failing CUDA call (out of memory, a faulted kernel) throws mcomp::CudaError and arguments
// that do not fit a kernel throw std::invalid_argument: the Backend interface has no
// status return, and a faulted device cannot go on.
//
// Threads: one backend is used by one thread at a time. Memory comes from a stream-ordered
// pool of the backend's own (cudaMallocFromPoolAsync); a tensor frees its memory on the
// backend's stream when its last copy goes, and may outlive the backend object.
#pragma once

#include <memory>
#include <string>

#include "runtime/backend.hpp"
#include "util/expected.hpp"

struct CUstream_st;  // cudaStream_t is CUstream_st*

namespace mcomp {

// How fp32 GEMMs run: exactly (fp32 FMA), or on TF32 tensor cores (10-bit mantissa
// operands; about 8x faster on an H100, not bit-comparable with the CPU).
enum class CudaMathMode {
    exact_fp32 = 1,
    tf32,
};

struct CudaBackendOptions {
    int device = 0;
    DType compute_dtype = DType::f32;  // F32, F16 or BF16
    CudaMathMode math = CudaMathMode::exact_fp32;
};

// CUDA devices this process can use; 0 when there is no driver or no GPU. Never throws.
int cuda_device_count();

// Why cuda_device_count() is 0 ("no CUDA driver: ..."), or "" when a device answers.
std::string cuda_unavailable_reason();

class CudaBackend final : public Backend {
  public:
    // A backend on options.device, with its own stream, memory pool and cuBLAS handle.
    static Expected<std::unique_ptr<CudaBackend>> create(const CudaBackendOptions& options = {});

    ~CudaBackend() override;
    CudaBackend(const CudaBackend&) = delete;
    CudaBackend& operator=(const CudaBackend&) = delete;

    Device device() const override { return Device::cuda; }
    DType compute_dtype() const override;

    Tensor alloc(DType dtype, std::vector<std::int64_t> shape) override;
    Tensor upload_weight(const TensorView& src) override;
    Tensor upload(const float* src, std::vector<std::int64_t> shape) override;
    void download(const Tensor& src, float* dst) override;
    void synchronize() override;

    void embed(const Tensor& table, const std::int32_t* tokens, std::int64_t count,
               Tensor& dst) override;
    void rms_norm(const Tensor& src, const Tensor& weight, float eps, Tensor& dst) override;
    void linear(const Tensor& src, const Tensor& weight, const Tensor& bias, Tensor& dst) override;
    void rope(Tensor& x, std::int64_t num_heads, std::int64_t head_dim, const Tensor& cos,
              const Tensor& sin) override;
    void attention(const Tensor& q, const Tensor& k, const Tensor& v, const AttentionShape& shape,
                   Tensor& dst) override;
    void swiglu(const Tensor& gate, const Tensor& up, Tensor& dst) override;
    void add(const Tensor& a, const Tensor& b, Tensor& dst) override;
    void cross_entropy(const Tensor& logits, const std::int32_t* targets, float* nll) override;

    // ---- beyond the Backend interface ------------------------------------------------------

    // Host fp32 data as a new device tensor of `dtype` (F32, F16 or BF16; rounded to
    // nearest even).
    Tensor upload_as(const float* src, std::vector<std::int64_t> shape, DType dtype);

    // A converted copy of a device tensor (F32, F16 or BF16 both ways).
    Tensor to_dtype(const Tensor& src, DType dtype);

    // The stream every call of this backend is enqueued on (a cudaStream_t), for code that
    // adds its own kernels to the same order (plugins).
    CUstream_st* stream() const;

    const CudaBackendOptions& options() const;

    // "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)".
    std::string description() const;

    struct State;  // stream, pool, cuBLAS handle; shared with the tensors' deleters

  private:
    explicit CudaBackend(std::shared_ptr<State> state);

    std::shared_ptr<State> state_;
};

}  // namespace mcomp
