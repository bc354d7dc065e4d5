// block_engine.cpp: see block_engine.hpp.
#include "compress/block_engine.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>

#include "compress/layer_select.hpp"
#include "compress/layer_session.hpp"
#include "compress/resources.hpp"
#include "core/host_services.hpp"
#include "model/llama_layout.hpp"
#include "runtime/cpu_backend.hpp"
#if defined(MCOMP_HAVE_CUDA)
#include "runtime/cuda/cuda_backend.hpp"
#endif
#include "runtime/llama_model.hpp"

namespace mcomp::compress {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

std::size_t index_of(LinearId id) {
    return static_cast<std::size_t>(id);
}

Error cancelled_error() {
    return make_error(ErrorKind::cancelled, "cancelled by the user");
}

// The engine's forward backend: the CPU (fp32) or a GPU in the asked dtype.
Expected<std::unique_ptr<Backend>> make_forward_backend(const EngineOptions& options) {
    if (options.forward_device == Device::cpu) {
        if (options.forward_dtype != DType::f32) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("[calibration] dtype = \"{}\" needs device = \"cuda\"; "
                                          "the CPU forward pass is fp32",
                                          options.forward_dtype == DType::f16 ? "f16" : "bf16"));
        }
        return std::unique_ptr<Backend>(std::make_unique<CpuBackend>());
    }
#if defined(MCOMP_HAVE_CUDA)
    CudaBackendOptions cuda;
    cuda.compute_dtype = options.forward_dtype;
    Expected<std::unique_ptr<CudaBackend>> backend = CudaBackend::create(cuda);
    if (!backend) {
        return backend.error();
    }
    spdlog::info("calibration forward on {} ({})", (*backend)->description(),
                 dtype_name(options.forward_dtype));
    return std::unique_ptr<Backend>(std::move(*backend));
#else
    return make_error(ErrorKind::unsupported,
                      "[calibration] device = \"cuda\": this mcomp was built without CUDA");
#endif
}

// `src` (a GPU tensor of the forward dtype) as fp32 on the same GPU.
Tensor widened_on_device(Backend& backend, const Tensor& src) {
#if defined(MCOMP_HAVE_CUDA)
    if (src.dtype() != DType::f32) {
        return static_cast<CudaBackend&>(backend).to_dtype(src, DType::f32);
    }
#else
    (void)backend;
#endif
    return src;
}

// Host fp32 [shape] data as a tensor the backend computes with: borrowed on the CPU, a
// converted device copy on a GPU.
Tensor to_backend(Backend& backend, float* data, std::vector<std::int64_t> shape) {
    if (backend.device() == Device::cpu) {
        return Tensor::view(DType::f32, std::move(shape), data);
    }
#if defined(MCOMP_HAVE_CUDA)
    return static_cast<CudaBackend&>(backend).upload_as(data, std::move(shape),
                                                        backend.compute_dtype());
#else
    return {};
#endif
}

// The calibration activations [samples, seqlen, hidden]: the host fp32 tensor the resume
// points save and load, and the tensor the passes run on — the same memory on the CPU, a
// copy in the forward dtype on a GPU (kept there between blocks: moving 4 GiB per block
// over PCIe would cost more than the block's own passes at 7B scale).
class Activations {
  public:
    Activations(Backend& backend, Tensor& host) : backend_(backend), host_(host) {
        if (host_.defined()) {
            working_ = to_backend(backend_, host_.f32(), host_.shape());
        }
    }

    bool defined() const { return host_.defined(); }
    std::int64_t samples() const { return host_.dim(0); }
    std::int64_t seqlen() const { return host_.dim(1); }
    std::int64_t hidden() const { return host_.dim(2); }
    std::size_t host_bytes() const { return host_.num_bytes(); }
    const Tensor& host() const { return host_; }

    // Sample j as a [1, seqlen, hidden] tensor of the backend.
    Tensor sample(std::int64_t j) const {
        return working_.slice_rows(j * seqlen(), seqlen()).reshaped({1, seqlen(), hidden()});
    }

