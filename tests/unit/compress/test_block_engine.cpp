// test_block_engine.cpp: the block-sequential engine (compress/block_engine.hpp) feeds each
// layer the inputs the reference computes — with true-sequential order, the inputs of o_proj
// come from the already compressed q/k/v, and so on — and the next block gets the outputs of
// the compressed block. The `probe` technique writes the sum of its inputs, the number of
// observe() calls and of tokens into row 0 of its result; this test recomputes them with the
// runtime directly.
#include <gtest/gtest.h>

#include <array>
#include <map>

#include "compress/block_engine.hpp"
#include "compress/synth.hpp"
#include "compress_test_util.hpp"
#include "core/params.hpp"
#include "runtime/cpu_backend.hpp"
#if defined(MCOMP_HAVE_CUDA)
#include "runtime/cuda/cuda_backend.hpp"
#endif
#include "runtime/llama_model.hpp"

namespace mcomp::compress {
namespace {

constexpr std::int64_t kSamples = 3;
constexpr std::int64_t kSeqlen = 16;

// Σ of every linear's input over the samples, in the probe's order.
class SumHook final : public LinearHook {
  public:
    std::array<double, kNumLinears> sums{};
    Status on_linear_input(std::int64_t, LinearId id, const Tensor& src) override {
        for (std::int64_t i = 0; i < src.numel(); ++i) {
            sums[static_cast<std::size_t>(id)] += src.f32()[i];
        }
        return {};
    }
};

struct Fixture {
    test::ScratchDir scratch{"engine"};
    std::unique_ptr<Checkpoint> checkpoint;
    CalibrationSet calibration;

    Fixture() {
        SynthOptions options;
        options.config = "tiny-test";
        options.out = scratch / "m";
        options.dtype = DType::f32;
        EXPECT_TRUE(synthesize_model(options).has_value());
        Expected<Checkpoint> opened = Checkpoint::open(options.out.string());
        EXPECT_TRUE(opened.has_value());
        checkpoint = std::make_unique<Checkpoint>(std::move(*opened));
        std::vector<std::int32_t> stream(400);
        for (std::size_t i = 0; i < stream.size(); ++i) {
            stream[i] = static_cast<std::int32_t>((i * 7919) % 259);
        }
        calibration = *sample_calibration(stream, kSamples, kSeqlen, 0, "stream");
    }

    EngineStage stage(std::vector<ParamArg> args, std::vector<std::string> include = {}) {
        Expected<LoadedTechnique> technique =
            test::test_registry().load_technique("probe", DeviceRequest::cpu);
        EXPECT_TRUE(technique.has_value());
        EngineStage stage;
        stage.use = "probe";
        stage.technique = *technique;
        stage.params = *bind_params(*technique->manifest, args);
        stage.include = std::move(include);
        stage.needs_inputs = true;
        return stage;
    }

    // Runs the engine; returns every record by prefix.
    std::map<std::string, CompressedLinear> run(std::vector<EngineStage> stages, bool sequential,
                                                EngineOptions options = {}) {
        Expected<WorkDir> work = WorkDir::open(scratch / "work", "h", true);
        EXPECT_TRUE(work.has_value());
        options.true_sequential = sequential;
        Expected<Tensor> activations = embed_calibration(*checkpoint, calibration);
        EXPECT_TRUE(activations.has_value());
        Progress progress;
        double forward_seconds = 0.0;
        const Status status = run_blocks(*checkpoint, stages, options, *activations, *work,
                                         progress, forward_seconds);
        EXPECT_TRUE(status.has_value()) << status.error().message;
        EXPECT_EQ(work->next_block(), 2);
        std::map<std::string, CompressedLinear> records;
        for (std::int64_t block = 0; block < 2; ++block) {
            Expected<BlockRecords> file = BlockRecords::open(work->block_file(block));
            EXPECT_TRUE(file.has_value());
            for (const std::string& prefix : file->prefixes()) {
                records[prefix] = *file->read(prefix);
            }
        }
        return records;
    }

