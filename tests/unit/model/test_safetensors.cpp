// test_safetensors.cpp: the safetensors reader (validation, lookup) and writer (round trip,
// atomic replace).
#include "model/safetensors.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "tiny_checkpoint.hpp"

namespace mcomp {
namespace {

using testing::TempDir;

// A safetensors file from raw parts: the 8-byte length (of `header`, unless overridden),
// the header text, then `data_bytes` zero bytes.
std::string raw_file(const std::string& header, std::size_t data_bytes,
                     std::optional<std::uint64_t> header_length = std::nullopt) {
    const std::uint64_t length = header_length.value_or(header.size());
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) {
        bytes[i] = static_cast<char>((length >> (8 * i)) & 0xffu);
    }
    return bytes + header + std::string(data_bytes, '\0');
}

TEST(Safetensors, WriteThenReadRoundTrip) {
    TempDir dir;
    const std::vector<float> a = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
    const std::vector<std::uint16_t> b = {0x3f80, 0x4000, 0x4040};
    const std::vector<std::int32_t> c = {7, -8};
    const std::vector<std::uint8_t> d = {1, 0, 1};
    const std::string path = dir.file("x.safetensors");
    const Status status =
        write_safetensors(path,
                          {{"zeta.weight", DType::f32, {2, 3}, a.data(), a.size() * 4},
                           {"alpha", DType::bf16, {3}, b.data(), b.size() * 2},
                           {"qweight", DType::i32, {1, 2}, c.data(), c.size() * 4},
                           {"mask", DType::boolean, {3}, d.data(), d.size()},
                           {"empty", DType::f16, {0, 4}, nullptr, 0}},
                          {{"format", "pt"}});
    ASSERT_TRUE(status) << status.error().message;
    // Nothing but the file itself is left in the folder.
    int entries = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir.str())) {
        (void)entry;
        ++entries;
    }
    EXPECT_EQ(entries, 1);

    Expected<SafetensorsFile> file = SafetensorsFile::open(path);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(file->names(),
              (std::vector<std::string>{"alpha", "empty", "mask", "qweight", "zeta.weight"}));
    EXPECT_EQ(file->metadata().at("format"), "pt");
    const TensorView* zeta = file->find("zeta.weight");
    ASSERT_NE(zeta, nullptr);
    EXPECT_EQ(zeta->dtype, DType::f32);
    EXPECT_EQ(zeta->shape, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(zeta->num_bytes, 24u);
    EXPECT_EQ(zeta->numel(), 6);
    EXPECT_EQ(std::memcmp(zeta->data, a.data(), 24), 0);
    for (const std::string& name : file->names()) {
        const TensorView* view = file->find(name);
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(view->data) % dtype_size(view->dtype), 0u)
            << name;
    }
    const TensorView* qweight = file->find("qweight");
    ASSERT_NE(qweight, nullptr);
    EXPECT_EQ(qweight->dtype, DType::i32);
    EXPECT_EQ(std::memcmp(qweight->data, c.data(), 8), 0);
    EXPECT_EQ(file->find("empty")->num_bytes, 0u);
    EXPECT_EQ(file->find("mask")->dtype, DType::boolean);
    EXPECT_EQ(file->find("missing"), nullptr);
}

TEST(Safetensors, WriteReplacesAnExistingFile) {
    TempDir dir;
    const std::string path = dir.file("x.safetensors");
    testing::write_text(path, "old contents");
    const float value = 3.5f;
    ASSERT_TRUE(write_safetensors(path, {{"v", DType::f32, {1}, &value, 4}}));
    Expected<SafetensorsFile> file = SafetensorsFile::open(path);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(*reinterpret_cast<const float*>(file->find("v")->data), 3.5f);
}

TEST(Safetensors, WriterRejectsBadInput) {
    TempDir dir;
    const std::string path = dir.file("x.safetensors");
    const float values[2] = {1.0f, 2.0f};
    struct Case {
        std::vector<TensorToWrite> tensors;
        std::string message;
    };
    const Case cases[] = {
        {{{"a", DType::f32, {3}, values, 8}},
         path + ": tensor 'a': shape [3] of F32 needs 12 bytes, given 8"},
        {{{"a", DType::f32, {1}, values, 4}, {"a", DType::f32, {1}, values, 4}},
         "tensor 'a' is given twice"},
        {{{"__metadata__", DType::f32, {1}, values, 4}}, "'__metadata__' cannot name a tensor"},
    };
    for (const Case& c : cases) {
        const Status status = write_safetensors(path, c.tensors);
        ASSERT_FALSE(status);
        EXPECT_EQ(status.error().message, c.message);
    }
    EXPECT_FALSE(std::filesystem::exists(path));
    EXPECT_FALSE(write_safetensors(dir.file("no/such/folder/x.safetensors"),
                                   {{"a", DType::f32, {1}, values, 4}}));
}

