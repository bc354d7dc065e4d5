// output_writer.cpp: see output_writer.hpp.
#include "compress/output_writer.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <tuple>

#include "compress/fs_atomic.hpp"
#include "compress/resources.hpp"
#include "compress/safetensors_stream.hpp"
#include "engine/formats.hpp"
#include "model/llama_layout.hpp"
#include "util/strings.hpp"

namespace mcomp::compress {

namespace fs = std::filesystem;
using nlohmann::json;

double OutputStats::bits_per_weight() const {
    return compressed_params > 0 ? 8.0 * static_cast<double>(compressed_bytes) /
                                       static_cast<double>(compressed_params)
                                 : 0.0;
}

double OutputStats::file_bits_per_param() const {
    return total_params > 0
               ? 8.0 * static_cast<double>(weight_file_bytes) / static_cast<double>(total_params)
               : 0.0;
}

const char* torch_dtype_name(DType dtype) {
    switch (dtype) {
        case DType::f16:
            return "float16";
        case DType::bf16:
            return "bfloat16";
        default:
            return "float32";
    }
}

void convert_float_buffer(DType src_dtype, const void* src, std::size_t count, DType dst_dtype,
                          void* dst) {
    if (src_dtype == dst_dtype) {
        std::memcpy(dst, src, count * dtype_size(src_dtype));
        return;
    }
    constexpr std::size_t kChunk = 4096;
    float wide[kChunk];
    const auto* src_bytes = static_cast<const std::byte*>(src);
    auto* dst_bytes = static_cast<std::byte*>(dst);
    for (std::size_t begin = 0; begin < count; begin += kChunk) {
        const std::size_t n = std::min(kChunk, count - begin);
        convert_to_f32(src_dtype, src_bytes + begin * dtype_size(src_dtype), n, wide);
        if (dst_dtype == DType::f32) {
            std::memcpy(dst_bytes + begin * 4, wide, n * 4);
            continue;
        }
        auto* out = reinterpret_cast<std::uint16_t*>(dst_bytes + begin * 2);
        for (std::size_t i = 0; i < n; ++i) {
            out[i] = dst_dtype == DType::f16 ? f32_to_f16(wide[i]) : f32_to_bf16(wide[i]);
        }
    }
}

Status copy_tokenizer_files(const fs::path& src, const fs::path& dst) {
    static const char* kNames[] = {"tokenizer.json",
                                   "tokenizer_config.json",
                                   "special_tokens_map.json",
                                   "tokenizer.model",
                                   "vocab.json",
                                   "merges.txt",
                                   "added_tokens.json",
                                   "generation_config.json",
                                   "chat_template.jinja"};
    std::error_code ec;
    for (const char* name : kNames) {
        if (fs::is_regular_file(src / name, ec)) {
            MCOMP_TRY(copy_file_synced(src / name, dst / name));
        }
    }
    return {};
}

namespace {

bool is_dense_float(DType dtype) {
    return dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16;
}

// Where a tensor of the output comes from.
struct Entry {
    enum class Kind { source, record_dense, record_packed } kind = Kind::source;
    std::string name;    // source tensor name (source) or layer prefix (records)
    std::string suffix;  // packed tensor suffix ("qweight", ...)
};

// The quantization settings every quantized layer shares.
using QuantKey = std::tuple<int, int, bool, bool>;  // bits, group_size, sym, desc_act

QuantKey key_of(const json& meta) {
    return {meta.at("bits").get<int>(), meta.at("group_size").get<int>(),
            meta.at("sym").get<bool>(), meta.at("desc_act").get<bool>()};
}

Expected<std::vector<PackedTensor>> pack(const QuantizedLinear& layer, OutputFormat format,
                                         DType scale_dtype) {
    switch (format) {
        case OutputFormat::gptq:
            return pack_gptq(layer, GptqCheckpointFormat::gptq);
        case OutputFormat::gptq_v2:
            return pack_gptq(layer, GptqCheckpointFormat::gptq_v2);
        case OutputFormat::awq:
            return pack_awq(layer);
        case OutputFormat::compressed_tensors:
            return pack_compressed_tensors(layer, scale_dtype);
        case OutputFormat::dense:
        case OutputFormat::sparse_24_bitmask:
            break;
    }
    return make_error(ErrorKind::internal, "pack: not a quantized format");
}

// The sparse-24-bitmask tensors of a pruned layer's weight, converted to `dtype` first (what
// the dense format would store).
Expected<std::vector<PackedTensor>> pack_sparse(const CompressedLinear& record, DType dtype) {
    std::vector<std::byte> bytes(record.weight.size() * dtype_size(dtype));
    convert_float_buffer(DType::f32, record.weight.data(), record.weight.size(), dtype,
                         bytes.data());
    TensorView view;
    view.dtype = dtype;
    view.shape = {record.out_features, record.in_features};
    view.data = bytes.data();
    view.num_bytes = bytes.size();
    return pack_sparse24_bitmask(view, record.prefix);
}

// Whether every group of m consecutive inputs of every row of `weight` [rows, cols] holds at
// least n exact zeros (cols a multiple of m).
bool has_n_of_m_zeros(const std::vector<float>& weight, std::int64_t cols, int n, int m) {
    if (cols % m != 0) {
        return false;
    }
    for (std::size_t first = 0; first < weight.size(); first += static_cast<std::size_t>(m)) {
        int zeros = 0;
        for (int k = 0; k < m; ++k) {
            zeros += weight[first + static_cast<std::size_t>(k)] == 0.0f ? 1 : 0;
        }
        if (zeros < n) {
            return false;
        }
    }
    return true;
}

// The N:M pattern a pruned weight follows, for config.json: "2:4" (every 4 consecutive inputs
// hold at least 2 zeros), else "4:8", else "unstructured".
std::string sparsity_structure(const CompressedLinear& record) {
    if (has_n_of_m_zeros(record.weight, record.in_features, 2, 4)) {
        return "2:4";
    }
    if (has_n_of_m_zeros(record.weight, record.in_features, 4, 8)) {
        return "4:8";
    }
    return "unstructured";
}

// A layer of the given geometry with valid placeholder values, to learn packed shapes.
QuantizedLinear template_layer(const json& meta) {
    QuantizedLinear layer;
    layer.out_features = meta.at("out_features").get<std::int64_t>();
    layer.in_features = meta.at("in_features").get<std::int64_t>();
    std::tie(layer.bits, layer.group_size, layer.sym, layer.desc_act) = key_of(meta);
    const std::int64_t groups = layer.num_groups();
    const auto cells = static_cast<std::size_t>(layer.out_features * layer.in_features);
    layer.codes.assign(cells, 0);
    layer.scales.assign(static_cast<std::size_t>(layer.out_features * groups), 1.0f);
    layer.zeros.assign(layer.scales.size(),
                       layer.sym ? static_cast<float>(1 << (layer.bits - 1)) : 0.0f);
    layer.g_idx = sequential_g_idx(layer.in_features, layer.group_size);
    return layer;
}

class Writer {
  public:
    Writer(const fs::path& dir, OutputFormat format, const OutputInputs& inputs)
        : dir_(dir), format_(format), in_(inputs), source_(*inputs.source) {}

