// safetensors.cpp: see safetensors.hpp.
#include "model/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "model/json_errors.hpp"

namespace mcomp {

namespace {

using nlohmann::json;

constexpr std::size_t kHeaderLengthBytes = 8;
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference crate's MAX_HEADER_SIZE

// One header entry, before the data region is known to hold it.
struct ParsedEntry {
    std::string name;
    TensorView view;
    std::uint64_t begin = 0;
    std::uint64_t end = 0;
};

std::uint64_t read_le_u64(const std::byte* src) {
    std::uint64_t value = 0;
    for (int i = 7; i >= 0; --i) {
        value = (value << 8) | static_cast<std::uint64_t>(src[i]);
    }
    return value;
}

Expected<ParsedEntry> parse_entry(const std::string& path, const std::string& name,
                                  const json& value) {
    const std::string where = path + ": tensor '" + name + "': ";
    if (!value.is_object()) {
        return make_error(ErrorKind::bad_input, where + "header entry is not an object");
    }
    const auto dtype_it = value.find("dtype");
    const auto shape_it = value.find("shape");
    const auto offsets_it = value.find("data_offsets");
    if (dtype_it == value.end() || !dtype_it->is_string()) {
        return make_error(ErrorKind::bad_input, where + "'dtype' is missing or not a string");
    }
    if (shape_it == value.end() || !shape_it->is_array()) {
        return make_error(ErrorKind::bad_input, where + "'shape' is missing or not an array");
    }
    if (offsets_it == value.end() || !offsets_it->is_array() || offsets_it->size() != 2 ||
        !(*offsets_it)[0].is_number_unsigned() || !(*offsets_it)[1].is_number_unsigned()) {
        return make_error(ErrorKind::bad_input,
                          where + "'data_offsets' must be [begin, end] with non-negative integers");
    }
    ParsedEntry entry;
    entry.name = name;
    const std::string dtype_text = dtype_it->get<std::string>();
    const std::optional<DType> dtype = parse_dtype(dtype_text);
    if (!dtype) {
        return make_error(ErrorKind::unsupported,
                          where + "unknown dtype '" + dtype_text +
                              "' (known: " + std::string(known_dtype_names()) + ")");
    }
    entry.view.dtype = *dtype;
    std::uint64_t num_bytes = dtype_size(*dtype);
    for (const json& dim : *shape_it) {
        if (!dim.is_number_unsigned() || dim.get<std::uint64_t>() > INT64_MAX) {
            return make_error(ErrorKind::bad_input, where + "shape extent " + dim.dump() +
                                                        " is not a non-negative integer");
        }
        const std::uint64_t extent = dim.get<std::uint64_t>();
        if (__builtin_mul_overflow(num_bytes, extent, &num_bytes)) {
            return make_error(ErrorKind::bad_input, where + "shape is too large");
        }
        entry.view.shape.push_back(static_cast<std::int64_t>(extent));
    }
    entry.begin = (*offsets_it)[0].get<std::uint64_t>();
    entry.end = (*offsets_it)[1].get<std::uint64_t>();
    if (entry.end < entry.begin) {
        return make_error(ErrorKind::bad_input,
                          where + "data_offsets [" + std::to_string(entry.begin) + ", " +
                              std::to_string(entry.end) + "] end before they begin");
    }
    if (entry.end - entry.begin != num_bytes) {
        return make_error(ErrorKind::bad_input,
                          where + "shape " + shape_to_string(entry.view.shape) + " of " +
                              std::string(dtype_name(*dtype)) + " needs " +
                              std::to_string(num_bytes) + " bytes but data_offsets [" +
                              std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                              "] hold " + std::to_string(entry.end - entry.begin));
    }
    entry.view.num_bytes = static_cast<std::size_t>(num_bytes);
    return entry;
}

// Every tensor inside the data region and no two sharing a byte.
Status check_layout(const std::string& path, std::vector<ParsedEntry>& entries,
                    std::uint64_t data_bytes) {
    for (const ParsedEntry& entry : entries) {
        if (entry.end > data_bytes) {
            return make_error(ErrorKind::bad_input,
                              path + ": tensor '" + entry.name + "': data_offsets [" +
                                  std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                                  "] run past the end of the data (" + std::to_string(data_bytes) +
                                  " bytes); the file is truncated");
        }
    }
    std::sort(entries.begin(), entries.end(), [](const ParsedEntry& a, const ParsedEntry& b) {
        return a.begin != b.begin ? a.begin < b.begin : a.name < b.name;
    });
    const ParsedEntry* previous = nullptr;
    for (const ParsedEntry& entry : entries) {
        if (entry.begin == entry.end) {
            continue;  // empty tensors own no byte
        }
        if (previous != nullptr && entry.begin < previous->end) {
            return make_error(ErrorKind::bad_input,
                              path + ": tensors '" + previous->name + "' [" +
                                  std::to_string(previous->begin) + ", " +
                                  std::to_string(previous->end) + "] and '" + entry.name + "' [" +
                                  std::to_string(entry.begin) + ", " + std::to_string(entry.end) +
                                  "] overlap; the file is damaged");
        }
        previous = &entry;
    }
    return {};
}

Status parse_metadata(const std::string& path, const json& value,
                      std::map<std::string, std::string>& dst) {
    if (!value.is_object()) {
        return make_error(ErrorKind::bad_input, path + ": '__metadata__' is not an object");
    }
    for (const auto& [key, item] : value.items()) {
        if (!item.is_string()) {
            return make_error(ErrorKind::bad_input,
                              path + ": '__metadata__' value '" + key + "' is not a string");
        }
        dst[key] = item.get<std::string>();
    }
    return {};
}

}  // namespace

std::int64_t TensorView::numel() const {
    std::int64_t count = 1;
    for (const std::int64_t extent : shape) {
        count *= extent;
    }
    return count;
}

std::string shape_to_string(const std::vector<std::int64_t>& shape) {
    std::string text = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
        text += (i == 0 ? "" : ", ") + std::to_string(shape[i]);
    }
    return text + "]";
}

