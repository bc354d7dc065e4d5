// test_magnitude_params.cpp: bad `magnitude` parameters are refused with the exact message —
// by the host's validation against plugin.toml where the schema can say it, by the plugin's
// create() for combinations it cannot (sparsity 1, n without m, n >= m).
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

std::string test_name(const ::testing::TestParamInfo<BadParams>& info) {
    std::string name = info.param.name;
    std::replace(name.begin(), name.end(), ' ', '_');
    return name;
}

const std::vector<BadParams>& schema_cases() {
    static const std::vector<BadParams> cases = {
        {"negative sparsity",
         {{"sparsity", -0.1, ""}},
         "params.sparsity: expected a value >= 0.0, found -0.1"},
        {"sparsity above 1",
         {{"sparsity", 1.5, ""}},
         "params.sparsity: expected a value <= 1.0, found 1.5"},
        {"sparsity as string",
         {{"sparsity", std::string("half"), ""}},
         "params.sparsity: expected a number, found \"half\""},
        {"negative n", {{"n", int64_t{-1}, ""}}, "params.n: expected a value >= 0, found -1"},
        {"m above 64", {{"m", int64_t{65}, ""}}, "params.m: expected a value <= 64, found 65"},
        {"misspelt key",
         {{"sparsty", 0.5, ""}},
         "params.sparsty: unknown parameter of technique 'magnitude'; did you mean 'sparsity'?"},
    };
    return cases;
}

class MagnitudeSchemaRejects : public ::testing::TestWithParam<BadParams> {};

TEST_P(MagnitudeSchemaRejects, WithExactMessage) {
    auto params = bind_technique_params("magnitude", GetParam().args);
    ASSERT_FALSE(params.has_value());
    EXPECT_EQ(params.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(params.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Table, MagnitudeSchemaRejects, ::testing::ValuesIn(schema_cases()),
                         test_name);

const std::string kCreateFailed =
    "plugin 'magnitude' technique 'magnitude': create failed with MC_ERR_INVALID_ARGUMENT: ";

const std::vector<BadParams>& create_cases() {
    static const std::vector<BadParams> cases = {
        {"sparsity of 1",
         {{"sparsity", 1.0, ""}},
         kCreateFailed +
             "magnitude: sparsity = 1.000000 is out of range; use a fraction in [0, 1)"},
        {"n without m",
         {{"n", int64_t{2}, ""}},
         kCreateFailed +
             "magnitude: n = 2 and m = 0 do not go together; set both for N:M (e.g. n = 2, "
             "m = 4) or neither"},
        {"m without n",
         {{"m", int64_t{4}, ""}},
         kCreateFailed +
             "magnitude: n = 0 and m = 4 do not go together; set both for N:M (e.g. n = 2, "
             "m = 4) or neither"},
        {"n equal to m",
         {{"n", int64_t{4}, ""}, {"m", int64_t{4}, ""}},
         kCreateFailed + "magnitude: n = 4 must be below m = 4 (n of every m weights are pruned)"},
    };
    return cases;
}

class MagnitudeCreateRejects : public ::testing::TestWithParam<BadParams> {};

TEST_P(MagnitudeCreateRejects, WithExactMessage) {
    const LayerCase layer = random_layer(2, 8, 1);
    auto result = run_technique("magnitude", DeviceRequest::cpu, GetParam().args, layer);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(result.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Table, MagnitudeCreateRejects, ::testing::ValuesIn(create_cases()),
                         test_name);

TEST(MagnitudeParams, DefaultsComeFromTheManifest) {
    auto params = bind_technique_params("magnitude", {});
    ASSERT_TRUE(params.has_value()) << params.error().message;
    EXPECT_EQ(std::get<double>(*params->find("sparsity")), 0.5);
    EXPECT_EQ(std::get<int64_t>(*params->find("n")), 0);
    EXPECT_EQ(std::get<int64_t>(*params->find("m")), 0);
}

}  // namespace
}  // namespace mcomp::test