    Expected<OutputStats> write() {
        MCOMP_TRY(open_blocks());
        MCOMP_TRY(plan());
        MCOMP_TRY(write_model_weights(
            dir_, tensors_, in_.max_shard_bytes > 0 ? in_.max_shard_bytes : kDefaultMaxShardBytes,
            [&](std::size_t i, std::size_t offset, std::span<std::byte> dst) {
                return fill(i, offset, dst);
            }));
        MCOMP_TRY(write_configs());
        MCOMP_TRY(copy_tokenizer_files(source_.dir(), dir_));
        finish_stats();
        return stats_;
    }

  private:
    Status open_blocks() {
        const std::int64_t num_blocks = source_.config().num_hidden_layers;
        for (std::int64_t block = 0; block < num_blocks; ++block) {
            Expected<BlockRecords> records = BlockRecords::open(in_.work->block_file(block));
            if (!records) {
                return records.error();
            }
            blocks_.push_back(std::make_unique<BlockRecords>(std::move(*records)));
            for (const std::string& prefix : blocks_.back()->prefixes()) {
                record_block_[prefix] = static_cast<std::size_t>(block);
            }
        }
        return {};
    }

    const json& meta(const std::string& prefix) const {
        return *blocks_[record_block_.at(prefix)]->meta(prefix);
    }

    bool stored_packed(const std::string& prefix) const {
        return is_packed(format_) && meta(prefix).at("quantized").get<bool>();
    }

