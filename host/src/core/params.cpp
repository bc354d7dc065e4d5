// params.cpp: see params.hpp.
#include "core/params.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "util/strings.hpp"

namespace mcomp {

// ---- OwnedParams ----------------------------------------------------------------------------

OwnedParams::OwnedParams(std::vector<std::pair<std::string, ParamValue>> values)
    : values_(std::move(values)) {
    rebuild();
}

OwnedParams::OwnedParams(const OwnedParams& other) : values_(other.values_) {
    rebuild();
}

OwnedParams& OwnedParams::operator=(const OwnedParams& other) {
    if (this != &other) {
        values_ = other.values_;
        rebuild();
    }
    return *this;
}

OwnedParams::OwnedParams(OwnedParams&& other) noexcept : values_(std::move(other.values_)) {
    rebuild();
    other.rebuild();
}

OwnedParams& OwnedParams::operator=(OwnedParams&& other) noexcept {
    if (this != &other) {
        values_ = std::move(other.values_);
        rebuild();
        other.rebuild();
    }
    return *this;
}

void OwnedParams::rebuild() {
    items_.clear();
    items_.reserve(values_.size());
    for (const auto& [name, value] : values_) {
        mc_param item = {};
        item.struct_size = sizeof(mc_param);
        item.name = name.c_str();
        item.type = static_cast<mc_param_type>(param_value_type(value));
        switch (value.index()) {
            case 0:
                item.int_value = std::get<int64_t>(value);
                break;
            case 1:
                item.float_value = std::get<double>(value);
                break;
            case 2:
                item.int_value = std::get<bool>(value) ? 1 : 0;
                break;
            default:
                item.string_value = std::get<std::string>(value).c_str();
                break;
        }
        items_.push_back(item);
    }
    params_ = {sizeof(mc_params), static_cast<uint32_t>(items_.size()),
               items_.empty() ? nullptr : items_.data()};
}

const ParamValue* OwnedParams::find(std::string_view name) const {
    for (const auto& [n, value] : values_) {
        if (n == name) {
            return &value;
        }
    }
    return nullptr;
}

// ---- validation -----------------------------------------------------------------------------

namespace {

std::string_view type_expectation(ParamType type) {
    switch (type) {
        case ParamType::integer:
            return "an integer";
        case ParamType::floating:
            return "a number";
        case ParamType::boolean:
            return "a boolean";
        case ParamType::string:
            return "a string";
    }
    return "?";
}

std::string format_bound(const ParamSpec& spec, double bound) {
    if (spec.type == ParamType::integer) {
        return std::to_string(static_cast<int64_t>(bound));
    }
    return format_param_value(ParamValue(bound));
}

Error param_error(const std::string& where, const std::string& message) {
    return make_error(ErrorKind::bad_input, where + ": " + message);
}

std::string unknown_param_message(const TechniqueManifest& technique, std::string_view name) {
    std::vector<std::string> names;
    for (const ParamSpec& spec : technique.params) {
        names.push_back(spec.name);
    }
    std::string message = fmt::format("unknown parameter of technique '{}'", technique.id);
    if (names.empty()) {
        return message + "; it takes no parameters";
    }
    const std::string hint = nearest_name(name, names);
    if (!hint.empty()) {
        return message + "; did you mean '" + hint + "'?";
    }
    std::string list;
    for (const std::string& n : names) {
        list += (list.empty() ? "" : ", ") + n;
    }
    return message + "; its parameters are: " + list;
}

}  // namespace

Expected<ParamValue> check_param_value(const ParamSpec& spec, const ParamValue& value,
                                       const std::string& where) {
    ParamValue converted = value;
    if (spec.type == ParamType::floating && value.index() == 0) {
        converted = static_cast<double>(std::get<int64_t>(value));  // an int is a fine float
    }
    if (param_value_type(converted) != spec.type) {
        return param_error(where, fmt::format("expected {}, found {}", type_expectation(spec.type),
                                              format_param_value(value)));
    }
    if (spec.type == ParamType::integer || spec.type == ParamType::floating) {
        const double v = spec.type == ParamType::integer
                             ? static_cast<double>(std::get<int64_t>(converted))
                             : std::get<double>(converted);
        if (std::isnan(v)) {
            return param_error(where, "expected a number, found nan");
        }
        if (spec.min && v < *spec.min) {
            return param_error(
                where, fmt::format("expected a value >= {}, found {}",
                                   format_bound(spec, *spec.min), format_param_value(value)));
        }
        if (spec.max && v > *spec.max) {
            return param_error(
                where, fmt::format("expected a value <= {}, found {}",
                                   format_bound(spec, *spec.max), format_param_value(value)));
        }
    }
    if (!spec.allowed.empty()) {
        bool found = false;
        std::string list;
        for (const ParamValue& allowed : spec.allowed) {
            found = found || allowed == converted;
            list += (list.empty() ? "" : ", ") + format_param_value(allowed);
        }
        if (!found) {
            return param_error(where, fmt::format("expected one of {}, found {}", list,
                                                  format_param_value(value)));
        }
    }
    return converted;
}

Expected<OwnedParams> bind_params(const TechniqueManifest& technique,
                                  const std::vector<ParamArg>& args) {
    std::vector<const ParamArg*> given(technique.params.size(), nullptr);
    for (const ParamArg& arg : args) {
        const std::string where = arg.where.empty() ? "params." + arg.name : arg.where;
        const ParamSpec* spec = technique.find_param(arg.name);
        if (spec == nullptr) {
            return param_error(where, unknown_param_message(technique, arg.name));
        }
        const std::size_t index = static_cast<std::size_t>(spec - technique.params.data());
        if (given[index] != nullptr) {
            return param_error(where, "given twice");
        }
        given[index] = &arg;
    }
    std::vector<std::pair<std::string, ParamValue>> values;
    for (std::size_t i = 0; i < technique.params.size(); ++i) {
        const ParamSpec& spec = technique.params[i];
        if (given[i] == nullptr) {
            values.emplace_back(spec.name, spec.default_value);
            continue;
        }
        const std::string where =
            given[i]->where.empty() ? "params." + given[i]->name : given[i]->where;
        Expected<ParamValue> value = check_param_value(spec, given[i]->value, where);
        if (!value) {
            return value.error();
        }
        values.emplace_back(spec.name, std::move(*value));
    }
    return OwnedParams(std::move(values));
}

Expected<ParamArg> parse_param_assignment(const TechniqueManifest& technique,
                                          std::string_view assignment) {
    const std::size_t eq = assignment.find('=');
    if (eq == std::string_view::npos || eq == 0) {
        return make_error(ErrorKind::bad_input,
                          fmt::format("--param {}: expected NAME=VALUE", assignment));
    }
    const std::string name(assignment.substr(0, eq));
    const std::string text(assignment.substr(eq + 1));
    const std::string where = "--param " + name;
    const ParamSpec* spec = technique.find_param(name);
    if (spec == nullptr) {
        return param_error(where, unknown_param_message(technique, name));
    }
    const Error wrong = param_error(
        where, fmt::format("expected {}, found \"{}\"", type_expectation(spec->type), text));
    ParamArg arg{name, ParamValue(text), where};
    switch (spec->type) {
        case ParamType::integer: {
            int64_t v = 0;
            const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
            if (ec != std::errc() || end != text.data() + text.size()) {
                return wrong;
            }
            arg.value = v;
            break;
        }
        case ParamType::floating: {
            char* end = nullptr;
            const double v = text.empty() ? 0.0 : std::strtod(text.c_str(), &end);
            if (text.empty() || end != text.c_str() + text.size()) {
                return wrong;
            }
            arg.value = v;
            break;
        }
        case ParamType::boolean:
            if (text == "true" || text == "1") {
                arg.value = true;
            } else if (text == "false" || text == "0") {
                arg.value = false;
            } else {
                return wrong;
            }
            break;
        case ParamType::string:
            break;
    }
    return arg;
}

}  // namespace mcomp
