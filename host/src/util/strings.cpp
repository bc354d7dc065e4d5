// strings.cpp: see strings.hpp.
#include "util/strings.hpp"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace mcomp {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string nearest_name(std::string_view name, const std::vector<std::string>& candidates) {
    std::string best;
    std::size_t best_distance = 0;
    for (const std::string& candidate : candidates) {
        const std::size_t d = edit_distance(name, candidate);
        if (best.empty() || d < best_distance) {
            best = candidate;
            best_distance = d;
        }
    }
    // A hint is only useful when it is closer than rewriting most of the word.
    const std::size_t limit = std::max<std::size_t>(2, name.size() / 2);
    return best_distance <= limit ? best : std::string();
}

bool read_file(const std::string& path, std::string& dst) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return false;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    dst = ss.str();
    return true;
}

std::string test_data_dir() {
    const char* env = std::getenv("MCOMP_TEST_DATA");
    if (env != nullptr && env[0] != '\0') {
        return env;
    }
    return MCOMP_DEFAULT_TEST_DATA;
}

}  // namespace mcomp
