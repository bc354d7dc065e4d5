// test_sparsegpt_params.cpp: bad `sparsegpt` parameters are refused with the exact message — by
// the host's validation against plugin.toml where the schema can say it, by the plugin where it
// cannot (sparsity 1, n without m, a block that splits N:M groups, a layer whose width is not a
// multiple of m, a layer without calibration samples).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "sparsegpt_reference.hpp"

namespace mcomp::test {
namespace {

struct BadParams {
    const char* name;
    std::vector<ParamArg> args;
    std::string message;
};

const std::vector<BadParams>& schema_cases() {
    static const std::vector<BadParams> cases = {
        {"sparsity negative",
         {{"sparsity", -0.1, ""}},
         "params.sparsity: expected a value >= 0.0, found -0.1"},
        {"sparsity above one",
         {{"sparsity", 1.5, ""}},
         "params.sparsity: expected a value <= 1.0, found 1.5"},
        {"n negative", {{"n", int64_t{-1}, ""}}, "params.n: expected a value >= 0, found -1"},
        {"m above 64", {{"m", int64_t{65}, ""}}, "params.m: expected a value <= 64, found 65"},
        {"bits 5",
         {{"bits", int64_t{5}, ""}},
         "params.bits: expected one of 2, 3, 4, 8, 16, found 5"},
        {"bits as float", {{"bits", 4.0, ""}}, "params.bits: expected an integer, found 4.0"},
        {"group_size below minus one",
         {{"group_size", int64_t{-2}, ""}},
         "params.group_size: expected a value >= -1, found -2"},
        {"block_size zero",
         {{"block_size", int64_t{0}, ""}},
         "params.block_size: expected a value >= 1, found 0"},
        {"block_size above the kernel's",
         {{"block_size", int64_t{256}, ""}},
         "params.block_size: expected a value <= 128, found 256"},
        {"damp above one", {{"damp", 2.0, ""}}, "params.damp: expected a value <= 1.0, found 2.0"},
        {"sym as int", {{"sym", int64_t{1}, ""}}, "params.sym: expected a boolean, found 1"},
        {"misspelt key",
         {{"blocksize", int64_t{128}, ""}},
         "params.blocksize: unknown parameter of technique 'sparsegpt'; did you mean "
         "'block_size'?"},
    };
    return cases;
}

class SparseGptSchemaRejects : public ::testing::TestWithParam<BadParams> {};

TEST_P(SparseGptSchemaRejects, WithExactMessage) {
    auto params = bind_technique_params("sparsegpt", GetParam().args);
    ASSERT_FALSE(params.has_value());
    EXPECT_EQ(params.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(params.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Table, SparseGptSchemaRejects, ::testing::ValuesIn(schema_cases()),
                         [](const ::testing::TestParamInfo<BadParams>& info) {
                             std::string name = info.param.name;
                             std::replace(name.begin(), name.end(), ' ', '_');
                             std::replace(name.begin(), name.end(), '\'', '_');
                             return name;
                         });

TEST(SparseGptParams, DefaultsComeFromTheManifest) {
    auto params = bind_technique_params("sparsegpt", {});
    ASSERT_TRUE(params.has_value()) << params.error().message;
    EXPECT_EQ(std::get<double>(*params->find("sparsity")), 0.5);
    EXPECT_EQ(std::get<int64_t>(*params->find("n")), 0);
    EXPECT_EQ(std::get<int64_t>(*params->find("m")), 0);
    EXPECT_EQ(std::get<int64_t>(*params->find("block_size")), 128);
    EXPECT_EQ(std::get<double>(*params->find("damp")), 0.01);
    EXPECT_EQ(std::get<double>(*params->find("damp_auto_increment")), 0.0025);
    EXPECT_EQ(std::get<int64_t>(*params->find("bits")), 16);
    EXPECT_EQ(std::get<int64_t>(*params->find("group_size")), -1);
    EXPECT_EQ(std::get<bool>(*params->find("sym")), false);
}

struct Refusal {
    const char* name;
    std::vector<ParamArg> args;
    std::string message;
};

TEST(SparseGptParams, CreateRefusesWhatTheSchemaCannotSay) {
    const SgptCase c = random_case(2, 8, 4, 1, 1);
    const std::vector<Refusal> cases = {
        {"sparsity 1",
         {{"sparsity", 1.0, ""}},
         "sparsegpt: sparsity = 1 is out of range; use a fraction in [0, 1), e.g. 0.5"},
        {"n without m",
         {{"n", int64_t{2}, ""}},
         "sparsegpt: n = 2 and m = 0 do not go together; set both for N:M (e.g. n = 2, m = 4) "
         "or neither"},
        {"m without n",
         {{"m", int64_t{4}, ""}},
         "sparsegpt: n = 0 and m = 4 do not go together; set both for N:M (e.g. n = 2, m = 4) "
         "or neither"},
        {"n not below m",
         {{"n", int64_t{4}, ""}, {"m", int64_t{4}, ""}},
         "sparsegpt: n = 4 must be below m = 4 (n of every m weights are pruned)"},
        {"block splits groups",
         {{"n", int64_t{2}, ""}, {"m", int64_t{8}, ""}, {"block_size", int64_t{100}, ""}},
         "sparsegpt: block_size = 100 is not a multiple of m = 8; N:M groups must not straddle "
         "blocks (e.g. block_size = 128)"},
        {"damp 1",
         {{"damp", 1.0, ""}},
         "sparsegpt: damp = 1 is out of range; use a value in [0, 1), e.g. 0.01"},
        {"group_size 0",
         {{"bits", int64_t{4}, ""}, {"group_size", int64_t{0}, ""}},
         "sparsegpt: group_size = 0 is invalid; use -1 (one group per row) or a positive column "
         "count"},
    };
    for (const Refusal& refusal : cases) {
        SCOPED_TRACE(refusal.name);
        auto result = run_sparsegpt(c, DeviceRequest::cpu, refusal.args);
        ASSERT_FALSE(result.has_value());
        EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(result.error().message,
                  "plugin 'sparsegpt' technique 'sparsegpt': create failed with "
                  "MC_ERR_INVALID_ARGUMENT: " +
                      refusal.message);
    }
}

TEST(SparseGptParams, ALayerWhoseWidthIsNotAMultipleOfMIsRefused) {
    const SgptCase c = random_case(2, 10, 4, 1, 2);
    auto result =
        run_sparsegpt(c, DeviceRequest::cpu, {{"n", int64_t{2}, ""}, {"m", int64_t{4}, ""}});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message,
              "plugin 'sparsegpt' technique 'sparsegpt': begin_layer failed with "
              "MC_ERR_UNSUPPORTED: sparsegpt: layer test.layer has in_features = 10, not a "
              "multiple of m = 4; N:M sparsity needs whole groups: pick an m that divides it");
}

TEST(SparseGptParams, ALayerWithoutCalibrationSamplesIsRefused) {
    SgptCase c = random_case(2, 8, 4, 1, 3);
    c.samples.clear();
    auto result = run_sparsegpt(c, DeviceRequest::cpu, {});
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().message,
              "plugin 'sparsegpt' technique 'sparsegpt': finish_layer failed with "
              "MC_ERR_INVALID_ARGUMENT: sparsegpt: layer test.layer: no calibration sample was "
              "observed; SparseGPT needs the layer's inputs (give the pipeline a [calibration] "
              "section)");
}

TEST(SparseGptParams, PlansAMaskAndQuantizationOnlyWhenAsked) {
    const SgptCase c = random_case(3, 12, 6, 2, 4);
    auto plain = run_sparsegpt(c, DeviceRequest::cpu, {});
    ASSERT_TRUE(plain.has_value()) << plain.error().message;
    EXPECT_EQ(plain->outputs, static_cast<uint32_t>(MC_RESULT_MASK));
    EXPECT_TRUE(plain->codes.empty());
    for (const int bits : {2, 3, 4, 8}) {
        auto quant = run_sparsegpt(c, DeviceRequest::cpu,
                                   {{"bits", int64_t{bits}, ""}, {"group_size", int64_t{5}, ""}});
        ASSERT_TRUE(quant.has_value()) << quant.error().message;
        EXPECT_EQ(quant->outputs, static_cast<uint32_t>(MC_RESULT_MASK | MC_RESULT_QUANT));
        EXPECT_EQ(quant->bits, bits);
        EXPECT_EQ(quant->num_groups, 3);  // 12 columns in groups of 5: 5 + 5 + 2
        EXPECT_EQ(quant->g_idx, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2}));
        for (const uint8_t code : quant->codes) {
            EXPECT_LT(code, 1 << bits);
        }
    }
}

}  // namespace
}  // namespace mcomp::test
