// layer_select.cpp: see layer_select.hpp.
#include "compress/layer_select.hpp"

#include <fnmatch.h>

namespace mcomp::compress {

bool glob_match(std::string_view pattern, std::string_view name) {
    const std::string pattern_z(pattern);
    const std::string name_z(name);
    return ::fnmatch(pattern_z.c_str(), name_z.c_str(), 0) == 0;
}

bool layer_selected(const std::vector<std::string>& include,
                    const std::vector<std::string>& exclude, std::string_view name) {
    bool included = include.empty();
    for (const std::string& pattern : include) {
        included = included || glob_match(pattern, name);
    }
    if (!included) {
        return false;
    }
    for (const std::string& pattern : exclude) {
        if (glob_match(pattern, name)) {
            return false;
        }
    }
    return true;
}

}  // namespace mcomp::compress