Expected<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    Expected<MappedFile> mapped = MappedFile::open(path);
    if (!mapped) {
        return mapped.error();
    }
    const std::size_t file_bytes = mapped->size();
    if (file_bytes < kHeaderLengthBytes) {
        return make_error(ErrorKind::bad_input,
                          path + ": " + std::to_string(file_bytes) +
                              " bytes, too short for the 8-byte header length; the file is "
                              "truncated or not safetensors");
    }
    const std::uint64_t header_bytes = read_le_u64(mapped->data());
    if (header_bytes > kMaxHeaderBytes) {
        return make_error(ErrorKind::bad_input,
                          path + ": header length " + std::to_string(header_bytes) +
                              " exceeds the format's limit of " + std::to_string(kMaxHeaderBytes) +
                              " bytes; the file is damaged or not safetensors");
    }
    if (header_bytes > file_bytes - kHeaderLengthBytes) {
        return make_error(ErrorKind::bad_input,
                          path + ": header length " + std::to_string(header_bytes) +
                              " runs past the end of the file (" + std::to_string(file_bytes) +
                              " bytes); the file is truncated or not safetensors");
    }
    const char* header_begin = reinterpret_cast<const char*>(mapped->data()) + kHeaderLengthBytes;
    json header;
    try {
        header = json::parse(header_begin, header_begin + header_bytes);
    } catch (const json::exception& e) {
        return make_error(ErrorKind::bad_input, path + ": header is not valid JSON (" +
                                                    json_error_detail(e) +
                                                    "); the file is damaged or not safetensors");
    }
    if (!header.is_object()) {
        return make_error(ErrorKind::bad_input, path + ": header is not a JSON object");
    }
    SafetensorsFile file;
    std::vector<ParsedEntry> entries;
    for (const auto& [name, value] : header.items()) {
        if (name == "__metadata__") {
            MCOMP_TRY(parse_metadata(path, value, file.metadata_));
            continue;
        }
        Expected<ParsedEntry> entry = parse_entry(path, name, value);
        if (!entry) {
            return entry.error();
        }
        entries.push_back(std::move(*entry));
    }
    const std::uint64_t data_bytes = file_bytes - kHeaderLengthBytes - header_bytes;
    MCOMP_TRY(check_layout(path, entries, data_bytes));
    const std::byte* data_begin = mapped->data() + kHeaderLengthBytes + header_bytes;
    for (ParsedEntry& entry : entries) {
        entry.view.data = data_begin + entry.begin;
        file.tensors_.emplace(entry.name, std::move(entry.view));
    }
    file.file_ = std::move(*mapped);
    return file;
}

const TensorView* SafetensorsFile::find(std::string_view name) const {
    const auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
}

std::vector<std::string> SafetensorsFile::names() const {
    std::vector<std::string> result;
    result.reserve(tensors_.size());
    for (const auto& [name, view] : tensors_) {
        result.push_back(name);
    }
    return result;
}

// ---- writing -------------------------------------------------------------------------

