// test_golden_logits.cpp: the CPU forward of TinyStories-656K against logits from
// transformers (fp32, CPU), made by tests/golden/model/make_golden_logits.py. Skips, saying
// how to make it, when the golden file or the model is absent.
//
// Tolerances: 1e-4 absolute per logit (logits are O(10); fp32 sums in another order differ
// by ~1e-5); the sum of a sequence's logits within 1e-5 per summed logit, its sum of
// squares within 2·rms·1e-5 per summed logit.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/checkpoint.hpp"
#include "runtime/cpu_backend.hpp"
#include "runtime/llama_model.hpp"
#include "util/strings.hpp"

namespace mcomp {
namespace {

constexpr double kLogitTolerance = 1e-4;
constexpr double kSumTolerancePerLogit = 1e-5;

TEST(GoldenLogits, TinyStoriesMatchesTransformers) {
    const std::string golden_path =
        std::string(MCOMP_SOURCE_DIR) + "/tests/golden/model/tinystories656k_logits.json";
    const std::string model_dir = test_data_dir() + "/models/TinyStories-656K";
    if (!std::filesystem::exists(golden_path)) {
        GTEST_SKIP() << golden_path
                     << " is absent; make it where torch and transformers are installed with "
                        "python3 tests/golden/model/make_golden_logits.py";
    }
    if (!std::filesystem::exists(model_dir + "/model.safetensors")) {
        GTEST_SKIP() << "shared test model not found at " << model_dir << " (set MCOMP_TEST_DATA)";
    }
    const nlohmann::json golden = nlohmann::json::parse(std::ifstream(golden_path));
    Expected<Checkpoint> checkpoint = Checkpoint::open(model_dir);
    ASSERT_TRUE(checkpoint) << checkpoint.error().message;
    const std::int64_t vocab = checkpoint->config().vocab_size;
    ASSERT_EQ(golden.at("vocab_size").get<std::int64_t>(), vocab);
    CpuBackend backend;
    LlamaModel model(*checkpoint, backend);
    ASSERT_EQ(golden.at("sequences").size(), 3u);
    for (const nlohmann::json& sequence : golden.at("sequences")) {
        const std::vector<std::int32_t> tokens = sequence.at("tokens");
        const std::int64_t length = static_cast<std::int64_t>(tokens.size());
        SCOPED_TRACE("sequence of " + std::to_string(length) + " tokens");
        Expected<Tensor> logits = model.forward(tokens, 1, length);
        ASSERT_TRUE(logits) << logits.error().message;
        const float* values = logits->f32();

        const std::vector<double> last = sequence.at("last_logits");
        ASSERT_EQ(static_cast<std::int64_t>(last.size()), vocab);
        double worst = 0.0;
        for (std::int64_t i = 0; i < vocab; ++i) {
            worst = std::max(worst, std::abs(values[(length - 1) * vocab + i] - last[i]));
        }
        EXPECT_LT(worst, kLogitTolerance) << "last position";
        for (const nlohmann::json& sample : sequence.at("samples")) {
            const std::int64_t position = sample[0];
            const std::int64_t index = sample[1];
            EXPECT_NEAR(values[position * vocab + index], sample[2].get<double>(), kLogitTolerance)
                << "position " << position << ", index " << index;
        }
        double sum = 0.0;
        double sum_squares = 0.0;
        for (std::int64_t i = 0; i < length * vocab; ++i) {
            sum += values[i];
            sum_squares += static_cast<double>(values[i]) * values[i];
        }
        const double count = static_cast<double>(length * vocab);
        const double rms = std::sqrt(sum_squares / count);
        EXPECT_NEAR(sum, sequence.at("sum").get<double>(), kSumTolerancePerLogit * count);
        EXPECT_NEAR(sum_squares, sequence.at("sum_squares").get<double>(),
                    2 * rms * kSumTolerancePerLogit * count);
    }
}

}  // namespace
}  // namespace mcomp
