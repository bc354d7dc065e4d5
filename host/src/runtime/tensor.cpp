// tensor.cpp: see tensor.hpp.
#include "runtime/tensor.hpp"

#include <cassert>
#include <cstdlib>
#include <cstring>
#include <new>

namespace mcomp {

namespace {

constexpr std::size_t kAlignmentBytes = 64;  // a cache line; what AVX-512 loads like

std::int64_t count_elements(const std::vector<std::int64_t>& shape) {
    std::int64_t count = 1;
    for (const std::int64_t extent : shape) {
        count *= extent;
    }
    return count;
}

}  // namespace

std::string_view device_name(Device device) {
    return device == Device::cuda ? "cuda" : "cpu";
}

std::int64_t Tensor::numel() const {
    return shape_.empty() ? 0 : count_elements(shape_);
}

Tensor Tensor::empty_cpu(DType dtype, std::vector<std::int64_t> shape) {
    Tensor tensor;
    tensor.dtype_ = dtype;
    tensor.shape_ = std::move(shape);
    std::size_t num_bytes = tensor.num_bytes();
    num_bytes = (num_bytes + kAlignmentBytes - 1) / kAlignmentBytes * kAlignmentBytes;
    void* data = std::aligned_alloc(kAlignmentBytes, num_bytes == 0 ? kAlignmentBytes : num_bytes);
    if (data == nullptr) {
        throw std::bad_alloc();
    }
    tensor.data_ = data;
    tensor.storage_ = std::shared_ptr<void>(data, [](void* p) { std::free(p); });
    return tensor;
}

Tensor Tensor::zeros_cpu(DType dtype, std::vector<std::int64_t> shape) {
    Tensor tensor = empty_cpu(dtype, std::move(shape));
    std::memset(tensor.data_, 0, tensor.num_bytes());
    return tensor;
}

Tensor Tensor::view(DType dtype, std::vector<std::int64_t> shape, void* data, Device device) {
    Tensor tensor;
    tensor.dtype_ = dtype;
    tensor.device_ = device;
    tensor.shape_ = std::move(shape);
    tensor.data_ = data;
    return tensor;
}

Tensor Tensor::adopt(DType dtype, std::vector<std::int64_t> shape, void* data,
                     std::shared_ptr<void> storage, Device device) {
    Tensor tensor = view(dtype, std::move(shape), data, device);
    tensor.storage_ = std::move(storage);
    return tensor;
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t count) const {
    assert(begin >= 0 && count >= 0 && begin + count <= rows());
    Tensor tensor = *this;
    tensor.shape_ = {count, cols()};
    tensor.data_ = static_cast<std::byte*>(data_) +
                   static_cast<std::size_t>(begin * cols()) * dtype_size(dtype_);
    return tensor;
}

Tensor Tensor::reshaped(std::vector<std::int64_t> shape) const {
    assert(count_elements(shape) == numel());
    Tensor tensor = *this;
    tensor.shape_ = std::move(shape);
    return tensor;
}

}  // namespace mcomp
