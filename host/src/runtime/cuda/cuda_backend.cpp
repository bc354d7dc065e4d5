// cuda_backend.cpp: see cuda_backend.hpp. This file checks every call's tensors (device,
// dtype, shape) and turns them into cuBLAS calls and the launches of kernels.hpp.
#include "runtime/cuda/cuda_backend.hpp"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <limits>

#include "runtime/cuda/cuda_check.hpp"
#include "runtime/cuda/kernels.hpp"

namespace mcomp {

namespace {

constexpr std::size_t kCublasWorkspaceBytes = std::size_t{32} << 20;  // as PyTorch on Hopper

const char* cublas_status_name(cublasStatus_t status) {
    switch (status) {
        case CUBLAS_STATUS_SUCCESS:
            return "CUBLAS_STATUS_SUCCESS";
        case CUBLAS_STATUS_NOT_INITIALIZED:
            return "CUBLAS_STATUS_NOT_INITIALIZED";
        case CUBLAS_STATUS_ALLOC_FAILED:
            return "CUBLAS_STATUS_ALLOC_FAILED";
        case CUBLAS_STATUS_INVALID_VALUE:
            return "CUBLAS_STATUS_INVALID_VALUE";
        case CUBLAS_STATUS_ARCH_MISMATCH:
            return "CUBLAS_STATUS_ARCH_MISMATCH";
        case CUBLAS_STATUS_EXECUTION_FAILED:
            return "CUBLAS_STATUS_EXECUTION_FAILED";
        case CUBLAS_STATUS_NOT_SUPPORTED:
            return "CUBLAS_STATUS_NOT_SUPPORTED";
        default:
            return "a cuBLAS error";
    }
}

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
    if (status != CUBLAS_STATUS_SUCCESS) {
        cuda_detail::throw_cuda_error(cublas_status_name(status), call, file, line);
    }
}

#define MCOMP_CUBLAS_CHECK(call) check_cublas((call), #call, __FILE__, __LINE__)

bool is_float_type(DType dtype) {
    return dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16;
}

cuda::ElemType elem_type(DType dtype) {
    switch (dtype) {
        case DType::f16:
            return cuda::ElemType::f16;
        case DType::bf16:
            return cuda::ElemType::bf16;
        case DType::f32:
            return cuda::ElemType::f32;
        default:
            break;
    }
    MCOMP_CUDA_REQUIRE(false, "the CUDA kernels take F32, F16 or BF16 tensors, not " +
                                  std::string(dtype_name(dtype)));
    return cuda::ElemType::f32;
}

cudaDataType_t cublas_type(DType dtype) {
    switch (dtype) {
        case DType::f16:
            return CUDA_R_16F;
        case DType::bf16:
            return CUDA_R_16BF;
        default:
            return CUDA_R_32F;
    }
}

std::string describe(const Tensor& tensor) {
    return std::string(dtype_name(tensor.dtype())) + " " +
           std::string(device_name(tensor.device())) + " " + shape_to_string(tensor.shape());
}

// Every tensor a kernel touches: defined, on this device, of a float dtype.
void require_device_tensor(const Tensor& tensor, const char* what) {
    MCOMP_CUDA_REQUIRE(
        tensor.defined() && tensor.device() == Device::cuda && is_float_type(tensor.dtype()),
        std::string(what) + " must be an F32, F16 or BF16 cuda tensor, got " +
            (tensor.defined() ? describe(tensor) : std::string("none")));
}

void require_same_dtype(const Tensor& a, const Tensor& b, const char* what) {
    MCOMP_CUDA_REQUIRE(a.dtype() == b.dtype(), std::string(what) + ": dtypes differ (" +
                                                   describe(a) + " and " + describe(b) + ")");
}

}  // namespace

// ---- state --------------------------------------------------------------------------------

struct CudaBackend::State {
    CudaBackendOptions options;
    cudaDeviceProp props{};
    cudaStream_t stream = nullptr;
    cudaMemPool_t pool = nullptr;
    cublasHandle_t cublas = nullptr;
    void* cublas_workspace = nullptr;

    // Runs once the backend and every tensor it allocated are gone. Errors are ignored:
    // at process exit the runtime may already be torn down.
    ~State() {
        cudaSetDevice(options.device);
        if (stream != nullptr) {
            cudaStreamSynchronize(stream);
        }
        if (cublas != nullptr) {
            cublasDestroy(cublas);
        }
        if (cublas_workspace != nullptr) {
            cudaFree(cublas_workspace);
        }
        if (pool != nullptr) {
            cudaMemPoolDestroy(pool);
        }
        if (stream != nullptr) {
            cudaStreamDestroy(stream);
        }
    }

