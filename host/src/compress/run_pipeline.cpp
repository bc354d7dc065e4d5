// run_pipeline.cpp: see run_pipeline.hpp.
#include "compress/run_pipeline.hpp"

#include <openssl/evp.h>
#include <sys/stat.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <chrono>
#include <filesystem>

#include "compress/block_engine.hpp"
#include "compress/calibration_set.hpp"
#include "compress/evaluate.hpp"
#include "compress/fs_atomic.hpp"
#include "compress/model_reader.hpp"
#include "compress/output_writer.hpp"
#include "compress/report.hpp"
#include "compress/resources.hpp"
#include "compress/work_dir.hpp"
#include "core/host_services.hpp"
#include "model/hub.hpp"
#include "tokenizer/tokenizer.hpp"
#include "util/strings.hpp"

namespace mcomp::compress {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::string sha256_hex(std::string_view text) {
    unsigned char digest[EVP_MAX_MD_SIZE] = {};
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest, &length, EVP_sha256(), nullptr);
    std::string hex;
    for (unsigned int i = 0; i < length; ++i) {
        hex += fmt::format("{:02x}", digest[i]);
    }
    return hex;
}

Expected<DType> parse_dense_dtype(std::string_view name) {
    if (name == "f32" || name == "float32" || name == "fp32") {
        return DType::f32;
    }
    if (name == "f16" || name == "float16" || name == "fp16") {
        return DType::f16;
    }
    if (name == "bf16" || name == "bfloat16") {
        return DType::bf16;
    }
    return make_error(ErrorKind::bad_input,
                      fmt::format("unknown dtype '{}'; expected f32, f16 or bf16", name));
}

namespace {

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

json param_json(const ParamValue& value) {
    return std::visit([](const auto& v) { return json(v); }, value);
}

json params_json(const OwnedParams& params) {
    json out = json::object();
    for (const auto& [name, value] : params.values()) {
        out[name] = param_json(value);
    }
    return out;
}

// "size:mtime" of a file, so an edited model or plugin changes the pipeline hash.
std::string file_stamp(const fs::path& path) {
    struct stat info = {};
    if (::stat(path.c_str(), &info) != 0) {
        return "missing";
    }
    return fmt::format("{}:{}.{}", info.st_size, info.st_mtim.tv_sec, info.st_mtim.tv_nsec);
}

// Everything a run and its output depend on, for the resume check.
std::string pipeline_fingerprint(const Pipeline& pipeline, const std::string& model_dir,
                                 const std::vector<EngineStage>& stages, const RunOptions& options,
                                 const std::vector<OutputFormat>& formats, DType dense_dtype) {
    json facts;
    std::string text;
    read_file(pipeline.path.string(), text);
    facts["pipeline"] = text;
    facts["mcomp"] = MCOMP_VERSION_STRING;
    facts["model_dir"] = fs::absolute(model_dir).lexically_normal().string();
    std::error_code ec;
    for (const fs::directory_entry& entry : fs::directory_iterator(model_dir, ec)) {
        facts["model_files"][entry.path().filename().string()] = file_stamp(entry.path());
    }
    for (const EngineStage& stage : stages) {
        facts["stages"].push_back({stage.use, stage.technique.plugin_id(),
                                   stage.technique.backend->manifest().version,
                                   std::string(device_kind_name(stage.technique.device())),
                                   file_stamp(stage.technique.backend->backend().library_path)});
    }
    facts["true_sequential"] = options.true_sequential;
    facts["technique_weights_downstream"] = options.technique_weights_downstream;
    facts["dtype"] = dtype_name(dense_dtype);
    for (const OutputFormat format : formats) {
        facts["formats"].push_back(output_format_name(format));
    }
    facts["eval_max_windows"] = options.eval_max_windows ? *options.eval_max_windows : -1;
    return sha256_hex(facts.dump());
}

Error cancelled_error(const fs::path& work_dir, std::int64_t done, std::int64_t total) {
    return make_error(ErrorKind::cancelled,
                      fmt::format("cancelled; {} of {} blocks are saved in {}; run the same "
                                  "command again to continue",
                                  done, total, work_dir.string()));
}

// Everything one run holds.
class Run {
  public:
    Run(const Pipeline& pipeline, const Registry& registry, const RunOptions& options)
        : pipeline_(pipeline),
          registry_(registry),
          options_(options),
          progress_(options.progress) {}

