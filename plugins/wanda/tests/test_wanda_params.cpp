// test_wanda_params.cpp: bad `wanda` parameters are refused with the exact message — by the
// host's validation against plugin.toml where the schema can say it, by the plugin's create()
// for combinations it cannot (n without m, n >= m).
#include <gtest/gtest.h>

#include <algorithm>
#include <ostream>
#include <string>
#include <vector>

#include "wanda_reference.hpp"

namespace mcomp::test {
namespace {

struct BadParams {
    const char* name;
    std::vector<ParamArg> args;
    std::string message;
};

void PrintTo(const BadParams& c, std::ostream* os) {
    *os << c.name;
}

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
        {"n above 63", {{"n", int64_t{64}, ""}}, "params.n: expected a value <= 63, found 64"},
        {"n as float", {{"n", 2.0, ""}}, "params.n: expected an integer, found 2.0"},
        {"use_variant is not offered",
         {{"use_variant", true, ""}},
         "params.use_variant: unknown parameter of technique 'wanda'; its parameters are: "
         "sparsity, n, m"},
        {"misspelt key",
         {{"sparsty", 0.5, ""}},
         "params.sparsty: unknown parameter of technique 'wanda'; did you mean 'sparsity'?"},
    };
    return cases;
}

class WandaSchemaRejects : public ::testing::TestWithParam<BadParams> {};

TEST_P(WandaSchemaRejects, WithExactMessage) {
    auto params = bind_technique_params("wanda", GetParam().args);
    ASSERT_FALSE(params.has_value());
    EXPECT_EQ(params.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(params.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Table, WandaSchemaRejects, ::testing::ValuesIn(schema_cases()), test_name);

const std::string kCreateFailed =
    "plugin 'wanda' technique 'wanda': create failed with MC_ERR_INVALID_ARGUMENT: ";

const std::vector<BadParams>& create_cases() {
    static const std::vector<BadParams> cases = {
        {"n without m",
         {{"n", int64_t{2}, ""}},
         kCreateFailed + "wanda: n = 2 and m = 0 do not go together; set both for N:M (e.g. n = 2, "
                         "m = 4) or neither"},
        {"m without n",
         {{"m", int64_t{4}, ""}},
         kCreateFailed + "wanda: n = 0 and m = 4 do not go together; set both for N:M (e.g. n = 2, "
                         "m = 4) or neither"},
        {"n equal to m",
         {{"n", int64_t{4}, ""}, {"m", int64_t{4}, ""}},
         kCreateFailed + "wanda: n = 4 must be below m = 4 (n of every m weights are pruned)"},
    };
    return cases;
}

class WandaCreateRejects : public ::testing::TestWithParam<BadParams> {};

TEST_P(WandaCreateRejects, WithExactMessage) {
    const WandaCase c = random_case(2, 8, 1, 4, 1);
    auto result = run_wanda(DeviceRequest::cpu, GetParam().args, c);
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(result.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(Table, WandaCreateRejects, ::testing::ValuesIn(create_cases()), test_name);

TEST(WandaParams, SparsityOneIsAccepted) {
    // Unlike magnitude's global threshold, the per-row cut int(in * 1.0) = in is well defined.
    auto params = bind_technique_params("wanda", {{"sparsity", 1.0, ""}});
    ASSERT_TRUE(params.has_value()) << params.error().message;
}

TEST(WandaParams, DefaultsComeFromTheManifest) {
    auto params = bind_technique_params("wanda", {});
    ASSERT_TRUE(params.has_value()) << params.error().message;
    EXPECT_EQ(std::get<double>(*params->find("sparsity")), 0.5);
    EXPECT_EQ(std::get<int64_t>(*params->find("n")), 0);
    EXPECT_EQ(std::get<int64_t>(*params->find("m")), 0);
}

}  // namespace
}  // namespace mcomp::test
