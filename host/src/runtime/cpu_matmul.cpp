// cpu_matmul.cpp: see cpu_matmul.hpp. oneDNN 2.6 API: matmul::primitive_desc(matmul::desc(
// src, weights, bias, dst), attr, engine). Scratchpads are user-managed so that threads
// never share one.
#include "runtime/cpu_matmul.hpp"

#include <omp.h>

#include <algorithm>
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

// Per-thread execution state: oneDNN streams are not shared between threads.
struct ThreadSlot {
    std::unique_ptr<dnnl::stream> stream;
    std::vector<std::byte> scratchpad;
};

}  // namespace

struct MatmulPlan {
    dnnl::matmul primitive;
    dnnl::memory::desc src, weights, bias, dst, scratchpad;
    bool has_bias = false;
};

struct CpuMatmul::Impl {
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    std::mutex mutex;
    std::unordered_map<std::string, std::unique_ptr<MatmulPlan>> plans;
    std::vector<ThreadSlot> slots = std::vector<ThreadSlot>(
        static_cast<std::size_t>(std::max(omp_get_max_threads(), omp_get_num_procs())));
    std::string last_impl;
};

CpuMatmul::CpuMatmul() : impl_(std::make_unique<Impl>()) {}

CpuMatmul::~CpuMatmul() = default;

const MatmulPlan* CpuMatmul::plan(const MatmulOperand& src_desc, const MatmulOperand& weights_desc,
                                  const MatmulOperand& bias_desc, const MatmulOperand& dst_desc) {
    const bool has_bias = !bias_desc.dims.empty();
    std::string key;
    append_key(key, src_desc);
    append_key(key, weights_desc);
    if (has_bias) {
        append_key(key, bias_desc);
    }
    append_key(key, dst_desc);

    const std::lock_guard<std::mutex> lock(impl_->mutex);
    auto it = impl_->plans.find(key);
    if (it != impl_->plans.end()) {
        return it->second.get();
    }
    auto plan = std::make_unique<MatmulPlan>();
    plan->src = make_desc(src_desc);
    plan->weights = make_desc(weights_desc);
    plan->dst = make_desc(dst_desc);
    plan->has_bias = has_bias;
    if (has_bias) {
        plan->bias = make_desc(bias_desc);
    }
    const dnnl::matmul::desc op =
        has_bias ? dnnl::matmul::desc(plan->src, plan->weights, plan->bias, plan->dst)
                 : dnnl::matmul::desc(plan->src, plan->weights, plan->dst);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    const dnnl::matmul::primitive_desc pd(op, attr, impl_->engine);
    plan->scratchpad = pd.scratchpad_desc();
    plan->primitive = dnnl::matmul(pd);
    impl_->last_impl = pd.impl_info_str();
    return impl_->plans.emplace(key, std::move(plan)).first->second.get();
}

void CpuMatmul::execute(const MatmulPlan* plan, const float* src, const float* weights,
                        const float* bias, float* dst) {
    // Outside a parallel region thread 0; inside, each thread its own slot.
    const std::size_t thread = static_cast<std::size_t>(omp_get_thread_num());
    ThreadSlot& slot = impl_->slots.at(thread);
    if (!slot.stream) {
        slot.stream = std::make_unique<dnnl::stream>(impl_->engine);
    }
    const std::size_t scratch_bytes = plan->scratchpad.get_size();
    if (slot.scratchpad.size() < scratch_bytes) {
        slot.scratchpad.resize(scratch_bytes);
    }
    const auto memory = [&](const dnnl::memory::desc& desc, const void* data) {
        return dnnl::memory(desc, impl_->engine, const_cast<void*>(data));
    };
    std::unordered_map<int, dnnl::memory> args = {
        {DNNL_ARG_SRC, memory(plan->src, src)},
        {DNNL_ARG_WEIGHTS, memory(plan->weights, weights)},
        {DNNL_ARG_DST, memory(plan->dst, dst)},
        {DNNL_ARG_SCRATCHPAD, memory(plan->scratchpad, slot.scratchpad.data())}};
    if (plan->has_bias) {
        args.emplace(DNNL_ARG_BIAS, memory(plan->bias, bias));
    }
    plan->primitive.execute(*slot.stream, args);
    slot.stream->wait();
}

void CpuMatmul::run(const MatmulOperand& src_desc, const float* src,
                    const MatmulOperand& weights_desc, const float* weights,
                    const MatmulOperand& bias_desc, const float* bias,
                    const MatmulOperand& dst_desc, float* dst) {
    execute(plan(src_desc, weights_desc, bias_desc, dst_desc), src, weights, bias, dst);
}

void CpuMatmul::linear(const float* src, std::int64_t rows, std::int64_t in, const float* weight,
                       std::int64_t out, const float* bias, float* dst) {
    // The weight is stored [out, in]; read as the [in, out] matrix with strides {1, in}.
    const MatmulOperand bias_desc =
        bias != nullptr ? MatmulOperand{{1, out}, {out, 1}} : MatmulOperand{};
    run({{rows, in}, {in, 1}}, src, {{in, out}, {1, in}}, weight, bias_desc, bias,
        {{rows, out}, {out, 1}}, dst);
}

const char* CpuMatmul::last_impl() const {
    return impl_->last_impl.c_str();
}

std::size_t CpuMatmul::num_primitives() const {
    return impl_->plans.size();
}

}  // namespace mcomp