    Expected<json> execute() {
        start_ = Clock::now();
        MCOMP_TRY(prepare());
        MCOMP_TRY(evaluate_before());
        MCOMP_TRY(compress());
        return finish();
    }

  private:
    // ---- setup -----------------------------------------------------------------------------

    Status prepare() {
        const auto started = Clock::now();
        const std::string model_ref =
            pipeline_.model.path.empty() ? pipeline_.model.id : pipeline_.model.path.string();
        HubOptions hub = HubOptions::from_env();
        hub.is_cancelled = [] { return cancel_requested(); };
        Expected<std::string> model_dir = resolve_model(model_ref, hub);
        if (!model_dir) {
            return model_dir.error();
        }
        model_dir_ = *model_dir;
        Expected<OpenedModel> source = open_model(model_dir_);
        if (!source) {
            return source.error();
        }
        source_ = std::move(*source);
        Expected<Tokenizer> tokenizer = Tokenizer::load(model_dir_);
        if (!tokenizer) {
            return tokenizer.error();
        }
        tokenizer_.emplace(std::move(*tokenizer));
        MCOMP_TRY(choose_formats());
        MCOMP_TRY(load_stages());
        MCOMP_TRY(check_output_free());
        const DType source_dtype = checkpoint().embed_tokens().dtype;
        dense_dtype_ = options_.dtype.value_or(source_dtype);
        const std::string hash =
            pipeline_fingerprint(pipeline_, model_dir_, stages_, options_, formats_, dense_dtype_);
        work_path_ = work_dir_for(pipeline_.output.dir);
        Expected<WorkDir> work = WorkDir::open(work_path_, hash, options_.fresh);
        if (!work) {
            return work.error();
        }
        work_.emplace(std::move(*work));
        resumed_at_ = work_->next_block();
        if (work_->resumed()) {
            progress_.note(fmt::format("resuming from {} at block {}/{}", work_path_.string(),
                                       resumed_at_, num_blocks()));
            restore_totals();
        }
        add_phase("prepare", started);
        return {};
    }

    const Checkpoint& checkpoint() const { return *source_.checkpoint; }

    WeightPolicy policy() const {
        WeightPolicy policy = weight_policy_for(formats_, dense_dtype_);
        policy.technique_weights_downstream = options_.technique_weights_downstream;
        return policy;
    }
    std::int64_t num_blocks() const { return checkpoint().config().num_hidden_layers; }

    Status choose_formats() {
        const std::vector<std::string>& names =
            options_.formats.empty() ? pipeline_.output.formats : options_.formats;
        for (const std::string& name : names) {
            Expected<OutputFormat> format = parse_output_format(name);
            if (!format) {
                return format.error();
            }
            if (std::find(formats_.begin(), formats_.end(), *format) == formats_.end()) {
                formats_.push_back(*format);
            }
        }
        if (formats_.empty()) {
            formats_.push_back(OutputFormat::dense);
        }
        return {};
    }