    // Brings the host tensor up to date (a no-op on the CPU).
    void to_host() {
        if (backend_.device() != Device::cpu) {
            backend_.download(working_, host_.f32());
        }
    }

  private:
    Backend& backend_;
    Tensor& host_;
    Tensor working_;
};

// Feeds each watched linear's input to its session; ends the pass (with an error the
// caller recognises through reached_last) once the group's last linear has seen its input.
class GroupHook final : public LinearHook {
  public:
    explicit GroupHook(Backend& backend) : backend_(backend) {}

    std::array<LayerSession*, kNumLinears> sessions{};
    LinearId last = LinearId::down_proj;
    bool reached_last = false;

    Status on_linear_input(std::int64_t /*block*/, LinearId id, const Tensor& src) override {
        LayerSession* session = sessions[index_of(id)];
        if (session != nullptr) {
            MCOMP_TRY(feed(*session, src));
        }
        if (id == last) {
            reached_last = true;
            return make_error(ErrorKind::cancelled, "the group's inputs are complete");
        }
        return {};
    }

  private:
    // The input where the session wants it: a GPU technique reads a GPU forward's tensor in
    // place (widened to fp32), a CPU technique gets a host copy.
    Status feed(LayerSession& session, const Tensor& src) {
        if (src.device() == Device::cpu) {
            return session.observe(src.f32(), src.rows());
        }
        if (session.on_gpu()) {
            const Tensor wide = widened_on_device(backend_, src);
            backend_.synchronize();  // the technique reads it on a stream of its own
            return session.observe_device(wide.f32(), wide.rows());
        }
        host_copy_.resize(static_cast<std::size_t>(src.numel()));
        backend_.download(src, host_copy_.data());
        return session.observe(host_copy_.data(), src.rows());
    }

    Backend& backend_;
    std::vector<float> host_copy_;
};

// Where a block's time goes (debug log), for finding the slow part of a large run.
struct BlockTimes {
    double begin = 0.0;   // technique instances created, weights handed over
    double passes = 0.0;  // calibration passes feeding observe()
    double finish = 0.0;  // the techniques' finish_layer, results copied back
    double store = 0.0;   // results folded into the records, weights replaced
};

// One block through every stage.
class BlockRunner {
  public:
    BlockRunner(LlamaModel& model, const Checkpoint& checkpoint, std::vector<EngineStage>& stages,
                const EngineOptions& options, Activations& activations, Progress& progress,
                std::int64_t block)
        : model_(model),
          checkpoint_(checkpoint),
          stages_(stages),
          options_(options),
          activations_(activations),
          progress_(progress),
          block_(block) {}

    Status run(BlockWeights& weights) {
        for (std::size_t s = 0; s < stages_.size(); ++s) {
            const auto start = Clock::now();
            MCOMP_TRY(run_stage(static_cast<int>(s), weights));
            stages_[s].seconds += seconds_since(start);
        }
        return {};
    }

    const BlockTimes& times() const { return times_; }

    std::vector<CompressedLinear> take_records() {
        std::vector<CompressedLinear> out;
        for (std::optional<CompressedLinear>& record : records_) {
            if (record) {
                out.push_back(std::move(*record));
            }
        }
        return out;
    }

  private:
    Status run_stage(int stage_index, BlockWeights& weights) {
        static const std::vector<std::vector<LinearId>> kAllAtOnce = {
            {kAllLinears.begin(), kAllLinears.end()}};
        const auto& groups = options_.true_sequential ? sequential_groups() : kAllAtOnce;
        const EngineStage& stage = stages_[static_cast<std::size_t>(stage_index)];
        for (const std::vector<LinearId>& group : groups) {
            std::vector<LinearId> selected;
            for (const LinearId id : group) {
                if (layer_selected(stage.include, stage.exclude, linear_prefix(block_, id))) {
                    selected.push_back(id);
                }
            }
            if (!selected.empty()) {
                MCOMP_TRY(run_group(stage_index, selected, weights));
            }
        }
        return {};
    }

