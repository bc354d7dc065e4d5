// layer_session.hpp: a layer-granularity technique (layer.h) driven one call at a time, so
// the engine can feed observe() one calibration sample at a time straight from a block's
// forward pass (as the reference scripts call add_batch() from a forward hook) instead of
// collecting every input first. Same contract and checks as core/layer_runner.hpp, whose
// LayerResult it returns; one session is one technique instance compressing one layer, so
// the linears that share an input (q/k/v, gate/up) each get a session and see the same
// batches.
//
//   auto session = LayerSession::create(technique, params);
//   session->begin(info, weight);           // weight borrowed until finish() returns
//   session->observe(sample, tokens) ...    // when needs_inputs()
//   auto result = session->finish();        // plan_result + finish_layer, copied back
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/layer_runner.hpp"
#include "core/loader.hpp"
#include "core/params.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

class LayerSession {
  public:
    // create(): the technique must have layer granularity.
    static Expected<std::unique_ptr<LayerSession>> create(const LoadedTechnique& technique,
                                                          const OwnedParams& params);
    ~LayerSession();  // releases device copies and calls destroy()
    LayerSession(const LayerSession&) = delete;
    LayerSession& operator=(const LayerSession&) = delete;

    bool needs_inputs() const;

    // begin_layer. `weight` is [out, in] row-major host memory; it must stay valid and
    // unchanged until finish() returns.
    Status begin(const std::string& name, std::int32_t block_index, std::int64_t out_features,
                 std::int64_t in_features, std::span<const float> weight);

    // begin() with the fp32 weight already in the memory of the session's GPU (borrowed, no
    // copy; every write to it must have completed). Only for a session on_gpu().
    Status begin_device(const std::string& name, std::int32_t block_index,
                        std::int64_t out_features, std::int64_t in_features,
                        const float* device_weight);

    // observe() with src [tokens, in_features], host memory, borrowed for the call.
    Status observe(const float* src, std::int64_t tokens);

    // Whether the technique runs on a GPU (its views hold device memory).
    bool on_gpu() const;

    // observe() with src [tokens, in_features] fp32 already in the memory of the session's
    // GPU (the engine's CUDA forward pass), borrowed for the call; every write to it must
    // have completed. No copy is made. Only for a session on_gpu().
    Status observe_device(const float* src, std::int64_t tokens);

    // plan_result + finish_layer; the results in host memory. Without `quantized_weight` a
    // quantized result comes without its fp32 weight (when the engine rebuilds the weight
    // from the codes anyway, copying it back would only cost time).
    Expected<LayerResult> finish(bool quantized_weight = true);

  private:
    struct DeviceCopy;
    Status begin_view(const std::string& name, std::int32_t block_index, std::int64_t out_features,
                      std::int64_t in_features, void* data);

    explicit LayerSession(const LoadedTechnique& technique);

    LoadedTechnique technique_;
    std::string label_;
    std::unique_ptr<HostServices> host_;
    mc_layer_technique table_ = {};
    mc_instance* instance_ = nullptr;

    std::string name_;
    std::int32_t block_index_ = 0;
    std::int64_t out_features_ = 0;
    std::int64_t in_features_ = 0;
    bool begun_ = false;
    std::unique_ptr<DeviceCopy> weight_copy_;  // a CUDA backend's copy of the weight
    std::unique_ptr<DeviceCopy> batch_copy_;   // and of the current batch
};

}  // namespace mcomp::compress
