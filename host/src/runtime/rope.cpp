// rope.cpp: see rope.hpp. Every step is in fp32, with the operand order of the reference,
// so the angles match torch's to the last bit where the libm functions agree.
#include "runtime/rope.hpp"

#include <cmath>
#include <numbers>

namespace mcomp {

namespace {

// _compute_llama3_parameters: keep high frequencies, divide low ones by `factor`, and
// interpolate smoothly between the two wavelength bounds.
void apply_llama3_scaling(const RopeScaling& scaling, std::vector<float>& inv_freq) {
    const float factor = static_cast<float>(scaling.factor);
    const float low_freq_factor = static_cast<float>(scaling.low_freq_factor);
    const float high_freq_factor = static_cast<float>(scaling.high_freq_factor);
    const float old_context_len = static_cast<float>(scaling.original_max_position_embeddings);
    const float low_freq_wavelen = old_context_len / low_freq_factor;
    const float high_freq_wavelen = old_context_len / high_freq_factor;
    const float two_pi = static_cast<float>(2.0 * std::numbers::pi);
    for (float& freq : inv_freq) {
        const float wavelen = two_pi / freq;
        float scaled = wavelen > low_freq_wavelen ? freq / factor : freq;
        const bool is_medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
        if (is_medium) {
            const float smooth = (old_context_len / wavelen - low_freq_factor) /
                                 (high_freq_factor - low_freq_factor);
            scaled = (1.0f - smooth) * scaled / factor + smooth * scaled;
        }
        freq = scaled;
    }
}

}  // namespace

std::vector<float> rope_inv_freq(const ModelConfig& config) {
    // 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim)), fp32 throughout.
    const std::int64_t dim = config.head_dim;
    const float base = static_cast<float>(config.rope_theta);
    std::vector<float> inv_freq(static_cast<std::size_t>(dim / 2));
    for (std::int64_t i = 0; i < dim / 2; ++i) {
        const float exponent = static_cast<float>(2 * i) / static_cast<float>(dim);
        inv_freq[static_cast<std::size_t>(i)] = 1.0f / std::pow(base, exponent);
    }
    switch (config.rope_scaling.type) {
        case RopeScalingType::none:
            break;
        case RopeScalingType::linear:
            for (float& freq : inv_freq) {
                freq /= static_cast<float>(config.rope_scaling.factor);
            }
            break;
        case RopeScalingType::llama3:
            apply_llama3_scaling(config.rope_scaling, inv_freq);
            break;
    }
    return inv_freq;
}

RopeTables rope_tables(const std::vector<float>& inv_freq, std::int64_t num_positions) {
    const std::size_t half = inv_freq.size();
    RopeTables tables;
    tables.cos.resize(static_cast<std::size_t>(num_positions) * half);
    tables.sin.resize(tables.cos.size());
    for (std::int64_t p = 0; p < num_positions; ++p) {
        for (std::size_t i = 0; i < half; ++i) {
            // freqs = inv_freq @ position_ids in fp32: one product, rounded once.
            const float angle = inv_freq[i] * static_cast<float>(p);
            tables.cos[static_cast<std::size_t>(p) * half + i] = std::cos(angle);
            tables.sin[static_cast<std::size_t>(p) * half + i] = std::sin(angle);
        }
    }
    return tables;
}

}  // namespace mcomp
