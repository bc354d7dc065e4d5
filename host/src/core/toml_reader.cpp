// toml_reader.cpp: see toml_reader.hpp.
#include "core/toml_reader.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace mcomp {

std::string toml_where(const toml::source_region& region, std::string_view file) {
    const uint32_t line = region.begin.line > 0 ? region.begin.line : 1;
    const uint32_t column = region.begin.column > 0 ? region.begin.column : 1;
    return fmt::format("{}:{}:{}", file, line, column);
}

namespace {

std::string quote(std::string_view text) {
    std::string out = "\"";
    for (const char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out + "\"";
}

std::string format_double(double value) {
    if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
        return fmt::format("{:.1f}", value);  // keep the ".0" so it reads as a float
    }
    return fmt::format("{}", value);
}

}  // namespace

std::string describe_toml_value(const toml::node& node) {
    switch (node.type()) {
        case toml::node_type::string:
            return quote(node.as_string()->get());
        case toml::node_type::integer:
            return std::to_string(node.as_integer()->get());
        case toml::node_type::floating_point:
            return format_double(node.as_floating_point()->get());
        case toml::node_type::boolean:
            return node.as_boolean()->get() ? "true" : "false";
        case toml::node_type::table:
            return "a table";
        case toml::node_type::array:
            return "an array";
        case toml::node_type::date:
        case toml::node_type::time:
        case toml::node_type::date_time:
            return "a date/time";
        default:
            return "nothing";
    }
}

Expected<toml::table> parse_toml(std::string_view text, const std::string& file) {
    try {
        return toml::parse(text, std::string_view(file));
    } catch (const toml::parse_error& e) {
        return make_error(ErrorKind::bad_input,
                          fmt::format("{}: TOML syntax error: {}", toml_where(e.source(), file),
                                      e.description()));
    }
}

std::string join_names(const std::vector<std::string>& names, std::string_view separator) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) {
            out += separator;
        }
        out += names[i];
    }
    return out;
}

// ---- TableReader ----------------------------------------------------------------------------

TableReader::TableReader(const toml::table& table, std::string key_path, std::string file)
    : table_(table), key_path_(std::move(key_path)), file_(std::move(file)) {}

std::string TableReader::key(std::string_view name) const {
    if (key_path_.empty()) {
        return std::string(name);
    }
    return name.empty() ? key_path_ : key_path_ + "." + std::string(name);
}

std::string TableReader::where() const {
    return toml_where(table_.source(), file_);
}

std::string TableReader::where(const toml::node& node) const {
    return toml_where(node.source(), file_);
}

Error TableReader::error_at(const toml::node& node, std::string_view name,
                            std::string_view message) const {
    return make_error(ErrorKind::bad_input,
                      fmt::format("{}: {}: {}", where(node), key(name), message));
}

Error TableReader::missing(std::string_view name, std::string_view expected) const {
    return make_error(ErrorKind::bad_input,
                      fmt::format("{}: {}: missing; expected {}", where(), key(name), expected));
}

Error TableReader::mismatch(const toml::node& node, std::string_view name,
                            std::string_view expected) const {
    return error_at(node, name,
                    fmt::format("expected {}, found {}", expected, describe_toml_value(node)));
}

Status TableReader::check_keys(std::initializer_list<std::string_view> known) const {
    // Report the first unknown key in file order, not in toml++'s (sorted) order.
    const toml::key* first = nullptr;
    for (auto&& [k, v] : table_) {
        (void)v;
        if (std::find(known.begin(), known.end(), k.str()) != known.end()) {
            continue;
        }
        const auto& pos = k.source().begin;
        if (first == nullptr || pos.line < first->source().begin.line ||
            (pos.line == first->source().begin.line && pos.column < first->source().begin.column)) {
            first = &k;
        }
    }
    if (first == nullptr) {
        return {};
    }
    const std::vector<std::string> names(known.begin(), known.end());
    const std::string hint = nearest_name(first->str(), names);
    const std::string tail =
        hint.empty() ? "; valid keys: " + join_names(names) : "; did you mean '" + hint + "'?";
    return make_error(ErrorKind::bad_input,
                      fmt::format("{}: {}: unknown key{}", toml_where(first->source(), file_),
                                  key(first->str()), tail));
}

const toml::node* TableReader::find(std::string_view name) const {
    return table_.get(name);
}

Expected<std::string> TableReader::get_string(std::string_view name) const {
    const toml::node* node = find(name);
    if (node == nullptr) {
        return missing(name, "a string");
    }
    if (!node->is_string()) {
        return mismatch(*node, name, "a string");
    }
    const std::string value = node->as_string()->get();
    if (value.empty()) {
        return error_at(*node, name, "expected a non-empty string, found \"\"");
    }
    return value;
}

Expected<std::optional<std::string>> TableReader::get_optional_string(std::string_view name) const {
    if (find(name) == nullptr) {
        return std::optional<std::string>();
    }
    Expected<std::string> value = get_string(name);
    if (!value) {
        return value.error();
    }
    return std::optional<std::string>(std::move(*value));
}

Expected<std::optional<int64_t>> TableReader::get_optional_int(std::string_view name) const {
    const toml::node* node = find(name);
    if (node == nullptr) {
        return std::optional<int64_t>();
    }
    if (!node->is_integer()) {
        return mismatch(*node, name, "an integer");
    }
    return std::optional<int64_t>(node->as_integer()->get());
}

Expected<std::optional<bool>> TableReader::get_optional_bool(std::string_view name) const {
    const toml::node* node = find(name);
    if (node == nullptr) {
        return std::optional<bool>();
    }
    if (!node->is_boolean()) {
        return mismatch(*node, name, "a boolean");
    }
    return std::optional<bool>(node->as_boolean()->get());
}

Expected<std::string> TableReader::get_choice(std::string_view name,
                                              const std::vector<std::string>& choices) const {
    const std::string expected = "one of " + join_names(choices);
    const toml::node* node = find(name);
    if (node == nullptr) {
        return missing(name, expected);
    }
    if (!node->is_string() ||
        std::find(choices.begin(), choices.end(), node->as_string()->get()) == choices.end()) {
        return mismatch(*node, name, expected);
    }
    return node->as_string()->get();
}

Expected<std::vector<std::pair<std::string, const toml::node*>>> TableReader::get_string_list(
    std::string_view name) const {
    using List = std::vector<std::pair<std::string, const toml::node*>>;
    const char* expected = "a string or an array of strings";
    const toml::node* node = find(name);
    if (node == nullptr) {
        return missing(name, expected);
    }
    List out;
    if (node->is_string()) {
        out.emplace_back(node->as_string()->get(), node);
    } else if (node->is_array()) {
        for (const toml::node& element : *node->as_array()) {
            if (!element.is_string() || element.as_string()->get().empty()) {
                return mismatch(element, name, "a non-empty string");
            }
            out.emplace_back(element.as_string()->get(), &element);
        }
        if (out.empty()) {
            return error_at(*node, name, "expected at least one string, found an empty array");
        }
    } else {
        return mismatch(*node, name, expected);
    }
    if (out.front().first.empty()) {
        return error_at(*node, name, "expected a non-empty string, found \"\"");
    }
    return out;
}

}  // namespace mcomp
