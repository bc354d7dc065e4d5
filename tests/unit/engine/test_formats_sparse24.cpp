// test_formats_sparse24.cpp: the compressed-tensors sparse-24-bitmask layout — a hand-worked
// example (values in order, little-endian bit order of numpy.packbits, the [2, 1] shape),
// bit-exact round trips in F32 / F16 / BF16 (groups with fewer than two non-zeros included;
// a -0 the bitmask does not keep reads back as +0, as in the reference), the quantization_config
// and its reader, and bad inputs with their messages.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "engine/formats.hpp"
#include "format_test_layers.hpp"

namespace mcomp {
namespace {

using testing::find_tensor;

// A dense tensor owning its bytes; view() borrows them.
struct DenseTensor {
    DType dtype = DType::f32;
    std::vector<std::int64_t> shape;
    std::vector<std::byte> bytes;

    TensorView view() const {
        TensorView v;
        v.dtype = dtype;
        v.shape = shape;
        v.data = bytes.data();
        v.num_bytes = bytes.size();
        return v;
    }
};

DenseTensor dense_f32(std::int64_t rows, std::int64_t cols, const std::vector<float>& values) {
    DenseTensor t;
    t.shape = {rows, cols};
    t.bytes.resize(values.size() * sizeof(float));
    std::memcpy(t.bytes.data(), values.data(), t.bytes.size());
    return t;
}

// `values` in `dtype` (F16 / BF16 rounded to nearest even).
DenseTensor dense_in(DType dtype, std::int64_t rows, std::int64_t cols,
                     const std::vector<float>& values) {
    if (dtype == DType::f32) {
        return dense_f32(rows, cols, values);
    }
    DenseTensor t;
    t.dtype = dtype;
    t.shape = {rows, cols};
    std::vector<std::uint16_t> half(values.size());
    for (std::size_t k = 0; k < values.size(); ++k) {
        half[k] = dtype == DType::f16 ? f32_to_f16(values[k]) : f32_to_bf16(values[k]);
    }
    t.bytes.resize(half.size() * 2);
    std::memcpy(t.bytes.data(), half.data(), t.bytes.size());
    return t;
}

// A random 2:4 weight: every group of 4 keeps 0, 1 or 2 non-zeros; some zeros are -0.
std::vector<float> random_two_of_four(std::int64_t rows, std::int64_t cols, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> normal(0.0f, 0.05f);
    std::vector<float> w(static_cast<std::size_t>(rows * cols));
    for (std::size_t g = 0; g < w.size(); g += 4) {
        const unsigned keep = rng() % 8 == 0 ? rng() % 2 : 2;  // mostly 2
        unsigned kept = 0;
        for (std::size_t p = 0; p < 4; ++p) {
            const bool take = kept < keep && (rng() % (4 - p) < keep - kept);
            kept += take ? 1 : 0;
            w[g + p] = take ? normal(rng) : (rng() % 5 == 0 ? -0.0f : 0.0f);
        }
    }
    return w;
}

// `weight`'s bytes with each -0 the bitmask of `tensors` does not mark turned into +0.
std::vector<std::byte> without_unkept_negative_zeros(const DenseTensor& weight,
                                                     const std::vector<PackedTensor>& tensors) {
    std::vector<std::byte> bytes = weight.bytes;
    const PackedTensor* bitmask = find_tensor(tensors, "bitmask");
    const std::int64_t cols = weight.shape[1];
    const std::int64_t mask_cols = bitmask->shape[1];
    const std::size_t size = dtype_size(weight.dtype);
    for (std::int64_t r = 0; r < weight.shape[0]; ++r) {
        for (std::int64_t c = 0; c < cols; ++c) {
            const auto byte = static_cast<unsigned>(bitmask->bytes[r * mask_cols + c / 8]);
            if (((byte >> (c % 8)) & 1u) == 0) {
                std::byte* top = bytes.data() + (r * cols + c) * size + size - 1;
                *top &= std::byte{0x7f};  // the value is ±0 (unkept): clear the sign
            }
        }
    }
    return bytes;
}

std::vector<PackedTensor> pack(const DenseTensor& weight) {
    Expected<std::vector<PackedTensor>> tensors = pack_sparse24_bitmask(weight.view(), "m");
    EXPECT_TRUE(tensors.has_value()) << tensors.error().message;
    return tensors.has_value() ? std::move(*tensors) : std::vector<PackedTensor>{};
}

TEST(Sparse24Pack, HandWorkedExample) {
    // Row 0: group 0 keeps inputs 1 and 3; group 1 has one non-zero (input 4), so its first
    // zero (input 5) is kept too. Row 1: group 0 all zero (inputs 0, 1 kept), group 1 keeps 6, 7.
    const DenseTensor w = dense_f32(2, 8,
                                    {0.0f, 1.5f, 0.0f, -2.0f, 3.0f, 0.0f, 0.0f, 0.0f,  //
                                     0.0f, -0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.25f, -1.0f});
    const std::vector<PackedTensor> tensors = pack(w);
    ASSERT_EQ(tensors.size(), 3u);
    const PackedTensor* compressed = find_tensor(tensors, "compressed");
    const PackedTensor* bitmask = find_tensor(tensors, "bitmask");
    const PackedTensor* shape = find_tensor(tensors, "shape");
    ASSERT_TRUE(compressed && bitmask && shape);
    EXPECT_EQ(compressed->dtype, DType::f32);
    EXPECT_EQ(compressed->shape, (std::vector<std::int64_t>{2, 4}));
    std::vector<float> values(8);
    std::memcpy(values.data(), compressed->bytes.data(), 32);
    EXPECT_EQ(values, (std::vector<float>{1.5f, -2.0f, 3.0f, 0.0f, 0.0f, -0.0f, 0.25f, -1.0f}));
    EXPECT_TRUE(std::signbit(values[5]));  // a kept -0 is stored as it was
    const Expected<PackedTensor> back = unpack_sparse24_bitmask(views_of(tensors), "m");
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->bytes, w.bytes);
    EXPECT_EQ(bitmask->dtype, DType::u8);
    EXPECT_EQ(bitmask->shape, (std::vector<std::int64_t>{2, 1}));
    // bits 1, 3, 4, 5 = 0b00111010; bits 0, 1, 6, 7 = 0b11000011.
    EXPECT_EQ(bitmask->bytes, (std::vector<std::byte>{std::byte{0x3a}, std::byte{0xc3}}));
    EXPECT_EQ(shape->dtype, DType::i64);
    EXPECT_EQ(shape->shape, (std::vector<std::int64_t>{2, 1}));
    std::vector<std::int64_t> extents(2);
    std::memcpy(extents.data(), shape->bytes.data(), 16);
    EXPECT_EQ(extents, (std::vector<std::int64_t>{2, 8}));
}

TEST(Sparse24Pack, RoundTripIsBitExactInEveryDtype) {
    for (const DType dtype : {DType::f32, DType::f16, DType::bf16}) {
        for (const std::int64_t cols : {4, 12, 20, 64, 200}) {  // 20, 12: a half-used last byte
            SCOPED_TRACE(std::string(dtype_name(dtype)) + " cols " + std::to_string(cols));
            const DenseTensor w = dense_in(dtype, 7, cols, random_two_of_four(7, cols, 11));
            const std::vector<PackedTensor> tensors = pack(w);
            EXPECT_EQ(find_tensor(tensors, "bitmask")->shape,
                      (std::vector<std::int64_t>{7, (cols + 7) / 8}));
            const Expected<PackedTensor> back = unpack_sparse24_bitmask(views_of(tensors), "m");
            ASSERT_TRUE(back.has_value()) << back.error().message;
            EXPECT_EQ(back->name, "weight");
            EXPECT_EQ(back->dtype, dtype);
            EXPECT_EQ(back->shape, w.shape);
            // Bit for bit, but for the sign of zeros the bitmask does not keep: the format
            // stores no value there, and the reference decompresses them to +0.
            const std::vector<std::byte> expected = without_unkept_negative_zeros(w, tensors);
            EXPECT_EQ(back->bytes, expected);
            EXPECT_EQ(back->bytes == w.bytes, expected == w.bytes);
        }
    }
}

TEST(Sparse24Pack, HalfOfTheBytesPlusOneBitPerWeight) {
    const DenseTensor w = dense_in(DType::f16, 64, 128, random_two_of_four(64, 128, 12));
    std::size_t bytes = 0;
    for (const PackedTensor& t : pack(w)) {
        bytes += t.bytes.size();
    }
    EXPECT_EQ(bytes, w.bytes.size() / 2 + 64 * 128 / 8 + 16);
}

struct BadWeight {
    const char* name;
    DenseTensor weight;
    std::string message;
};

TEST(Sparse24Pack, RefusesWhatIsNotTwoOfFour) {
    const std::vector<BadWeight> cases = {
        {"three non-zeros", dense_f32(2, 8, {1, 0, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 3, -1, 2}),
         "m: not 2:4 sparse: row 1, inputs 4..7 hold more than 2 non-zero weights; "
         "sparse-24-bitmask stores layers with at most 2 non-zeros in every 4 consecutive "
         "inputs (prune with n = 2, m = 4, or write the dense format)"},
        {"dense", dense_f32(1, 4, {1, 2, 3, 4}),
         "m: not 2:4 sparse: row 0, inputs 0..3 hold more than 2 non-zero weights; "
         "sparse-24-bitmask stores layers with at most 2 non-zeros in every 4 consecutive "
         "inputs (prune with n = 2, m = 4, or write the dense format)"},
        {"columns not a multiple of 4", dense_f32(1, 6, {0, 0, 0, 0, 0, 0}),
         "m: in_features 6 is not a multiple of 4; sparse-24-bitmask needs whole groups of 4 "
         "inputs"},
        {"one-dimensional",
         [] {
             DenseTensor t = dense_f32(1, 4, {0, 0, 0, 0});
             t.shape = {4};
             return t;
         }(),
         "m: sparse-24-bitmask needs a non-empty 2-D F32, F16 or BF16 weight, found F32 [4]"},
    };
    for (const BadWeight& c : cases) {
        SCOPED_TRACE(c.name);
        const Expected<std::vector<PackedTensor>> tensors =
            pack_sparse24_bitmask(c.weight.view(), "m");
        ASSERT_FALSE(tensors.has_value());
        EXPECT_EQ(tensors.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(tensors.error().message, c.message);
    }
}

struct BadTensors {
    const char* name;
    void (*spoil)(std::vector<PackedTensor>&);
    std::string message;
};

PackedTensor& named(std::vector<PackedTensor>& tensors, const char* name) {
    for (PackedTensor& t : tensors) {
        if (t.name == name) {
            return t;
        }
    }
    throw std::runtime_error(name);
}

TEST(Sparse24Unpack, RefusesBrokenTensorsWithTheirNames) {
    const std::vector<BadTensors> cases = {
        {"missing bitmask", [](std::vector<PackedTensor>& t) { t.erase(t.begin() + 1); },
         "m.bitmask: tensor missing from the checkpoint (this format needs compressed, "
         "bitmask, shape)"},
        {"compressed of the wrong width",
         [](std::vector<PackedTensor>& t) {
             named(t, "compressed").shape = {2, 8};
         },
         "m.compressed: shape [2, 8], expected [2, 4] (from shape [2, 8])"},
        {"bitmask as I32",
         [](std::vector<PackedTensor>& t) { named(t, "bitmask").dtype = DType::i32; },
         "m.bitmask: dtype I32, expected U8"},
        {"three marks in a group",
         [](std::vector<PackedTensor>& t) { named(t, "bitmask").bytes[0] = std::byte{0x3b}; },
         "m.bitmask: row 0, columns 0..3 mark more than 2 of 4 positions; sparse-24-bitmask "
         "marks exactly 2 of every 4"},
        {"one mark in a group",
         [](std::vector<PackedTensor>& t) { named(t, "bitmask").bytes[1] = std::byte{0xc1}; },
         "m.bitmask: row 1, columns 0..3 mark 1 of 4 positions; sparse-24-bitmask marks "
         "exactly 2 of every 4"},
        {"shape with columns not a multiple of 4",
         [](std::vector<PackedTensor>& t) {
             const std::int64_t in = 6;
             std::memcpy(named(t, "shape").bytes.data() + 8, &in, 8);
         },
         "m.shape: [2, 6] is not the shape of a 2:4-sparse weight (positive, columns a multiple "
         "of 4)"},
    };
    const DenseTensor w = dense_f32(2, 8,
                                    {0.0f, 1.5f, 0.0f, -2.0f, 3.0f, 0.0f, 0.0f, 0.0f,  //
                                     0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.0f, 0.25f, -1.0f});
    for (const BadTensors& c : cases) {
        SCOPED_TRACE(c.name);
        std::vector<PackedTensor> tensors = pack(w);
        c.spoil(tensors);
        const Expected<PackedTensor> back = unpack_sparse24_bitmask(views_of(tensors), "m");
        ASSERT_FALSE(back.has_value());
        EXPECT_EQ(back.error().kind, ErrorKind::bad_input);
        EXPECT_EQ(back.error().message, c.message);
    }
}

TEST(Sparse24Config, WrittenAsCompressedTensorsSavesItAndReadBack) {
    Sparse24Config config;
    config.global_sparsity = 0.5;
    config.ignore = {"lm_head", "model.layers.0.mlp.down_proj"};
    const nlohmann::json json = sparse24_bitmask_quantization_config(config);
    EXPECT_EQ(json["quant_method"], "compressed-tensors");
    EXPECT_FALSE(json.contains("config_groups"));
    const nlohmann::json& sparsity = json["sparsity_config"];
    EXPECT_EQ(sparsity["format"], "sparse-24-bitmask");
    EXPECT_EQ(sparsity["sparsity_structure"], "2:4");
    EXPECT_EQ(sparsity["global_sparsity"].get<double>(), 0.5);
    EXPECT_EQ(sparsity["targets"], nlohmann::json({"Linear"}));
    EXPECT_TRUE(is_sparse24_bitmask_config(json));
    const Expected<Sparse24Config> back = parse_sparse24_bitmask_config(json);
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->global_sparsity, 0.5);
    EXPECT_EQ(back->targets, config.targets);
    EXPECT_EQ(back->ignore, config.ignore);
    // The pack-quantized config is not a sparse one.
    EXPECT_FALSE(is_sparse24_bitmask_config(
        compressed_tensors_quantization_config(CompressedTensorsConfig{})));
}

TEST(Sparse24Config, RefusesWhatItCannotRead) {
    const nlohmann::json good = sparse24_bitmask_quantization_config(Sparse24Config{});
    struct Case {
        const char* name;
        nlohmann::json config;
        ErrorKind kind;
        std::string message;
    };
    std::vector<Case> cases;
    nlohmann::json quantized = good;
    quantized["config_groups"] = {{"group_0", nlohmann::json::object()}};
    cases.push_back({"with quantization", quantized, ErrorKind::unsupported,
                     "quantization_config: sparse-24-bitmask together with quantization "
                     "(config_groups) is not supported; mcomp reads sparse-24-bitmask "
                     "checkpoints of dense (unquantized) weights"});
    nlohmann::json bitmask = good;
    bitmask["sparsity_config"]["format"] = "sparse-bitmask";
    cases.push_back({"unstructured bitmask", bitmask, ErrorKind::unsupported,
                     "quantization_config.sparsity_config.format: \"sparse-bitmask\" is not "
                     "supported (mcomp reads \"sparse-24-bitmask\")"});
    nlohmann::json structure = good;
    structure["sparsity_config"]["sparsity_structure"] = "4:8";
    cases.push_back({"4:8", structure, ErrorKind::bad_input,
                     "quantization_config.sparsity_config.sparsity_structure: expected \"2:4\", "
                     "found \"4:8\""});
    nlohmann::json missing = good;
    missing.erase("sparsity_config");
    cases.push_back({"no sparsity_config", missing, ErrorKind::bad_input,
                     "quantization_config: key \"sparsity_config\" is missing"});
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        const Expected<Sparse24Config> config = parse_sparse24_bitmask_config(c.config);
        ASSERT_FALSE(config.has_value());
        EXPECT_EQ(config.error().kind, c.kind);
        EXPECT_EQ(config.error().message, c.message);
    }
}

}  // namespace
}  // namespace mcomp
