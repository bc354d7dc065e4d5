// tensor.hpp: the runtime's tensor — a dtype, a device, a row-major shape and a pointer,
// either owning its memory (shared, freed with the last copy) or borrowing it (a view of a
// memory-mapped weight, a slice of rows). Activations are fp32 [batch, seq, width]; linear
// weights are [out_features, in_features] as Hugging Face stores them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "model/dtype.hpp"

namespace mcomp {

enum class Device {
    cpu = 1,
    cuda,
};

std::string_view device_name(Device device);

class Tensor {
  public:
    Tensor() = default;

    // Uninitialised host memory, 64-byte aligned.
    static Tensor empty_cpu(DType dtype, std::vector<std::int64_t> shape);

    // Host memory filled with zeros.
    static Tensor zeros_cpu(DType dtype, std::vector<std::int64_t> shape);

    // Borrows `data`, which the caller keeps alive (and unchanged, for weights) as long as
    // the tensor or any copy of it is used.
    static Tensor view(DType dtype, std::vector<std::int64_t> shape, void* data,
                       Device device = Device::cpu);

    // Takes shared ownership of memory from any allocator (e.g. a CUDA backend's): `storage`
    // frees it when the last tensor using it goes.
    static Tensor adopt(DType dtype, std::vector<std::int64_t> shape, void* data,
                        std::shared_ptr<void> storage, Device device);

    bool defined() const { return !shape_.empty(); }
    DType dtype() const { return dtype_; }
    Device device() const { return device_; }
    const std::vector<std::int64_t>& shape() const { return shape_; }
    int ndim() const { return static_cast<int>(shape_.size()); }
    std::int64_t dim(int axis) const { return shape_[axis < 0 ? axis + ndim() : axis]; }
    std::int64_t numel() const;
    std::size_t num_bytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }

    // Width of the last axis, and the count of rows before it (product of leading dims).
    std::int64_t cols() const { return shape_.empty() ? 0 : shape_.back(); }
    std::int64_t rows() const { return cols() == 0 ? 0 : numel() / cols(); }

    void* data() { return data_; }
    const void* data() const { return data_; }
    float* f32() { return static_cast<float*>(data_); }
    const float* f32() const { return static_cast<const float*>(data_); }

    // A view of rows [begin, begin + count) of the [rows(), cols()] matrix, shape
    // [count, cols()]; shares this tensor's memory (and ownership).
    Tensor slice_rows(std::int64_t begin, std::int64_t count) const;

    // The same memory under another shape with the same element count.
    Tensor reshaped(std::vector<std::int64_t> shape) const;

    // Whether this tensor owns (a share of) its memory.
    bool owns_memory() const { return storage_ != nullptr; }

  private:
    DType dtype_ = DType::f32;
    Device device_ = Device::cpu;
    std::vector<std::int64_t> shape_;
    void* data_ = nullptr;
    std::shared_ptr<void> storage_;
};

}  // namespace mcomp