    Status load_stages() {
        bool any_codes = false;   // some stage will return codes (quantized formats need one)
        bool any_pruner = false;  // some stage will return masks (sparse-24-bitmask needs one)
        for (const PipelineStage& spec : pipeline_.stages) {
            Expected<LoadedTechnique> technique = registry_.load_technique(spec.use, spec.device);
            if (!technique) {
                return make_error(technique.error().kind,
                                  spec.where.text + ": " + technique.error().message);
            }
            EngineStage stage;
            stage.use = spec.use;
            stage.technique = *technique;
            stage.params = spec.params;
            stage.include = spec.include;
            stage.exclude = spec.exclude;
            if (technique->manifest->granularity != Granularity::layer ||
                technique->descriptor->layer == nullptr) {
                return make_error(ErrorKind::unsupported,
                                  fmt::format("{}: technique '{}' has {} granularity; this engine "
                                              "runs layer techniques only so far",
                                              spec.where.text, spec.use,
                                              granularity_name(technique->manifest->granularity)));
            }
            stage.needs_inputs = (technique->descriptor->layer->flags & MC_LAYER_NEEDS_INPUTS) != 0;
            any_codes = any_codes || will_return_codes(*technique->manifest, spec.params);
            any_pruner = any_pruner || technique->manifest->kind == TechniqueKind::pruner;
            stages_.push_back(std::move(stage));
        }
        for (const OutputFormat format : formats_) {
            if (is_packed(format) && !any_codes) {
                return make_error(ErrorKind::bad_input,
                                  fmt::format("{}: output format '{}' stores quantized layers, but "
                                              "no stage quantizes (a quantizer, or a technique "
                                              "with bits < 16 such as sparsegpt's joint "
                                              "quantization); use formats = [\"dense\"]",
                                              pipeline_.path.string(), output_format_name(format)));
            }
            if (format == OutputFormat::sparse_24_bitmask && !any_pruner) {
                return make_error(ErrorKind::bad_input,
                                  fmt::format("{}: output format 'sparse-24-bitmask' stores "
                                              "2:4-pruned layers, but no stage is a pruner; add a "
                                              "2:4 pruner stage (n = 2, m = 4) or use formats = "
                                              "[\"dense\"]",
                                              pipeline_.path.string()));
            }
        }
        return {};
    }

    // Whether a stage returns codes: a quantizer does; a technique of another kind does when it
    // has an int parameter `bits` set below 16 (the convention of joint quantization, e.g.
    // sparsegpt: 16 = none). The writer checks again on what the stages returned.
    static bool will_return_codes(const TechniqueManifest& technique, const OwnedParams& params) {
        if (technique.kind == TechniqueKind::quantizer) {
            return true;
        }
        const ParamValue* bits = params.find("bits");
        return bits != nullptr && std::holds_alternative<std::int64_t>(*bits) &&
               std::get<std::int64_t>(*bits) < 16;
    }