    // The device current on this thread may be another backend's.
    void activate() const { MCOMP_CUDA_CHECK(cudaSetDevice(options.device)); }
};

int cuda_device_count() {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        cudaGetLastError();  // reset the last-error state so later calls start clean
        return 0;
    }
    return count;
}

std::string cuda_unavailable_reason() {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
        cudaGetLastError();
        return std::string("no usable CUDA driver or GPU (") + cudaGetErrorName(status) + ": " +
               cudaGetErrorString(status) + ")";
    }
    return count == 0 ? "the CUDA driver reports no GPU" : "";
}

Expected<std::unique_ptr<CudaBackend>> CudaBackend::create(const CudaBackendOptions& options) {
    const int count = cuda_device_count();
    if (count == 0) {
        return make_error(ErrorKind::unsupported,
                          "cannot create the CUDA backend: " + cuda_unavailable_reason() +
                              "; use the CPU backend (device = \"cpu\")");
    }
    if (options.device < 0 || options.device >= count) {
        return make_error(ErrorKind::bad_input, "CUDA device " + std::to_string(options.device) +
                                                    " does not exist; this machine has " +
                                                    std::to_string(count) + " (0.." +
                                                    std::to_string(count - 1) + ")");
    }
    if (!is_float_type(options.compute_dtype)) {
        return make_error(ErrorKind::bad_input,
                          "the CUDA backend computes in F32, F16 or BF16, not " +
                              std::string(dtype_name(options.compute_dtype)));
    }
    auto state = std::make_shared<State>();
    state->options = options;
    try {
        state->activate();
        MCOMP_CUDA_CHECK(cudaGetDeviceProperties(&state->props, options.device));
        if (state->props.major < 8) {
            return make_error(ErrorKind::unsupported,
                              "GPU " + std::string(state->props.name) + " is sm_" +
                                  std::to_string(state->props.major * 10 + state->props.minor) +
                                  "; the CUDA backend needs sm_80 or newer (Ampere, Hopper)");
        }
        MCOMP_CUDA_CHECK(cudaStreamCreateWithFlags(&state->stream, cudaStreamNonBlocking));
        cudaMemPoolProps pool_props{};
        pool_props.allocType = cudaMemAllocationTypePinned;
        pool_props.location.type = cudaMemLocationTypeDevice;
        pool_props.location.id = options.device;
        MCOMP_CUDA_CHECK(cudaMemPoolCreate(&state->pool, &pool_props));
        // Keep freed memory in the pool: every block run allocates the same activations.
        std::uint64_t threshold = std::numeric_limits<std::uint64_t>::max();
        MCOMP_CUDA_CHECK(
            cudaMemPoolSetAttribute(state->pool, cudaMemPoolAttrReleaseThreshold, &threshold));
        MCOMP_CUBLAS_CHECK(cublasCreate(&state->cublas));
        MCOMP_CUBLAS_CHECK(cublasSetStream(state->cublas, state->stream));
        MCOMP_CUDA_CHECK(cudaMalloc(&state->cublas_workspace, kCublasWorkspaceBytes));
        MCOMP_CUBLAS_CHECK(
            cublasSetWorkspace(state->cublas, state->cublas_workspace, kCublasWorkspaceBytes));
        // The compute type of each GEMM decides TF32 (cublasGemmEx below), not the handle;
        // 16-bit GEMMs keep fp32 accumulation even in split-K reductions.
        MCOMP_CUBLAS_CHECK(cublasSetMathMode(
            state->cublas,
            static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH |
                                      CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION)));
    } catch (const CudaError& error) {
        return make_error(ErrorKind::internal, error.what());
    }
    return std::unique_ptr<CudaBackend>(new CudaBackend(std::move(state)));
}

CudaBackend::CudaBackend(std::shared_ptr<State> state) : state_(std::move(state)) {}

CudaBackend::~CudaBackend() = default;

DType CudaBackend::compute_dtype() const {
    return state_->options.compute_dtype;
}

CUstream_st* CudaBackend::stream() const {
    return state_->stream;
}

const CudaBackendOptions& CudaBackend::options() const {
    return state_->options;
}

std::string CudaBackend::description() const {
    const cudaDeviceProp& props = state_->props;
    char memory[32] = {};
    std::snprintf(memory, sizeof memory, "%.1f GiB",
                  static_cast<double>(props.totalGlobalMem) / (1024.0 * 1024.0 * 1024.0));
    return std::string(props.name) + " (sm_" + std::to_string(props.major * 10 + props.minor) +
           ", " + std::to_string(props.multiProcessorCount) + " SMs, " + memory + ")";
}

