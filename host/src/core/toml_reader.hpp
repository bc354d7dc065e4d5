// toml_reader.hpp: typed access to a toml++ table that turns every mismatch into the house
// error format "file:line:col: key.path: expected ..., found ...". Internal to mcomp_core.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "util/expected.hpp"

namespace mcomp {

// "file:line:col" of a node (1:1 when toml++ has no position).
std::string toml_where(const toml::source_region& region, std::string_view file);

// How a value is shown after "found": "quantiser" with quotes, 42, 1.5, true, a table, ...
std::string describe_toml_value(const toml::node& node);

// Parses TOML text; a syntax error becomes "file:line:col: <toml++'s description>".
Expected<toml::table> parse_toml(std::string_view text, const std::string& file);

class TableReader {
  public:
    // `key_path` is the dotted path of `table` in messages ("" for the root, "technique").
    TableReader(const toml::table& table, std::string key_path, std::string file);

    const toml::table& table() const { return table_; }
    const std::string& file() const { return file_; }
    std::string key(std::string_view name) const;  // key_path + "." + name
    std::string where() const;                     // the table's own position
    std::string where(const toml::node& node) const;

    // "<where(node)>: <key(name)>: <message>"
    Error error_at(const toml::node& node, std::string_view name, std::string_view message) const;
    // "<where()>: <key(name)>: missing; expected <expected>"
    Error missing(std::string_view name, std::string_view expected) const;
    // "<where(node)>: <key(name)>: expected <expected>, found <describe(node)>"
    Error mismatch(const toml::node& node, std::string_view name, std::string_view expected) const;

    // Refuses keys not in `known`: "unknown key; did you mean 'x'?" or the list of valid keys.
    Status check_keys(std::initializer_list<std::string_view> known) const;

    const toml::node* find(std::string_view name) const;

    Expected<std::string> get_string(std::string_view name) const;  // required
    Expected<std::optional<std::string>> get_optional_string(std::string_view name) const;
    Expected<std::optional<int64_t>> get_optional_int(std::string_view name) const;
    Expected<std::optional<bool>> get_optional_bool(std::string_view name) const;
    // One of `choices` (required).
    Expected<std::string> get_choice(std::string_view name,
                                     const std::vector<std::string>& choices) const;
    // A string or an array of strings, as a list (with each element's node for positions).
    Expected<std::vector<std::pair<std::string, const toml::node*>>> get_string_list(
        std::string_view name) const;

  private:
    const toml::table& table_;
    std::string key_path_;
    std::string file_;
};

// "a, b, c" / "quantizer, pruner, distiller"
std::string join_names(const std::vector<std::string>& names, std::string_view separator = ", ");

}  // namespace mcomp