TEST(Safetensors, RejectsBrokenFiles) {
    struct Case {
        const char* what;
        std::string bytes;
        std::string message;  // after "<path>: "
    };
    const std::string f32_2x3 = R"("dtype":"F32","shape":[2,3])";
    const Case cases[] = {
        {"too short", "abcde",
         "5 bytes, too short for the 8-byte header length; the file is truncated or not "
         "safetensors"},
        {"header length past the end", raw_file("{}", 10, 1000),
         "header length 1000 runs past the end of the file (20 bytes); the file is truncated "
         "or not safetensors"},
        {"header too large", raw_file("{}", 0, 200000000),
         "header length 200000000 exceeds the format's limit of 100000000 bytes; the file is "
         "damaged or not safetensors"},
        {"malformed header", raw_file(R"({"a": )", 0),
         "header is not valid JSON (line 1, column 7: syntax error while parsing value - "
         "unexpected end of input; expected '[', '{', or a literal); the file is damaged or "
         "not safetensors"},
        {"header not an object", raw_file("[1, 2]", 0), "header is not a JSON object"},
        {"entry not an object", raw_file(R"({"w": 3})", 0),
         "tensor 'w': header entry is not an object"},
        {"no dtype", raw_file(R"({"w": {"shape":[1],"data_offsets":[0,4]}})", 4),
         "tensor 'w': 'dtype' is missing or not a string"},
        {"no shape", raw_file(R"({"w": {"dtype":"F32","data_offsets":[0,4]}})", 4),
         "tensor 'w': 'shape' is missing or not an array"},
        {"bad offsets", raw_file(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[0]}})", 4),
         "tensor 'w': 'data_offsets' must be [begin, end] with non-negative integers"},
        {"unknown dtype", raw_file(R"({"w": {"dtype":"F12","shape":[1],"data_offsets":[0,4]}})", 4),
         "tensor 'w': unknown dtype 'F12' (known: F64, F32, F16, BF16, I64, I32, I16, I8, "
         "U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2)"},
        {"negative extent",
         raw_file(R"({"w": {"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4),
         "tensor 'w': shape extent -1 is not a non-negative integer"},
        {"size mismatch", raw_file(R"({"w": {)" + f32_2x3 + R"(,"data_offsets":[0,20]}})", 24),
         "tensor 'w': shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 20] hold 20"},
        {"end before begin",
         raw_file(R"({"w": {"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", 8),
         "tensor 'w': data_offsets [8, 4] end before they begin"},
        {"offsets past the end",
         raw_file(R"({"w": {)" + f32_2x3 + R"(,"data_offsets":[8,32]}})", 30),
         "tensor 'w': data_offsets [8, 32] run past the end of the data (30 bytes); the file "
         "is truncated"},
        {"overlap",
         raw_file(R"({"a": {)" + f32_2x3 + R"(,"data_offsets":[0,24]}, "b": {)" + f32_2x3 +
                      R"(,"data_offsets":[16,40]}})",
                  40),
         "tensors 'a' [0, 24] and 'b' [16, 40] overlap; the file is damaged"},
        {"metadata not strings", raw_file(R"({"__metadata__": {"format": 1}})", 0),
         "'__metadata__' value 'format' is not a string"},
    };
    TempDir dir;
    for (const Case& c : cases) {
        const std::string path = dir.file("broken.safetensors");
        testing::write_text(path, c.bytes);
        const Expected<SafetensorsFile> file = SafetensorsFile::open(path);
        ASSERT_FALSE(file) << c.what;
        EXPECT_EQ(file.error().message, path + ": " + c.message) << c.what;
    }
}

TEST(Safetensors, MissingFileIsNotFound) {
    TempDir dir;
    const Expected<SafetensorsFile> file = SafetensorsFile::open(dir.file("none.safetensors"));
    ASSERT_FALSE(file);
    EXPECT_EQ(file.error().kind, ErrorKind::not_found);
    EXPECT_EQ(file.error().message,
              dir.file("none.safetensors") + ": cannot open: No such file or directory");
}

TEST(Safetensors, AcceptsGapsAndEmptyHeaderPadding) {
    // The reference writer pads the header with spaces; tensors may leave gaps.
    TempDir dir;
    const std::string path = dir.file("ok.safetensors");
    testing::write_text(
        path, raw_file(R"({"w": {"dtype":"I8","shape":[2],"data_offsets":[4,6]}}    )", 8));
    const Expected<SafetensorsFile> file = SafetensorsFile::open(path);
    ASSERT_TRUE(file) << file.error().message;
    EXPECT_EQ(file->find("w")->num_bytes, 2u);
}

}  // namespace
}  // namespace mcomp