// ---- memory -------------------------------------------------------------------------------

Tensor CudaBackend::alloc(DType dtype, std::vector<std::int64_t> shape) {
    state_->activate();
    std::int64_t count = 1;
    for (const std::int64_t extent : shape) {
        MCOMP_CUDA_REQUIRE(extent >= 0, "alloc: negative extent in " + shape_to_string(shape));
        count *= extent;
    }
    // At least one 16-byte vector, so that every tensor has an address of its own.
    const std::size_t num_bytes =
        std::max<std::size_t>(static_cast<std::size_t>(count) * dtype_size(dtype), 16);
    void* data = nullptr;
    MCOMP_CUDA_CHECK(cudaMallocFromPoolAsync(&data, num_bytes, state_->pool, state_->stream));
    std::shared_ptr<State> state = state_;
    std::shared_ptr<void> storage(data, [state](void* p) {
        cudaSetDevice(state->options.device);
        cudaFreeAsync(p, state->stream);  // after every kernel already enqueued that uses it
    });
    return Tensor::adopt(dtype, std::move(shape), data, std::move(storage), Device::cuda);
}

Tensor CudaBackend::upload_weight(const TensorView& src) {
    MCOMP_CUDA_REQUIRE(is_float_type(src.dtype),
                       "upload_weight: a weight must be F32, F16 or "
                       "BF16, got " +
                           std::string(dtype_name(src.dtype)));
    Tensor staged = alloc(src.dtype, src.shape);
    // Pageable source: the copy returns once the data is staged, so the mapping may go.
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(staged.data(), src.data, staged.num_bytes(),
                                     cudaMemcpyHostToDevice, state_->stream));
    return staged.dtype() == compute_dtype() ? staged : to_dtype(staged, compute_dtype());
}

Tensor CudaBackend::upload(const float* src, std::vector<std::int64_t> shape) {
    return upload_as(src, std::move(shape), DType::f32);
}

Tensor CudaBackend::upload_as(const float* src, std::vector<std::int64_t> shape, DType dtype) {
    Tensor staged = alloc(DType::f32, std::move(shape));
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(staged.data(), src, staged.num_bytes(), cudaMemcpyHostToDevice,
                                     state_->stream));
    return dtype == DType::f32 ? staged : to_dtype(staged, dtype);
}

Tensor CudaBackend::to_dtype(const Tensor& src, DType dtype) {
    require_device_tensor(src, "to_dtype source");
    Tensor dst = alloc(dtype, src.shape());
    cuda::launch_convert(src.data(), elem_type(src.dtype()), dst.data(), elem_type(dtype),
                         src.numel(), state_->stream);
    return dst;
}

void CudaBackend::download(const Tensor& src, float* dst) {
    require_device_tensor(src, "download source");
    state_->activate();
    const Tensor wide = src.dtype() == DType::f32 ? src : to_dtype(src, DType::f32);
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(dst, wide.data(), wide.num_bytes(), cudaMemcpyDeviceToHost,
                                     state_->stream));
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(state_->stream));
}

void CudaBackend::synchronize() {
    state_->activate();
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(state_->stream));
}

// ---- kernels ------------------------------------------------------------------------------

void CudaBackend::embed(const Tensor& table, const std::int32_t* tokens, std::int64_t count,
                        Tensor& dst) {
    require_device_tensor(table, "embed table");
    require_device_tensor(dst, "embed dst");
    MCOMP_CUDA_REQUIRE(table.ndim() == 2 && dst.rows() == count && dst.cols() == table.cols(),
                       "embed: table " + describe(table) + " and dst " + describe(dst) +
                           " do not fit " + std::to_string(count) + " tokens");
    Tensor ids = alloc(DType::i32, {count});
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(ids.data(), tokens, ids.num_bytes(), cudaMemcpyHostToDevice,
                                     state_->stream));
    cuda::launch_embed(table.data(), elem_type(table.dtype()),
                       static_cast<const std::int32_t*>(ids.data()), count, table.cols(),
                       dst.data(), elem_type(dst.dtype()), state_->stream);
}

