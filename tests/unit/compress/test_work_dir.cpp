// test_work_dir.cpp: the resumable state (compress/work_dir.hpp): commit, resume with the
// same hash, start over with another, and records read back exactly.
#include <gtest/gtest.h>

#include "compress/work_dir.hpp"
#include "compress_test_util.hpp"

namespace mcomp::compress {
namespace {

CompressedLinear quantized_record() {
    CompressedLinear record;
    record.prefix = "model.layers.1.mlp.down_proj";
    record.block = 1;
    record.id = LinearId::down_proj;
    record.out_features = 2;
    record.in_features = 32;
    record.quantized = true;
    record.masked = true;
    record.stages = {0, 1};
    QuantizedLinear& q = record.quant;
    q.name = record.prefix;
    q.out_features = 2;
    q.in_features = 32;
    q.bits = 4;
    q.group_size = 16;
    q.codes.resize(64);
    for (std::size_t i = 0; i < 64; ++i) {
        q.codes[i] = static_cast<std::uint8_t>(i % 16);
    }
    q.scales = {0.5f, 0.25f, 0.125f, 1.0f};
    q.zeros = {8.0f, 7.0f, 0.0f, 15.0f};
    q.g_idx = sequential_g_idx(32, 16);
    record.weight = dequantize(q);
    return record;
}

TEST(WorkDir, CommitResumeAndReadBack) {
    test::ScratchDir scratch("work");
    const auto dir = scratch / "out.mcomp-work";
    {
        Expected<WorkDir> work = WorkDir::open(dir, "hash-a", false);
        ASSERT_TRUE(work.has_value()) << work.error().message;
        EXPECT_FALSE(work->resumed());
        EXPECT_EQ(work->next_block(), 0);
        Tensor activations = Tensor::empty_cpu(DType::f32, {2, 3, 4});
        for (std::int64_t i = 0; i < activations.numel(); ++i) {
            activations.f32()[i] = static_cast<float>(i) * 0.5f;
        }
        work->notes()["eval_before"] = {{"ppl", 39.5}};
        ASSERT_TRUE(work->commit_block(0, {}, &activations).has_value());
        ASSERT_TRUE(work->commit_block(1, {quantized_record()}, nullptr).has_value());
        EXPECT_EQ(work->next_block(), 2);
    }
    Expected<WorkDir> again = WorkDir::open(dir, "hash-a", false);
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(again->resumed());
    EXPECT_EQ(again->next_block(), 2);
    EXPECT_EQ(again->notes()["eval_before"]["ppl"].get<double>(), 39.5);
    // The inputs of block 1 were dropped once block 1 was committed.
    EXPECT_FALSE(std::filesystem::exists(dir / "activations-1.bin"));
    Expected<BlockRecords> records = BlockRecords::open(again->block_file(1));
    ASSERT_TRUE(records.has_value()) << records.error().message;
    EXPECT_EQ(records->prefixes(), std::vector<std::string>{"model.layers.1.mlp.down_proj"});
    Expected<CompressedLinear> read = records->read("model.layers.1.mlp.down_proj");
    ASSERT_TRUE(read.has_value()) << read.error().message;
    const CompressedLinear expected = quantized_record();
    EXPECT_EQ(read->weight, expected.weight);
    EXPECT_EQ(read->quant.codes, expected.quant.codes);
    EXPECT_EQ(read->quant.scales, expected.quant.scales);
    EXPECT_EQ(read->quant.zeros, expected.quant.zeros);
    EXPECT_EQ(read->quant.g_idx, expected.quant.g_idx);
    EXPECT_EQ(read->quant.group_size, 16);
    EXPECT_EQ(read->id, LinearId::down_proj);
    EXPECT_EQ(read->stages, expected.stages);
    EXPECT_TRUE(read->masked);
}

// A quantized layer whose weight is exactly its codes dequantized is stored as the codes
// alone; one whose weight differs (--technique-weights-downstream) keeps its weight.
TEST(WorkDir, WeightsRebuiltFromCodesOnlyWhenExact) {
    test::ScratchDir scratch("codes");
    Expected<WorkDir> work = WorkDir::open(scratch / "w", "h", false);
    ASSERT_TRUE(work.has_value());
    CompressedLinear exact = quantized_record();
    CompressedLinear off = quantized_record();
    off.prefix = "model.layers.1.mlp.up_proj";
    off.id = LinearId::up_proj;
    off.weight[5] += 0.001f;
    ASSERT_TRUE(work->commit_block(1, {exact, off}, nullptr).has_value());
    Expected<BlockRecords> records = BlockRecords::open(work->block_file(1));
    ASSERT_TRUE(records.has_value());
    EXPECT_TRUE(records->meta(exact.prefix)->at("weight_from_codes").get<bool>());
    EXPECT_FALSE(records->meta(off.prefix)->at("weight_from_codes").get<bool>());
    EXPECT_EQ(records->read(exact.prefix)->weight, exact.weight);
    EXPECT_EQ(records->read(off.prefix)->weight, off.weight);
}

TEST(WorkDir, ActivationsRoundTrip) {
    test::ScratchDir scratch("acts");
    Expected<WorkDir> work = WorkDir::open(scratch / "w", "h", false);
    ASSERT_TRUE(work.has_value());
    Tensor activations = Tensor::empty_cpu(DType::f32, {2, 3, 4});
    for (std::int64_t i = 0; i < activations.numel(); ++i) {
        activations.f32()[i] = static_cast<float>(i) - 3.25f;
    }
    ASSERT_TRUE(work->commit_block(0, {}, &activations).has_value());
    Tensor back = Tensor::empty_cpu(DType::f32, {2, 3, 4});
    ASSERT_TRUE(work->load_activations(1, back).has_value());
    for (std::int64_t i = 0; i < activations.numel(); ++i) {
        EXPECT_EQ(back.f32()[i], activations.f32()[i]);
    }
    Tensor too_big = Tensor::empty_cpu(DType::f32, {4, 3, 4});
    const Status short_file = work->load_activations(1, too_big);
    ASSERT_FALSE(short_file.has_value());
    EXPECT_NE(short_file.error().message.find("shorter than the expected 192 bytes"),
              std::string::npos);
}

// Blocks committed without a resume point leave the state at the last saved activations,
// which stay until the next resume point replaces them.
TEST(WorkDir, BlocksBetweenResumePointsAreRecomputed) {
    test::ScratchDir scratch("points");
    const auto dir = scratch / "w";
    Tensor activations = Tensor::empty_cpu(DType::f32, {1, 2, 2});
    for (std::int64_t i = 0; i < activations.numel(); ++i) {
        activations.f32()[i] = static_cast<float>(i);
    }
    {
        Expected<WorkDir> work = WorkDir::open(dir, "h", false);
        ASSERT_TRUE(work.has_value());
        ASSERT_TRUE(work->commit_block(0, {}, &activations).has_value());
        ASSERT_TRUE(work->commit_block(1, {}, nullptr, false).has_value());
        ASSERT_TRUE(work->commit_block(2, {}, nullptr, false).has_value());
        EXPECT_EQ(work->next_block(), 1);
        EXPECT_TRUE(std::filesystem::exists(dir / "block-2.safetensors"));
    }
    Expected<WorkDir> again = WorkDir::open(dir, "h", false);
    ASSERT_TRUE(again.has_value());
    EXPECT_TRUE(again->resumed());
    EXPECT_EQ(again->next_block(), 1);
    Tensor back = Tensor::empty_cpu(DType::f32, {1, 2, 2});
    ASSERT_TRUE(again->load_activations(1, back).has_value());
    EXPECT_EQ(back.f32()[3], 3.0f);
    // The next resume point (after block 2 this time) drops the inputs of block 1.
    ASSERT_TRUE(again->commit_block(1, {}, nullptr, false).has_value());
    ASSERT_TRUE(again->commit_block(2, {}, &activations).has_value());
    EXPECT_EQ(again->next_block(), 3);
    EXPECT_FALSE(std::filesystem::exists(dir / "activations-1.bin"));
    EXPECT_TRUE(std::filesystem::exists(dir / "activations-3.bin"));
}

TEST(WorkDir, AnotherHashOrFreshStartsOver) {
    test::ScratchDir scratch("hash");
    const auto dir = scratch / "w";
    {
        Expected<WorkDir> work = WorkDir::open(dir, "hash-a", false);
        ASSERT_TRUE(work.has_value());
        ASSERT_TRUE(work->commit_block(0, {}, nullptr).has_value());
    }
    Expected<WorkDir> other = WorkDir::open(dir, "hash-b", false);
    ASSERT_TRUE(other.has_value());
    EXPECT_FALSE(other->resumed());
    EXPECT_EQ(other->next_block(), 0);
    EXPECT_FALSE(std::filesystem::exists(dir / "block-0.safetensors"));
    ASSERT_TRUE(other->commit_block(0, {}, nullptr).has_value());
    Expected<WorkDir> fresh = WorkDir::open(dir, "hash-b", true);
    ASSERT_TRUE(fresh.has_value());
    EXPECT_EQ(fresh->next_block(), 0);
}

TEST(WorkDir, FolderBesideTheOutput) {
    EXPECT_EQ(work_dir_for("/data/out/model"), std::filesystem::path("/data/out/model.mcomp-work"));
    EXPECT_EQ(work_dir_for("/data/out/model/"),
              std::filesystem::path("/data/out/model.mcomp-work"));
}

}  // namespace
}  // namespace mcomp::compress