    Status run_group(int stage_index, const std::vector<LinearId>& ids, BlockWeights& weights) {
        if (cancel_requested()) {
            return cancelled_error();
        }
        EngineStage& stage = stages_[static_cast<std::size_t>(stage_index)];
        std::vector<std::unique_ptr<LayerSession>> sessions;
        GroupHook hook(model_.backend());
        auto mark = Clock::now();
        const auto lap = [&mark](double& total) {
            const auto now = Clock::now();
            total += std::chrono::duration<double>(now - mark).count();
            mark = now;
        };
        hook.last = ids.back();  // groups list their linears in the order the block runs them
        for (const LinearId id : ids) {
            Expected<std::unique_ptr<LayerSession>> session =
                LayerSession::create(stage.technique, stage.params);
            if (!session) {
                return session.error();
            }
            const Tensor& weight = weights.linear(id).weight;
            if ((*session)->on_gpu() && weight_exact_on_device(id, weight)) {
                Tensor& wide = device_staged_[index_of(id)];
                wide = widened_on_device(model_.backend(), weight);
                model_.backend().synchronize();  // the technique reads it on its own stream
                MCOMP_TRY((*session)->begin_device(linear_prefix(block_, id),
                                                   static_cast<std::int32_t>(block_), weight.dim(0),
                                                   weight.dim(1), wide.f32()));
            } else {
                MCOMP_TRY((*session)->begin(linear_prefix(block_, id),
                                            static_cast<std::int32_t>(block_), weight.dim(0),
                                            weight.dim(1), host_weight(id, weights)));
            }
            hook.sessions[index_of(id)] = session->get();
            sessions.push_back(std::move(*session));
        }
        lap(times_.begin);
        if (stage.needs_inputs) {
            MCOMP_TRY(observe_pass(weights, hook, group_label(stage, ids)));
        }
        lap(times_.passes);
        for (std::size_t k = 0; k < ids.size(); ++k) {
            // The record's weight is rebuilt from the codes (fp16 scales) unless the
            // technique's own weight goes downstream or the output is dense.
            const WeightPolicy& policy = options_.policy;
            const bool quantized_weight =
                !policy.scale_dtype.has_value() || policy.technique_weights_downstream;
            Expected<LayerResult> result = sessions[k]->finish(quantized_weight);
            if (!result) {
                return result.error();
            }
            sessions[k].reset();
            staged_[index_of(ids[k])] = std::vector<float>();
            device_staged_[index_of(ids[k])] = Tensor();
            lap(times_.finish);
            MCOMP_TRY(store(stage_index, ids[k], std::move(*result), weights));
            lap(times_.store);
            ++stage.layers;
        }
        stage.peak_rss_bytes = std::max(stage.peak_rss_bytes, current_rss_bytes());
        spdlog::debug("{}: resident set {} MiB", group_label(stage, ids),
                      current_rss_bytes() >> 20);
        return {};
    }

    std::string group_label(const EngineStage& stage, const std::vector<LinearId>& ids) const {
        std::string names;
        for (const LinearId id : ids) {
            if (!names.empty()) {
                names += '/';
            }
            names += linear_name(id);
        }
        return fmt::format("block {} {} {}", block_, stage.use, names);
    }

    // Whether the block's device weight of `id` widened to fp32 is exactly the layer's
    // weight: no earlier stage replaced it, and the forward dtype holds the checkpoint's
    // values (fp32, or the checkpoint's own dtype).
    bool weight_exact_on_device(LinearId id, const Tensor& weight) const {
        if (weight.device() == Device::cpu || records_[index_of(id)].has_value()) {
            return false;
        }
        const TensorView& view = *checkpoint_.find(linear_prefix(block_, id) + ".weight");
        return weight.dtype() == DType::f32 || weight.dtype() == view.dtype;
    }

