// work_dir.cpp: see work_dir.hpp.
#include "compress/work_dir.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <cerrno>
#include <cstring>

#include "compress/fs_atomic.hpp"
#include "compress/resources.hpp"
#include "util/strings.hpp"

namespace mcomp::compress {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr int kStateFormat = 1;
constexpr const char* kLayersKey = "mcomp.layers";

Error io_error(const fs::path& path, std::string_view what) {
    return make_error(ErrorKind::io,
                      fmt::format("{}: {}: {}", path.string(), what, std::strerror(errno)));
}

Status write_raw_atomic(const fs::path& path, const void* data, std::size_t num_bytes) {
    const fs::path temp = path.string() + ".tmp";
    const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        return io_error(temp, "cannot create");
    }
    const auto* cursor = static_cast<const char*>(data);
    std::size_t left = num_bytes;
    while (left > 0) {
        const ssize_t written = ::write(fd, cursor, left);
        if (written < 0 && errno == EINTR) {
            continue;
        }
        if (written < 0) {
            const Error error = io_error(temp, "write failed");
            ::close(fd);
            ::unlink(temp.c_str());
            return error;
        }
        cursor += written;
        left -= static_cast<std::size_t>(written);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        const Error error = io_error(temp, "fsync failed");
        ::unlink(temp.c_str());
        return error;
    }
    if (std::rename(temp.c_str(), path.c_str()) != 0) {
        return io_error(path, "cannot rename into place");
    }
    return {};
}

json layer_meta(const CompressedLinear& record) {
    json meta = {{"block", record.block},
                 {"linear", std::string(linear_name(record.id))},
                 {"out_features", record.out_features},
                 {"in_features", record.in_features},
                 {"quantized", record.quantized},
                 {"masked", record.masked},
                 {"stages", record.stages}};
    if (record.quantized) {
        meta["bits"] = record.quant.bits;
        meta["group_size"] = record.quant.group_size;
        meta["sym"] = record.quant.sym;
        meta["desc_act"] = record.quant.desc_act;
    }
    return meta;
}

// Whether the record's weight is exactly its codes dequantized (the default weight policy):
// then the work file leaves the fp32 weight out (4 of every 5 bytes of a 7B block).
bool weight_is_dequantized(const CompressedLinear& record) {
    if (!record.quantized) {
        return false;
    }
    if (record.weight_from_codes) {
        return true;
    }
    if (record.weight.size() != record.quant.codes.size() ||
        !validate_quantized_linear(record.quant)) {
        return false;
    }
    const std::vector<float> rebuilt = dequantize(record.quant);
    return std::memcmp(rebuilt.data(), record.weight.data(), rebuilt.size() * sizeof(float)) == 0;
}

template <class T>
TensorToWrite tensor_of(std::string name, DType dtype, std::vector<std::int64_t> shape,
                        const std::vector<T>& data) {
    return TensorToWrite{std::move(name), dtype, std::move(shape), data.data(),
                         data.size() * sizeof(T)};
}

}  // namespace

fs::path work_dir_for(const fs::path& output_dir) {
    const fs::path clean = output_dir.lexically_normal();
    const std::string name =
        clean.filename().empty() ? clean.parent_path().string() : clean.string();
    return fs::path(name + ".mcomp-work");
}

// ---- WorkDir ----------------------------------------------------------------------------------

Expected<WorkDir> WorkDir::open(const fs::path& dir, const std::string& pipeline_hash, bool fresh) {
    WorkDir work;
    work.dir_ = dir;
    work.pipeline_hash_ = pipeline_hash;
    std::error_code ec;
    const fs::path state_path = dir / "state.json";
    std::string text;
    if (!fresh && read_file(state_path.string(), text)) {
        try {
            const json state = json::parse(text);
            if (state.value("format", 0) == kStateFormat &&
                state.value("pipeline_hash", std::string()) == pipeline_hash) {
                work.next_block_ = state.at("next_block").get<std::int64_t>();
                work.notes_ = state.value("notes", json::object());
                work.resumed_ = true;
            } else {
                spdlog::warn(
                    "{}: left by a run of another pipeline (or another mcomp); "
                    "starting over",
                    dir.string());
            }
        } catch (const json::exception& e) {
            spdlog::warn("{}: unreadable ({}); starting over", state_path.string(), e.what());
        }
    }
    if (!work.resumed_) {
        fs::remove_all(dir, ec);
        if (ec) {
            return make_error(ErrorKind::io, fmt::format("{}: cannot clear the work folder: {}",
                                                         dir.string(), ec.message()));
        }
    }
    fs::create_directories(dir, ec);
    if (ec) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot create the work folder: {}",
                                                     dir.string(), ec.message()));
    }
    if (!work.resumed_) {
        MCOMP_TRY(work.write_state());
    }
    return work;
}

