// probe.cpp: the `probe` test technique (see plugin.toml). finish_layer() writes
//   weight = scale · W, then weight[0, 0] = Σ of every input value observed (double, rounded
//   once), weight[0, 1] = observe() calls, weight[0, 2] = input rows (tokens) observed,
// so a test can recompute the inputs the engine should have fed and compare (stats = false
// leaves them out). With mask, the weights of input column 3 are pruned (and a mask
// returned).
#include <chrono>
#include <cstdint>
#include <thread>

#include "mcomp/cpp/plugin.hpp"

namespace probe {

using mcomp::sdk::Host;
using mcomp::sdk::Matrix;
using mcomp::sdk::Params;
using mcomp::sdk::require;

class Probe {
  public:
    Probe(const Host& host, const Params& params)
        : host_(host),
          scale_(static_cast<float>(params.get_float("scale", 0.5))),
          delay_ms_(params.get_int("delay_ms", 0)),
          mask_(params.get_bool("mask", false)),
          stats_(params.get_bool("stats", true)) {}

    void begin_layer(const mc_layer_info& info, const mc_tensor_view& weight) {
        const Matrix<float> matrix(weight, "probe: weight");
        require(matrix.rows() == info.out_features && matrix.cols() == info.in_features,
                MC_ERR_INVALID_ARGUMENT, "probe: weight shape does not match the layer info");
        weight_ = matrix.data();
        rows_ = matrix.rows();
        cols_ = matrix.cols();
        sum_ = 0.0;
        batches_ = 0;
        tokens_ = 0;
    }

    void observe(const mc_tensor_view& src) {
        const Matrix<float> batch(src, "probe: src");
        require(batch.cols() == cols_, MC_ERR_INVALID_ARGUMENT, "probe: src width");
        for (int64_t i = 0; i < batch.rows() * batch.cols(); ++i) {
            sum_ += batch.data()[i];
        }
        ++batches_;
        tokens_ += batch.rows();
    }

    void plan_result(mc_layer_result_plan& plan) {
        plan.outputs = mask_ ? static_cast<uint32_t>(MC_RESULT_MASK) : 0u;
        plan.num_groups = 0;
    }

    void finish_layer(mc_layer_result& dst) {
        if (delay_ms_ > 0) {
            std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
        }
        const Matrix<float> out(dst.weight, "probe: result weight");
        for (int64_t i = 0; i < rows_ * cols_; ++i) {
            out.data()[i] = scale_ * weight_[i];
        }
        if (mask_) {
            const Matrix<uint8_t> mask(dst.mask, "probe: mask");
            for (int64_t r = 0; r < rows_; ++r) {
                for (int64_t c = 0; c < cols_; ++c) {
                    mask.at(r, c) = c == 3 ? 0 : 1;
                    if (c == 3) {
                        out.at(r, c) = 0.0f;
                    }
                }
            }
        }
        if (stats_) {
            out.at(0, 0) = static_cast<float>(sum_);
            out.at(0, 1) = static_cast<float>(batches_);
            out.at(0, 2) = static_cast<float>(tokens_);
        }
    }

  private:
    Host host_;
    float scale_ = 0.5f;
    int64_t delay_ms_ = 0;
    bool mask_ = false;
    bool stats_ = true;
    const float* weight_ = nullptr;
    int64_t rows_ = 0;
    int64_t cols_ = 0;
    double sum_ = 0.0;
    int64_t batches_ = 0;
    int64_t tokens_ = 0;
};

constexpr mc_layer_technique kTable =
    mcomp::sdk::LayerTechnique<Probe>::make_table(MC_LAYER_NEEDS_INPUTS);

constexpr mc_technique_descriptor kTechniques[] = {mcomp::sdk::describe_layer_technique(
    "probe", "Test only: weight * scale, with the input sum, batch count and token count in row 0",
    MC_KIND_PRUNER, &kTable)};

}  // namespace probe

MCOMP_PLUGIN_ENTRY("probe", "1.0.0", MC_DEVICE_CPU, MC_ABI_MAKE(1, 0), probe::kTechniques)