void CudaBackend::rms_norm(const Tensor& src, const Tensor& weight, float eps, Tensor& dst) {
    require_device_tensor(src, "rms_norm src");
    require_device_tensor(weight, "rms_norm weight");
    require_device_tensor(dst, "rms_norm dst");
    require_same_dtype(src, weight, "rms_norm");
    require_same_dtype(src, dst, "rms_norm");
    MCOMP_CUDA_REQUIRE(weight.numel() == src.cols() && dst.numel() == src.numel(),
                       "rms_norm: src " + describe(src) + ", weight " + describe(weight) +
                           " and dst " + describe(dst) + " do not fit");
    state_->activate();
    cuda::launch_rms_norm(src.data(), weight.data(), elem_type(src.dtype()), src.rows(), src.cols(),
                          eps, dst.data(), state_->stream);
}

// Row-major dst[rows, out] = src[rows, in]·weight[out, in]ᵀ is, column-major,
// dstᵀ[out, rows] = weight_cm[in, out]ᵀ · src_cm[in, rows]: op(A) = T on the weight.
void CudaBackend::linear(const Tensor& src, const Tensor& weight, const Tensor& bias, Tensor& dst) {
    require_device_tensor(src, "linear src");
    require_device_tensor(weight, "linear weight");
    require_device_tensor(dst, "linear dst");
    require_same_dtype(src, weight, "linear");
    MCOMP_CUDA_REQUIRE(dst.dtype() == src.dtype() || dst.dtype() == DType::f32,
                       "linear: dst " + describe(dst) + " must be " +
                           std::string(dtype_name(src.dtype())) + " or F32");
    MCOMP_CUDA_REQUIRE(weight.ndim() == 2 && src.cols() == weight.dim(1) &&
                           dst.cols() == weight.dim(0) && dst.rows() == src.rows(),
                       "linear: src " + describe(src) + ", weight " + describe(weight) +
                           " and dst " + describe(dst) + " do not fit");
    const std::int64_t rows = src.rows();
    const std::int64_t in = src.cols();
    const std::int64_t out = weight.dim(0);
    constexpr std::int64_t kMaxInt = std::numeric_limits<int>::max();
    MCOMP_CUDA_REQUIRE(rows <= kMaxInt && in <= kMaxInt && out <= kMaxInt,
                       "linear: " + describe(src) + " exceeds cuBLAS's 32-bit sizes");
    if (rows == 0) {
        return;
    }
    state_->activate();
    const bool tf32 = src.dtype() == DType::f32 && state_->options.math == CudaMathMode::tf32;
    const cublasComputeType_t compute = tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const float alpha = 1.0f;
    const float beta = 0.0f;
    MCOMP_CUBLAS_CHECK(cublasGemmEx(
        state_->cublas, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(rows),
        static_cast<int>(in), &alpha, weight.data(), cublas_type(weight.dtype()),
        static_cast<int>(in), src.data(), cublas_type(src.dtype()), static_cast<int>(in), &beta,
        dst.data(), cublas_type(dst.dtype()), static_cast<int>(out), compute, CUBLAS_GEMM_DEFAULT));
    if (bias.defined()) {
        require_device_tensor(bias, "linear bias");
        MCOMP_CUDA_REQUIRE(bias.numel() == out, "linear: bias " + describe(bias) + " must have " +
                                                    std::to_string(out) + " elements");
        cuda::launch_add_bias(dst.data(), elem_type(dst.dtype()), bias.data(),
                              elem_type(bias.dtype()), rows, out, state_->stream);
    }
}

void CudaBackend::rope(Tensor& x, std::int64_t num_heads, std::int64_t head_dim, const Tensor& cos,
                       const Tensor& sin) {
    require_device_tensor(x, "rope x");
    require_device_tensor(cos, "rope cos");
    require_device_tensor(sin, "rope sin");
    MCOMP_CUDA_REQUIRE(
        cos.dtype() == DType::f32 && sin.dtype() == DType::f32,
        "rope: the cos/sin tables must be F32 (Backend::upload), got " + describe(cos));
    MCOMP_CUDA_REQUIRE(
        x.ndim() == 3 && x.cols() == num_heads * head_dim && head_dim % 2 == 0 &&
            cos.cols() == head_dim / 2 && sin.shape() == cos.shape() && cos.rows() >= x.dim(1),
        "rope: x " + describe(x) + " with " + std::to_string(num_heads) + " heads of " +
            std::to_string(head_dim) + " does not fit tables " + describe(cos));
    state_->activate();
    cuda::launch_rope(x.data(), elem_type(x.dtype()), x.dim(0), x.dim(1), num_heads, head_dim,
                      cos.f32(), sin.f32(), state_->stream);
}