namespace {

Status write_all(int fd, const void* src, std::size_t num_bytes, const std::string& path) {
    const auto* cursor = static_cast<const char*>(src);
    while (num_bytes > 0) {
        const ssize_t written = ::write(fd, cursor, num_bytes);
        if (written < 0) {
            if (errno == EINTR) {
                continue;
            }
            return make_error(ErrorKind::io, path + ": write failed: " + std::strerror(errno));
        }
        cursor += written;
        num_bytes -= static_cast<std::size_t>(written);
    }
    return {};
}

Expected<std::string> build_header(const std::vector<const TensorToWrite*>& tensors,
                                   const std::map<std::string, std::string>& metadata) {
    json header = json::object();
    if (!metadata.empty()) {
        header["__metadata__"] = metadata;
    }
    std::uint64_t offset = 0;
    for (const TensorToWrite* tensor : tensors) {
        std::uint64_t expected_bytes = dtype_size(tensor->dtype);
        for (const std::int64_t extent : tensor->shape) {
            if (extent < 0) {
                return make_error(ErrorKind::internal,
                                  "tensor '" + tensor->name + "' has a negative extent");
            }
            expected_bytes *= static_cast<std::uint64_t>(extent);
        }
        if (expected_bytes != tensor->num_bytes) {
            return make_error(ErrorKind::internal, "tensor '" + tensor->name + "': shape " +
                                                       shape_to_string(tensor->shape) + " of " +
                                                       std::string(dtype_name(tensor->dtype)) +
                                                       " needs " + std::to_string(expected_bytes) +
                                                       " bytes, given " +
                                                       std::to_string(tensor->num_bytes));
        }
        header[tensor->name] = {{"dtype", dtype_name(tensor->dtype)},
                                {"shape", tensor->shape},
                                {"data_offsets", {offset, offset + tensor->num_bytes}}};
        offset += tensor->num_bytes;
    }
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return text;
}

}  // namespace

Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                         const std::map<std::string, std::string>& metadata) {
    std::vector<const TensorToWrite*> ordered;
    std::set<std::string_view> names;
    for (const TensorToWrite& tensor : tensors) {
        if (tensor.name == "__metadata__") {
            return make_error(ErrorKind::internal, "'__metadata__' cannot name a tensor");
        }
        if (!names.insert(tensor.name).second) {
            return make_error(ErrorKind::internal, "tensor '" + tensor.name + "' is given twice");
        }
        ordered.push_back(&tensor);
    }
    // As the reference writer does: wider dtypes first, then by name, so every tensor
    // starts aligned to its element size.
    std::sort(ordered.begin(), ordered.end(), [](const TensorToWrite* a, const TensorToWrite* b) {
        const std::size_t a_size = dtype_size(a->dtype);
        const std::size_t b_size = dtype_size(b->dtype);
        return a_size != b_size ? a_size > b_size : a->name < b->name;
    });
    Expected<std::string> header = build_header(ordered, metadata);
    if (!header) {
        return make_error(header.error().kind, path + ": " + header.error().message);
    }

    const std::string temp_path = path + ".tmp-" + std::to_string(::getpid());
    const int fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return make_error(ErrorKind::io, temp_path + ": cannot create: " + std::strerror(errno));
    }
    std::byte length_bytes[8] = {};
    const std::uint64_t header_bytes = header->size();
    for (int i = 0; i < 8; ++i) {
        length_bytes[i] = static_cast<std::byte>((header_bytes >> (8 * i)) & 0xffu);
    }
    Status status = write_all(fd, length_bytes, sizeof length_bytes, temp_path);
    if (status) {
        status = write_all(fd, header->data(), header->size(), temp_path);
    }
    for (std::size_t i = 0; status && i < ordered.size(); ++i) {
        status = write_all(fd, ordered[i]->data, ordered[i]->num_bytes, temp_path);
    }
    if (status && ::fsync(fd) != 0) {
        status = make_error(ErrorKind::io, temp_path + ": fsync failed: " + std::strerror(errno));
    }
    if (::close(fd) != 0 && status) {
        status = make_error(ErrorKind::io, temp_path + ": close failed: " + std::strerror(errno));
    }
    if (status && std::rename(temp_path.c_str(), path.c_str()) != 0) {
        status = make_error(
            ErrorKind::io,
            path + ": cannot rename the temporary file into place: " + std::strerror(errno));
    }
    if (!status) {
        ::unlink(temp_path.c_str());
        return status;
    }
    // The rename is durable only once the folder entry is on disk.
    std::string folder = std::filesystem::path(path).parent_path().string();
    const int dir_fd = ::open(folder.empty() ? "." : folder.c_str(), O_RDONLY | O_DIRECTORY);
    if (dir_fd >= 0) {
        ::fsync(dir_fd);
        ::close(dir_fd);
    }
    return {};
}

}  // namespace mcomp