fs::path WorkDir::block_file(std::int64_t block) const {
    return dir_ / fmt::format("block-{}.safetensors", block);
}

fs::path WorkDir::activations_file(std::int64_t block) const {
    return dir_ / fmt::format("activations-{}.bin", block);
}

Status WorkDir::write_state() {
    const json state = {{"format", kStateFormat},
                        {"pipeline_hash", pipeline_hash_},
                        {"next_block", next_block_},
                        {"notes", notes_}};
    return write_file_atomic(dir_ / "state.json", state.dump(2) + "\n");
}

Status WorkDir::save_notes() {
    return write_state();
}

Status WorkDir::load_activations(std::int64_t block, Tensor& dst) const {
    const fs::path path = activations_file(block);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return io_error(path, "cannot open the saved activations; rerun with --fresh");
    }
    auto* cursor = static_cast<char*>(dst.data());
    std::size_t left = dst.num_bytes();
    while (left > 0) {
        const ssize_t got = ::read(fd, cursor, left);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        if (got <= 0) {
            ::close(fd);
            return make_error(ErrorKind::io,
                              fmt::format("{}: shorter than the expected {} bytes; rerun with "
                                          "--fresh",
                                          path.string(), dst.num_bytes()));
        }
        cursor += got;
        left -= static_cast<std::size_t>(got);
    }
    ::close(fd);
    return {};
}

Status WorkDir::commit_block(std::int64_t block, const std::vector<CompressedLinear>& records,
                             const Tensor* next_activations, bool resume_point) {
    std::vector<TensorToWrite> tensors;
    json layers = json::object();
    for (const CompressedLinear& record : records) {
        const std::vector<std::int64_t> shape = {record.out_features, record.in_features};
        const bool from_codes = weight_is_dequantized(record);
        if (!from_codes) {
            tensors.push_back(
                tensor_of(record.prefix + ".weight", DType::f32, shape, record.weight));
        }
        if (record.quantized) {
            const QuantizedLinear& q = record.quant;
            const std::vector<std::int64_t> groups = {q.out_features, q.num_groups()};
            tensors.push_back(tensor_of(record.prefix + ".codes", DType::u8, shape, q.codes));
            tensors.push_back(tensor_of(record.prefix + ".scales", DType::f32, groups, q.scales));
            tensors.push_back(tensor_of(record.prefix + ".zeros", DType::f32, groups, q.zeros));
            tensors.push_back(
                tensor_of(record.prefix + ".g_idx", DType::i32, {q.in_features}, q.g_idx));
        }
        layers[record.prefix] = layer_meta(record);
        layers[record.prefix]["weight_from_codes"] = from_codes;
    }
    MCOMP_TRY(
        write_safetensors(block_file(block).string(), tensors, {{kLayersKey, layers.dump()}}));
    if (!resume_point) {
        return {};
    }
    if (next_activations != nullptr) {
        MCOMP_TRY(write_raw_atomic(activations_file(block + 1), next_activations->data(),
                                   next_activations->num_bytes()));
    }
    MCOMP_TRY(fsync_path(dir_));
    const std::int64_t previous = next_block_;
    next_block_ = block + 1;
    MCOMP_TRY(write_state());
    std::error_code ignored;
    fs::remove(activations_file(previous), ignored);
    return {};
}

Status WorkDir::remove() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
    if (ec) {
        return make_error(ErrorKind::io, fmt::format("{}: cannot remove the work folder: {}",
                                                     dir_.string(), ec.message()));
    }
    return {};
}

// ---- BlockRecords -----------------------------------------------------------------------------