void CudaBackend::attention(const Tensor& q, const Tensor& k, const Tensor& v,
                            const AttentionShape& shape, Tensor& dst) {
    require_device_tensor(q, "attention q");
    require_device_tensor(k, "attention k");
    require_device_tensor(v, "attention v");
    require_device_tensor(dst, "attention dst");
    require_same_dtype(q, k, "attention");
    require_same_dtype(q, v, "attention");
    require_same_dtype(q, dst, "attention");
    const std::int64_t tokens = shape.batch * shape.seq_len;
    MCOMP_CUDA_REQUIRE(
        shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0 &&
            q.numel() == tokens * shape.num_heads * shape.head_dim && dst.numel() == q.numel() &&
            k.numel() == tokens * shape.num_kv_heads * shape.head_dim && v.numel() == k.numel() &&
            (!shape.window || *shape.window >= 1),
        "attention: q " + describe(q) + ", k " + describe(k) + ", v " + describe(v) +
            " do not fit batch " + std::to_string(shape.batch) + ", seq " +
            std::to_string(shape.seq_len) + ", " + std::to_string(shape.num_heads) + "/" +
            std::to_string(shape.num_kv_heads) + " heads of " + std::to_string(shape.head_dim));
    MCOMP_CUDA_REQUIRE(cuda::attention_supports_head_dim(shape.head_dim),
                       "attention: head_dim " + std::to_string(shape.head_dim) +
                           " is larger than the CUDA kernels take (256)");
    MCOMP_CUDA_REQUIRE(shape.seq_len <= std::numeric_limits<int>::max() / 2,
                       "attention: seq_len " + std::to_string(shape.seq_len) + " is too long");
    state_->activate();
    cuda::AttentionArgs args;
    args.q = q.data();
    args.k = k.data();
    args.v = v.data();
    args.dst = dst.data();
    args.type = elem_type(q.dtype());
    args.batch = shape.batch;
    args.seq = shape.seq_len;
    args.heads = shape.num_heads;
    args.kv_heads = shape.num_kv_heads;
    args.head_dim = shape.head_dim;
    args.scale = shape.scale;
    args.window = shape.window ? std::min<std::int64_t>(*shape.window, shape.seq_len + 1) : 0;
    cuda::launch_attention(args, state_->stream);
}

void CudaBackend::swiglu(const Tensor& gate, const Tensor& up, Tensor& dst) {
    require_device_tensor(gate, "swiglu gate");
    require_device_tensor(up, "swiglu up");
    require_device_tensor(dst, "swiglu dst");
    require_same_dtype(gate, up, "swiglu");
    require_same_dtype(gate, dst, "swiglu");
    MCOMP_CUDA_REQUIRE(up.numel() == gate.numel() && dst.numel() == gate.numel(),
                       "swiglu: gate " + describe(gate) + ", up " + describe(up) + " and dst " +
                           describe(dst) + " differ in size");
    state_->activate();
    cuda::launch_swiglu(gate.data(), up.data(), dst.data(), elem_type(gate.dtype()), gate.numel(),
                        state_->stream);
}

void CudaBackend::add(const Tensor& a, const Tensor& b, Tensor& dst) {
    require_device_tensor(a, "add a");
    require_device_tensor(b, "add b");
    require_device_tensor(dst, "add dst");
    require_same_dtype(a, b, "add");
    require_same_dtype(a, dst, "add");
    MCOMP_CUDA_REQUIRE(b.numel() == a.numel() && dst.numel() == a.numel(),
                       "add: a " + describe(a) + ", b " + describe(b) + " and dst " +
                           describe(dst) + " differ in size");
    state_->activate();
    cuda::launch_add(a.data(), b.data(), dst.data(), elem_type(a.dtype()), a.numel(),
                     state_->stream);
}

void CudaBackend::cross_entropy(const Tensor& logits, const std::int32_t* targets, float* nll) {
    require_device_tensor(logits, "cross_entropy logits");
    const std::int64_t rows = logits.rows();
    if (rows == 0) {
        return;
    }
    Tensor ids = alloc(DType::i32, {rows});
    Tensor losses = alloc(DType::f32, {rows});
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(ids.data(), targets, ids.num_bytes(), cudaMemcpyHostToDevice,
                                     state_->stream));
    cuda::launch_cross_entropy(logits.data(), elem_type(logits.dtype()), rows, logits.cols(),
                               static_cast<const std::int32_t*>(ids.data()), losses.f32(),
                               state_->stream);
    MCOMP_CUDA_CHECK(cudaMemcpyAsync(nll, losses.data(), losses.num_bytes(), cudaMemcpyDeviceToHost,
                                     state_->stream));
    MCOMP_CUDA_CHECK(cudaStreamSynchronize(state_->stream));
}

}  // namespace mcomp
