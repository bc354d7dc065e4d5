// test_synth.cpp: synthetic models (compress/synth.hpp) open as checkpoints, run, tokenize,
// and are the same bytes for the same seed.
#include <gtest/gtest.h>

#include <cmath>

#include "compress/evaluate.hpp"
#include "compress/synth.hpp"
#include "compress_test_util.hpp"
#include "model/checkpoint.hpp"
#include "tokenizer/tokenizer.hpp"

namespace mcomp::compress {
namespace {

SynthOptions tiny(const std::filesystem::path& out) {
    SynthOptions options;
    options.config = "tiny-test";
    options.out = out;
    options.dtype = DType::bf16;
    options.seed = 3;
    return options;
}

TEST(Synth, TinyPresetOpensRunsAndTokenizes) {
    test::ScratchDir scratch("synth");
    Expected<SynthResult> result = synthesize_model(tiny(scratch / "m"));
    ASSERT_TRUE(result.has_value()) << result.error().message;
    Expected<Checkpoint> checkpoint = Checkpoint::open((scratch / "m").string());
    ASSERT_TRUE(checkpoint.has_value()) << checkpoint.error().message;
    EXPECT_EQ(checkpoint->config().hidden_size, 64);
    EXPECT_TRUE(checkpoint->config().tie_word_embeddings);
    EXPECT_EQ(checkpoint->embed_tokens().dtype, DType::bf16);
    EXPECT_EQ(checkpoint->config().torch_dtype, "bfloat16");
    EXPECT_EQ(result->params,
              512 * 64 + 2 * (4 * 64 * 64 - 2 * 64 * 32 + 3 * 64 * 160 + 2 * 64) + 64);

    Expected<Tokenizer> tokenizer = Tokenizer::load((scratch / "m").string());
    ASSERT_TRUE(tokenizer.has_value()) << tokenizer.error().message;
    const std::vector<std::int32_t> ids = tokenizer->encode("Hi é", true);
    // BOS, then one token per byte: 'H' 'i' ' ' and the two bytes of é (byte + 3).
    EXPECT_EQ(ids, (std::vector<std::int32_t>{1, 'H' + 3, 'i' + 3, ' ' + 3, 0xC3 + 3, 0xA9 + 3}));
    EXPECT_EQ(tokenizer->decode(ids, true), "Hi é");

    std::string text;
    for (int i = 0; i < 200; ++i) {
        text += "Once upon a time there was a synthetic model. ";
    }
    test::write_text(scratch / "text.txt", text);
    EvalOptions eval;
    eval.seqlen = 128;
    Expected<PerplexityResult> ppl =
        evaluate_text(*checkpoint, *tokenizer, scratch / "text.txt", eval);
    ASSERT_TRUE(ppl.has_value()) << ppl.error().message;
    EXPECT_TRUE(std::isfinite(ppl->ppl));
    EXPECT_GT(ppl->ppl, 1.0);
}

TEST(Synth, SameSeedSameBytesOtherSeedOther) {
    test::ScratchDir scratch("seed");
    ASSERT_TRUE(synthesize_model(tiny(scratch / "a")).has_value());
    ASSERT_TRUE(synthesize_model(tiny(scratch / "b")).has_value());
    SynthOptions other = tiny(scratch / "c");
    other.seed = 4;
    ASSERT_TRUE(synthesize_model(other).has_value());
    const std::string a = test::read_text(scratch / "a" / "model.safetensors");
    EXPECT_EQ(a, test::read_text(scratch / "b" / "model.safetensors"));
    EXPECT_NE(a, test::read_text(scratch / "c" / "model.safetensors"));
}

TEST(Synth, ShardedWhenLarge) {
    test::ScratchDir scratch("sharded");
    SynthOptions options = tiny(scratch / "m");
    options.max_shard_bytes = 40000;
    ASSERT_TRUE(synthesize_model(options).has_value());
    EXPECT_TRUE(std::filesystem::exists(scratch / "m" / "model.safetensors.index.json"));
    Expected<Checkpoint> checkpoint = Checkpoint::open((scratch / "m").string());
    ASSERT_TRUE(checkpoint.has_value()) << checkpoint.error().message;
}

TEST(Synth, BadInputs) {
    test::ScratchDir scratch("bad");
    SynthOptions options = tiny(scratch / "m");
    options.config = "llama-9000";
    Expected<SynthResult> unknown = synthesize_model(options);
    ASSERT_FALSE(unknown.has_value());
    EXPECT_EQ(unknown.error().message,
              "'llama-9000' is neither a config.json file nor a preset; presets: llama-2-13b, "
              "llama-2-7b, mistral-7b, qwen2-0.5b, smollm-135m, tiny-test, tinyllama-1.1b");
    test::write_text(scratch / "small.json",
                     R"({"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
                         "num_attention_heads": 4, "vocab_size": 100})");
    options.config = (scratch / "small.json").string();
    Expected<SynthResult> small = synthesize_model(options);
    ASSERT_FALSE(small.has_value());
    EXPECT_EQ(
        small.error().message,
        options.config + ": vocab_size 100 is below the 259 tokens of the synthetic tokenizer");
    options.config = "tiny-test";
    ASSERT_TRUE(synthesize_model(options).has_value());
    Expected<SynthResult> exists = synthesize_model(options);
    ASSERT_FALSE(exists.has_value());
    EXPECT_EQ(exists.error().message, options.out.string() + ": exists; remove it or pass --force");
    options.force = true;
    EXPECT_TRUE(synthesize_model(options).has_value());
}

}  // namespace
}  // namespace mcomp::compress