    Status check_output_free() const {
        std::error_code ec;
        if (fs::exists(pipeline_.output.dir, ec) && !options_.force) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("{}: the output folder exists; remove it or pass --force "
                                          "to replace it",
                                          pipeline_.output.dir.string()));
        }
        return {};
    }

    void restore_totals() {
        const json& notes = work_->notes();
        if (notes.contains("stages") && notes["stages"].size() == stages_.size()) {
            for (std::size_t s = 0; s < stages_.size(); ++s) {
                stages_[s].seconds = notes["stages"][s].value("seconds", 0.0);
                stages_[s].layers = notes["stages"][s].value("layers", std::int64_t{0});
                stages_[s].peak_rss_bytes =
                    notes["stages"][s].value("peak_rss_bytes", std::int64_t{0});
            }
        }
        forward_seconds_ = notes.value("forward_seconds", 0.0);
    }

    void add_phase(std::string name, Clock::time_point started) {
        phases_.push_back({{"name", std::move(name)},
                           {"seconds", seconds_since(started)},
                           {"rss_bytes", current_rss_bytes()},
                           {"peak_rss_bytes", peak_rss_bytes()}});
    }

    // ---- evaluation --------------------------------------------------------------------------

    // Where the calibration passes and the evaluations run ([calibration] device): auto
    // follows the stages, so a pipeline whose techniques run on the GPU also runs its
    // forward passes there.
    Device forward_device() const {
        switch (pipeline_.calibration.device) {
            case DeviceRequest::cpu:
                return Device::cpu;
            case DeviceRequest::cuda:
                return Device::cuda;
            case DeviceRequest::auto_select:
                break;
        }
        for (const EngineStage& stage : stages_) {
            if (stage.technique.device() == DeviceKind::cuda) {
                return Device::cuda;
            }
        }
        return Device::cpu;
    }

    EvalOptions eval_options() const {
        EvalOptions options;
        options.device =
            forward_device() == Device::cuda ? DeviceRequest::cuda : DeviceRequest::cpu;
        options.seqlen = pipeline_.eval.seqlen;
        options.max_windows = options_.eval_max_windows;
        return options;
    }

    Status evaluate_before() {
        if (!pipeline_.eval.present) {
            return {};
        }
        json& notes = work_->notes();
        if (notes.contains("eval_before")) {
            eval_before_ = notes["eval_before"];
            return {};
        }
        const auto started = Clock::now();
        eval_before_ = json::array();
        for (const fs::path& text : pipeline_.eval.texts) {
            progress_.note(fmt::format("perplexity before on {}", text.string()));
            Expected<PerplexityResult> result =
                evaluate_text(checkpoint(), *tokenizer_, text, eval_options(), &progress_);
            if (!result) {
                return result.error();
            }
            eval_before_.push_back({{"text", text.string()},
                                    {"ppl", result->ppl},
                                    {"mean_nll", result->mean_nll},
                                    {"windows", result->windows},
                                    {"tokens", result->tokens},
                                    {"seconds", result->seconds}});
            if (cancel_requested()) {
                return cancelled_error(work_path_, resumed_at_, num_blocks());
            }
        }
        release_source_pages();
        notes["eval_before"] = eval_before_;
        MCOMP_TRY(work_->save_notes());
        add_phase("eval before", started);
        return {};
    }

    void release_source_pages() const {
        if (!source_.mapped) {
            return;
        }
        for (const std::string& name : checkpoint().tensor_names()) {
            const TensorView* view = checkpoint().find(name);
            drop_mapped_pages(view->data, view->num_bytes);
        }
    }

    // ---- compression -------------------------------------------------------------------------

    Status compress() {
        Tensor activations;
        if (pipeline_.calibration.present) {
            const auto started = Clock::now();
            const PipelineCalibration& spec = pipeline_.calibration;
            Expected<CalibrationSet> calibration =
                load_calibration(spec.texts, *tokenizer_, spec.samples, spec.seqlen,
                                 static_cast<std::uint64_t>(spec.seed));
            if (!calibration) {
                return calibration.error();
            }
            calibration_ = {{"texts", json::array()},
                            {"samples", spec.samples},
                            {"seqlen", spec.seqlen},
                            {"seed", spec.seed},
                            {"stream_tokens", calibration->stream_tokens},
                            {"device", std::string(device_name(forward_device()))},
                            {"dtype", pipeline_.calibration.dtype}};
            for (const fs::path& text : spec.texts) {
                calibration_["texts"].push_back(text.string());
            }
            if (work_->next_block() < num_blocks()) {
                MCOMP_TRY(initial_activations(*calibration, activations));
            }
            add_phase("calibration", started);
        }
        if (work_->next_block() >= num_blocks()) {
            return {};
        }
        const auto started = Clock::now();
        EngineOptions engine;
        engine.true_sequential = options_.true_sequential;
        engine.policy = policy();
        engine.source_mapped = source_.mapped;
        engine.forward_device = forward_device();
        Expected<DType> forward_dtype = parse_dense_dtype(pipeline_.calibration.dtype);
        if (!forward_dtype) {
            return forward_dtype.error();
        }
        engine.forward_dtype = *forward_dtype;
        if (activations.defined()) {
            progress_.note(fmt::format("calibration forward passes on {} ({})",
                                       device_name(engine.forward_device),
                                       pipeline_.calibration.dtype));
        }
        const Status status = run_blocks(checkpoint(), stages_, engine, activations, *work_,
                                         progress_, forward_seconds_);
        if (!status) {
            if (status.error().kind == ErrorKind::cancelled) {
                return cancelled_error(work_path_, work_->next_block(), num_blocks());
            }
            return status;
        }
        add_phase("compress", started);
        return {};
    }

    Status initial_activations(const CalibrationSet& calibration, Tensor& activations) {
        const ModelConfig& cfg = checkpoint().config();
        if (work_->next_block() == 0) {
            Expected<Tensor> embedded = embed_calibration(checkpoint(), calibration);
            if (!embedded) {
                return embedded.error();
            }
            activations = std::move(*embedded);
            return {};
        }
        activations = Tensor::empty_cpu(DType::f32,
                                        {calibration.samples, calibration.seqlen, cfg.hidden_size});
        return work_->load_activations(work_->next_block(), activations);
    }

    // ---- outputs -----------------------------------------------------------------------------

    Expected<json> finish() {
        if (cancel_requested()) {
            return cancelled_error(work_path_, work_->next_block(), num_blocks());
        }
        Expected<StagingDir> staging = StagingDir::create(pipeline_.output.dir);
        if (!staging) {
            return staging.error();
        }
        json outputs = json::array();
        json eval = eval_skeleton();
        for (const OutputFormat format : formats_) {
            const fs::path dir = formats_.size() == 1
                                     ? staging->path()
                                     : staging->path() / std::string(output_format_name(format));
            const fs::path final_dir = formats_.size() == 1
                                           ? pipeline_.output.dir
                                           : pipeline_.output.dir / output_format_name(format);
            std::error_code ec;
            fs::create_directories(dir, ec);
            MCOMP_TRY(write_format(format, dir, final_dir, outputs));
            MCOMP_TRY(evaluate_after(format, dir, eval));
            if (cancel_requested()) {
                return cancelled_error(work_path_, num_blocks(), num_blocks());
            }
        }
        json report = build_report(outputs, eval);
        MCOMP_TRY(write_file_atomic(staging->path() / "report.json", report.dump(2) + "\n"));
        MCOMP_TRY(write_file_atomic(staging->path() / "report.md", render_report_markdown(report)));
        MCOMP_TRY(staging->commit(options_.force));
        if (!options_.keep_work) {
            MCOMP_TRY(work_->remove());
        }
        return report;
    }

    Status write_format(OutputFormat format, const fs::path& dir, const fs::path& final_dir,
                        json& outputs) {
        const auto started = Clock::now();
        progress_.note(
            fmt::format("writing {} to {}", output_format_name(format), final_dir.string()));
        OutputInputs inputs;
        inputs.source = &checkpoint();
        inputs.source_mapped = source_.mapped;
        inputs.work = &*work_;
        inputs.policy = policy();
        inputs.stages = stages_json(false);
        inputs.max_shard_bytes = options_.max_shard_bytes;
        inputs.true_sequential = options_.true_sequential;
        Expected<OutputStats> stats = write_output(dir, format, inputs);
        if (!stats) {
            return stats.error();
        }
        json output = {{"format", output_format_name(format)},
                       {"dir", final_dir.string()},
                       {"dtype", torch_dtype_name(dense_dtype_)},
                       {"file_bytes", stats->file_bytes},
                       {"weight_file_bytes", stats->weight_file_bytes},
                       {"total_params", stats->total_params},
                       {"compressed_params", stats->compressed_params},
                       {"compressed_bytes", stats->compressed_bytes},
                       {"bits_per_weight", stats->bits_per_weight()},
                       {"file_bits_per_param", stats->file_bits_per_param()},
                       {"quantized_layers", stats->quantized_layers},
                       {"pruned_layers", stats->pruned_layers}};
        if (stats->pruned_params > 0) {
            output["sparsity"] = static_cast<double>(stats->pruned_zeros) /
                                 static_cast<double>(stats->pruned_params);
        }
        outputs.push_back(output);
        add_phase(fmt::format("write {}", output_format_name(format)), started);
        return {};
    }

    json eval_skeleton() const {
        json eval = json::array();
        for (const json& before : eval_before_) {
            eval.push_back({{"text", before["text"]},
                            {"seqlen", pipeline_.eval.seqlen},
                            {"windows", before["windows"]},
                            {"tokens", before["tokens"]},
                            {"before", before},
                            {"after", json::array()}});
        }
        return eval;
    }

    // Perplexity of the written checkpoint, read back the way any user of it would.
    Status evaluate_after(OutputFormat format, const fs::path& dir, json& eval) {
        if (!pipeline_.eval.present) {
            return {};
        }
        const auto started = Clock::now();
        Expected<OpenedModel> written = open_model(dir.string());
        if (!written) {
            return make_error(written.error().kind,
                              "reading back the written model: " + written.error().message);
        }
        for (std::size_t i = 0; i < pipeline_.eval.texts.size(); ++i) {
            const fs::path& text = pipeline_.eval.texts[i];
            progress_.note(fmt::format("perplexity after ({}) on {}", output_format_name(format),
                                       text.string()));
            Expected<PerplexityResult> result =
                evaluate_text(*written->checkpoint, *tokenizer_, text, eval_options(), &progress_);
            if (!result) {
                return result.error();
            }
            eval[i]["after"].push_back({{"format", output_format_name(format)},
                                        {"ppl", result->ppl},
                                        {"mean_nll", result->mean_nll},
                                        {"seconds", result->seconds}});
        }
        add_phase(fmt::format("eval after {}", output_format_name(format)), started);
        return {};
    }

    json stages_json(bool with_measurements) const {
        json out = json::array();
        for (std::size_t s = 0; s < stages_.size(); ++s) {
            const EngineStage& stage = stages_[s];
            json entry = {{"use", stage.use},
                          {"plugin", stage.technique.plugin_id()},
                          {"plugin_version", stage.technique.backend->manifest().version},
                          {"params", params_json(stage.params)},
                          {"include", stage.include},
                          {"exclude", stage.exclude},
                          {"layers", stage.layers}};
            if (with_measurements) {
                entry["device"] = std::string(device_kind_name(stage.technique.device()));
                entry["needs_inputs"] = stage.needs_inputs;
                entry["seconds"] = stage.seconds;
                entry["peak_rss_bytes"] = stage.peak_rss_bytes;
            }
            out.push_back(entry);
        }
        return out;
    }

    json build_report(const json& outputs, const json& eval) const {
        std::string text;
        read_file(pipeline_.path.string(), text);
        std::int64_t params = 0;
        for (const std::string& name : checkpoint().tensor_names()) {
            params += checkpoint().find(name)->numel();
        }
        json formats = json::array();
        for (const OutputFormat format : formats_) {
            formats.push_back(output_format_name(format));
        }
        return {{"mcomp_version", MCOMP_VERSION_STRING},
                {"pipeline",
                 {{"path", pipeline_.path.string()}, {"sha256", sha256_hex(text)}, {"text", text}}},
                {"model",
                 {{"path", model_dir_},
                  {"format", source_.format},
                  {"params", params},
                  {"layers", num_blocks()}}},
                {"calibration", calibration_},
                {"options",
                 {{"true_sequential", options_.true_sequential},
                  {"technique_weights_downstream", options_.technique_weights_downstream},
                  {"dtype", torch_dtype_name(dense_dtype_)},
                  {"formats", formats},
                  {"eval_max_windows",
                   options_.eval_max_windows ? json(*options_.eval_max_windows) : json()}}},
                {"stages", stages_json(true)},
                {"eval", eval},
                {"outputs", outputs},
                {"phases", phases_},
                {"forward_seconds", forward_seconds_},
                {"resumed_at_block", resumed_at_},
                {"total_seconds", seconds_since(start_)},
                {"peak_rss_bytes", peak_rss_bytes()}};
    }

    const Pipeline& pipeline_;
    const Registry& registry_;
    const RunOptions& options_;
    Progress progress_;
    Clock::time_point start_{};
    std::string model_dir_;
    OpenedModel source_;
    std::optional<Tokenizer> tokenizer_;
    std::vector<OutputFormat> formats_;
    std::vector<EngineStage> stages_;
    DType dense_dtype_ = DType::f32;
    fs::path work_path_;
    std::optional<WorkDir> work_;
    std::int64_t resumed_at_ = 0;
    double forward_seconds_ = 0.0;
    json eval_before_ = json::array();
    json calibration_;
    json phases_ = json::array();
};

}  // namespace

Expected<json> run_pipeline(const Pipeline& pipeline, const Registry& registry,
                            const RunOptions& options) {
    Run run(pipeline, registry, options);
    return run.execute();
}

}  // namespace mcomp::compress
