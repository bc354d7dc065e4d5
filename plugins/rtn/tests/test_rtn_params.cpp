// test_rtn_params.cpp: bad `rtn` parameters are refused with the exact message — by the
// host's validation against plugin.toml where the schema can say it, by the plugin's create()
// where it cannot (group_size 0).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "plugin_harness.hpp"

namespace mcomp::test {
namespace {

struct BadParams {
    const char* name;
    std::vector<ParamArg> args;
    std::string message;
};

const std::vector<BadParams>& schema_cases() {
    static const std::vector<BadParams> cases = {
        {"bits below 2", {{"bits", int64_t{1}, ""}}, "params.bits: expected a value >= 2, found 1"},
        {"bits above 8", {{"bits", int64_t{9}, ""}}, "params.bits: expected a value <= 8, found 9"},
        {"bits as float", {{"bits", 4.0, ""}}, "params.bits: expected an integer, found 4.0"},
        {"bits as string",
         {{"bits", std::string("4"), ""}},
         "params.bits: expected an integer, found \"4\""},
        {"group_size below minus one",
         {{"group_size", int64_t{-2}, ""}},
         "params.group_size: expected a value >= -1, found -2"},
        {"sym as int", {{"sym", int64_t{1}, ""}}, "params.sym: expected a boolean, found 1"},
        {"misspelt key",
         {{"gruop_size", int64_t{64}, ""}},
         "params.gruop_size: unknown parameter of technique 'rtn'; did you mean 'group_size'?"},
    };
    return cases;
}

class RtnSchemaRejects : public ::testing::TestWithParam<BadParams> {};

TEST_P(RtnSchemaRejects, WithExactMessage) {
    auto params = bind_technique_params("rtn", GetParam().args);
    ASSERT_FALSE(params.has_value());
    EXPECT_EQ(params.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(params.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Table, RtnSchemaRejects, ::testing::ValuesIn(schema_cases()),
                         [](const ::testing::TestParamInfo<BadParams>& info) {
                             std::string name = info.param.name;
                             std::replace(name.begin(), name.end(), ' ', '_');
                             return name;
                         });

TEST(RtnParams, DefaultsComeFromTheManifest) {
    auto params = bind_technique_params("rtn", {});
    ASSERT_TRUE(params.has_value()) << params.error().message;
    ASSERT_NE(params->find("bits"), nullptr);
    EXPECT_EQ(std::get<int64_t>(*params->find("bits")), 4);
    EXPECT_EQ(std::get<int64_t>(*params->find("group_size")), 128);
    EXPECT_EQ(std::get<bool>(*params->find("sym")), false);
}

TEST(RtnParams, CreateRefusesGroupSizeZero) {
    // The schema allows -1 and up; 0 passes it and must be refused by the plugin itself.
    const LayerCase layer = random_layer(2, 8, 1);
    auto result = run_technique("rtn", DeviceRequest::cpu, {{"group_size", int64_t{0}, ""}}, layer);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(result.error().message,
              "plugin 'rtn' technique 'rtn': create failed with MC_ERR_INVALID_ARGUMENT: rtn: "
              "group_size = 0 is invalid; use -1 (one group per row) or a positive column count");
}

TEST(RtnParams, EveryBitWidthOfTheSchemaRuns) {
    const LayerCase layer = random_layer(3, 10, 2);
    for (int bits = 2; bits <= 8; ++bits) {
        auto result =
            run_technique("rtn", DeviceRequest::cpu,
                          {{"bits", int64_t{bits}, ""}, {"group_size", int64_t{4}, ""}}, layer);
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
