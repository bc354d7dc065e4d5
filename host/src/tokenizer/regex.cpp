// regex.cpp: see regex.hpp.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/regex.hpp"

#include <pcre2.h>
#include <spdlog/spdlog.h>

#include "tokenizer/unicode.hpp"

namespace mcomp::tok {

struct Regex::Code {
    pcre2_code* code = nullptr;
    bool jit = false;
    ~Code() { pcre2_code_free(code); }
};

Expected<Regex> Regex::compile(std::string_view pattern) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR buffer[256] = {};
        pcre2_get_error_message(error_code, buffer, sizeof(buffer));
        return make_error(ErrorKind::bad_input, "regular expression does not compile at offset " +
                                                    std::to_string(error_offset) + ": " +
                                                    reinterpret_cast<const char*>(buffer));
    }
    auto holder = std::make_shared<Code>();
    holder->code = code;
    // Without JIT support PCRE2's interpreter gives the same matches, only slower.
    holder->jit = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    Regex regex;
    regex.code_ = std::move(holder);
    return regex;
}

void Regex::find_all(std::string_view text, std::vector<Span>& dst) const {
    pcre2_match_data* md = pcre2_match_data_create_from_pattern(code_->code, nullptr);
    const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
    std::size_t pos = 0;
    while (pos <= text.size()) {
        // The caller guarantees valid UTF-8; a check per call would make the scan O(n^2).
        int rc = code_->jit ? pcre2_jit_match(code_->code, subject, text.size(), pos,
                                              PCRE2_NO_UTF_CHECK, md, nullptr)
                            : PCRE2_ERROR_JIT_BADOPTION;
        if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
            // No JIT, or its stack ran out: the interpreter keeps its backtracking on the heap.
            rc = pcre2_match(code_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK, md,
                             nullptr);
        }
        if (rc < 0) {
            if (rc != PCRE2_ERROR_NOMATCH) {
                // The rest stays one unsplit stretch: nothing is lost, only not cut.
                spdlog::warn("tokenizer: regex match failed (PCRE2 error {}) at byte {}", rc, pos);
            }
            break;
        }
        const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
        const std::size_t start = ov[0];
        const std::size_t end = ov[1];
        if (end > start) {
            dst.emplace_back(start, end);
            pos = end;
        } else if (start < text.size()) {
            pos = start + utf8_seq_len(static_cast<unsigned char>(text[start]));
        } else {
            break;
        }
    }
    pcre2_match_data_free(md);
}

}  // namespace mcomp::tok
