// test_gptq_params.cpp: bad `gptq` parameters are refused with the exact message — by the
// host's validation against plugin.toml where the schema can say it, by the plugin where it
// cannot (group_size 0, a layer without calibration samples).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gptq_test_support.hpp"

namespace mcomp::test {
namespace {

struct BadParams {
    const char* name;
    std::vector<ParamArg> args;
    std::string message;
};

const std::vector<BadParams>& schema_cases() {
    static const std::vector<BadParams> cases = {
        {"bits 5", {{"bits", int64_t{5}, ""}}, "params.bits: expected one of 2, 3, 4, 8, found 5"},
        {"bits as float", {{"bits", 4.0, ""}}, "params.bits: expected an integer, found 4.0"},
        {"group_size below minus one",
         {{"group_size", int64_t{-2}, ""}},
         "params.group_size: expected a value >= -1, found -2"},
        {"damp negative", {{"damp", -0.1, ""}}, "params.damp: expected a value >= 0.0, found -0.1"},
        {"damp above one", {{"damp", 2.0, ""}}, "params.damp: expected a value <= 1.0, found 2.0"},
        {"block_size zero",
         {{"block_size", int64_t{0}, ""}},
         "params.block_size: expected a value >= 1, found 0"},
        {"block_size above the kernel's",
         {{"block_size", int64_t{256}, ""}},
         "params.block_size: expected a value <= 128, found 256"},
        {"act_order as int",
         {{"act_order", int64_t{1}, ""}},
         "params.act_order: expected a boolean, found 1"},
        {"keep_zeros as int",
         {{"keep_zeros", int64_t{1}, ""}},
         "params.keep_zeros: expected a boolean, found 1"},
        {"misspelt key",
         {{"actorder", true, ""}},
         "params.actorder: unknown parameter of technique 'gptq'; did you mean 'act_order'?"},
    };
    return cases;
}

class GptqSchemaRejects : public ::testing::TestWithParam<BadParams> {};

TEST_P(GptqSchemaRejects, WithExactMessage) {
    auto params = bind_technique_params("gptq", GetParam().args);
    ASSERT_FALSE(params.has_value());
    EXPECT_EQ(params.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(params.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Table, GptqSchemaRejects, ::testing::ValuesIn(schema_cases()),
                         [](const ::testing::TestParamInfo<BadParams>& info) {
                             std::string name = info.param.name;
                             std::replace(name.begin(), name.end(), ' ', '_');
                             std::replace(name.begin(), name.end(), '\'', '_');
                             return name;
                         });

TEST(GptqParams, DefaultsComeFromTheManifest) {
    auto params = bind_technique_params("gptq", {});
    ASSERT_TRUE(params.has_value()) << params.error().message;
    EXPECT_EQ(std::get<int64_t>(*params->find("bits")), 4);
    EXPECT_EQ(std::get<int64_t>(*params->find("group_size")), 128);
    EXPECT_EQ(std::get<bool>(*params->find("sym")), false);
    EXPECT_EQ(std::get<bool>(*params->find("act_order")), false);
    EXPECT_EQ(std::get<bool>(*params->find("static_groups")), false);
    EXPECT_EQ(std::get<double>(*params->find("damp")), 0.01);
    EXPECT_EQ(std::get<int64_t>(*params->find("block_size")), 128);
    EXPECT_EQ(std::get<bool>(*params->find("mse")), false);
    EXPECT_EQ(std::get<double>(*params->find("mse_norm")), 2.4);
    EXPECT_EQ(std::get<int64_t>(*params->find("mse_grid")), 100);
    EXPECT_EQ(std::get<double>(*params->find("mse_max_shrink")), 0.8);
    EXPECT_EQ(std::get<bool>(*params->find("keep_zeros")), false);
}

struct CreateRefusal {
    const char* name;
    std::vector<ParamArg> args;
    std::string message;
};

TEST(GptqParams, CreateRefusesWhatTheSchemaCannotSay) {
    const GptqCase c = random_gptq_case(2, 8, 4, 1, 1);
    const std::vector<CreateRefusal> cases = {
        {"group_size 0",
         {{"group_size", int64_t{0}, ""}},
         "gptq: group_size = 0 is invalid; use -1 (one group per row) or a positive column "
         "count"},
        {"damp 1",
         {{"damp", 1.0, ""}},
         "gptq: damp = 1.000000 is out of range; use a value in [0, 1), e.g. 0.01"},
        {"mse without shrink steps",
         {{"mse", true, ""}, {"mse_max_shrink", 0.0, ""}},
         "gptq: mse_max_shrink * mse_grid leaves no shrink step to try; raise either"},
    };
    for (const CreateRefusal& refusal : cases) {
        SCOPED_TRACE(refusal.name);
        auto result = run_gptq(c, DeviceRequest::cpu, refusal.args);
        ASSERT_FALSE(result.has_value());
        EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(result.error().message,
                  "plugin 'gptq' technique 'gptq': create failed with MC_ERR_INVALID_ARGUMENT: " +
                      refusal.message);
    }
}

TEST(GptqParams, ALayerWithoutCalibrationSamplesIsRefused) {
    GptqCase c = random_gptq_case(2, 8, 4, 1, 1);
    c.samples.clear();
    auto result = run_gptq(c, DeviceRequest::cpu, {});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message,
              "plugin 'gptq' technique 'gptq': finish_layer failed with MC_ERR_INVALID_ARGUMENT: "
              "gptq: layer test.layer: no calibration sample was observed; GPTQ needs the "
              "layer's inputs (give the stage a [calibration] section)");
}

TEST(GptqParams, EveryBitWidthOfTheSchemaRuns) {
    const GptqCase c = random_gptq_case(3, 10, 6, 2, 2);
    for (const int bits : {2, 3, 4, 8}) {
        auto result = run_gptq(c, DeviceRequest::cpu,
                               {{"bits", int64_t{bits}, ""}, {"group_size", int64_t{4}, ""}});
        ASSERT_TRUE(result.has_value()) << result.error().message;
        EXPECT_EQ(result->bits, bits);
        EXPECT_EQ(result->num_groups, 3);  // 10 columns in groups of 4: 4 + 4 + 2
        for (const uint8_t code : result->codes) {
            EXPECT_LT(code, 1 << bits);
        }
    }
}

}  // namespace
}  // namespace mcomp::test
