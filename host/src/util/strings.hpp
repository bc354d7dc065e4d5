// strings.hpp: small string helpers shared by the host areas.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace mcomp {

// Levenshtein distance, used to suggest the nearest valid name for a misspelt key.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate nearest to `name`, or "" when none is close enough to be a useful hint.
std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates);

// Reads a whole file; false when it cannot be opened.
bool read_file(const std::string& path, std::string& dst);

// The folder holding the shared test material: $MCOMP_TEST_DATA, else the build default.
std::string test_data_dir();

}  // namespace mcomp
