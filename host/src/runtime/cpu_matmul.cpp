// cpu_matmul.cpp: see cpu_matmul.hpp. oneDNN 2.6 API: matmul::primitive_desc(matmul::desc(
// src, weights, bias, dst), engine).
#include "runtime/cpu_matmul.hpp"

#include <dnnl.hpp>
#include <mutex>
#include <string>
#include <unordered_map>

namespace mcomp {

namespace {

using dt = dnnl::memory::data_type;

dnnl::memory::desc make_desc(const MatmulOperand& operand) {
    return dnnl::memory::desc(dnnl::memory::dims(operand.dims.begin(), operand.dims.end()), dt::f32,
                              dnnl::memory::dims(operand.strides.begin(), operand.strides.end()));
}

void append_key(std::string& key, const MatmulOperand& operand) {
    for (const std::int64_t d : operand.dims) {
        key += std::to_string(d) + ',';
    }
    key += '/';
    for (const std::int64_t s : operand.strides) {
        key += std::to_string(s) + ',';
    }
    key += '|';
}

}  // namespace

struct CpuMatmul::Impl {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    dnnl::stream stream{engine};
    std::mutex mutex;
    std::unordered_map<std::string, dnnl::matmul> primitives;
    std::string last_impl;
};

CpuMatmul::CpuMatmul() : impl_(std::make_unique<Impl>()) {}

CpuMatmul::~CpuMatmul() = default;

void CpuMatmul::run(const MatmulOperand& src_desc, const float* src,
                    const MatmulOperand& weights_desc, const float* weights,
                    const MatmulOperand& bias_desc, const float* bias,
                    const MatmulOperand& dst_desc, float* dst) {
    std::string key;
    append_key(key, src_desc);
    append_key(key, weights_desc);
    if (bias != nullptr) {
        append_key(key, bias_desc);
    }
    append_key(key, dst_desc);

    const std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->primitives.find(key);
    if (it == impl_->primitives.end()) {
        const dnnl::memory::desc src_md = make_desc(src_desc);
        const dnnl::memory::desc weights_md = make_desc(weights_desc);
        const dnnl::memory::desc dst_md = make_desc(dst_desc);
        const dnnl::matmul::desc op =
            bias != nullptr ? dnnl::matmul::desc(src_md, weights_md, make_desc(bias_desc), dst_md)
                            : dnnl::matmul::desc(src_md, weights_md, dst_md);
        const dnnl::matmul::primitive_desc pd(op, impl_->engine);
        impl_->last_impl = pd.impl_info_str();
        it = impl_->primitives.emplace(key, dnnl::matmul(pd)).first;
    }
    const auto memory = [&](const MatmulOperand& operand, const float* data) {
        return dnnl::memory(make_desc(operand), impl_->engine, const_cast<float*>(data));
    };
    std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, memory(src_desc, src)},
                                                  {DNNL_ARG_WEIGHTS, memory(weights_desc, weights)},
                                                  {DNNL_ARG_DST, memory(dst_desc, dst)}};
    if (bias != nullptr) {
        args.emplace(DNNL_ARG_BIAS, memory(bias_desc, bias));
    }
    it->second.execute(impl_->stream, args);
    impl_->stream.wait();
}

void CpuMatmul::linear(const float* src, std::int64_t rows, std::int64_t in, const float* weight,
                       std::int64_t out, const float* bias, float* dst) {
    // The weight is stored [out, in]; read as the [in, out] matrix with strides {1, in}.
    run({{rows, in}, {in, 1}}, src, {{in, out}, {1, in}}, weight, {{1, out}, {out, 1}}, bias,
        {{rows, out}, {out, 1}}, dst);
}

const char* CpuMatmul::last_impl() const {
    return impl_->last_impl.c_str();
}

std::size_t CpuMatmul::num_primitives() const {
    return impl_->primitives.size();
}

}  // namespace mcomp
