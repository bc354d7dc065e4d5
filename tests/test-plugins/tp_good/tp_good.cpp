// tp_good: a well-behaved test plugin that exercises the host services, written with the SDK's
// C++ helper. Its techniques are small and exact, so tests can check what came back:
//
//   tp_scale  (pruner, layer, needs inputs): mask = |w| >= threshold, weight = w * mask * scale.
//             expect_tokens >= 0 makes finish_layer check how many calibration rows observe()
//             saw; fail_in = "<function>" makes that function fail with a known message;
//             raise_sigint = true raises SIGINT in begin_layer (a Ctrl-C at a known point)
//             and then honours is_cancelled.
//   tp_quant  (quantizer, layer): asymmetric round-to-nearest per group of group_size columns.
//   tp_block  (quantizer, block): loads and instantiates; process_block is unsupported.
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace {

using mcomp::sdk::Error;
using mcomp::sdk::Host;
using mcomp::sdk::Matrix;
using mcomp::sdk::Params;
using mcomp::sdk::require;

// ---- tp_scale -------------------------------------------------------------------------------

class Scale {
  public:
    Scale(const Host& host, const Params& params)
        : host_(host),
          scale_(params.get_float("scale", 1.0)),
          threshold_(params.get_float("threshold", 0.0)),
          expect_tokens_(params.get_int("expect_tokens", -1)),
          fail_in_(params.get_string("fail_in", "none")),
          raise_sigint_(params.get_bool("raise_sigint", false)) {
        fail_if("create");
        const auto* info = static_cast<const mc_ext_host_info*>(host_.extension(MC_EXT_HOST_INFO));
        require(info != nullptr && info->num_threads >= 1 && info->host_version != nullptr,
                MC_ERR_INTERNAL, "the host lacks mc.host-info/1");
        require(host_.extension("mc.no-such-extension/1") == nullptr, MC_ERR_INTERNAL,
                "the host offered an extension that does not exist");
    }

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
        fail_if("begin_layer");
        if (raise_sigint_) {
            std::raise(SIGINT);
        }
        host_.check_cancelled();
        const Matrix<float> w(weight, "weight");
        require(w.rows() == info.out_features && w.cols() == info.in_features,
                MC_ERR_INVALID_ARGUMENT, "weight shape does not match the layer info");
        weight_ = w.data();
        rows_ = w.rows();
        cols_ = w.cols();
        tokens_ = 0;
        host_.debug(std::string("begin_layer ") + info.name);
    }

    void observe(const mc_tensor_view& src) {
        fail_if("observe");
        const Matrix<float> x(src, "src");
        require(x.cols() == cols_, MC_ERR_INVALID_ARGUMENT, "src has the wrong width");
        tokens_ += x.rows();
        host_.progress(tokens_, tokens_, "tokens");
    }

    void plan_result(mc_layer_result_plan& plan) {
        fail_if("plan_result");
        plan.outputs = MC_RESULT_MASK;
    }

    void finish_layer(mc_layer_result& dst) {
        fail_if("finish_layer");
        if (expect_tokens_ >= 0) {
            require(tokens_ == expect_tokens_, MC_ERR_INVALID_ARGUMENT,
                    "observe saw " + std::to_string(tokens_) + " rows, expected " +
                        std::to_string(expect_tokens_));
        }
        // Host allocations are 256-byte aligned.
        const mcomp::sdk::DeviceBuffer scratch(host_, {MC_DEVICE_CPU, 0}, 100);
        require(reinterpret_cast<std::uintptr_t>(scratch.as<void>()) % 256 == 0, MC_ERR_INTERNAL,
                "host allocation is not 256-byte aligned");
        const Matrix<float> out(dst.weight, "dst.weight");
        const Matrix<uint8_t> mask(dst.mask, "dst.mask");
        for (int64_t i = 0; i < rows_ * cols_; ++i) {
            const bool keep = std::fabs(weight_[i]) >= threshold_;
            mask.data()[i] = keep ? 1 : 0;
            out.data()[i] = keep ? static_cast<float>(weight_[i] * scale_) : 0.0f;
        }
        host_.progress(rows_, rows_, "rows");
    }

  private:
    void fail_if(const char* where) const {
        if (fail_in_ == where) {
            throw Error(MC_ERR_INVALID_ARGUMENT, std::string("asked to fail in ") + where);
        }
    }

    Host host_;
    double scale_ = 1.0;
    double threshold_ = 0.0;
    int64_t expect_tokens_ = -1;
    std::string fail_in_;
    bool raise_sigint_ = false;
    const float* weight_ = nullptr;
    int64_t rows_ = 0;
    int64_t cols_ = 0;
    int64_t tokens_ = 0;
};

// ---- tp_quant -------------------------------------------------------------------------------

