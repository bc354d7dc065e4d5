// gemm_cpu.cpp: see gemm_cpu.hpp. oneDNN 2.6 API: matmul::primitive_desc(matmul::desc(src,
// weights, dst), attr, engine); output scales carry alpha, a sum post-op carries beta.
#include "plugin_common/gemm_cpu.hpp"

#include <dnnl.hpp>
#include <string>
#include <unordered_map>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::common {

namespace {

using dims = dnnl::memory::dims;

dnnl::memory::desc operand_desc(int64_t rows, int64_t cols, const MatrixArg& x) {
    // The logical [rows, cols] operand; a transposed one is stored [cols, rows] with x.ld.
    const dims strides = x.op == Op::none ? dims{x.ld, 1} : dims{1, x.ld};
    return dnnl::memory::desc(dims{rows, cols}, dnnl::memory::data_type::f32, strides);
}

// Scales are part of the key: the cache keeps a handful of distinct values in practice
// (alpha = +-1, beta in {0, 1} and the Hessian's running-mean factors), and is trimmed.
std::string key_of(int64_t m, int64_t n, int64_t k, float alpha, const MatrixArg& a,
                   const MatrixArg& b, float beta, int64_t ldc) {
    return std::to_string(m) + ',' + std::to_string(n) + ',' + std::to_string(k) + ',' +
           std::to_string(a.ld) + (a.op == Op::none ? 'n' : 't') + std::to_string(b.ld) +
           (b.op == Op::none ? 'n' : 't') + std::to_string(ldc) + ',' + std::to_string(alpha) +
           ',' + std::to_string(beta);
}

constexpr std::size_t kMaxPrimitives = 512;

}  // namespace

struct CpuGemm::Impl {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    struct Plan {
        dnnl::matmul primitive;
        dnnl::memory::desc a, b, c;
    };
    std::unordered_map<std::string, Plan> plans;

    const Plan& plan(int64_t m, int64_t n, int64_t k, float alpha, const MatrixArg& a,
                     const MatrixArg& b, float beta, int64_t ldc) {
        const std::string key = key_of(m, n, k, alpha, a, b, beta, ldc);
        auto it = plans.find(key);
        if (it != plans.end()) {
            return it->second;
        }
        if (plans.size() >= kMaxPrimitives) {
            plans.clear();
        }
        Plan p;
        p.a = operand_desc(m, k, a);
        p.b = operand_desc(k, n, b);
        p.c = dnnl::memory::desc(dims{m, n}, dnnl::memory::data_type::f32, dims{ldc, 1});
        dnnl::primitive_attr attr;
        if (alpha != 1.0f) {
            attr.set_output_scales(0, {alpha});
        }
        if (beta != 0.0f) {
            dnnl::post_ops ops;
            ops.append_sum(beta);
            attr.set_post_ops(ops);
        }
        const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p.a, p.b, p.c), attr, engine);
        p.primitive = dnnl::matmul(pd);
        return plans.emplace(key, std::move(p)).first->second;
    }
};

CpuGemm::CpuGemm() : impl_(std::make_unique<Impl>()) {}

CpuGemm::~CpuGemm() = default;

void CpuGemm::run(int64_t m, int64_t n, int64_t k, float alpha, const MatrixArg& a,
                  const MatrixArg& b, float beta, float* c, int64_t ldc) {
    if (m <= 0 || n <= 0) {
        return;
    }
    if (k <= 0) {
        // Nothing to add: C = beta * C.
        for (int64_t i = 0; i < m; ++i) {
            for (int64_t j = 0; j < n; ++j) {
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
            }
        }
        return;
    }
    try {
        const Impl::Plan& p = impl_->plan(m, n, k, alpha, a, b, beta, ldc);
        dnnl::memory a_mem(p.a, impl_->engine, const_cast<float*>(a.data));
        dnnl::memory b_mem(p.b, impl_->engine, const_cast<float*>(b.data));
        dnnl::memory c_mem(p.c, impl_->engine, c);
        p.primitive.execute(
            impl_->stream,
            {{DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}});
        impl_->stream.wait();
    } catch (const dnnl::error& e) {
        throw sdk::Error(MC_ERR_INTERNAL, std::string("oneDNN matmul [") + std::to_string(m) + "x" +
                                              std::to_string(k) + "]x[" + std::to_string(k) + "x" +
                                              std::to_string(n) + "] failed: " + e.what());
    }
}

std::size_t CpuGemm::num_primitives() const {
    return impl_->plans.size();
}

}  // namespace mcomp::common
