// checked_view.hpp: the data pointer of a tensor view the host hands a layer technique, after
// checking everything the technique relies on (dtype, rank, extents, contiguity, device), with
// a message that names the view and says what was expected. Header-only; for any plugin.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "mcomp/cpp/plugin.hpp"

namespace mcomp::common {

inline std::string shape_string(const mc_tensor_view& view) {
    std::string text = "[";
    for (int32_t i = 0; i < view.ndim; ++i) {
        text += (i > 0 ? ", " : "") + std::to_string(view.shape[i]);
    }
    return text + "]";
}

// `shape` lists the expected extents, -1 for any ("tokens" in the message); `device` is the
// device type of the backend that reads the view.
template <class T>
T* checked_data(const mc_tensor_view& view, std::initializer_list<int64_t> shape,
                mc_device_type device, const std::string& what) {
    const sdk::Matrix<T> matrix(view, what.c_str());
    bool shape_ok = view.ndim == static_cast<int32_t>(shape.size());
    std::string expected = "[";
    int32_t dim = 0;
    for (const int64_t extent : shape) {
        shape_ok = shape_ok && (extent < 0 || view.shape[dim] == extent);
        expected += (dim > 0 ? ", " : "") + (extent < 0 ? "tokens" : std::to_string(extent));
        ++dim;
    }
    sdk::require(shape_ok, MC_ERR_INVALID_ARGUMENT,
                 what + " is " + shape_string(view) + ", expected " + expected + "]");
    sdk::require(view.device.type == device, MC_ERR_INVALID_ARGUMENT,
                 what + " lives on the wrong device for this backend");
    return matrix.data();
}

}  // namespace mcomp::common
