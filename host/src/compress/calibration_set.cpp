// calibration_set.cpp: see calibration_set.hpp.
#include "compress/calibration_set.hpp"

#include <fmt/format.h>

#include "engine/calibration.hpp"
#include "util/strings.hpp"

namespace mcomp::compress {

Expected<std::string> read_texts(const std::vector<std::filesystem::path>& files) {
    std::string joined;
    for (std::size_t i = 0; i < files.size(); ++i) {
        std::string text;
        if (!read_file(files[i].string(), text)) {
            return make_error(
                ErrorKind::not_found,
                fmt::format("{}: cannot read the text file; check the path", files[i].string()));
        }
        if (i > 0) {
            joined += "\n\n";
        }
        joined += text;
    }
    return joined;
}

Expected<CalibrationSet> sample_calibration(const std::vector<std::int32_t>& stream,
                                            std::int64_t samples, std::int64_t seqlen,
                                            std::uint64_t seed, const std::string& source) {
    const auto n_tokens = static_cast<std::int64_t>(stream.size());
    if (n_tokens <= seqlen) {
        return make_error(ErrorKind::bad_input,
                          fmt::format("{}: the calibration text has {} tokens, not more than "
                                      "seqlen = {}; give more text or a shorter seqlen",
                                      source, n_tokens, seqlen));
    }
    Expected<std::vector<std::int64_t>> starts =
        sample_window_starts(n_tokens, seqlen, samples, seed);
    if (!starts) {
        return make_error(starts.error().kind, source + ": " + starts.error().message);
    }
    CalibrationSet set;
    set.samples = samples;
    set.seqlen = seqlen;
    set.stream_tokens = n_tokens;
    set.starts = std::move(*starts);
    set.tokens.reserve(static_cast<std::size_t>(samples * seqlen));
    for (const std::int64_t start : set.starts) {
        set.tokens.insert(set.tokens.end(), stream.begin() + start,
                          stream.begin() + start + seqlen);
    }
    return set;
}

Expected<CalibrationSet> load_calibration(const std::vector<std::filesystem::path>& files,
                                          const Tokenizer& tokenizer, std::int64_t samples,
                                          std::int64_t seqlen, std::uint64_t seed) {
    Expected<std::string> text = read_texts(files);
    if (!text) {
        return text.error();
    }
    const std::vector<std::int32_t> stream = tokenizer.encode(*text, true);
    const std::string source = files.size() == 1 ? files[0].string() : "calibration.text";
    return sample_calibration(stream, samples, seqlen, seed, source);
}

}  // namespace mcomp::compress
