// bench_util.hpp: what the layer-technique benchmarks (bench/gptq, bench/sparsegpt,
// bench/wanda) share: layer shapes from the command line, plugin memory through the host's
// allocator, tensor views, seeded random weights, and timing.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "core/host_services.hpp"
#include "mcomp/tensor.h"

namespace mcomp::bench {

struct Shape {
    int64_t out = 0;
    int64_t in = 0;
};

// "4096x4096,4096x11008" (out x in); false on anything else.
inline bool parse_shapes(const std::string& text, std::vector<Shape>& shapes) {
    shapes.clear();
    size_t start = 0;
    while (start < text.size()) {
        const size_t comma = std::min(text.find(',', start), text.size());
        Shape shape;
        if (std::sscanf(text.substr(start, comma - start).c_str(), "%ldx%ld", &shape.out,
                        &shape.in) != 2 ||
            shape.out <= 0 || shape.in <= 0) {
            return false;
        }
        shapes.push_back(shape);
        start = comma + 1;
    }
    return !shapes.empty();
}

// Memory on the host services' device, released with the buffer.
class Buffer {
  public:
    Buffer(HostServices& host, size_t num_bytes) : host_(host) {
        data_ = host_.allocate(host_.device(), num_bytes);
    }
    ~Buffer() {
        if (data_ != nullptr) {
            host_.release(host_.device(), data_);
        }
    }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;
    void* data() const { return data_; }

  private:
    HostServices& host_;
    void* data_ = nullptr;
};

inline mc_tensor_view make_view(mc_dtype dtype, mc_device device, int64_t rows, int64_t cols,
                                void* data) {
    mc_tensor_view view = {};
    view.struct_size = sizeof(mc_tensor_view);
    view.dtype = dtype;
    view.device = device;
    view.ndim = 2;
    view.shape[0] = rows;
    view.shape[1] = cols;
    view.strides[0] = cols;
    view.strides[1] = 1;
    view.data = data;
    return view;
}

inline mc_tensor_view make_vector_view(mc_dtype dtype, mc_device device, int64_t size, void* data) {
    mc_tensor_view view = {};
    view.struct_size = sizeof(mc_tensor_view);
    view.dtype = dtype;
    view.device = device;
    view.ndim = 1;
    view.shape[0] = size;
    view.strides[0] = 1;
    view.data = data;
    return view;
}

// `count` values from N(0, scale²), the same for the same seed.
inline std::vector<float> random_values(size_t count, uint32_t seed, float scale) {
    std::vector<float> values(count);
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, scale);
    for (float& v : values) {
        v = normal(rng);
    }
    return values;
}

inline double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

inline double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

}  // namespace mcomp::bench
