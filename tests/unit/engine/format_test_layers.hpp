// format_test_layers.hpp: deterministic random quantized layers for the format tests and
// for the golden-file writer (tests/unit/engine/write_format_samples.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "engine/formats.hpp"

namespace mcomp::testing {

struct LayerSpec {
    std::int64_t out_features = 64;
    std::int64_t in_features = 256;
    int bits = 4;
    int group_size = 128;
    bool sym = false;
    bool desc_act = false;
    std::uint32_t seed = 1;
};

// A valid random layer: codes anywhere in [0, 2^bits), zeros anywhere in [0, 2^bits)
// (the first one 0 and the last one 2^bits − 1, so the v1 wrap-around and the top value
// are always exercised) or 2^(bits−1) when symmetric, scales of mixed magnitude that are
// not 16-bit values (so rounding is exercised), and for desc_act a g_idx that groups a
// random permutation of the columns, as GPTQ's act-order does.
inline QuantizedLinear random_layer(const LayerSpec& spec) {
    // Raw mt19937 output, reduced by hand: std distributions differ between libraries.
    std::mt19937 rng(spec.seed);
    const auto below = [&rng](std::uint32_t n) { return static_cast<std::uint32_t>(rng() % n); };
    QuantizedLinear layer;
    layer.name = "model.layers.0.mlp.up_proj";
    layer.out_features = spec.out_features;
    layer.in_features = spec.in_features;
    layer.bits = spec.bits;
    layer.group_size = spec.group_size;
    layer.sym = spec.sym;
    layer.desc_act = spec.desc_act;
    const std::uint32_t levels = 1u << spec.bits;
    const std::int64_t groups = layer.num_groups();
    layer.codes.resize(static_cast<std::size_t>(spec.out_features * spec.in_features));
    for (std::uint8_t& code : layer.codes) {
        code = static_cast<std::uint8_t>(below(levels));
    }
    layer.scales.resize(static_cast<std::size_t>(spec.out_features * groups));
    layer.zeros.resize(layer.scales.size());
    for (std::size_t k = 0; k < layer.scales.size(); ++k) {
        const float mantissa = 1.0f + static_cast<float>(below(1u << 20)) / (1u << 20);
        const int exponent = -12 + static_cast<int>(below(10));
        layer.scales[k] = std::ldexp(mantissa, exponent) * (below(8) == 0 ? -1.0f : 1.0f);
        layer.zeros[k] =
            spec.sym ? static_cast<float>(levels / 2) : static_cast<float>(below(levels));
    }
    if (!spec.sym) {
        layer.zeros.front() = 0.0f;
        layer.zeros.back() = static_cast<float>(levels - 1);
    }
    layer.g_idx = sequential_g_idx(spec.in_features, spec.group_size);
    if (spec.desc_act) {
        std::vector<std::int32_t> perm(static_cast<std::size_t>(spec.in_features));
        for (std::size_t i = 0; i < perm.size(); ++i) {
            perm[i] = static_cast<std::int32_t>(i);
        }
        for (std::size_t i = perm.size() - 1; i > 0; --i) {
            std::swap(perm[i], perm[below(static_cast<std::uint32_t>(i + 1))]);
        }
        const std::int64_t group = spec.group_size > 0 ? spec.group_size : spec.in_features;
        for (std::size_t j = 0; j < perm.size(); ++j) {
            layer.g_idx[static_cast<std::size_t>(perm[j])] =
                static_cast<std::int32_t>(static_cast<std::int64_t>(j) / group);
        }
    }
    return layer;
}

// The tensor called `name` in `tensors`, or null.
inline const PackedTensor* find_tensor(const std::vector<PackedTensor>& tensors,
                                       const std::string& name) {
    for (const PackedTensor& tensor : tensors) {
        if (tensor.name == name) {
            return &tensor;
        }
    }
    return nullptr;
}

// The int32 words of a packed tensor.
inline std::vector<std::uint32_t> words_of(const PackedTensor& tensor) {
    std::vector<std::uint32_t> words(tensor.bytes.size() / 4);
    std::memcpy(words.data(), tensor.bytes.data(), tensor.bytes.size());
    return words;
}

// Equal bit for bit (so -0 != +0 and NaN == NaN of the same payload).
inline bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() &&
           (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// The first field in which `a` and `b` differ ("" when none); scales compared bit for bit.
inline std::string layer_difference(const QuantizedLinear& a, const QuantizedLinear& b) {
    if (a.name != b.name)
        return "name: " + a.name + " vs " + b.name;
    if (a.out_features != b.out_features)
        return "out_features";
    if (a.in_features != b.in_features)
        return "in_features";
    if (a.bits != b.bits)
        return "bits";
    if (a.group_size != b.group_size)
        return "group_size";
    if (a.sym != b.sym)
        return "sym";
    if (a.desc_act != b.desc_act)
        return "desc_act";
    if (a.codes != b.codes)
        return "codes";
    if (!same_bits(a.scales, b.scales))
        return "scales";
    if (!same_bits(a.zeros, b.zeros))
        return "zeros";
    if (a.g_idx != b.g_idx)
        return "g_idx";
    return "";
}

}  // namespace mcomp::testing
