// test_safetensors_stream.cpp: the streamed writer gives the bytes of model/safetensors.hpp's
// writer, and shards with an index transformers reads (compress/safetensors_stream.hpp).
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "compress/safetensors_stream.hpp"
#include "compress_test_util.hpp"
#include "model/safetensors.hpp"

namespace mcomp::compress {
namespace {

struct Sample {
    std::vector<StreamTensor> tensors;
    std::vector<std::vector<std::byte>> data;
};

Sample sample_tensors() {
    Sample sample;
    sample.tensors = {{"b.weight", DType::f16, {3, 5}},
                      {"a.weight", DType::f32, {2, 2}},
                      {"c.qweight", DType::i32, {4}},
                      {"d.codes", DType::u8, {7}}};
    for (const StreamTensor& tensor : sample.tensors) {
        std::vector<std::byte> bytes(tensor.num_bytes());
        for (std::size_t i = 0; i < bytes.size(); ++i) {
            bytes[i] = static_cast<std::byte>((i * 37 + tensor.name.size()) & 0xff);
        }
        sample.data.push_back(std::move(bytes));
    }
    return sample;
}

FillTensor fill_from(const Sample& sample) {
    return [&sample](std::size_t i, std::size_t offset, std::span<std::byte> dst) -> Status {
        EXPECT_LE(offset + dst.size(), sample.data[i].size());
        std::memcpy(dst.data(), sample.data[i].data() + offset, dst.size());
        return {};
    };
}

TEST(SafetensorsStream, SameBytesAsTheModelWriter) {
    test::ScratchDir dir("st");
    const Sample sample = sample_tensors();
    const std::map<std::string, std::string> metadata = {{"format", "pt"}};
    ASSERT_TRUE(write_safetensors_streamed((dir / "streamed.safetensors").string(), sample.tensors,
                                           metadata, fill_from(sample))
                    .has_value());
    std::vector<TensorToWrite> plain;
    for (std::size_t i = 0; i < sample.tensors.size(); ++i) {
        plain.push_back({sample.tensors[i].name, sample.tensors[i].dtype, sample.tensors[i].shape,
                         sample.data[i].data(), sample.data[i].size()});
    }
    ASSERT_TRUE(
        write_safetensors((dir / "plain.safetensors").string(), plain, metadata).has_value());
    EXPECT_EQ(test::read_text(dir / "streamed.safetensors"),
              test::read_text(dir / "plain.safetensors"));
}

TEST(SafetensorsStream, LargeTensorsComeInChunks) {
    test::ScratchDir dir("chunks");
    const std::size_t count = kStreamChunkBytes / 4 * 2 + 3;  // two full chunks and a bit
    const std::vector<StreamTensor> tensors = {
        {"big", DType::f32, {static_cast<std::int64_t>(count)}}};
    std::vector<std::size_t> offsets;
    const Status status = write_safetensors_streamed(
        (dir / "big.safetensors").string(), tensors, {},
        [&](std::size_t, std::size_t offset, std::span<std::byte> dst) -> Status {
            offsets.push_back(offset);
            auto* values = reinterpret_cast<float*>(dst.data());
            for (std::size_t k = 0; k < dst.size() / 4; ++k) {
                values[k] = static_cast<float>(offset / 4 + k);
            }
            return {};
        });
    ASSERT_TRUE(status.has_value()) << status.error().message;
    EXPECT_EQ(offsets, (std::vector<std::size_t>{0, kStreamChunkBytes, 2 * kStreamChunkBytes}));
    Expected<SafetensorsFile> file = SafetensorsFile::open((dir / "big.safetensors").string());
    ASSERT_TRUE(file.has_value());
    const auto* values = reinterpret_cast<const float*>(file->find("big")->data);
    EXPECT_EQ(values[count - 1], static_cast<float>(count - 1));
    EXPECT_EQ(values[kStreamChunkBytes / 4], static_cast<float>(kStreamChunkBytes / 4));
}

TEST(SafetensorsStream, ShardsWithIndex) {
    test::ScratchDir dir("shards");
    const Sample sample = sample_tensors();
    ASSERT_TRUE(write_model_weights(dir.path(), sample.tensors, 40, fill_from(sample)).has_value());
    const nlohmann::json index =
        nlohmann::json::parse(test::read_text(dir / "model.safetensors.index.json"));
    std::size_t total = 0;
    for (const StreamTensor& tensor : sample.tensors) {
        total += tensor.num_bytes();
    }
    EXPECT_EQ(index["metadata"]["total_size"].get<std::size_t>(), total);
    ASSERT_EQ(index["weight_map"].size(), sample.tensors.size());
    for (std::size_t i = 0; i < sample.tensors.size(); ++i) {
        const std::string shard = index["weight_map"][sample.tensors[i].name].get<std::string>();
        EXPECT_TRUE(shard.rfind("model-000", 0) == 0) << shard;
        Expected<SafetensorsFile> file = SafetensorsFile::open((dir / shard).string());
        ASSERT_TRUE(file.has_value()) << file.error().message;
        const TensorView* view = file->find(sample.tensors[i].name);
        ASSERT_NE(view, nullptr);
        EXPECT_EQ(std::memcmp(view->data, sample.data[i].data(), view->num_bytes), 0);
        EXPECT_EQ(file->metadata().at("format"), "pt");
    }
    EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors"));
}

TEST(SafetensorsStream, OneFileBelowTheLimit) {
    test::ScratchDir dir("one");
    const Sample sample = sample_tensors();
    ASSERT_TRUE(
        write_model_weights(dir.path(), sample.tensors, kDefaultMaxShardBytes, fill_from(sample))
            .has_value());
    EXPECT_TRUE(std::filesystem::exists(dir / "model.safetensors"));
    EXPECT_FALSE(std::filesystem::exists(dir / "model.safetensors.index.json"));
}

}  // namespace
}  // namespace mcomp::compress
