// test_layer_select.cpp: include/exclude glob rules of a stage (compress/layer_select.hpp).
#include <gtest/gtest.h>

#include "compress/layer_select.hpp"

namespace mcomp::compress {
namespace {

struct SelectCase {
    std::vector<std::string> include;
    std::vector<std::string> exclude;
    std::string name;
    bool selected;
};

TEST(LayerSelect, Table) {
    const std::string q = "model.layers.0.self_attn.q_proj";
    const std::string down = "model.layers.11.mlp.down_proj";
    const std::vector<SelectCase> cases = {
        {{}, {}, q, true},
        {{"model.layers.*.mlp.*"}, {}, q, false},
        {{"model.layers.*.mlp.*"}, {}, down, true},
        {{}, {"*.down_proj"}, down, false},
        {{}, {"*.down_proj"}, q, true},
        {{"model.layers.1?.*"}, {}, down, true},
        {{"model.layers.1?.*"}, {}, q, false},
        {{"model.layers.[0-3].*"}, {}, q, true},
        {{"*q_proj", "*k_proj"}, {}, q, true},
        {{"*"}, {"*"}, q, false},
        {{"model.layers.0.self_attn.q_proj"}, {}, q, true},
        {{"model.layers.0.self_attn"}, {}, q, false},  // a glob matches the whole name
    };
    for (const SelectCase& c : cases) {
        EXPECT_EQ(layer_selected(c.include, c.exclude, c.name), c.selected)
            << c.name << " include " << ::testing::PrintToString(c.include) << " exclude "
            << ::testing::PrintToString(c.exclude);
    }
}

TEST(LayerSelect, StarCrossesDots) {
    EXPECT_TRUE(glob_match("model.*.q_proj", "model.layers.3.self_attn.q_proj"));
    EXPECT_FALSE(glob_match("model.*.q_proj", "model.layers.3.self_attn.k_proj"));
}

}  // namespace
}  // namespace mcomp::compress