    // The layer's current weight as host fp32 for begin(): what an earlier stage made of it,
    // else the block's weight (host memory on the CPU; widened from the checkpoint when the
    // block lives on a GPU).
    std::span<const float> host_weight(LinearId id, const BlockWeights& weights) {
        if (const std::optional<CompressedLinear>& record = records_[index_of(id)]) {
            return record->weight;
        }
        const Tensor& weight = weights.linear(id).weight;
        if (weight.device() == Device::cpu) {
            return {weight.f32(), static_cast<std::size_t>(weight.numel())};
        }
        // Checkpoint::open verified every name the config implies.
        const TensorView& view = *checkpoint_.find(linear_prefix(block_, id) + ".weight");
        std::vector<float>& staged = staged_[index_of(id)];
        staged.resize(static_cast<std::size_t>(view.numel()));
        convert_to_f32(view.dtype, view.data, staged.size(), staged.data());
        return staged;
    }

    // The block forward over every calibration sample, feeding the hook.
    Status observe_pass(const BlockWeights& weights, GroupHook& hook, const std::string& label) {
        const std::int64_t samples = activations_.samples();
        Tensor scratch = model_.backend().alloc(model_.backend().compute_dtype(),
                                                {1, activations_.seqlen(), activations_.hidden()});
        for (std::int64_t j = 0; j < samples; ++j) {
            if (cancel_requested()) {
                return cancelled_error();
            }
            hook.reached_last = false;
            const Status status =
                model_.run_block(block_, activations_.sample(j), scratch, weights, &hook);
            if (!status && !hook.reached_last) {
                return status;
            }
            progress_.update(block_, fmt::format("{} sample {}/{}", label, j + 1, samples));
        }
        return {};
    }

    // Folds the result into the layer's record and points the block's weight at it.
    Status store(int stage_index, LinearId id, LayerResult result, BlockWeights& weights) {
        std::optional<CompressedLinear>& record = records_[index_of(id)];
        LinearWeights& linear = weights.linear(id);
        if (!record) {
            record.emplace();
            record->prefix = linear_prefix(block_, id);
            record->block = block_;
            record->id = id;
            record->out_features = linear.weight.dim(0);
            record->in_features = linear.weight.dim(1);
        }
        MCOMP_TRY(apply_layer_result(*record, std::move(result), stage_index, options_.policy));
        linear.weight = to_backend(model_.backend(), record->weight.data(),
                                   {record->out_features, record->in_features});
        return {};
    }

    LlamaModel& model_;
    const Checkpoint& checkpoint_;
    std::vector<EngineStage>& stages_;
    const EngineOptions& options_;
    Activations& activations_;
    Progress& progress_;
    std::int64_t block_ = 0;
    std::array<std::optional<CompressedLinear>, kNumLinears> records_;
    std::array<std::vector<float>, kNumLinears> staged_;  // host weights of a GPU block
    std::array<Tensor, kNumLinears> device_staged_;       // fp32 device weights handed over
    BlockTimes times_;
};

// The block's tensors in the checkpoint.
std::vector<const TensorView*> block_views(const Checkpoint& checkpoint, std::int64_t block) {
    std::vector<std::string> names = {input_norm_name(block), post_attn_norm_name(block)};
    for (const LinearId id : kAllLinears) {
        names.push_back(linear_prefix(block, id) + ".weight");
        names.push_back(linear_prefix(block, id) + ".bias");
    }
    std::vector<const TensorView*> views;
    for (const std::string& name : names) {
        if (const TensorView* view = checkpoint.find(name)) {
            views.push_back(view);
        }
    }
    return views;
}

// Gives the block's source pages back to the kernel (file mappings only).
void drop_block_pages(const Checkpoint& checkpoint, std::int64_t block) {
    for (const TensorView* view : block_views(checkpoint, block)) {
        drop_mapped_pages(view->data, view->num_bytes);
    }
}

