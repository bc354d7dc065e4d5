// checkpoint.cpp: see checkpoint.hpp.
#include "model/checkpoint.hpp"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "model/json_errors.hpp"
#include "model/llama_layout.hpp"
#include "util/strings.hpp"

namespace mcomp {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr std::string_view kSingleFile = "model.safetensors";
constexpr std::string_view kIndexFile = "model.safetensors.index.json";

std::string join(const std::string& dir, std::string_view name) {
    return (fs::path(dir) / name).string();
}

bool is_dense_float(DType dtype) {
    return dtype == DType::f32 || dtype == DType::f16 || dtype == DType::bf16;
}

// The shard file names of an index, in first-seen order, checked to stay in the folder.
Expected<std::vector<std::pair<std::string, std::string>>> read_weight_map(
    const std::string& index_path) {
    std::string text;
    if (!read_file(index_path, text)) {
        return make_error(ErrorKind::io, index_path + ": cannot read");
    }
    json root;
    try {
        root = json::parse(text);
    } catch (const json::exception& e) {
        return make_error(ErrorKind::bad_input,
                          index_path + ": not valid JSON (" + json_error_detail(e) + ")");
    }
    const auto map_it = root.is_object() ? root.find("weight_map") : root.end();
    if (!root.is_object() || map_it == root.end() || !map_it->is_object()) {
        return make_error(ErrorKind::bad_input,
                          index_path + ": 'weight_map' is missing or not an object");
    }
    std::vector<std::pair<std::string, std::string>> entries;
    for (const auto& [name, shard] : map_it->items()) {
        if (!shard.is_string()) {
            return make_error(ErrorKind::bad_input,
                              index_path + ": weight_map entry '" + name + "' is not a file name");
        }
        const std::string file = shard.get<std::string>();
        if (file.empty() || file.find('/') != std::string::npos || file == "." || file == "..") {
            return make_error(ErrorKind::bad_input,
                              index_path + ": weight_map entry '" + name + "' names shard '" +
                                  file + "', which is not a file in the model folder");
        }
        entries.emplace_back(name, file);
    }
    return entries;
}

}  // namespace

Expected<Checkpoint> Checkpoint::open(const std::string& model_dir) {
    Checkpoint checkpoint;
    checkpoint.dir_ = model_dir;
    std::error_code ec;
    if (!fs::is_directory(model_dir, ec)) {
        return make_error(ErrorKind::not_found,
                          model_dir + ": not a folder; give the folder of a Hugging Face model");
    }
    Expected<ModelConfig> config = load_model_config(join(model_dir, "config.json"));
    if (!config) {
        return config.error();
    }
    checkpoint.config_ = std::move(*config);
    if (!checkpoint.config_.quant_method.empty()) {
        return make_error(ErrorKind::unsupported,
                          join(model_dir, "config.json") + ": quantization_config.quant_method '" +
                              checkpoint.config_.quant_method +
                              "': quantized checkpoints cannot be loaded as dense weights yet");
    }
    const std::string single = join(model_dir, kSingleFile);
    const std::string index = join(model_dir, kIndexFile);
    if (fs::exists(single, ec)) {
        Expected<SafetensorsFile> file = SafetensorsFile::open(single);
        if (!file) {
            return file.error();
        }
        checkpoint.files_.push_back(std::make_unique<SafetensorsFile>(std::move(*file)));
        MCOMP_TRY(checkpoint.index_file(*checkpoint.files_.back()));
    } else if (fs::exists(index, ec)) {
        MCOMP_TRY(checkpoint.load_shards(index));
    } else {
        return make_error(ErrorKind::not_found,
                          model_dir +
                              ": has neither model.safetensors nor "
                              "model.safetensors.index.json; only safetensors weights "
                              "are read (convert .bin files with transformers first)");
    }
    MCOMP_TRY(checkpoint.validate());
    return checkpoint;
}

Status Checkpoint::index_file(const SafetensorsFile& file) {
    const auto where_of = [&](const Entry& entry) {
        return entry.file != nullptr ? entry.file->path() : dir_ + " (in memory)";
    };
    for (const std::string& name : file.names()) {
        const auto [it, inserted] = tensors_.try_emplace(name, Entry{file.find(name), &file});
        if (!inserted) {
            return make_error(ErrorKind::bad_input, "tensor '" + name + "' is stored twice: in " +
                                                        where_of(it->second) + " and in " +
                                                        file.path());
        }
    }
    return {};
}

Status Checkpoint::load_shards(const std::string& index_path) {
    auto entries = read_weight_map(index_path);
    if (!entries) {
        return entries.error();
    }
    std::map<std::string, const SafetensorsFile*> shards;
    for (const auto& [name, shard] : *entries) {
        if (shards.count(shard) != 0) {
            continue;
        }
        Expected<SafetensorsFile> file = SafetensorsFile::open(join(dir_, shard));
        if (!file) {
            return file.error();
        }
        files_.push_back(std::make_unique<SafetensorsFile>(std::move(*file)));
        shards[shard] = files_.back().get();
        MCOMP_TRY(index_file(*files_.back()));
    }
    for (const auto& [name, shard] : *entries) {
        if (shards.at(shard)->find(name) == nullptr) {
            return make_error(ErrorKind::bad_input, index_path + ": weight_map puts '" + name +
                                                        "' in " + shard +
                                                        ", which has no such tensor");
        }
    }
    return {};
}