Expected<BlockRecords> BlockRecords::open(const fs::path& path) {
    Expected<SafetensorsFile> file = SafetensorsFile::open(path.string());
    if (!file) {
        return make_error(
            file.error().kind,
            file.error().message + " (the work folder is damaged; rerun with --fresh)");
    }
    BlockRecords records;
    records.file_ = std::move(*file);
    const auto it = records.file_.metadata().find(kLayersKey);
    try {
        records.meta_ =
            it == records.file_.metadata().end() ? json::object() : json::parse(it->second);
    } catch (const json::exception& e) {
        return make_error(ErrorKind::bad_input, fmt::format("{}: bad {} metadata: {}",
                                                            path.string(), kLayersKey, e.what()));
    }
    return records;
}

std::vector<std::string> BlockRecords::prefixes() const {
    std::vector<std::string> out;
    for (const auto& [prefix, meta] : meta_.items()) {
        out.push_back(prefix);
    }
    return out;
}

Expected<CompressedLinear> BlockRecords::read(const std::string& prefix, bool with_weight) const {
    if (!meta_.contains(prefix)) {
        return make_error(ErrorKind::internal,
                          fmt::format("{}: no record of '{}'", file_.path(), prefix));
    }
    CompressedLinear record;
    record.prefix = prefix;
    try {
        const json& meta = meta_.at(prefix);
        record.block = meta.at("block").get<std::int64_t>();
        record.out_features = meta.at("out_features").get<std::int64_t>();
        record.in_features = meta.at("in_features").get<std::int64_t>();
        const std::string linear = meta.at("linear").get<std::string>();
        for (const LinearId id : kAllLinears) {
            if (linear_name(id) == linear) {
                record.id = id;
            }
        }
        record.quantized = meta.at("quantized").get<bool>();
        record.masked = meta.at("masked").get<bool>();
        record.stages = meta.at("stages").get<std::vector<int>>();
        if (record.quantized) {
            QuantizedLinear& q = record.quant;
            q.name = prefix;
            q.out_features = record.out_features;
            q.in_features = record.in_features;
            q.bits = meta.at("bits").get<int>();
            q.group_size = meta.at("group_size").get<int>();
            q.sym = meta.at("sym").get<bool>();
            q.desc_act = meta.at("desc_act").get<bool>();
        }
    } catch (const json::exception& e) {
        return make_error(ErrorKind::bad_input,
                          fmt::format("{}: bad record of '{}' ({}); rerun with --fresh",
                                      file_.path(), prefix, e.what()));
    }
    // Copies one tensor and gives its pages back: the record is read once.
    const auto copy = [&](const std::string& suffix, DType dtype, auto& dst) -> Status {
        const TensorView* view = file_.find(prefix + suffix);
        using Element = typename std::decay_t<decltype(dst)>::value_type;
        if (view == nullptr || view->dtype != dtype || view->num_bytes % sizeof(Element) != 0) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("{}: tensor '{}{}' is missing or malformed; rerun with "
                                          "--fresh",
                                          file_.path(), prefix, suffix));
        }
        dst.resize(view->num_bytes / sizeof(Element));
        std::memcpy(dst.data(), view->data, view->num_bytes);
        drop_mapped_pages(view->data, view->num_bytes);
        return {};
    };
    if (record.quantized) {
        MCOMP_TRY(copy(".codes", DType::u8, record.quant.codes));
        MCOMP_TRY(copy(".scales", DType::f32, record.quant.scales));
        MCOMP_TRY(copy(".zeros", DType::f32, record.quant.zeros));
        MCOMP_TRY(copy(".g_idx", DType::i32, record.quant.g_idx));
    }
    if (!with_weight && record.quantized) {
        return record;
    }
    if (meta_.at(prefix).value("weight_from_codes", false)) {
        if (!record.quantized || !validate_quantized_linear(record.quant)) {
            return make_error(ErrorKind::bad_input,
                              fmt::format("{}: record of '{}' has no codes to rebuild its weight "
                                          "from; rerun with --fresh",
                                          file_.path(), prefix));
        }
        record.weight = dequantize(record.quant);
        record.weight_from_codes = true;
    } else {
        MCOMP_TRY(copy(".weight", DType::f32, record.weight));
    }
    return record;
}

const json* BlockRecords::meta(const std::string& prefix) const {
    const auto it = meta_.find(prefix);
    return it == meta_.end() ? nullptr : &*it;
}

void BlockRecords::drop_pages() const {
    for (const std::string& name : file_.names()) {
        const TensorView* view = file_.find(name);
        drop_mapped_pages(view->data, view->num_bytes);
    }
}

}  // namespace mcomp::compress
