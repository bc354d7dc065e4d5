// model_reader.cpp: see model_reader.hpp.
#include "compress/model_reader.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <map>
#include <set>

#include "engine/formats.hpp"
#include "model/config.hpp"
#include "model/llama_layout.hpp"
#include "model/safetensors.hpp"
#include "util/strings.hpp"

namespace mcomp::compress {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The weight files of a folder: model.safetensors or the shards of the index.
Expected<std::vector<std::unique_ptr<SafetensorsFile>>> open_weight_files(const fs::path& dir) {
    std::vector<std::string> names;
    std::error_code ec;
    if (fs::exists(dir / "model.safetensors", ec)) {
        names.push_back("model.safetensors");
    } else {
        const fs::path index_path = dir / "model.safetensors.index.json";
        std::string text;
        if (!read_file(index_path.string(), text)) {
            return make_error(ErrorKind::not_found, dir.string() +
                                                        ": has neither model.safetensors nor "
                                                        "model.safetensors.index.json");
        }
        try {
            std::set<std::string> seen;
            for (const auto& [tensor, shard] : json::parse(text).at("weight_map").items()) {
                const std::string file = shard.get<std::string>();
                if (file.find('/') != std::string::npos || file == "..") {
                    return make_error(ErrorKind::bad_input,
                                      index_path.string() + ": shard '" + file +
                                          "' is not a file in the model folder");
                }
                if (seen.insert(file).second) {
                    names.push_back(file);
                }
            }
        } catch (const json::exception& e) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("{}: bad index ({})", index_path.string(), e.what()));
        }
    }
    std::vector<std::unique_ptr<SafetensorsFile>> files;
    for (const std::string& name : names) {
        Expected<SafetensorsFile> file = SafetensorsFile::open((dir / name).string());
        if (!file) {
            return file.error();
        }
        files.push_back(std::make_unique<SafetensorsFile>(std::move(*file)));
    }
    return files;
}

// Which suffix marks a packed linear, and which suffixes belong to it.
struct PackedLayout {
    std::string marker;
    std::vector<std::string> parts;
};

PackedLayout layout_for(const std::string& format) {
    if (format == "sparse-24-bitmask") {
        return {"compressed", {"compressed", "bitmask", "shape"}};
    }
    if (format == "compressed-tensors") {
        return {
            "weight_packed",
            {"weight_packed", "weight_scale", "weight_zero_point", "weight_shape", "weight_g_idx"}};
    }
    if (format == "awq") {
        return {"qweight", {"qweight", "qzeros", "scales"}};
    }
    return {"qweight", {"qweight", "qzeros", "scales", "g_idx"}};
}

Checkpoint::OwnedTensor copy_tensor(const std::string& name, const TensorView& view) {
    Checkpoint::OwnedTensor tensor;
    tensor.name = name;
    tensor.dtype = view.dtype;
    tensor.shape = view.shape;
    tensor.bytes.resize(view.num_bytes);
    std::memcpy(tensor.bytes.data(), view.data, view.num_bytes);
    return tensor;
}

// Dequantizes one packed linear with the reader its method calls for.
Expected<std::vector<float>> dequantize_layer(const std::string& method, const json& quant,
                                              const LayerTensors& tensors,
                                              const std::string& prefix) {
    if (method == "gptq") {
        Expected<GptqConfig> config = parse_gptq_quantization_config(quant);
        if (!config) {
            return config.error();
        }
        return dequantize_gptq(tensors, *config, prefix);
    }
    if (method == "awq") {
        Expected<AwqConfig> config = parse_awq_quantization_config(quant);
        if (!config) {
            return config.error();
        }
        return dequantize_awq(tensors, *config, prefix);
    }
    Expected<CompressedTensorsConfig> config = parse_compressed_tensors_quantization_config(quant);
    if (!config) {
        return config.error();
    }
    return dequantize_compressed_tensors(tensors, *config, prefix);
}

// "<prefix>.weight" from the packed tensors of one linear: the dense weight a
// sparse-24-bitmask layer holds (in its dtype, bit for bit), or the dequantized fp32 weight.
Expected<Checkpoint::OwnedTensor> unpack_layer(const std::string& format, const json& quant,
                                               const LayerTensors& parts,
                                               const std::string& prefix) {
    Checkpoint::OwnedTensor tensor;
    tensor.name = prefix + ".weight";
    if (format == "sparse-24-bitmask") {
        Expected<PackedTensor> dense = unpack_sparse24_bitmask(parts, prefix);
        if (!dense) {
            return dense.error();
        }
        tensor.dtype = dense->dtype;
        tensor.shape = dense->shape;
        tensor.bytes = std::move(dense->bytes);
        return tensor;
    }
    Expected<std::vector<float>> weight =
        dequantize_layer(format == "gptq_v2" ? "gptq" : format, quant, parts, prefix);
    if (!weight) {
        return weight.error();
    }
    tensor.dtype = DType::f32;
    tensor.bytes.resize(weight->size() * sizeof(float));
    std::memcpy(tensor.bytes.data(), weight->data(), tensor.bytes.size());
    return tensor;
}

}  // namespace