Status Checkpoint::validate() {
    const auto where_of = [&](const Entry& entry) {
        return entry.file != nullptr ? entry.file->path() : dir_ + " (in memory)";
    };
    const std::string config_path = join(dir_, "config.json");
    const auto check = [&](const std::string& name, const std::vector<std::int64_t>& shape,
                           const std::string& because) -> Status {
        const auto it = tensors_.find(name);
        if (it == tensors_.end()) {
            return make_error(ErrorKind::bad_input,
                              dir_ + ": tensor '" + name +
                                  "' is missing; the weights are incomplete or " +
                                  "config.json belongs to another model");
        }
        const TensorView& view = *it->second.view;
        if (view.shape != shape) {
            return make_error(ErrorKind::bad_input,
                              where_of(it->second) + ": tensor '" + name + "' has shape " +
                                  shape_to_string(view.shape) + " but config.json implies " +
                                  shape_to_string(shape) + " (" + because + ")");
        }
        if (!is_dense_float(view.dtype)) {
            return make_error(ErrorKind::unsupported,
                              where_of(it->second) + ": tensor '" + name + "' has dtype " +
                                  std::string(dtype_name(view.dtype)) +
                                  "; dense weights must be F32, F16 or BF16");
        }
        return {};
    };
    for (const ExpectedTensor& expected : expected_block_tensors(config_)) {
        MCOMP_TRY(check(expected.name, expected.shape, expected.because));
    }
    // Tied checkpoints store one of the two (transformers saves lm_head.weight or
    // model.embed_tokens.weight and aliases the other in __metadata__).
    const std::vector<std::int64_t> vocab_shape = {config_.vocab_size, config_.hidden_size};
    const std::string because = "vocab_size, hidden_size";
    const std::string embed_name(kEmbedTokensName);
    const std::string head_name(kLmHeadName);
    const bool has_embed = tensors_.count(embed_name) != 0;
    const bool has_head = tensors_.count(head_name) != 0;
    if (config_.tie_word_embeddings && (has_embed || has_head)) {
        const std::string& stored = has_embed ? embed_name : head_name;
        MCOMP_TRY(check(stored, vocab_shape, because));
        embed_tokens_ = tensors_.at(stored).view;
        lm_head_ = embed_tokens_;
        return {};
    }
    MCOMP_TRY(check(embed_name, vocab_shape, because));
    if (!has_head && !config_.tie_word_embeddings) {
        return make_error(ErrorKind::bad_input,
                          dir_ + ": tensor 'lm_head.weight' is missing and " + config_path +
                              " has tie_word_embeddings false; the weights are incomplete");
    }
    MCOMP_TRY(check(head_name, vocab_shape, because));
    embed_tokens_ = tensors_.at(embed_name).view;
    lm_head_ = tensors_.at(head_name).view;
    return {};
}

const TensorView* Checkpoint::find(std::string_view name) const {
    const auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : it->second.view;
}

std::string Checkpoint::file_of(std::string_view name) const {
    const auto it = tensors_.find(name);
    if (it == tensors_.end()) {
        return std::string();
    }
    return it->second.file != nullptr ? it->second.file->path() : dir_ + " (in memory)";
}

std::vector<std::string> Checkpoint::tensor_names() const {
    std::vector<std::string> names;
    for (const auto& [name, entry] : tensors_) {
        names.push_back(name);
    }
    return names;
}

Expected<Checkpoint> Checkpoint::from_tensors(std::string dir, ModelConfig config,
                                              std::vector<OwnedTensor> tensors) {
    Checkpoint checkpoint;
    checkpoint.dir_ = std::move(dir);
    checkpoint.config_ = std::move(config);
    for (OwnedTensor& tensor : tensors) {
        auto owned = std::make_unique<OwnedTensor>(std::move(tensor));
        auto view = std::make_unique<TensorView>();
        view->dtype = owned->dtype;
        view->shape = owned->shape;
        view->data = owned->bytes.data();
        view->num_bytes = owned->bytes.size();
        if (static_cast<std::size_t>(view->numel()) * dtype_size(view->dtype) != view->num_bytes) {
            return make_error(ErrorKind::internal,
                              checkpoint.dir_ + ": in-memory tensor '" + owned->name + "' has " +
                                  std::to_string(view->num_bytes) + " bytes for shape " +
                                  shape_to_string(view->shape));
        }
        const auto [it, inserted] =
            checkpoint.tensors_.try_emplace(owned->name, Entry{view.get(), nullptr});
        if (!inserted) {
            return make_error(ErrorKind::internal, checkpoint.dir_ + ": in-memory tensor '" +
                                                       owned->name + "' is given twice");
        }
        checkpoint.owned_.push_back(std::move(owned));
        checkpoint.owned_views_.push_back(std::move(view));
    }
    MCOMP_TRY(checkpoint.validate());
    return checkpoint;
}

}  // namespace mcomp
