// write_format_samples.cpp: writes one small safetensors file per (format, scheme) case so
// that tests/golden/formats/check_layouts.py can unpack the packed tensors with its own
// reading of the published layout rules and compare with what went in.
//
// Each <out_dir>/<case>.safetensors holds
//   layer.<suffix>   the packed tensors (qweight, qzeros, ... / weight_packed, ...),
//   input.codes      U8  [out, in]    the layer as the quantizer gave it,
//   input.scales     F32 [out, groups]
//   input.zeros      F32 [out, groups]
//   input.g_idx      I32 [in]
//   expected.weight  F32 [out, in]    scale_rounded · (code − zero), computed by mcomp,
// and in its metadata "format" (gptq | awq | compressed-tensors) and "quantization_config"
// (the JSON fragment for config.json). A sparse-24-bitmask sample instead holds
//   layer.compressed / layer.bitmask / layer.shape   the packed 2:4 weight,
//   input.weight     F32 / F16 / BF16 [out, in]  the dense weight that went in,
// with "format" sparse-24-bitmask and its quantization_config (a sparsity_config).
//
// Usage: write_format_samples <out_dir>    (exit 0 on success)
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "engine/formats.hpp"
#include "format_test_layers.hpp"
#include "model/safetensors.hpp"

namespace mcomp {
namespace {

using testing::LayerSpec;
using testing::random_layer;

struct Sample {
    std::string name;
    std::string format;
    LayerSpec spec;
    GptqCheckpointFormat gptq_format = GptqCheckpointFormat::gptq;
    DType scale_dtype = DType::f16;
};

std::vector<Sample> samples() {
    std::vector<Sample> list;
    std::uint32_t seed = 100;
    for (const int bits : {2, 3, 4, 8}) {
        for (const auto format : {GptqCheckpointFormat::gptq, GptqCheckpointFormat::gptq_v2}) {
            const std::string tag =
                "gptq" + std::string(format == GptqCheckpointFormat::gptq ? "_v1" : "_v2") + "_b" +
                std::to_string(bits);
            list.push_back({tag + "_g128_asym_actorder",
                            "gptq",
                            {.out_features = 32,
                             .bits = bits,
                             .group_size = 128,
                             .desc_act = true,
                             .seed = ++seed},
                            format});
            list.push_back(
                {tag + "_g32_sym",
                 "gptq",
                 {.out_features = 32, .bits = bits, .group_size = 32, .sym = true, .seed = ++seed},
                 format});
            list.push_back({tag + "_row_asym",
                            "gptq",
                            {.out_features = 32, .bits = bits, .group_size = -1, .seed = ++seed},
                            format});
        }
    }
    list.push_back({"awq_g32_asym", "awq", {.out_features = 32, .group_size = 32, .seed = ++seed}});
    list.push_back({"awq_g128_sym",
                    "awq",
                    {.out_features = 32, .group_size = 128, .sym = true, .seed = ++seed}});
    list.push_back({"awq_row_asym", "awq", {.out_features = 32, .group_size = -1, .seed = ++seed}});
    for (const int bits : {2, 3, 4, 8}) {
        const std::string tag = "ct_b" + std::to_string(bits);
        // Odd extents: padding in weight_packed and weight_zero_point.
        list.push_back({tag + "_g128_asym_actorder",
                        "compressed-tensors",
                        {.out_features = 60,
                         .in_features = 200,
                         .bits = bits,
                         .group_size = 128,
                         .desc_act = true,
                         .seed = ++seed},
                        GptqCheckpointFormat::gptq,
                        DType::f16});
        list.push_back({tag + "_g32_sym_bf16",
                        "compressed-tensors",
                        {.out_features = 60,
                         .in_features = 200,
                         .bits = bits,
                         .group_size = 32,
                         .sym = true,
                         .seed = ++seed},
                        GptqCheckpointFormat::gptq,
                        DType::bf16});
        list.push_back({tag + "_row_asym_f32",
                        "compressed-tensors",
                        {.out_features = 60,
                         .in_features = 200,
                         .bits = bits,
                         .group_size = -1,
                         .seed = ++seed},
                        GptqCheckpointFormat::gptq,
                        DType::f32});
    }
    return list;
}

struct Packed {
    std::vector<PackedTensor> tensors;
    nlohmann::json config;
};

Expected<Packed> pack_sample(const Sample& sample, const QuantizedLinear& layer) {
    Packed packed;
    Expected<std::vector<PackedTensor>> tensors = std::vector<PackedTensor>{};
    if (sample.format == "gptq") {
        tensors = pack_gptq(layer, sample.gptq_format);
        packed.config = gptq_quantization_config(gptq_config_for(layer, sample.gptq_format));
    } else if (sample.format == "awq") {
        tensors = pack_awq(layer);
        packed.config = awq_quantization_config(awq_config_for(layer));
    } else {
        tensors = pack_compressed_tensors(layer, sample.scale_dtype);
        packed.config =
            compressed_tensors_quantization_config(compressed_tensors_config_for(layer));
    }
    MCOMP_TRY(tensors);
    packed.tensors = std::move(*tensors);
    return packed;
}

Status write_sample(const Sample& sample, const std::filesystem::path& dir) {
    const QuantizedLinear layer = random_layer(sample.spec);
    const Expected<Packed> packed = pack_sample(sample, layer);
    MCOMP_TRY(packed);
    const std::vector<float> weight = dequantize(with_scales_rounded(layer, sample.scale_dtype));
    const std::int64_t out = layer.out_features;
    const std::int64_t in = layer.in_features;
    const std::int64_t groups = layer.num_groups();
    std::vector<TensorToWrite> tensors;
    for (const PackedTensor& tensor : packed->tensors) {
        tensors.push_back({"layer." + tensor.name, tensor.dtype, tensor.shape, tensor.bytes.data(),
                           tensor.bytes.size()});
    }
    tensors.push_back(
        {"input.codes", DType::u8, {out, in}, layer.codes.data(), layer.codes.size()});
    tensors.push_back({"input.scales",
                       DType::f32,
                       {out, groups},
                       layer.scales.data(),
                       layer.scales.size() * sizeof(float)});
    tensors.push_back({"input.zeros",
                       DType::f32,
                       {out, groups},
                       layer.zeros.data(),
                       layer.zeros.size() * sizeof(float)});
    tensors.push_back({"input.g_idx",
                       DType::i32,
                       {in},
                       layer.g_idx.data(),
                       layer.g_idx.size() * sizeof(std::int32_t)});
    tensors.push_back(
        {"expected.weight", DType::f32, {out, in}, weight.data(), weight.size() * sizeof(float)});
    const std::map<std::string, std::string> metadata = {
        {"format", sample.format}, {"quantization_config", packed->config.dump()}};
    return write_safetensors((dir / (sample.name + ".safetensors")).string(), tensors, metadata);
}

// ---- sparse-24-bitmask --------------------------------------------------------------------

struct SparseSample {
    std::string name;
    std::int64_t out_features = 0;
    std::int64_t in_features = 0;
    DType dtype = DType::f16;
    std::uint32_t seed = 0;
};

std::vector<SparseSample> sparse_samples() {
    return {{"sparse24_f32_12x64", 12, 64, DType::f32, 1},
            {"sparse24_f16_9x20", 9, 20, DType::f16, 2},  // a half-used last bitmask byte
            {"sparse24_bf16_16x132", 16, 132, DType::bf16, 3}};
}

// A 2:4 weight in `dtype`: most groups keep 2 non-zeros, some 1 or 0; some zeros are -0.
std::vector<std::byte> two_of_four_bytes(const SparseSample& sample, std::int64_t& zeros) {
    std::mt19937 rng(sample.seed);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    const std::size_t count = static_cast<std::size_t>(sample.out_features * sample.in_features);
    std::vector<float> w(count, 0.0f);
    for (std::size_t g = 0; g < count; g += 4) {
        const unsigned keep = rng() % 6 == 0 ? rng() % 2 : 2;
        const unsigned first = rng() % 4;
        for (unsigned k = 0; k < 4; ++k) {
            const std::size_t p = g + (first + k) % 4;
            w[p] = k < keep ? normal(rng) : (rng() % 4 == 0 ? -0.0f : 0.0f);
        }
    }
    std::vector<std::byte> bytes(count * dtype_size(sample.dtype));
    zeros = 0;
    for (std::size_t k = 0; k < count; ++k) {
        if (sample.dtype == DType::f32) {
            std::memcpy(bytes.data() + k * 4, &w[k], 4);
            zeros += w[k] == 0.0f ? 1 : 0;
        } else {
            const std::uint16_t h =
                sample.dtype == DType::f16 ? f32_to_f16(w[k]) : f32_to_bf16(w[k]);
            std::memcpy(bytes.data() + k * 2, &h, 2);
            zeros += (h & 0x7fffu) == 0 ? 1 : 0;
        }
    }
    return bytes;
}

Status write_sparse_sample(const SparseSample& sample, const std::filesystem::path& dir) {
    std::int64_t zeros = 0;
    const std::vector<std::byte> bytes = two_of_four_bytes(sample, zeros);
    TensorView view;
    view.dtype = sample.dtype;
    view.shape = {sample.out_features, sample.in_features};
    view.data = bytes.data();
    view.num_bytes = bytes.size();
    const Expected<std::vector<PackedTensor>> packed = pack_sparse24_bitmask(view, sample.name);
    MCOMP_TRY(packed);
    std::vector<TensorToWrite> tensors;
    for (const PackedTensor& tensor : *packed) {
        tensors.push_back({"layer." + tensor.name, tensor.dtype, tensor.shape, tensor.bytes.data(),
                           tensor.bytes.size()});
    }
    tensors.push_back({"input.weight", sample.dtype, view.shape, bytes.data(), bytes.size()});
    Sparse24Config config;
    config.global_sparsity =
        static_cast<double>(zeros) / static_cast<double>(sample.out_features * sample.in_features);
    const std::map<std::string, std::string> metadata = {
        {"format", "sparse-24-bitmask"},
        {"quantization_config", sparse24_bitmask_quantization_config(config).dump()}};
    return write_safetensors((dir / (sample.name + ".safetensors")).string(), tensors, metadata);
}

}  // namespace
}  // namespace mcomp

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: write_format_samples <out_dir>\n");
        return 2;
    }
    const std::filesystem::path dir = argv[1];
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    int written = 0;
    for (const mcomp::Sample& sample : mcomp::samples()) {
        const mcomp::Status status = mcomp::write_sample(sample, dir);
        if (!status) {
            std::fprintf(stderr, "%s: %s\n", sample.name.c_str(), status.error().message.c_str());
            return 1;
        }
        ++written;
    }
    for (const mcomp::SparseSample& sample : mcomp::sparse_samples()) {
        const mcomp::Status status = mcomp::write_sparse_sample(sample, dir);
        if (!status) {
            std::fprintf(stderr, "%s: %s\n", sample.name.c_str(), status.error().message.c_str());
            return 1;
        }
        ++written;
    }
    std::printf("wrote %d samples to %s\n", written, dir.string().c_str());
    return 0;
}
