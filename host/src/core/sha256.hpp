// sha256.hpp: the SHA-256 of a file, to check a backend library against its manifest
// before it is loaded.
#pragma once

#include <filesystem>
#include <string>

#include "util/expected.hpp"

namespace mcomp {

// Lower-case hex digest of the file's bytes.
Expected<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace mcomp
