// params.hpp: stage parameters validated against a technique's schema, and the owning
// storage behind the mc_params a technique's create() receives.
//
// Rules: every key must be a parameter of the schema (else "unknown parameter", with the
// nearest valid name as a hint); the value must have the declared type (an int is accepted
// for a float); it must lie within min/max and, when the schema has `allowed`, be one of
// those values. Parameters the stage leaves out get the schema's default, so the plugin
// always receives every parameter, in schema order.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/manifest.hpp"
#include "mcomp/params.h"
#include "util/expected.hpp"

namespace mcomp {

// One parameter as given by the user. `where` prefixes messages about it, e.g.
// "pipe.toml:7:20: stage.params.bits"; empty means "params.<name>".
struct ParamArg {
    std::string name;
    ParamValue value;
    std::string where;
};

// Validated parameters with their storage; get() stays valid while this object lives and
// is not modified (copies and moves rebuild their own view).
class OwnedParams {
  public:
    OwnedParams() = default;
    explicit OwnedParams(std::vector<std::pair<std::string, ParamValue>> values);
    OwnedParams(const OwnedParams& other);
    OwnedParams& operator=(const OwnedParams& other);
    OwnedParams(OwnedParams&& other) noexcept;
    OwnedParams& operator=(OwnedParams&& other) noexcept;

    const mc_params* get() const { return &params_; }
    const std::vector<std::pair<std::string, ParamValue>>& values() const { return values_; }
    const ParamValue* find(std::string_view name) const;

  private:
    void rebuild();

    std::vector<std::pair<std::string, ParamValue>> values_;
    std::vector<mc_param> items_;
    mc_params params_ = {sizeof(mc_params), 0, nullptr};
};

// Validates `args` against `technique`'s schema and fills in defaults.
Expected<OwnedParams> bind_params(const TechniqueManifest& technique,
                                  const std::vector<ParamArg>& args);

// Checks one value against one spec; `where` as in ParamArg. Returns the value converted to
// the spec's type (an int given for a float becomes a double).
Expected<ParamValue> check_param_value(const ParamSpec& spec, const ParamValue& value,
                                       const std::string& where);

// Parses "NAME=VALUE" as typed by a user on the command line: VALUE is read as the type the
// schema declares for NAME (true/false/1/0 for bool).
Expected<ParamArg> parse_param_assignment(const TechniqueManifest& technique,
                                          std::string_view assignment);

}  // namespace mcomp
