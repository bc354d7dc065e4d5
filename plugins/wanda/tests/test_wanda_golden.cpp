// test_wanda_golden.cpp: `wanda` against masks that PyTorch itself computed with the authors'
// code (golden/make_wanda_golden.py). The layers are regenerated here from the same 64-bit
// LCG; on their dyadic lattices every fp32 sum of squares is exact, so torch's norms and the
// plugin's are the same bits and the masks must agree exactly with torch on CUDA (the
// reference's device), ties included. Both backends are checked; CUDA only where it runs.
// Skips when the golden file has not been made (the lead runs the script where torch is).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "wanda_reference.hpp"

namespace mcomp::test {
namespace {

std::string golden_path() {
    const char* env = std::getenv("MCOMP_WANDA_GOLDEN");
    return env != nullptr
               ? std::string(env)
               : std::string(MCOMP_SOURCE_DIR) + "/plugins/wanda/tests/golden/wanda_golden.json";
}

// make_wanda_golden.py's lattice(): v / denominator, v in [-k, k] from the LCG.
std::vector<float> lattice_values(uint64_t seed, int64_t count, int64_t k, double denominator) {
    std::vector<float> values(static_cast<size_t>(count));
    uint64_t state = seed;
    for (float& value : values) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        const auto v = static_cast<int64_t>((state >> 33) % static_cast<uint64_t>(2 * k + 1)) - k;
        value = static_cast<float>(static_cast<double>(v) / denominator);
    }
    return values;
}

// make_wanda_golden.py's case_tensors(): silent columns (j % 9 == 4) and columns that repeat
// their neighbour (j % 9 == 7).
WandaCase golden_case(const nlohmann::json& entry) {
    WandaCase c;
    c.rows = entry.at("rows").get<int64_t>();
    c.cols = entry.at("cols").get<int64_t>();
    const auto samples = entry.at("samples").get<int64_t>();
    const auto tokens = entry.at("tokens").get<int64_t>();
    const nlohmann::json& w = entry.at("weight");
    const nlohmann::json& x = entry.at("input");
    c.weight = lattice_values(w[0].get<uint64_t>(), c.rows * c.cols, w[1].get<int64_t>(),
                              w[2].get<double>());
    const std::vector<float> inputs = lattice_values(
        x[0].get<uint64_t>(), samples * tokens * c.cols, x[1].get<int64_t>(), x[2].get<double>());
    for (int64_t s = 0; s < samples; ++s) {
        std::vector<float> batch(inputs.begin() + s * tokens * c.cols,
                                 inputs.begin() + (s + 1) * tokens * c.cols);
        for (int64_t t = 0; t < tokens; ++t) {
            for (int64_t j = 0; j < c.cols; ++j) {
                float& value = batch[t * c.cols + j];
                value = j % 9 == 4 ? 0.0f : (j % 9 == 7 ? batch[t * c.cols + j - 1] : value);
            }
        }
        c.batches.push_back(std::move(batch));
    }
    return c;
}

std::vector<ParamArg> mode_args(const std::string& mode) {
    if (mode == "2:4") {
        return n_of_m(2, 4);
    }
    if (mode == "4:8") {
        return n_of_m(4, 8);
    }
    return unstructured(std::stod(mode.substr(mode.find('_') + 1)));
}

std::string mask_string(const std::vector<uint8_t>& mask) {
    std::string text;
    for (const uint8_t kept : mask) {
        text += kept != 0 ? '1' : '0';
    }
    return text;
}

int64_t count_differences(const std::string& a, const std::string& b) {
    int64_t count = a.size() == b.size() ? 0 : -1;
    for (size_t i = 0; count >= 0 && i < a.size(); ++i) {
        count += a[i] != b[i] ? 1 : 0;
    }
    return count;
}

TEST(WandaGolden, MasksMatchTorchOnCuda) {
    std::ifstream file(golden_path());
    if (!file) {
        GTEST_SKIP() << "golden file " << golden_path()
                     << " not found: run plugins/wanda/tests/golden/make_wanda_golden.py where "
                        "python3 has torch (see its header)";
    }
    const nlohmann::json golden = nlohmann::json::parse(file);
    std::vector<DeviceRequest> devices = {DeviceRequest::cpu};
    if (wanda_cuda_unavailable_reason().empty()) {
        devices.push_back(DeviceRequest::cuda);
    }
    int checked = 0;
    for (const nlohmann::json& entry : golden.at("cases")) {
        const WandaCase c = golden_case(entry);
        const nlohmann::json& masks = entry.at("masks");
        if (!masks.contains("cuda")) {
            GTEST_SKIP() << "the golden file was made without CUDA; its masks are CPU torch's";
        }
        for (const auto& [mode, expected] : masks.at("cuda").items()) {
            for (const DeviceRequest device : devices) {
                SCOPED_TRACE(entry.at("name").get<std::string>() + " " + mode + " on " +
                             device_name(device));
                auto result = run_wanda(device, mode_args(mode), c);
                ASSERT_TRUE(result.has_value()) << result.error().message;
                EXPECT_EQ(count_differences(mask_string(result->mask), expected.get<std::string>()),
                          0);
                ++checked;
            }
            // CPU torch is not the reference's device; its topk may break ties otherwise.
            if (masks.contains("cpu")) {
                std::printf("%s %s: torch CPU differs from torch CUDA in %ld mask entries\n",
                            entry.at("name").get<std::string>().c_str(), mode.c_str(),
                            count_differences(masks.at("cpu").at(mode).get<std::string>(),
                                              expected.get<std::string>()));
            }
        }
    }
    EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace mcomp::test
