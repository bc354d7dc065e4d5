// reference_forward.hpp: a plain, double-precision Llama forward written straight from the
// transformers modules (one loop per formula, no kernels shared with the runtime), used as
// the yardstick for the runtime's fp32 forward on tiny checkpoints.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../model/tiny_checkpoint.hpp"
#include "model/config.hpp"
#include "model/llama_layout.hpp"

namespace mcomp::testing {

using Matrix = std::vector<std::vector<double>>;  // [rows][cols]

class ReferenceLlama {
  public:
    ReferenceLlama(const ModelConfig& config, const TinyWeights& weights,
                   std::vector<double> inv_freq)
        : cfg_(config), w_(weights), inv_freq_(std::move(inv_freq)) {}

    // Logits [seq][vocab] of one sequence.
    Matrix logits(const std::vector<std::int32_t>& tokens) const {
        Matrix x = embed(tokens);
        for (std::int64_t block = 0; block < cfg_.num_hidden_layers; ++block) {
            x = run_block(block, x);
        }
        return linear(rms_norm(x, "model.norm.weight"), head_name(), "");
    }

    Matrix embed(const std::vector<std::int32_t>& tokens) const {
        const std::vector<float>& table = w_.values.at(embed_name());
        Matrix x(tokens.size(), std::vector<double>(static_cast<std::size_t>(cfg_.hidden_size)));
        for (std::size_t t = 0; t < tokens.size(); ++t) {
            for (std::int64_t i = 0; i < cfg_.hidden_size; ++i) {
                x[t][static_cast<std::size_t>(i)] = table[tokens[t] * cfg_.hidden_size + i];
            }
        }
        return x;
    }

    Matrix run_block(std::int64_t block, const Matrix& x) const {
        const std::string layer = "model.layers." + std::to_string(block) + ".";
        Matrix h = add(x, attention(block, rms_norm(x, layer + "input_layernorm.weight")));
        const Matrix n = rms_norm(h, layer + "post_attention_layernorm.weight");
        const std::string mlp = layer + "mlp.";
        Matrix gate = linear(n, mlp + "gate_proj.weight", bias(block, LinearId::gate_proj));
        const Matrix up = linear(n, mlp + "up_proj.weight", bias(block, LinearId::up_proj));
        for (std::size_t t = 0; t < gate.size(); ++t) {
            for (std::size_t i = 0; i < gate[t].size(); ++i) {
                const double g = gate[t][i];
                gate[t][i] = g / (1.0 + std::exp(-g)) * up[t][i];
            }
        }
        return add(h, linear(gate, mlp + "down_proj.weight", bias(block, LinearId::down_proj)));
    }

    Matrix attention(std::int64_t block, const Matrix& n) const {
        const std::string attn = "model.layers." + std::to_string(block) + ".self_attn.";
        Matrix q = linear(n, attn + "q_proj.weight", bias(block, LinearId::q_proj));
        Matrix k = linear(n, attn + "k_proj.weight", bias(block, LinearId::k_proj));
        const Matrix v = linear(n, attn + "v_proj.weight", bias(block, LinearId::v_proj));
        rope(q, cfg_.num_attention_heads);
        rope(k, cfg_.num_key_value_heads);
        const std::size_t seq = n.size();
        const std::int64_t d = cfg_.head_dim;
        const std::int64_t group = cfg_.num_attention_heads / cfg_.num_key_value_heads;
        Matrix context(seq, std::vector<double>(static_cast<std::size_t>(cfg_.q_size())));
        for (std::int64_t h = 0; h < cfg_.num_attention_heads; ++h) {
            const std::int64_t g = h / group;
            for (std::size_t t = 0; t < seq; ++t) {
                std::vector<double> p(t + 1, 0.0);
                double max_score = -1e300;
                for (std::size_t s = 0; s <= t; ++s) {
                    if (cfg_.sliding_window &&
                        static_cast<std::int64_t>(t - s) >= *cfg_.sliding_window) {
                        p[s] = -1e300;
                        continue;
                    }
                    double dot = 0.0;
                    for (std::int64_t i = 0; i < d; ++i) {
                        dot += q[t][h * d + i] * k[s][g * d + i];
                    }
                    p[s] = dot / std::sqrt(static_cast<double>(d));
                    max_score = std::max(max_score, p[s]);
                }
                double sum = 0.0;
                for (double& value : p) {
                    value = value <= -1e299 ? 0.0 : std::exp(value - max_score);
                    sum += value;
                }
                for (std::size_t s = 0; s <= t; ++s) {
                    for (std::int64_t i = 0; i < d; ++i) {
                        context[t][h * d + i] += p[s] / sum * v[s][g * d + i];
                    }
                }
            }
        }
        return linear(context, attn + "o_proj.weight", bias(block, LinearId::o_proj));
    }

