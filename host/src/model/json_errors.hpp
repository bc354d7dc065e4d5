// json_errors.hpp: turns nlohmann-json exceptions into the part of the message a person can
// act on ("line 3, column 5: syntax error ...").
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mcomp {

// nlohmann's what() is "[json.exception.parse_error.101] parse error at line 1, column 2:
// ...": keep what follows "at ", or the text after the bracketed id.
inline std::string json_error_detail(const nlohmann::json::exception& e) {
    const std::string what = e.what();
    const std::size_t at = what.find("at line");
    if (at != std::string::npos) {
        return what.substr(at + 3);
    }
    const std::size_t close = what.find("] ");
    return close == std::string::npos ? what : what.substr(close + 2);
}

}  // namespace mcomp
