// calibration_set.hpp: the calibration batches of a pipeline — the [calibration] texts read
// and joined into one string, tokenized whole (BOS once at the start, as the tokenizer's
// configuration asks), and `samples` windows of `seqlen` tokens cut from that one stream at
// the seeded positions the reference scripts choose (engine/calibration.hpp: GPTQ's
// datautils.py get_wikitext2 does `tokenizer("\n\n".join(texts))` and then
// `random.seed(seed); i = random.randint(0, n - seqlen - 1)` per sample).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.hpp"
#include "util/expected.hpp"

namespace mcomp::compress {

struct CalibrationSet {
    std::int64_t samples = 0;
    std::int64_t seqlen = 0;
    std::int64_t stream_tokens = 0;    // tokens of the whole text
    std::vector<std::int64_t> starts;  // where each window starts in the stream
    std::vector<std::int32_t> tokens;  // [samples, seqlen], sample-major
};

// The files' contents joined with "\n\n" (one file: its text unchanged). Errors name the
// file that cannot be read.
Expected<std::string> read_texts(const std::vector<std::filesystem::path>& files);

// Windows of a token stream at the seeded starts. `source` names the text in messages.
Expected<CalibrationSet> sample_calibration(const std::vector<std::int32_t>& stream,
                                            std::int64_t samples, std::int64_t seqlen,
                                            std::uint64_t seed, const std::string& source);

// read_texts → tokenizer.encode(text, add_special_tokens = true) → sample_calibration.
Expected<CalibrationSet> load_calibration(const std::vector<std::filesystem::path>& files,
                                          const Tokenizer& tokenizer, std::int64_t samples,
                                          std::int64_t seqlen, std::uint64_t seed);

}  // namespace mcomp::compress