    bool stored_sparse(const std::string& prefix) const {
        return format_ == OutputFormat::sparse_24_bitmask && meta(prefix).at("masked").get<bool>();
    }

    // The tensor list, and the quantization settings shared by every quantized layer.
    Status plan() {
        std::optional<QuantKey> shared;
        std::string first;
        for (const auto& [prefix, block] : record_block_) {
            if (!stored_packed(prefix)) {
                continue;
            }
            const QuantKey key = key_of(meta(prefix));
            if (shared && key != *shared) {
                return make_error(ErrorKind::unsupported,
                                  fmt::format("{}: '{}' and '{}' are quantized with different "
                                              "bits/group_size/sym/desc_act; one "
                                              "quantization_config cannot describe both; use "
                                              "one quantizer setting or the dense format",
                                              output_format_name(format_), first, prefix));
            }
            shared = key;
            first = first.empty() ? prefix : first;
        }
        if (is_packed(format_) && !shared) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("output format '{}' stores quantized layers, but no "
                                          "stage quantized any; add a quantizer stage or use "
                                          "formats = [\"dense\"]",
                                          output_format_name(format_)));
        }
        first_quantized_ = first;
        for (std::int64_t block = 0; block < source_.config().num_hidden_layers; ++block) {
            for (const LinearId id : kAllLinears) {
                decoder_linears_.insert(linear_prefix(block, id));
            }
        }
        MCOMP_TRY(check_some_pruned());
        for (const std::string& name : source_.tensor_names()) {
            MCOMP_TRY(plan_tensor(name));
        }
        return {};
    }

    Status check_some_pruned() const {
        if (format_ != OutputFormat::sparse_24_bitmask) {
            return {};
        }
        for (const auto& [prefix, block] : record_block_) {
            if (stored_sparse(prefix)) {
                return {};
            }
        }
        return make_error(ErrorKind::bad_input,
                          "output format 'sparse-24-bitmask' stores 2:4-pruned layers, but no "
                          "stage pruned any; add a 2:4 pruner stage (n = 2, m = 4) or use "
                          "formats = [\"dense\"]");
    }

