// layer_select.hpp: which linear layers a stage compresses — the include / exclude glob
// patterns of a [[stage]] on full module names ("model.layers.3.mlp.down_proj").
//
// Rule: a layer is selected when it matches some include pattern (or include is empty) and
// no exclude pattern. Patterns are shell globs (fnmatch without FNM_PATHNAME: `*` also
// crosses dots, so "model.layers.*.mlp.*" takes every MLP linear). The engine only offers
// the seven linears of each decoder block: the embeddings and lm_head are never compressed
// (the reference GPTQ / AWQ / SparseGPT / Wanda scripts leave them dense too).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mcomp::compress {

// Whether `name` matches the shell glob `pattern`.
bool glob_match(std::string_view pattern, std::string_view name);

// Whether a stage with these patterns compresses the layer `name`.
bool layer_selected(const std::vector<std::string>& include,
                    const std::vector<std::string>& exclude, std::string_view name);

}  // namespace mcomp::compress
