// formats_detail.cpp: the checks on tensors a reader found and the typed lookups in a
// quantization_config (see formats_detail.hpp).
#include "engine/formats_detail.hpp"

namespace mcomp::formats_detail {

namespace {

// Built by appending: GCC 12 warns (-Wrestrict) on "literal" + std::string temporaries.
std::string dtype_list(std::initializer_list<DType> dtypes) {
    std::string list;
    for (const DType dtype : dtypes) {
        list += list.empty() ? "" : " or ";
        list += dtype_name(dtype);
    }
    return list;
}

// "\"bits\"" or "\"bits\" (or \"w_bit\")".
std::string key_list(std::initializer_list<const char*> keys) {
    std::string list;
    bool first = true;
    for (const char* key : keys) {
        list += first ? "\"" : " (or \"";
        list += key;
        list += first ? "\"" : "\")";
        first = false;
    }
    return list;
}

// The first of `keys` present in `object`, or null; `name` receives its key.
const nlohmann::json* find_key(const nlohmann::json& object,
                               std::initializer_list<const char*> keys, std::string& name) {
    if (!object.is_object()) {
        return nullptr;
    }
    for (const char* key : keys) {
        const auto it = object.find(key);
        if (it != object.end()) {
            name = key;
            return &*it;
        }
    }
    return nullptr;
}

Error missing_key(std::initializer_list<const char*> keys, std::string_view where) {
    return make_error(ErrorKind::bad_input,
                      std::string(where) + ": key " + key_list(keys) + " is missing");
}

Error wrong_type(std::string_view where, const std::string& key, const char* expected,
                 const nlohmann::json& found) {
    return make_error(ErrorKind::bad_input, std::string(where) + "." + key + ": expected " +
                                                expected + ", found " + found.dump());
}

}  // namespace

Expected<const TensorView*> require_tensor(const LayerTensors& tensors, std::string_view module,
                                           std::string_view suffix,
                                           std::initializer_list<DType> dtypes,
                                           std::string_view needed) {
    const auto it = tensors.find(suffix);
    if (it == tensors.end()) {
        return make_error(ErrorKind::bad_input,
                          tensor_label(module, suffix) +
                              ": tensor missing from the checkpoint (this format needs " +
                              std::string(needed) + ")");
    }
    for (const DType dtype : dtypes) {
        if (it->second.dtype == dtype) {
            return &it->second;
        }
    }
    return make_error(ErrorKind::bad_input, tensor_label(module, suffix) + ": dtype " +
                                                std::string(dtype_name(it->second.dtype)) +
                                                ", expected " + dtype_list(dtypes));
}

Status require_shape(const TensorView& view, std::string_view module, std::string_view suffix,
                     const std::vector<std::int64_t>& expected, std::string_view why) {
    if (view.shape != expected) {
        return make_error(ErrorKind::bad_input, tensor_label(module, suffix) + ": shape " +
                                                    shape_to_string(view.shape) + ", expected " +
                                                    shape_to_string(expected) + " (" +
                                                    std::string(why) + ")");
    }
    return {};
}

Status require_matrix(const TensorView& view, std::string_view module, std::string_view suffix) {
    if (view.shape.size() != 2 || view.shape[0] <= 0 || view.shape[1] <= 0) {
        return make_error(ErrorKind::bad_input, tensor_label(module, suffix) + ": shape " +
                                                    shape_to_string(view.shape) +
                                                    ", expected a non-empty 2-D tensor");
    }
    return {};
}

Expected<std::int64_t> json_int(const nlohmann::json& object,
                                std::initializer_list<const char*> keys, std::string_view where) {
    std::string key;
    const nlohmann::json* value = find_key(object, keys, key);
    if (value == nullptr) {
        return missing_key(keys, where);
    }
    if (!value->is_number_integer()) {
        return wrong_type(where, key, "an integer", *value);
    }
    return value->get<std::int64_t>();
}

Expected<bool> json_bool(const nlohmann::json& object, std::initializer_list<const char*> keys,
                         std::string_view where, const bool* fallback) {
    std::string key;
    const nlohmann::json* value = find_key(object, keys, key);
    if (value == nullptr || (value->is_null() && fallback != nullptr)) {
        if (fallback != nullptr) {
            return *fallback;
        }
        return missing_key(keys, where);
    }
    if (!value->is_boolean()) {
        return wrong_type(where, key, "true or false", *value);
    }
    return value->get<bool>();
}

Expected<std::string> json_string(const nlohmann::json& object,
                                  std::initializer_list<const char*> keys, std::string_view where,
                                  const char* fallback) {
    std::string key;
    const nlohmann::json* value = find_key(object, keys, key);
    if (value == nullptr || (value->is_null() && fallback != nullptr)) {
        if (fallback != nullptr) {
            return std::string(fallback);
        }
        return missing_key(keys, where);
    }
    if (!value->is_string()) {
        return wrong_type(where, key, "a string", *value);
    }
    return value->get<std::string>();
}

Status check_bits(std::int64_t bits, std::initializer_list<int> allowed, std::string_view where) {
    std::string list;
    for (const int value : allowed) {
        if (bits == value) {
            return {};
        }
        list += (list.empty() ? "" : ", ") + std::to_string(value);
    }
    return make_error(ErrorKind::unsupported, std::string(where) + ": bits " +
                                                  std::to_string(bits) + " is not supported (use " +
                                                  list + ")");
}

}  // namespace mcomp::formats_detail