// Starts reading the block's source pages in the background (file mappings only).
void prefetch_block_pages(const Checkpoint& checkpoint, std::int64_t block) {
    if (block >= checkpoint.config().num_hidden_layers) {
        return;
    }
    for (const TensorView* view : block_views(checkpoint, block)) {
        prefetch_mapped_pages(view->data, view->num_bytes);
    }
}

// X = block(X), one sample at a time, in place.
Status forward_block(LlamaModel& model, std::int64_t block, const BlockWeights& weights,
                     Activations& activations) {
    for (std::int64_t j = 0; j < activations.samples(); ++j) {
        if (cancel_requested()) {
            return cancelled_error();
        }
        Tensor x = activations.sample(j);
        MCOMP_TRY(model.run_block(block, x, x, weights));
    }
    return {};
}

}  // namespace

const std::vector<std::vector<LinearId>>& sequential_groups() {
    static const std::vector<std::vector<LinearId>> groups = {
        {LinearId::q_proj, LinearId::k_proj, LinearId::v_proj},
        {LinearId::o_proj},
        {LinearId::gate_proj, LinearId::up_proj},
        {LinearId::down_proj}};
    return groups;
}

Expected<Tensor> embed_calibration(const Checkpoint& checkpoint,
                                   const CalibrationSet& calibration) {
    const ModelConfig& cfg = checkpoint.config();
    const TensorView& table = checkpoint.embed_tokens();
    const std::int64_t hidden = cfg.hidden_size;
    const std::size_t row_bytes = static_cast<std::size_t>(hidden) * dtype_size(table.dtype);
    Tensor dst = Tensor::empty_cpu(DType::f32, {calibration.samples, calibration.seqlen, hidden});
    for (std::size_t i = 0; i < calibration.tokens.size(); ++i) {
        const std::int32_t token = calibration.tokens[i];
        if (token < 0 || token >= cfg.vocab_size) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("calibration token id {} is outside the vocabulary of "
                                          "{}; the tokenizer does not belong to this model",
                                          token, cfg.vocab_size));
        }
        const std::byte* row = table.data + static_cast<std::size_t>(token) * row_bytes;
        convert_to_f32(table.dtype, row, static_cast<std::size_t>(hidden),
                       dst.f32() + static_cast<std::int64_t>(i) * hidden);
    }
    return dst;
}

namespace {

// When the last resume point was saved, and what saving one costs. Resume points between
// large blocks are spaced so that saving them takes at most 1/20 of the run (one guess of
// 1 GB/s until a save was timed).
struct ResumeClock {
    Clock::time_point last_save = Clock::now();
    double save_seconds = -1.0;