    // compressed [out, in/2], bitmask [out, ceil(in/8)], shape [2, 1] (engine/formats.hpp).
    Status plan_sparse(const std::string& prefix, const TensorView& view) {
        const std::int64_t out = view.shape[0];
        const std::int64_t in = view.shape[1];
        if (in % 4 != 0) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("sparse-24-bitmask: {}: in_features {} is not a "
                                          "multiple of 4; the format needs whole groups of 4 "
                                          "inputs; use formats = [\"dense\"]",
                                          prefix, in));
        }
        const StreamTensor planned[] = {
            {prefix + ".compressed", in_.policy.dense_dtype, {out, in / 2}},
            {prefix + ".bitmask", DType::u8, {out, (in + 7) / 8}},
            {prefix + ".shape", DType::i64, {2, 1}}};
        for (const StreamTensor& tensor : planned) {
            const std::string suffix = tensor.name.substr(prefix.size() + 1);
            add(Entry{Entry::Kind::record_packed, prefix, suffix}, tensor);
            stats_.compressed_bytes += static_cast<std::int64_t>(tensors_.back().num_bytes());
        }
        return {};
    }

    Status plan_tensor(const std::string& name) {
        const TensorView& view = *source_.find(name);
        stats_.total_params += view.numel();
        const std::string suffix = ".weight";
        const bool is_weight =
            name.size() > suffix.size() &&
            name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
        const std::string prefix = is_weight ? name.substr(0, name.size() - suffix.size()) : "";
        if (!is_weight || record_block_.count(prefix) == 0) {
            const DType dtype = is_dense_float(view.dtype) ? in_.policy.dense_dtype : view.dtype;
            add(Entry{Entry::Kind::source, name, ""}, StreamTensor{name, dtype, view.shape});
            if (is_weight && decoder_linears_.count(prefix) != 0) {
                dense_linears_.push_back(prefix);  // no stage selected it: dense as it came
            }
            return {};
        }
        stats_.compressed_params += view.numel();
        if (stored_sparse(prefix)) {
            return plan_sparse(prefix, view);
        }
        if (!stored_packed(prefix)) {
            add(Entry{Entry::Kind::record_dense, prefix, ""},
                StreamTensor{name, in_.policy.dense_dtype, view.shape});
            stats_.compressed_bytes += static_cast<std::int64_t>(tensors_.back().num_bytes());
            dense_linears_.push_back(prefix);
            return {};
        }
        ++stats_.quantized_layers;
        // The packed shapes depend on the geometry and settings only: one placeholder layer
        // packed per distinct key (a Llama has three linear shapes), not one per layer.
        const json& layer = meta(prefix);
        const auto geometry =
            std::make_tuple(layer.at("out_features").get<std::int64_t>(),
                            layer.at("in_features").get<std::int64_t>(), key_of(layer));
        auto planned = planned_shapes_.find(geometry);
        if (planned == planned_shapes_.end()) {
            Expected<std::vector<PackedTensor>> packed =
                pack(template_layer(layer), format_, scale_dtype());
            if (!packed) {
                return make_error(packed.error().kind, prefix + ": " + packed.error().message);
            }
            planned = planned_shapes_.emplace(geometry, std::move(*packed)).first;
        }
        for (const PackedTensor& tensor : planned->second) {
            add(Entry{Entry::Kind::record_packed, prefix, tensor.name},
                StreamTensor{prefix + "." + tensor.name, tensor.dtype, tensor.shape});
            stats_.compressed_bytes += static_cast<std::int64_t>(tensor.bytes.size());
        }
        return {};
    }

    DType scale_dtype() const { return in_.policy.scale_dtype.value_or(in_.policy.dense_dtype); }

    void add(Entry entry, StreamTensor tensor) {
        entries_.push_back(std::move(entry));
        tensors_.push_back(std::move(tensor));
    }

    // The record of `prefix` (and its packed tensors), one layer cached at a time.
    Status load(const std::string& prefix, bool packed) {
        // A packed quantized layer needs its codes only, unless its zeros are counted.
        const bool with_weight =
            !(packed && stored_packed(prefix)) || meta(prefix).at("masked").get<bool>();
        if (cached_prefix_ != prefix || (with_weight && !cached_with_weight_)) {
            Expected<CompressedLinear> record =
                blocks_[record_block_.at(prefix)]->read(prefix, with_weight);
            if (!record) {
                return record.error();
            }
            cached_ = std::move(*record);
            cached_prefix_ = prefix;
            cached_with_weight_ = with_weight;
            cached_packed_.clear();
            if (cached_.masked) {
                sparsity_[prefix] = {cached_.zero_count(),
                                     static_cast<std::int64_t>(cached_.weight.size())};
                structure_[prefix] = sparsity_structure(cached_);
            }
        }
        if (packed && cached_packed_.empty() && format_ == OutputFormat::sparse_24_bitmask) {
            Expected<std::vector<PackedTensor>> tensors =
                pack_sparse(cached_, in_.policy.dense_dtype);
            if (!tensors) {
                return make_error(tensors.error().kind,
                                  "sparse-24-bitmask: " + tensors.error().message);
            }
            cached_packed_ = std::move(*tensors);
        }
        if (packed && cached_packed_.empty()) {
            if (format_ == OutputFormat::gptq && count_gptq_v1_zero_wraps(cached_.quant) > 0) {
                ++v1_wrapped_layers_;
            }
            Expected<std::vector<PackedTensor>> tensors =
                pack(cached_.quant, format_, scale_dtype());
            if (!tensors) {
                return make_error(tensors.error().kind, prefix + ": " + tensors.error().message);
            }
            cached_packed_ = std::move(*tensors);
        }
        return {};
    }

    // Bytes [offset, offset + dst.size()) of output tensor i.
    Status fill(std::size_t i, std::size_t offset, std::span<std::byte> dst) {
        const Entry& entry = entries_[i];
        const StreamTensor& tensor = tensors_[i];
        const std::size_t dst_size = dtype_size(tensor.dtype);
        const std::size_t first = offset / dst_size;  // first element
        const std::size_t count = dst.size() / dst_size;
        switch (entry.kind) {
            case Entry::Kind::source: {
                const TensorView& view = *source_.find(entry.name);
                const std::size_t src_size = dtype_size(view.dtype);
                const std::byte* src = view.data + first * src_size;
                if (is_dense_float(view.dtype)) {
                    convert_float_buffer(view.dtype, src, count, tensor.dtype, dst.data());
                } else {
                    std::memcpy(dst.data(), src, dst.size());
                }
                if (in_.source_mapped) {
                    drop_mapped_pages(src, count * src_size);
                }
                return {};
            }
            case Entry::Kind::record_dense:
                MCOMP_TRY(load(entry.name, false));
                convert_float_buffer(DType::f32, cached_.weight.data() + first, count, tensor.dtype,
                                     dst.data());
                return {};
            case Entry::Kind::record_packed:
                MCOMP_TRY(load(entry.name, true));
                for (const PackedTensor& packed : cached_packed_) {
                    if (packed.name == entry.suffix && packed.bytes.size() >= offset + dst.size()) {
                        std::memcpy(dst.data(), packed.bytes.data() + offset, dst.size());
                        return {};
                    }
                }
                return make_error(ErrorKind::internal,
                                  fmt::format("{}.{}: the packed layer does not have the planned "
                                              "tensor",
                                              entry.name, entry.suffix));
        }
        return {};
    }

    // The sparsity_config of sparse-24-bitmask: the fraction of zeros over the layers it stores
    // (every pruned layer; all of them have been read by now); the rest are ignored.
    json sparsity_config() const {
        Sparse24Config config;
        std::int64_t zeros = 0;
        std::int64_t weights = 0;
        for (const auto& [prefix, counts] : sparsity_) {
            zeros += counts.first;
            weights += counts.second;
        }
        config.global_sparsity =
            weights > 0 ? static_cast<double>(zeros) / static_cast<double>(weights) : 0.0;
        config.ignore.insert(config.ignore.end(), dense_linears_.begin(), dense_linears_.end());
        return sparse24_bitmask_quantization_config(config);
    }

    // What the stage that quantized the layers used, for GPTQ's config: damp_percent and
    // static_groups from its params (a technique without them leaves the defaults), and
    // whether the run was true-sequential.
    void record_quantizer_settings(GptqConfig& config) const {
        config.true_sequential = in_.true_sequential;
        const json& stages = meta(first_quantized_).at("stages");
        if (stages.empty() || !in_.stages.is_array()) {
            return;
        }
        const auto index = stages.back().get<std::size_t>();
        if (index >= in_.stages.size()) {
            return;
        }
        const json& params = in_.stages[index].value("params", json::object());
        if (const auto damp = params.find("damp"); damp != params.end() && damp->is_number()) {
            config.damp_percent = damp->get<double>();
        }
        if (const auto groups = params.find("static_groups");
            groups != params.end() && groups->is_boolean()) {
            config.static_groups = groups->get<bool>();
        }
    }

    Expected<json> quantization_config() {
        if (format_ == OutputFormat::sparse_24_bitmask) {
            return sparsity_config();
        }
        if (!is_packed(format_)) {
            return json();
        }
        MCOMP_TRY(load(first_quantized_, false));
        const QuantizedLinear& layer = cached_.quant;
        switch (format_) {
            case OutputFormat::gptq:
            case OutputFormat::gptq_v2: {
                GptqConfig config = gptq_config_for(layer, format_ == OutputFormat::gptq
                                                               ? GptqCheckpointFormat::gptq
                                                               : GptqCheckpointFormat::gptq_v2);
                record_quantizer_settings(config);
                return gptq_quantization_config(config);
            }
            case OutputFormat::awq: {
                AwqConfig config = awq_config_for(layer);
                config.modules_to_not_convert = dense_linears_;
                return awq_quantization_config(config);
            }
            case OutputFormat::compressed_tensors: {
                CompressedTensorsConfig config = compressed_tensors_config_for(layer);
                config.ignore = {"lm_head"};
                config.ignore.insert(config.ignore.end(), dense_linears_.begin(),
                                     dense_linears_.end());
                return compressed_tensors_quantization_config(config);
            }
            case OutputFormat::dense:
            case OutputFormat::sparse_24_bitmask:
                break;
        }
        return json();
    }

    Status write_configs() {
        const fs::path source_config = fs::path(source_.dir()) / "config.json";
        std::string text;
        if (!read_file(source_config.string(), text)) {
            return make_error(ErrorKind::io, source_config.string() + ": cannot read");
        }
        json config;
        try {
            config = json::parse(text);
        } catch (const json::exception& e) {
            return make_error(ErrorKind::bad_input, fmt::format("{}: not valid JSON ({})",
                                                                source_config.string(), e.what()));
        }
        config["torch_dtype"] = torch_dtype_name(in_.policy.dense_dtype);
        config.erase("quantization_config");
        Expected<json> quantization = quantization_config();
        if (!quantization) {
            return quantization.error();
        }
        stats_.quantization_config = *quantization;
        if (!quantization->is_null()) {
            config["quantization_config"] = *quantization;
        }
        config["mcomp"] = mcomp_info();
        MCOMP_TRY(write_file_atomic(dir_ / "config.json", config.dump(2) + "\n"));
        if (format_ == OutputFormat::gptq || format_ == OutputFormat::gptq_v2) {
            MCOMP_TRY(
                write_file_atomic(dir_ / "quantize_config.json", quantization->dump(2) + "\n"));
        }
        if (v1_wrapped_layers_ > 0) {
            spdlog::warn(
                "gptq: {} layer(s) have zero points of 0, which the v1 format stores as "
                "2^bits - 1; GPTQModel reads them back, per-field kernels (vLLM "
                "'gptq', exllama) do not; prefer gptq_v2 or a symmetric grid",
                v1_wrapped_layers_);
        }
        return {};
    }

    json mcomp_info() {
        json info = {{"version", MCOMP_VERSION_STRING},
                     {"format", output_format_name(format_)},
                     {"stages", in_.stages},
                     {"quantized_layers", stats_.quantized_layers}};
        if (!sparsity_.empty()) {
            json layers = json::object();
            for (const auto& [prefix, counts] : sparsity_) {
                layers[prefix] =
                    static_cast<double>(counts.first) / static_cast<double>(counts.second);
                stats_.pruned_zeros += counts.first;
                stats_.pruned_params += counts.second;
            }
            stats_.pruned_layers = static_cast<std::int64_t>(sparsity_.size());
            info["sparsity"] = {{"global", static_cast<double>(stats_.pruned_zeros) /
                                               static_cast<double>(stats_.pruned_params)},
                                {"pruned_layers", stats_.pruned_layers},
                                {"layers", layers},
                                {"structure", structure_}};
        }
        return info;
    }

    void finish_stats() {
        std::error_code ec;
        for (const fs::directory_entry& entry : fs::directory_iterator(dir_, ec)) {
            if (!entry.is_regular_file(ec)) {
                continue;
            }
            const auto size = static_cast<std::int64_t>(entry.file_size(ec));
            stats_.file_bytes += size;
            if (entry.path().extension() == ".safetensors") {
                stats_.weight_file_bytes += size;
            }
        }
    }

    fs::path dir_;
    OutputFormat format_;
    const OutputInputs& in_;
    const Checkpoint& source_;
    std::vector<std::unique_ptr<BlockRecords>> blocks_;
    std::map<std::string, std::size_t> record_block_;  // layer prefix → block
    std::vector<Entry> entries_;
    std::vector<StreamTensor> tensors_;
    // Decoder linears stored dense (compressed but not packed, or selected by no stage), in
    // the order of the source's tensors: the `ignore` list of compressed-tensors, whose
    // loaders otherwise expect every Linear in the packed form.
    std::vector<std::string> dense_linears_;
    std::set<std::string> decoder_linears_;  // every decoder linear's prefix
    std::string first_quantized_;
    std::string cached_prefix_;
    bool cached_with_weight_ = false;
    // Packed placeholder tensors by (out_features, in_features, settings), for their shapes.
    std::map<std::tuple<std::int64_t, std::int64_t, QuantKey>, std::vector<PackedTensor>>
        planned_shapes_;
    CompressedLinear cached_;
    std::vector<PackedTensor> cached_packed_;
    std::map<std::string, std::pair<std::int64_t, std::int64_t>> sparsity_;  // zeros, weights
    std::map<std::string, std::string> structure_;  // "2:4", "4:8" or "unstructured"
    std::int64_t v1_wrapped_layers_ = 0;
    OutputStats stats_;
};

}  // namespace

Expected<OutputStats> write_output(const fs::path& dir, OutputFormat format,
                                   const OutputInputs& inputs) {
    if (inputs.source == nullptr || inputs.work == nullptr) {
        return make_error(ErrorKind::internal, "write_output: no source or work folder");
    }
    Writer writer(dir, format, inputs);
    return writer.write();
}

}  // namespace mcomp::compress
