// regex.hpp: a Unicode regular expression (PCRE2, UTF + UCP) for the pre-tokenizers.
//
// The `tokenizers` library runs its Split and ByteLevel patterns with Oniguruma; PCRE2 in
// UTF mode with Unicode properties (\p{L}, \s, ...) accepts the same patterns (GPT-2,
// Llama-3, Qwen2) and finds the same matches. The JIT is used where the build has it.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/expected.hpp"

namespace mcomp::tok {

// A match as byte offsets [first, second) into the searched text.
using Span = std::pair<std::size_t, std::size_t>;

class Regex {
  public:
    // Compiles `pattern`; the error message carries PCRE2's reason and the offset.
    static Expected<Regex> compile(std::string_view pattern);

    // Appends the non-overlapping, non-empty matches in `text` (valid UTF-8) from left
    // to right. Empty matches are skipped, as the splits they would make are empty.
    void find_all(std::string_view text, std::vector<Span>& dst) const;

  private:
    struct Code;
    std::shared_ptr<const Code> code_;
};

}  // namespace mcomp::tok