class Quant {
  public:
    Quant(const Host& host, const Params& params)
        : host_(host),
          bits_(static_cast<int32_t>(params.get_int("bits", 4))),
          group_size_(static_cast<int32_t>(params.get_int("group_size", 16))) {}

    void begin_layer(const mc_layer_info& /*info*/, const mc_tensor_view& weight) {
        const Matrix<float> w(weight, "weight");
        weight_ = w.data();
        rows_ = w.rows();
        cols_ = w.cols();
    }

    void observe(const mc_tensor_view& /*src*/) {
        throw Error(MC_ERR_INTERNAL, "observe called although tp_quant does not need inputs");
    }

    void plan_result(mc_layer_result_plan& plan) {
        plan.outputs = MC_RESULT_QUANT;
        plan.num_groups = group() >= cols_ ? 1 : (cols_ + group() - 1) / group();
    }

    void finish_layer(mc_layer_result& dst) {
        const Matrix<float> out(dst.weight, "dst.weight");
        const Matrix<uint8_t> codes(dst.codes, "dst.codes");
        const Matrix<float> scales(dst.scales, "dst.scales");
        const Matrix<float> zeros(dst.zeros, "dst.zeros");
        const Matrix<int32_t> g_idx(dst.g_idx, "dst.g_idx");
        const float max_code = static_cast<float>((1 << bits_) - 1);
        for (int64_t c = 0; c < cols_; ++c) {
            g_idx.data()[c] = static_cast<int32_t>(c / group());
        }
        for (int64_t r = 0; r < rows_; ++r) {
            for (int64_t g = 0; g < scales.cols(); ++g) {
                const int64_t begin = g * group();
                const int64_t end = std::min(cols_, begin + group());
                const float* w = weight_ + r * cols_;
                const float lo = std::min(0.0f, *std::min_element(w + begin, w + end));
                const float hi = std::max(0.0f, *std::max_element(w + begin, w + end));
                const float scale = hi > lo ? (hi - lo) / max_code : 1.0f;
                const float zero = std::round(-lo / scale);
                scales.at(r, g) = scale;
                zeros.at(r, g) = zero;
                for (int64_t c = begin; c < end; ++c) {
                    const float q = std::clamp(std::round(w[c] / scale) + zero, 0.0f, max_code);
                    codes.at(r, c) = static_cast<uint8_t>(q);
                    out.at(r, c) = (q - zero) * scale;
                }
            }
        }
        dst.bits = bits_;
        dst.group_size = group_size_;
        dst.sym = 0;
        dst.desc_act = 0;
    }

  private:
    int64_t group() const { return group_size_ <= 0 ? cols_ : group_size_; }

    Host host_;
    int32_t bits_ = 4;
    int32_t group_size_ = 16;
    const float* weight_ = nullptr;
    int64_t rows_ = 0;
    int64_t cols_ = 0;
};

// ---- tp_block: a raw block table --------------------------------------------------------------

struct BlockInstance {
    const mc_host* host;
};

mc_status block_create(const mc_host* host, const mc_params* /*params*/, mc_instance** out) {
    *out = reinterpret_cast<mc_instance*>(new BlockInstance{host});
    return MC_OK;
}
void block_destroy(mc_instance* self) {
    delete reinterpret_cast<BlockInstance*>(self);
}
mc_status block_process(mc_instance* self, const mc_block_info* /*info*/,
                        const mc_block_services* /*services*/) {
    const mc_host* host = reinterpret_cast<BlockInstance*>(self)->host;
    return host->fail(host, MC_ERR_UNSUPPORTED, "tp_block does not process blocks");
}

constexpr mc_layer_technique kScaleTable =
    mcomp::sdk::LayerTechnique<Scale>::make_table(MC_LAYER_NEEDS_INPUTS);
constexpr mc_layer_technique kQuantTable = mcomp::sdk::LayerTechnique<Quant>::make_table(0);
constexpr mc_block_technique kBlockTable = {sizeof(mc_block_technique), 0, &block_create,
                                            &block_destroy, &block_process};

const mc_technique_descriptor kTechniques[] = {
    mcomp::sdk::describe_layer_technique("tp_scale", "scales and thresholds the weight",
                                         MC_KIND_PRUNER, &kScaleTable),
    mcomp::sdk::describe_layer_technique("tp_quant", "round-to-nearest per group",
                                         MC_KIND_QUANTIZER, &kQuantTable),
    {sizeof(mc_technique_descriptor), "tp_block", "a block technique that refuses to run",
     MC_KIND_QUANTIZER, MC_GRANULARITY_BLOCK, nullptr, &kBlockTable, nullptr},
};

}  // namespace

MCOMP_PLUGIN_ENTRY("tp_good", "1.2.3", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), kTechniques)
