// test_rtn_golden.cpp: `rtn` on the real TinyStories-656K weights reproduces the PyTorch
// reference (GPTQ's quant.py, see golden/make_rtn_golden.py) bit for bit: the SHA-256 of the
// codes, scales, zeros and dequantized weights of every decoder linear layer must match.
// Skips when the shared model or the golden file is missing.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/safetensors.hpp"
#include "plugin_harness.hpp"
#include "util/strings.hpp"

namespace mcomp::test {
namespace {

const std::filesystem::path kGolden =
    std::filesystem::path(MCOMP_SOURCE_DIR) / "plugins/rtn/tests/golden/rtn_ts656k.json";

template <class T>
std::string sha256_hex(const std::vector<T>& values) {
    unsigned char digest[EVP_MAX_MD_SIZE] = {};
    unsigned int digest_size = 0;
    EVP_Digest(values.data(), values.size() * sizeof(T), digest, &digest_size, EVP_sha256(),
               nullptr);
    static const char* kHex = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < digest_size; ++i) {
        hex += kHex[digest[i] >> 4];
        hex += kHex[digest[i] & 15];
    }
    return hex;
}

TEST(RtnGolden, MatchesThePyTorchReferenceOnTinyStories) {
    const std::filesystem::path model =
        std::filesystem::path(test_data_dir()) / "models/TinyStories-656K/model.safetensors";
    if (!std::filesystem::exists(model)) {
        GTEST_SKIP() << "shared model missing: " << model << " (set MCOMP_TEST_DATA)";
    }
    if (!std::filesystem::exists(kGolden)) {
        GTEST_SKIP() << "golden file missing: " << kGolden
                     << "; make it with python3 plugins/rtn/tests/golden/make_rtn_golden.py";
    }
    auto file = SafetensorsFile::open(model.string());
    ASSERT_TRUE(file.has_value()) << file.error().message;
    std::ifstream golden_stream(kGolden);
    const nlohmann::json golden = nlohmann::json::parse(golden_stream);
    ASSERT_FALSE(golden.at("cases").empty());

    for (const nlohmann::json& c : golden.at("cases")) {
        const auto name = c.at("tensor").get<std::string>();
        const int bits = c.at("bits").get<int>();
        const int group_size = c.at("group_size").get<int>();
        const bool sym = c.at("sym").get<bool>();
        SCOPED_TRACE(name + " bits " + std::to_string(bits) + " group_size " +
                     std::to_string(group_size) + " sym " + std::to_string(sym));
        const TensorView* tensor = file->find(name);
        ASSERT_NE(tensor, nullptr);
        ASSERT_EQ(tensor->dtype, DType::f32);
        LayerCase layer{tensor->shape[0], tensor->shape[1], {}};
        const auto* data = reinterpret_cast<const float*>(tensor->data);
        layer.weight.assign(data, data + tensor->numel());

        auto result = run_technique("rtn", DeviceRequest::cpu,
                                    {{"bits", int64_t{bits}, ""},
                                     {"group_size", int64_t{group_size}, ""},
                                     {"sym", sym, ""}},
                                    layer);
        ASSERT_TRUE(result.has_value()) << result.error().message;
        EXPECT_EQ(result->num_groups, c.at("num_groups").get<int64_t>());
        EXPECT_EQ(sha256_hex(result->codes), c.at("codes_sha256").get<std::string>());
        EXPECT_EQ(sha256_hex(result->scales), c.at("scales_sha256").get<std::string>());
        EXPECT_EQ(sha256_hex(result->zeros), c.at("zeros_sha256").get<std::string>());
        EXPECT_EQ(sha256_hex(result->weight), c.at("weight_sha256").get<std::string>());
    }
}

}  // namespace
}  // namespace mcomp::test
