// test_gptq_golden.cpp: `gptq` reproduces the PyTorch transcription of the authors' reference
// (golden/make_golden.py: gptq.py add_batch + fasterquant, quant.py Quantizer) on the same
// layer and samples, which both sides build from integers (splitmix64), in every case of the
// golden file: asym/sym, groups, act-order, static groups, mse, 2/3/4/8 bits. Tolerance as in
// gptq_test_support.hpp (torch's fp32 GEMMs and LAPACK round differently from oneDNN and the
// blocked Cholesky): codes identical up to each row's first rounding tie, at most 1/8 of the
// rows tied, weights and scales within 1e-5 of the group's range before it. Skips when the
// golden file is missing.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gptq_test_support.hpp"

namespace mcomp::test {
namespace {

// The committed golden file, or $MCOMP_GPTQ_GOLDEN (e.g. one just made on the GPU machine).
std::filesystem::path golden_path() {
    const char* env = std::getenv("MCOMP_GPTQ_GOLDEN");
    return env != nullptr && *env != '\0' ? std::filesystem::path(env)
                                          : std::filesystem::path(MCOMP_SOURCE_DIR) /
                                                "plugins/gptq/tests/golden/gptq_golden.json";
}

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// make_golden.py integers(stream, count, lo, hi).
std::vector<int64_t> integers(uint64_t stream, int64_t count, int64_t lo, int64_t hi) {
    std::vector<int64_t> out(static_cast<size_t>(count));
    const uint64_t span = static_cast<uint64_t>(hi - lo + 1);
    for (int64_t i = 0; i < count; ++i) {
        out[i] =
            lo + static_cast<int64_t>(splitmix64((stream << 32) + static_cast<uint64_t>(i)) % span);
    }
    return out;
}

// make_golden.py make_layer(): exact in fp32 (integers over powers of two).
GptqCase golden_layer(const nlohmann::json& layer) {
    GptqCase c;
    c.rows = layer.at("rows").get<int64_t>();
    c.cols = layer.at("cols").get<int64_t>();
    c.tokens = layer.at("tokens").get<int64_t>();
    const int64_t dead = layer.at("dead_column").get<int64_t>();
    for (const int64_t k : integers(1, c.rows * c.cols, -64, 64)) {
        c.weight.push_back(static_cast<float>(k) / 1024.0f);
    }
    for (int64_t s = 0; s < layer.at("samples").get<int64_t>(); ++s) {
        const std::vector<int64_t> u = integers(100 + s, c.tokens * c.cols, -32, 32);
        std::vector<float> x;
        for (int64_t t = 0; t < c.tokens; ++t) {
            for (int64_t j = 0; j < c.cols; ++j) {
                const int64_t prev = j > 0 ? u[t * c.cols + j - 1] : 0;
                const int64_t v = j == dead ? 0 : u[t * c.cols + j] * (1 + j % 5) + prev;
                x.push_back(static_cast<float>(v) / 64.0f);
            }
        }
        c.samples.push_back(std::move(x));
    }
    return c;
}

// The golden case as a LayerResult (the dequantized weight from codes, scales and zeros, as
// quantize() computes it).
LayerResult golden_result(const GptqCase& c, const nlohmann::json& g) {
    LayerResult r;
    r.out_features = c.rows;
    r.in_features = c.cols;
    r.scales = g.at("scales").get<std::vector<float>>();
    r.zeros = g.at("zeros").get<std::vector<float>>();
    r.g_idx = g.at("g_idx").get<std::vector<int32_t>>();
    r.num_groups = static_cast<int64_t>(r.scales.size()) / c.rows;
    const std::string hex = g.at("codes_hex").get<std::string>();
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
        r.codes.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    for (int64_t row = 0; row < c.rows; ++row) {
        for (int64_t j = 0; j < c.cols; ++j) {
            const int64_t gi = row * r.num_groups + r.g_idx[j];
            r.weight.push_back(r.scales[gi] *
                               (static_cast<float>(r.codes[row * c.cols + j]) - r.zeros[gi]));
        }
    }
    return r;
}

TEST(GptqGolden, MatchesThePyTorchReference) {
    const std::filesystem::path path = golden_path();
    if (!std::filesystem::exists(path)) {
        GTEST_SKIP() << "golden file missing: " << path
                     << "; make it with python3 plugins/gptq/tests/golden/make_golden.py --out "
                     << path.string();
    }
    std::ifstream stream(path);
    const nlohmann::json golden = nlohmann::json::parse(stream);
    const GptqCase c = golden_layer(golden.at("layer"));
    ASSERT_FALSE(golden.at("cases").empty());
    for (const nlohmann::json& g : golden.at("cases")) {
        const int bits = g.at("bits").get<int>();
        const int group_size = g.at("group_size").get<int>();
        const std::string label = "bits " + std::to_string(bits) + " group_size " +
                                  std::to_string(group_size) +
                                  (g.at("sym").get<bool>() ? " sym" : "") +
                                  (g.at("act_order").get<bool>() ? " act_order" : "") +
                                  (g.at("static_groups").get<bool>() ? " static" : "") +
                                  (g.at("mse").get<bool>() ? " mse" : "") + " block " +
                                  std::to_string(g.at("block_size").get<int>());
        SCOPED_TRACE(label);
        auto result = run_gptq(c, DeviceRequest::cpu,
                               {{"bits", int64_t{bits}, ""},
                                {"group_size", int64_t{group_size}, ""},
                                {"sym", g.at("sym").get<bool>(), ""},
                                {"act_order", g.at("act_order").get<bool>(), ""},
                                {"static_groups", g.at("static_groups").get<bool>(), ""},
                                {"mse", g.at("mse").get<bool>(), ""},
                                {"damp", g.at("damp").get<double>(), ""},
                                {"block_size", g.at("block_size").get<int64_t>(), ""}});
        ASSERT_TRUE(result.has_value()) << result.error().message;
        const LayerResult expected = golden_result(c, g);
        const Comparison cmp = compare_results(
            *result, expected, g.at("perm").get<std::vector<int32_t>>(), 1e-5 * ((1 << bits) - 1));
        EXPECT_EQ(cmp.problem, "");
        EXPECT_LE(cmp.tied_rows, c.rows / 8);
        std::printf("  golden %-40s tied rows %lld/%lld, max error %.3g steps\n", label.c_str(),
                    static_cast<long long>(cmp.tied_rows), static_cast<long long>(c.rows),
                    cmp.max_rel_error);
    }
}

}  // namespace
}  // namespace mcomp::test