    Matrix rms_norm(const Matrix& x, const std::string& weight_name) const {
        const std::vector<float>& w = w_.values.at(weight_name);
        Matrix y = x;
        for (std::vector<double>& row : y) {
            double mean_square = 0.0;
            for (const double value : row) {
                mean_square += value * value / static_cast<double>(row.size());
            }
            const double inv_rms = 1.0 / std::sqrt(mean_square + cfg_.rms_norm_eps);
            for (std::size_t i = 0; i < row.size(); ++i) {
                row[i] = w[i] * row[i] * inv_rms;
            }
        }
        return y;
    }

    // y = x·Wᵀ + b with W [out, in].
    Matrix linear(const Matrix& x, const std::string& weight_name,
                  const std::string& bias_name) const {
        const std::vector<float>& w = w_.values.at(weight_name);
        const std::int64_t out = w_.shapes.at(weight_name)[0];
        const std::int64_t in = w_.shapes.at(weight_name)[1];
        Matrix y(x.size(), std::vector<double>(static_cast<std::size_t>(out)));
        for (std::size_t t = 0; t < x.size(); ++t) {
            for (std::int64_t o = 0; o < out; ++o) {
                double sum = bias_name.empty() ? 0.0 : w_.values.at(bias_name)[o];
                for (std::int64_t i = 0; i < in; ++i) {
                    sum += x[t][i] * w[o * in + i];
                }
                y[t][o] = sum;
            }
        }
        return y;
    }

    static Matrix add(const Matrix& a, const Matrix& b) {
        Matrix y = a;
        for (std::size_t t = 0; t < y.size(); ++t) {
            for (std::size_t i = 0; i < y[t].size(); ++i) {
                y[t][i] += b[t][i];
            }
        }
        return y;
    }

  private:
    void rope(Matrix& x, std::int64_t heads) const {
        const std::int64_t half = cfg_.head_dim / 2;
        for (std::size_t t = 0; t < x.size(); ++t) {
            for (std::int64_t h = 0; h < heads; ++h) {
                for (std::int64_t i = 0; i < half; ++i) {
                    const double angle = static_cast<double>(t) * inv_freq_[i];
                    double& a = x[t][h * cfg_.head_dim + i];
                    double& b = x[t][h * cfg_.head_dim + half + i];
                    const double a0 = a;
                    a = a0 * std::cos(angle) - b * std::sin(angle);
                    b = b * std::cos(angle) + a0 * std::sin(angle);
                }
            }
        }
    }

    std::string bias(std::int64_t block, LinearId id) const {
        return linear_has_bias(cfg_, id) ? linear_prefix(block, id) + ".bias" : "";
    }
    std::string embed_name() const {
        return w_.values.count(std::string(kEmbedTokensName)) ? std::string(kEmbedTokensName)
                                                              : std::string(kLmHeadName);
    }
    std::string head_name() const {
        return w_.values.count(std::string(kLmHeadName)) ? std::string(kLmHeadName)
                                                         : std::string(kEmbedTokensName);
    }

    const ModelConfig& cfg_;
    const TinyWeights& w_;
    std::vector<double> inv_freq_;
};

// theta^(-2i/d) in double: the default rotary frequencies.
inline std::vector<double> default_inv_freq(const ModelConfig& config) {
    std::vector<double> inv_freq(static_cast<std::size_t>(config.head_dim / 2));
    for (std::size_t i = 0; i < inv_freq.size(); ++i) {
        inv_freq[i] = std::pow(config.rope_theta,
                               -static_cast<double>(2 * i) / static_cast<double>(config.head_dim));
    }
    return inv_freq;
}

}  // namespace mcomp::testing
