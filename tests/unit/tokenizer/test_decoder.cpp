// test_decoder.cpp: the decoder steps on token strings (tokenizers/src/decoders): the
// Llama-2 chain Replace + ByteFallback + Fuse + Strip, Metaspace, ByteLevel, and the
// space-joined fallback of a tokenizer without decoder.
#include <gtest/gtest.h>

#include "tokenizer/decoder.hpp"

namespace mcomp::tok {
namespace {

using Tokens = std::vector<std::string>;
// U+FFFD REPLACEMENT CHARACTER
#define FFFD "\xEF\xBF\xBD"

DecoderStep step(DecoderKind kind, std::string text = std::string()) {
    DecoderStep s;
    s.kind = kind;
    s.text = std::move(text);
    return s;
}

std::vector<DecoderStep> llama2_chain() {
    DecoderStep rep = step(DecoderKind::replace, "▁");
    rep.content = std::string(" ");
    DecoderStep strip = step(DecoderKind::strip, " ");
    strip.strip_start = 1;
    strip.strip_stop = 0;
    return {rep, step(DecoderKind::byte_fallback), step(DecoderKind::fuse), strip};
}

TEST(TokDecoder, Llama2Chain) {
    const auto steps = llama2_chain();
    EXPECT_EQ(decode_tokens(steps, {"▁Hello", "▁wor", "ld"}, true), "Hello world");
    // <0xC3><0xA9> is é; a lone <0xE6> is not UTF-8 and becomes one U+FFFD.
    EXPECT_EQ(decode_tokens(steps, {"▁caf", "<0xC3>", "<0xA9>", "▁", "<0xE6>"}, true),
              "café " FFFD);
    EXPECT_EQ(decode_tokens(steps, {"<0xE6>", "<0x97>"}, true), FFFD FFFD)
        << "one replacement per byte of an invalid run";
    EXPECT_EQ(decode_tokens(steps, {"▁▁x"}, true), " x") << "Strip removes one space";
}

TEST(TokDecoder, MetaspaceDropsThePrefixOfTheFirstTokenOnly) {
    DecoderStep meta = step(DecoderKind::metaspace, "▁");
    meta.metaspace_prepend = true;
    EXPECT_EQ(decode_tokens({meta}, {"▁Hey", "▁friend"}, true), "Hey friend");
    meta.metaspace_prepend = false;
    EXPECT_EQ(decode_tokens({meta}, {"▁Hey", "▁friend"}, true), " Hey friend");
}

TEST(TokDecoder, ByteLevelIsLossyUtf8) {
    const DecoderStep bl = step(DecoderKind::byte_level);
    EXPECT_EQ(decode_tokens({bl}, {"Hello", "Ġw", "orld", "Ċ"}, true), "Hello world\n");
    EXPECT_EQ(decode_tokens({bl}, {"cafÃ", "©"}, true), "café") << "é split over two tokens";
    EXPECT_EQ(decode_tokens({bl}, {"Ã"}, true), FFFD);
    EXPECT_EQ(decode_tokens({bl}, {"▁x"}, true), "▁x") << "chars outside the table: as is";
}

TEST(TokDecoder, NoDecoderJoinsWithSpaces) {
    EXPECT_EQ(decode_tokens({}, {"a", "b", "c"}, false), "a b c");
    EXPECT_EQ(decode_tokens({}, {}, false), "");
}

}  // namespace
}  // namespace mcomp::tok