    // The input sums of block `block`'s linears, with `replaced` linears taken from records
    // and the block inputs from `hidden` (the embedded calibration, run through the earlier
    // blocks by the caller).
    std::array<double, kNumLinears> sums(std::int64_t block, const Tensor& hidden,
                                         const std::map<std::string, CompressedLinear>& records,
                                         const std::vector<LinearId>& replaced) {
        CpuBackend backend;
        LlamaModel model(*checkpoint, backend);
        BlockWeights weights = *model.load_block(block);
        for (const LinearId id : replaced) {
            const CompressedLinear& record = records.at(linear_prefix(block, id));
            weights.linear(id).weight =
                Tensor::view(DType::f32, {record.out_features, record.in_features},
                             const_cast<float*>(record.weight.data()));
        }
        SumHook hook;
        Tensor scratch_out = Tensor::empty_cpu(DType::f32, {1, kSeqlen, 64});
        for (std::int64_t j = 0; j < kSamples; ++j) {
            const Tensor x = hidden.slice_rows(j * kSeqlen, kSeqlen).reshaped({1, kSeqlen, 64});
            EXPECT_TRUE(model.run_block(block, x, scratch_out, weights, &hook).has_value());
        }
        return hook.sums;
    }

    Tensor embedded() const {
        CpuBackend backend;
        LlamaModel model(*checkpoint, backend);
        return *model.embed(calibration.tokens, kSamples, kSeqlen);
    }
};

double probe_sum(const CompressedLinear& record) {
    return record.weight[0];
}

TEST(BlockEngine, TrueSequentialFeedsInputsOfTheCompressedPredecessors) {
    Fixture f;
    const auto records = f.run({f.stage({})}, true);
    ASSERT_EQ(records.size(), 14u);
    const Tensor hidden = f.embedded();
    using L = LinearId;
    const std::vector<std::pair<std::vector<L>, std::vector<L>>> groups = {
        {{L::q_proj, L::k_proj, L::v_proj}, {}},
        {{L::o_proj}, {L::q_proj, L::k_proj, L::v_proj}},
        {{L::gate_proj, L::up_proj}, {L::q_proj, L::k_proj, L::v_proj, L::o_proj}},
        {{L::down_proj}, {L::q_proj, L::k_proj, L::v_proj, L::o_proj, L::gate_proj, L::up_proj}}};
    for (const auto& [group, replaced] : groups) {
        const auto sums = f.sums(0, hidden, records, replaced);
        for (const LinearId id : group) {
            const CompressedLinear& record = records.at(linear_prefix(0, id));
            EXPECT_FLOAT_EQ(probe_sum(record),
                            static_cast<float>(sums[static_cast<std::size_t>(id)]))
                << record.prefix;
            EXPECT_EQ(record.weight[1], static_cast<float>(kSamples)) << "observe calls";
            EXPECT_EQ(record.weight[2], static_cast<float>(kSamples * kSeqlen)) << "tokens";
            EXPECT_EQ(record.stages, std::vector<int>{0});
        }
    }
    // Block 1 sees the outputs of block 0 with every compressed weight.
    Tensor next = Tensor::empty_cpu(DType::f32, {kSamples, kSeqlen, 64});
    {
        CpuBackend backend;
        LlamaModel model(*f.checkpoint, backend);
        BlockWeights weights = *model.load_block(0);
        for (const LinearId id : kAllLinears) {
            const CompressedLinear& record = records.at(linear_prefix(0, id));
            weights.linear(id).weight =
                Tensor::view(DType::f32, {record.out_features, record.in_features},
                             const_cast<float*>(record.weight.data()));
        }
        for (std::int64_t j = 0; j < kSamples; ++j) {
            const Tensor x = hidden.slice_rows(j * kSeqlen, kSeqlen).reshaped({1, kSeqlen, 64});
            Tensor y = next.slice_rows(j * kSeqlen, kSeqlen).reshaped({1, kSeqlen, 64});
            ASSERT_TRUE(model.run_block(0, x, y, weights).has_value());
        }
    }
    const auto sums = f.sums(1, next, records, {});
    EXPECT_FLOAT_EQ(probe_sum(records.at(linear_prefix(1, LinearId::q_proj))),
                    static_cast<float>(sums[0]));
}

TEST(BlockEngine, WithoutTrueSequentialEveryLayerSeesTheOriginalBlock) {
    Fixture f;
    const auto records = f.run({f.stage({})}, false);
    const auto sums = f.sums(0, f.embedded(), records, {});
    for (const LinearId id : kAllLinears) {
        EXPECT_FLOAT_EQ(probe_sum(records.at(linear_prefix(0, id))),
                        static_cast<float>(sums[static_cast<std::size_t>(id)]))
            << linear_name(id);
    }
}

TEST(BlockEngine, StagesChainAndSelectLayers) {
    Fixture f;
    const auto records = f.run(
        {f.stage({{"scale", 0.5, ""}}), f.stage({{"scale", 0.5, ""}}, {"model.layers.*.mlp.*"})},
        true);
    ASSERT_EQ(records.size(), 14u);
    CpuBackend backend;
    LlamaModel model(*f.checkpoint, backend);
    const BlockWeights original = *model.load_block(0);
    for (const LinearId id : kAllLinears) {
        const CompressedLinear& record = records.at(linear_prefix(0, id));
        const bool mlp =
            id == LinearId::gate_proj || id == LinearId::up_proj || id == LinearId::down_proj;
        EXPECT_EQ(record.stages, mlp ? (std::vector<int>{0, 1}) : (std::vector<int>{0}));
        // Row 1 is untouched by the probe's statistics: scale applied once or twice.
        const std::int64_t in = record.in_features;
        const float w = original.linear(id).weight.f32()[in + 5];
        EXPECT_EQ(record.weight[static_cast<std::size_t>(in + 5)],
                  mlp ? 0.5f * (0.5f * w) : 0.5f * w);
    }
}

TEST(BlockEngine, TechniquesNeedingInputsNeedCalibration) {
    Fixture f;
    Expected<WorkDir> work = WorkDir::open(f.scratch / "work", "h", true);
    ASSERT_TRUE(work.has_value());
    std::vector<EngineStage> stages = {f.stage({})};
    Tensor none;
    Progress progress;
    double forward_seconds = 0.0;
    const Status status =
        run_blocks(*f.checkpoint, stages, EngineOptions{}, none, *work, progress, forward_seconds);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message,
              "technique 'probe' needs calibration inputs; add a [calibration] table to the "
              "pipeline");
}

// Without a resume point between blocks the results are the same; only the last block
// moves the saved state (checked in run()).
TEST(BlockEngine, ResumePointsDoNotChangeTheResults) {
    Fixture f;
    const auto every_block = f.run({f.stage({})}, true);
    EngineOptions rare;
    rare.resume_point_bytes = 0;
    rare.resume_point_seconds = 1e9;
    const auto at_the_end = f.run({f.stage({})}, true, rare);
    ASSERT_EQ(every_block.size(), at_the_end.size());
    for (const auto& [prefix, record] : every_block) {
        EXPECT_EQ(record.weight, at_the_end.at(prefix).weight) << prefix;
    }
    EXPECT_FALSE(std::filesystem::exists(f.scratch / "work" / "activations-1.bin"));
}

TEST(BlockEngine, A16BitForwardNeedsAGpu) {
    Fixture f;
    Expected<WorkDir> work = WorkDir::open(f.scratch / "work", "h", true);
    ASSERT_TRUE(work.has_value());
    std::vector<EngineStage> stages = {f.stage({})};
    Expected<Tensor> activations = embed_calibration(*f.checkpoint, f.calibration);
    ASSERT_TRUE(activations.has_value());
    EngineOptions options;
    options.forward_dtype = DType::f16;
    Progress progress;
    double forward_seconds = 0.0;
    const Status status =
        run_blocks(*f.checkpoint, stages, options, *activations, *work, progress, forward_seconds);
    ASSERT_FALSE(status.has_value());
    EXPECT_EQ(status.error().message,
              "[calibration] dtype = \"f16\" needs device = \"cuda\"; the CPU forward pass is "
              "fp32");
}

#if defined(MCOMP_HAVE_CUDA)
// The forward passes on a GPU (fp32) feed a CPU technique the same inputs as the CPU
// passes, to rounding: the probe's statistic is a sum of every input value.
TEST(BlockEngine, GpuForwardFeedsTheSameInputs) {
    if (cuda_device_count() == 0) {
        GTEST_SKIP() << "no GPU: " << cuda_unavailable_reason();
    }
    Fixture f;
    const auto cpu = f.run({f.stage({})}, true);
    EngineOptions gpu;
    gpu.forward_device = Device::cuda;
    const auto cuda = f.run({f.stage({})}, true, gpu);
    ASSERT_EQ(cpu.size(), cuda.size());
    for (const auto& [prefix, record] : cpu) {
        const double expected = probe_sum(record);
        EXPECT_NEAR(probe_sum(cuda.at(prefix)), expected, 1e-4 * (1.0 + std::abs(expected)))
            << prefix;
    }
}
#endif

TEST(BlockEngine, EmbeddingGatherEqualsTheModelsEmbedding) {
    Fixture f;
    const Tensor expected = f.embedded();
    Expected<Tensor> gathered = embed_calibration(*f.checkpoint, f.calibration);
    ASSERT_TRUE(gathered.has_value());
    for (std::int64_t i = 0; i < expected.numel(); ++i) {
        ASSERT_EQ(gathered->f32()[i], expected.f32()[i]) << i;
    }
}

}  // namespace
}  // namespace mcomp::compress
