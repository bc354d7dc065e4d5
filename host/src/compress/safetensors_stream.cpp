// safetensors_stream.cpp: see safetensors_stream.hpp.
#include "compress/safetensors_stream.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <set>

#include "compress/fs_atomic.hpp"

namespace mcomp::compress {

std::size_t StreamTensor::num_bytes() const {
    std::size_t count = dtype_size(dtype);
    for (const std::int64_t extent : shape) {
        count *= static_cast<std::size_t>(extent);
    }
    return count;
}

namespace {

Status write_all(int fd, const std::byte* data, std::size_t num_bytes, const std::string& path) {
    while (num_bytes > 0) {
        const ssize_t written = ::write(fd, data, num_bytes);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return make_error(ErrorKind::io, path + ": write failed: " + std::strerror(errno));
        }
        data += written;
        num_bytes -= static_cast<std::size_t>(written);
    }
    return {};
}

// The header and the file order of the tensors (indices into `tensors`).
Expected<std::string> build_header(const std::vector<StreamTensor>& tensors,
                                   const std::map<std::string, std::string>& metadata,
                                   std::vector<std::size_t>& order) {
    std::set<std::string_view> names;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
        if (tensors[i].name == "__metadata__" || !names.insert(tensors[i].name).second) {
            return make_error(ErrorKind::internal,
                              "tensor name '" + tensors[i].name + "' is reserved or repeated");
        }
        order.push_back(i);
    }
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        const std::size_t a_size = dtype_size(tensors[a].dtype);
        const std::size_t b_size = dtype_size(tensors[b].dtype);
        return a_size != b_size ? a_size > b_size : tensors[a].name < tensors[b].name;
    });
    nlohmann::json header = nlohmann::json::object();
    if (!metadata.empty()) {
        header["__metadata__"] = metadata;
    }
    std::uint64_t offset = 0;
    for (const std::size_t i : order) {
        const std::uint64_t size = tensors[i].num_bytes();
        header[tensors[i].name] = {{"dtype", dtype_name(tensors[i].dtype)},
                                   {"shape", tensors[i].shape},
                                   {"data_offsets", {offset, offset + size}}};
        offset += size;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
}

}  // namespace

Status write_safetensors_streamed(const std::string& path, const std::vector<StreamTensor>& tensors,
                                  const std::map<std::string, std::string>& metadata,
                                  const FillTensor& fill) {
    std::vector<std::size_t> order;
    Expected<std::string> header = build_header(tensors, metadata, order);
    if (!header) {
        return make_error(header.error().kind, path + ": " + header.error().message);
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return make_error(ErrorKind::io, path + ": cannot create: " + std::strerror(errno));
    }
    std::byte length_bytes[8] = {};
    const std::uint64_t header_bytes = header->size();
    for (int i = 0; i < 8; ++i) {
        length_bytes[i] = static_cast<std::byte>((header_bytes >> (8 * i)) & 0xffu);
    }
    Status status = write_all(fd, length_bytes, sizeof length_bytes, path);
    if (status) {
        status =
            write_all(fd, reinterpret_cast<const std::byte*>(header->data()), header->size(), path);
    }
    std::vector<std::byte> buffer;
    for (std::size_t k = 0; status && k < order.size(); ++k) {
        const std::size_t i = order[k];
        const std::size_t size = tensors[i].num_bytes();
        for (std::size_t offset = 0; status && offset < size; offset += kStreamChunkBytes) {
            const std::size_t count = std::min(kStreamChunkBytes, size - offset);
            buffer.assign(count, std::byte{0});
            status = fill(i, offset, std::span<std::byte>(buffer));
            if (status) {
                status = write_all(fd, buffer.data(), buffer.size(), path);
            }
        }
    }
    if (status && ::fsync(fd) != 0) {
        status = make_error(ErrorKind::io, path + ": fsync failed: " + std::strerror(errno));
    }
    ::close(fd);
    if (!status) {
        ::unlink(path.c_str());
    }
    return status;
}

Status write_model_weights(const std::filesystem::path& dir,
                           const std::vector<StreamTensor>& tensors, std::size_t max_shard_bytes,
                           const FillTensor& fill) {
    const std::map<std::string, std::string> metadata = {{"format", "pt"}};
    std::size_t total_bytes = 0;
    for (const StreamTensor& tensor : tensors) {
        total_bytes += tensor.num_bytes();
    }
    if (total_bytes <= max_shard_bytes) {
        return write_safetensors_streamed((dir / "model.safetensors").string(), tensors, metadata,
                                          fill);
    }
    // Shards in name order, each closed before it would pass the limit.
    std::vector<std::size_t> order(tensors.size());
    for (std::size_t i = 0; i < order.size(); ++i) {
        order[i] = i;
    }
    std::sort(order.begin(), order.end(),
              [&](std::size_t a, std::size_t b) { return tensors[a].name < tensors[b].name; });
    std::vector<std::vector<std::size_t>> shards(1);
    std::size_t shard_bytes = 0;
    for (const std::size_t i : order) {
        const std::size_t size = tensors[i].num_bytes();
        if (!shards.back().empty() && shard_bytes + size > max_shard_bytes) {
            shards.emplace_back();
            shard_bytes = 0;
        }
        shards.back().push_back(i);
        shard_bytes += size;
    }
    nlohmann::json weight_map = nlohmann::json::object();
    for (std::size_t k = 0; k < shards.size(); ++k) {
        char name[64] = {};
        std::snprintf(name, sizeof name, "model-%05zu-of-%05zu.safetensors", k + 1, shards.size());
        std::vector<StreamTensor> subset;
        for (const std::size_t i : shards[k]) {
            subset.push_back(tensors[i]);
            weight_map[tensors[i].name] = name;
        }
        const std::vector<std::size_t>& indices = shards[k];
        MCOMP_TRY(write_safetensors_streamed(
            (dir / name).string(), subset, metadata,
            [&](std::size_t j, std::size_t offset, std::span<std::byte> dst) {
                return fill(indices[j], offset, dst);
            }));
    }
    const nlohmann::json index = {{"metadata", {{"total_size", total_bytes}}},
                                  {"weight_map", weight_map}};
    return write_file_atomic(dir / "model.safetensors.index.json", index.dump(2) + "\n");
}

}  // namespace mcomp::compress
