// test_params.cpp: stage parameters against a technique's schema — defaults, the int-for-float
// rule, ranges, allowed values, unknown keys with hints — and the mc_params storage.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/params.hpp"

namespace mcomp {
namespace {

ParamSpec spec(std::string name, ParamType type, ParamValue default_value) {
    ParamSpec out;
    out.name = std::move(name);
    out.type = type;
    out.default_value = std::move(default_value);
    return out;
}

// A GPTQ-like schema, in manifest order.
TechniqueManifest schema() {
    TechniqueManifest technique;
    technique.id = "gptq";
    ParamSpec bits = spec("bits", ParamType::integer, int64_t{4});
    bits.allowed = {int64_t{2}, int64_t{3}, int64_t{4}, int64_t{8}};
    ParamSpec group_size = spec("group_size", ParamType::integer, int64_t{128});
    group_size.min = -1;
    ParamSpec damp = spec("damp", ParamType::floating, 0.01);
    damp.min = 0.0;
    damp.max = 1.0;
    ParamSpec mode = spec("mode", ParamType::string, std::string("auto"));
    mode.allowed = {std::string("auto"), std::string("fast")};
    technique.params = {bits, group_size, damp, spec("sym", ParamType::boolean, false), mode};
    return technique;
}

TEST(Params, FillsDefaultsInSchemaOrder) {
    Expected<OwnedParams> params = bind_params(schema(), {});
    ASSERT_TRUE(params) << params.error().message;
    const mc_params* raw = params->get();
    EXPECT_EQ(raw->struct_size, sizeof(mc_params));
    ASSERT_EQ(raw->count, 5u);
    EXPECT_STREQ(raw->items[0].name, "bits");
    EXPECT_EQ(raw->items[0].type, MC_PARAM_INT);
    EXPECT_EQ(raw->items[0].int_value, 4);
    EXPECT_STREQ(raw->items[2].name, "damp");
    EXPECT_EQ(raw->items[2].type, MC_PARAM_FLOAT);
    EXPECT_DOUBLE_EQ(raw->items[2].float_value, 0.01);
    EXPECT_EQ(raw->items[3].type, MC_PARAM_BOOL);
    EXPECT_EQ(raw->items[3].int_value, 0);
    EXPECT_EQ(raw->items[4].type, MC_PARAM_STRING);
    EXPECT_STREQ(raw->items[4].string_value, "auto");
    EXPECT_EQ(raw->items[4].struct_size, sizeof(mc_param));
}

TEST(Params, TakesGivenValues) {
    Expected<OwnedParams> params = bind_params(
        schema(), {{"sym", true, ""}, {"bits", int64_t{8}, ""}, {"mode", std::string("fast"), ""}});
    ASSERT_TRUE(params) << params.error().message;
    EXPECT_EQ(mc_params_find(params->get(), "bits")->int_value, 8);
    EXPECT_EQ(mc_params_find(params->get(), "sym")->int_value, 1);
    EXPECT_STREQ(mc_params_find(params->get(), "mode")->string_value, "fast");
    EXPECT_EQ(*params->find("bits"), ParamValue(int64_t{8}));
    EXPECT_EQ(params->find("nope"), nullptr);
}

TEST(Params, AcceptsAnIntForAFloat) {
    Expected<OwnedParams> params = bind_params(schema(), {{"damp", int64_t{1}, ""}});
    ASSERT_TRUE(params) << params.error().message;
    const mc_param* damp = mc_params_find(params->get(), "damp");
    EXPECT_EQ(damp->type, MC_PARAM_FLOAT);
    EXPECT_DOUBLE_EQ(damp->float_value, 1.0);
}

TEST(Params, CopiesAndMovesKeepTheirOwnStorage) {
    TechniqueManifest technique = schema();
    technique.params[4].allowed.clear();  // any string
    Expected<OwnedParams> bound =
        bind_params(technique, {{"mode", std::string("a rather long string value, past SSO"), ""}});
    ASSERT_TRUE(bound) << bound.error().message;
    auto original = std::make_unique<OwnedParams>(*bound);
    OwnedParams copy = *original;
    OwnedParams moved = std::move(*original);
    original.reset();
    for (const OwnedParams* params : {&copy, &moved}) {
        ASSERT_EQ(params->get()->count, 5u);
        EXPECT_STREQ(mc_params_find(params->get(), "mode")->string_value,
                     "a rather long string value, past SSO");
        EXPECT_STREQ(params->get()->items[1].name, "group_size");
    }
    OwnedParams empty;
    EXPECT_EQ(empty.get()->count, 0u);
    EXPECT_EQ(empty.get()->items, nullptr);
}

struct BadCase {
    const char* name;
    std::vector<ParamArg> args;
    std::string message;
};

void PrintTo(const BadCase& c, std::ostream* os) {
    *os << c.name;
}

class ParamsBad : public ::testing::TestWithParam<BadCase> {};

TEST_P(ParamsBad, FailsWithExactMessage) {
    Expected<OwnedParams> params = bind_params(schema(), GetParam().args);
    ASSERT_FALSE(params);
    EXPECT_EQ(params.error().kind, ErrorKind::bad_input);
    EXPECT_EQ(params.error().message, GetParam().message);
}

INSTANTIATE_TEST_SUITE_P(
    Table, ParamsBad,
    ::testing::Values(
        BadCase{"unknown_with_hint",
                {{"group_sz", int64_t{64}, ""}},
                "params.group_sz: unknown parameter of technique 'gptq'; did you mean "
                "'group_size'?"},
        BadCase{"unknown_without_hint",
                {{"zzzzzzzz", int64_t{1}, ""}},
                "params.zzzzzzzz: unknown parameter of technique 'gptq'; its parameters are: "
                "bits, group_size, damp, sym, mode"},
        BadCase{"not_allowed",
                {{"bits", int64_t{5}, ""}},
                "params.bits: expected one of 2, 3, 4, 8, found 5"},
        BadCase{
            "float_for_int", {{"bits", 4.0, ""}}, "params.bits: expected an integer, found 4.0"},
        BadCase{"bool_for_int",
                {{"group_size", true, ""}},
                "params.group_size: expected an integer, found true"},
        BadCase{"below_min",
                {{"group_size", int64_t{-2}, ""}},
                "params.group_size: expected a value >= -1, found -2"},
        BadCase{
            "above_max", {{"damp", 1.5, ""}}, "params.damp: expected a value <= 1.0, found 1.5"},
        BadCase{"int_above_float_max",
                {{"damp", int64_t{2}, ""}},
                "params.damp: expected a value <= 1.0, found 2"},
        BadCase{"string_for_float",
                {{"damp", std::string("x"), ""}},
                "params.damp: expected a number, found \"x\""},
        BadCase{
            "int_for_bool", {{"sym", int64_t{1}, ""}}, "params.sym: expected a boolean, found 1"},
        BadCase{"string_not_allowed",
                {{"mode", std::string("slow"), ""}},
                "params.mode: expected one of \"auto\", \"fast\", found \"slow\""},
        BadCase{"given_twice",
                {{"bits", int64_t{4}, ""}, {"bits", int64_t{8}, ""}},
                "params.bits: given twice"},
        BadCase{"where_is_used",
                {{"bits", int64_t{5}, "p.toml:3:9: stage.params.bits"}},
                "p.toml:3:9: stage.params.bits: expected one of 2, 3, 4, 8, found 5"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(Params, TechniqueWithoutParams) {
    TechniqueManifest bare;
    bare.id = "bare";
    EXPECT_EQ(bind_params(bare, {})->get()->count, 0u);
    Expected<OwnedParams> params = bind_params(bare, {{"x", int64_t{1}, ""}});
    ASSERT_FALSE(params);
    EXPECT_EQ(params.error().message,
              "params.x: unknown parameter of technique 'bare'; it takes no parameters");
}

// ---- NAME=VALUE from the command line --------------------------------------------------------

TEST(ParamAssignment, ReadsValuesAsTheSchemaTypes) {
    const TechniqueManifest technique = schema();
    EXPECT_EQ(parse_param_assignment(technique, "bits=3")->value, ParamValue(int64_t{3}));
    EXPECT_EQ(parse_param_assignment(technique, "group_size=-1")->value, ParamValue(int64_t{-1}));
    EXPECT_EQ(parse_param_assignment(technique, "damp=0.5")->value, ParamValue(0.5));
    EXPECT_EQ(parse_param_assignment(technique, "damp=1")->value, ParamValue(1.0));
    EXPECT_EQ(parse_param_assignment(technique, "sym=true")->value, ParamValue(true));
    EXPECT_EQ(parse_param_assignment(technique, "sym=0")->value, ParamValue(false));
    EXPECT_EQ(parse_param_assignment(technique, "mode=fast")->value,
              ParamValue(std::string("fast")));
    EXPECT_EQ(parse_param_assignment(technique, "mode=a=b")->value, ParamValue(std::string("a=b")));
    EXPECT_EQ(parse_param_assignment(technique, "bits=3")->where, "--param bits");
}

TEST(ParamAssignment, RefusesBadInput) {
    const TechniqueManifest technique = schema();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"bits", "--param bits: expected NAME=VALUE"},
        {"=3", "--param =3: expected NAME=VALUE"},
        {"bits=x", "--param bits: expected an integer, found \"x\""},
        {"bits=3.5", "--param bits: expected an integer, found \"3.5\""},
        {"damp=", "--param damp: expected a number, found \"\""},
        {"damp=0.5x", "--param damp: expected a number, found \"0.5x\""},
        {"sym=yes", "--param sym: expected a boolean, found \"yes\""},
        {"nope=1", "--param nope: unknown parameter of technique 'gptq'; did you mean 'mode'?"},
    };
    for (const auto& [text, message] : cases) {
        Expected<ParamArg> arg = parse_param_assignment(technique, text);
        ASSERT_FALSE(arg) << text;
        EXPECT_EQ(arg.error().message, message) << text;
    }
}

TEST(ParamAssignment, RangeIsCheckedWhenBound) {
    const TechniqueManifest technique = schema();
    Expected<ParamArg> arg = parse_param_assignment(technique, "damp=2");
    ASSERT_TRUE(arg);
    Expected<OwnedParams> params = bind_params(technique, {*arg});
    ASSERT_FALSE(params);
    EXPECT_EQ(params.error().message, "--param damp: expected a value <= 1.0, found 2.0");
}

}  // namespace
}  // namespace mcomp