Expected<OpenedModel> open_model(const std::string& dir) {
    const fs::path config_path = fs::path(dir) / "config.json";
    Expected<ModelConfig> config = load_model_config(config_path.string());
    if (!config) {
        return config.error();
    }
    OpenedModel opened;
    if (config->quant_method.empty()) {
        Expected<Checkpoint> checkpoint = Checkpoint::open(dir);
        if (!checkpoint) {
            return checkpoint.error();
        }
        opened.checkpoint = std::make_unique<Checkpoint>(std::move(*checkpoint));
        opened.format = "dense";
        return opened;
    }
    const std::string method = config->quant_method;
    if (method != "gptq" && method != "awq" && method != "compressed-tensors") {
        return make_error(ErrorKind::unsupported,
                          fmt::format("{}: quantization_config.quant_method '{}' is not one mcomp "
                                      "reads (gptq, awq, compressed-tensors)",
                                      config_path.string(), method));
    }
    std::string text;
    read_file(config_path.string(), text);
    json quant;
    try {
        quant = json::parse(text).at("quantization_config");
    } catch (const json::exception& e) {
        return make_error(ErrorKind::bad_input, fmt::format("{}: quantization_config: {}",
                                                            config_path.string(), e.what()));
    }
    opened.format = method == "gptq" && quant.value("checkpoint_format", "gptq") == "gptq_v2"
                        ? "gptq_v2"
                        : method;
    if (method == "compressed-tensors" && is_sparse24_bitmask_config(quant)) {
        Expected<Sparse24Config> sparse = parse_sparse24_bitmask_config(quant);
        if (!sparse) {
            return make_error(sparse.error().kind,
                              config_path.string() + ": " + sparse.error().message);
        }
        opened.format = "sparse-24-bitmask";
    }
    Expected<std::vector<std::unique_ptr<SafetensorsFile>>> files = open_weight_files(dir);
    if (!files) {
        return files.error();
    }
    // name → view, across files.
    std::map<std::string, const TensorView*> views;
    for (const auto& file : *files) {
        for (const std::string& name : file->names()) {
            views[name] = file->find(name);
        }
    }
    const PackedLayout layout = layout_for(opened.format);
    const std::string marker = "." + layout.marker;
    std::vector<Checkpoint::OwnedTensor> tensors;
    std::set<std::string> consumed;
    for (const auto& [name, unused] : views) {
        if (name.size() <= marker.size() ||
            name.compare(name.size() - marker.size(), marker.size(), marker) != 0) {
            continue;
        }
        const std::string prefix = name.substr(0, name.size() - marker.size());
        LayerTensors parts;
        for (const std::string& part : layout.parts) {
            const auto it = views.find(prefix + "." + part);
            if (it != views.end()) {
                parts.emplace(part, *it->second);
                consumed.insert(it->first);
            }
        }
        Expected<Checkpoint::OwnedTensor> tensor =
            unpack_layer(opened.format, quant, parts, prefix);
        if (!tensor) {
            return make_error(tensor.error().kind, dir + ": " + tensor.error().message);
        }
        tensors.push_back(std::move(*tensor));
        ++opened.packed_layers;
    }
    // Shapes of the dequantized weights come from the model config (the layout checks them).
    for (Checkpoint::OwnedTensor& tensor : tensors) {
        const std::string prefix = tensor.name.substr(0, tensor.name.size() - 7);
        std::vector<std::int64_t> expected;
        for (std::int64_t block = 0; block < config->num_hidden_layers; ++block) {
            for (const LinearId id : kAllLinears) {
                if (linear_prefix(block, id) == prefix) {
                    const auto shape = linear_shape(*config, id);
                    expected = {shape[0], shape[1]};
                }
            }
        }
        if (!expected.empty() && !tensor.shape.empty() && tensor.shape != expected) {
            return make_error(
                ErrorKind::bad_input,
                fmt::format("{}: '{}' is stored as {}, the model config says {}", dir, prefix,
                            shape_to_string(tensor.shape), shape_to_string(expected)));
        }
        tensor.shape = expected;
        if (tensor.shape.empty()) {
            return make_error(
                ErrorKind::bad_input,
                fmt::format("{}: packed tensors of '{}', which is not a linear of a "
                            "decoder block; mcomp reads quantized decoder linears only",
                            dir, prefix));
        }
    }
    for (const auto& [name, view] : views) {
        if (consumed.count(name) == 0) {
            tensors.push_back(copy_tensor(name, *view));
        }
    }
    ModelConfig dense_config = *config;
    dense_config.quant_method.clear();
    Expected<Checkpoint> checkpoint =
        Checkpoint::from_tensors(dir, std::move(dense_config), std::move(tensors));
    if (!checkpoint) {
        return checkpoint.error();
    }
    opened.checkpoint = std::make_unique<Checkpoint>(std::move(*checkpoint));
    opened.mapped = false;
    return opened;
}

}  // namespace mcomp::compress