    bool due(std::size_t bytes, const EngineOptions& options) const {
        if (bytes <= options.resume_point_bytes) {
            return true;
        }
        const double cost = save_seconds >= 0.0 ? save_seconds : static_cast<double>(bytes) / 1e9;
        return seconds_since(last_save) >= std::max(options.resume_point_seconds, 20.0 * cost);
    }
};

// Block `block` through every stage, its outputs into `activations`, committed to `work`.
// Everything the block held is released when this returns.
Status compress_block(LlamaModel& model, const Checkpoint& checkpoint, std::int64_t block,
                      std::vector<EngineStage>& stages, const EngineOptions& options,
                      Activations& activations, WorkDir& work, Progress& progress,
                      double& forward_seconds, ResumeClock& resume) {
    const auto load_start = Clock::now();
    Expected<BlockWeights> weights = model.load_block(block);
    if (!weights) {
        return weights.error();
    }
    const double load_seconds = seconds_since(load_start);
    if (options.source_mapped) {
        prefetch_block_pages(checkpoint, block + 1);
    }
    if (options.source_mapped && checkpoint.embed_tokens().dtype != DType::f32) {
        // 16-bit weights were widened into memory of the backend's own: the mapped pages
        // are not read again.
        drop_block_pages(checkpoint, block);
    }
    spdlog::debug("block {} loaded: resident set {} MiB", block, current_rss_bytes() >> 20);
    BlockRunner runner(model, checkpoint, stages, options, activations, progress, block);
    MCOMP_TRY(runner.run(*weights));
    const bool calibrated = activations.defined();
    const bool last = block + 1 == checkpoint.config().num_hidden_layers;
    const auto forward_start = Clock::now();
    if (calibrated && !last) {
        MCOMP_TRY(forward_block(model, block, *weights, activations));
        model.backend().synchronize();
        forward_seconds += seconds_since(forward_start);
    }
    const double block_forward_seconds = seconds_since(forward_start);
    const auto commit_start = Clock::now();
    if (cancel_requested()) {
        return cancelled_error();
    }
    const std::vector<CompressedLinear> records = runner.take_records();
    // Totals so far travel with the state, so a resumed run reports the whole work.
    nlohmann::json totals = nlohmann::json::array();
    for (const EngineStage& stage : stages) {
        totals.push_back({{"seconds", stage.seconds},
                          {"layers", stage.layers},
                          {"peak_rss_bytes", stage.peak_rss_bytes}});
    }
    work.notes()["stages"] = totals;
    work.notes()["forward_seconds"] = forward_seconds;
    const bool carries = calibrated && !last;  // the next block needs these activations
    const bool save = carries && resume.due(activations.host_bytes(), options);
    if (save) {
        activations.to_host();
    }
    MCOMP_TRY(
        work.commit_block(block, records, save ? &activations.host() : nullptr, !carries || save));
    if (save) {
        resume.save_seconds = seconds_since(commit_start);
        resume.last_save = Clock::now();
    }
    const BlockTimes& times = runner.times();
    spdlog::info(
        "block {} committed ({} compressed linears): resident set {} MiB; load {:.2f} "
        "s, begin {:.2f} s, passes {:.2f} s, finish {:.2f} s, store {:.2f} s, forward "
        "{:.2f} s, commit {:.2f} s{}",
        block, records.size(), current_rss_bytes() >> 20, load_seconds, times.begin, times.passes,
        times.finish, times.store, block_forward_seconds, seconds_since(commit_start),
        save ? " (resume point)" : "");
    return {};
}

}  // namespace

Status run_blocks(const Checkpoint& checkpoint, std::vector<EngineStage>& stages,
                  const EngineOptions& options, Tensor& activations, WorkDir& work,
                  Progress& progress, double& forward_seconds) {
    const std::int64_t num_blocks = checkpoint.config().num_hidden_layers;
    for (const EngineStage& stage : stages) {
        if (stage.needs_inputs && !activations.defined()) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("technique '{}' needs calibration inputs; add a "
                                          "[calibration] table to the pipeline",
                                          stage.use));
        }
    }
    prefer_mmap_for_large_buffers();
    Expected<std::unique_ptr<Backend>> backend = make_forward_backend(options);
    if (!backend) {
        return backend.error();
    }
    try {
        LlamaModel model(checkpoint, **backend);
        Activations working(**backend, activations);
        ResumeClock resume;
        const std::int64_t first = work.next_block();
        progress.start("compress", num_blocks);
        progress.update(first, "");
        const auto start = Clock::now();
        for (std::int64_t block = first; block < num_blocks; ++block) {
            MCOMP_TRY(compress_block(model, checkpoint, block, stages, options, working, work,
                                     progress, forward_seconds, resume));
            if (options.source_mapped) {
                drop_block_pages(checkpoint, block);
            }
            release_free_heap();
            progress.update(block + 1, fmt::format("block {} done", block));
        }
        progress.finish(
            fmt::format("{} block(s) in {:.1f} s", num_blocks - first, seconds_since(start)));
    } catch (const std::exception& e) {  // the CUDA backend throws on a faulted device
        return make_error(ErrorKind::internal,
                          fmt::format("the calibration forward pass on {} failed: {}",
                                      device_name(options.forward_device), e.what()));
    }
    return {};
}

}  // namespace mcomp::compress
