// added_tokens.cpp: see added_tokens.hpp.
#include "tokenizer/added_tokens.hpp"

#include <algorithm>
#include <numeric>

#include "tokenizer/unicode.hpp"

namespace mcomp::tok {

namespace {

// The reference tests single_word with the Rust regex \w, whose Unicode definition
// (UTS #18 Annex C) also counts combining marks, unlike PCRE2's \w.
bool is_word_char(char32_t cp) {
    if (cp < 0x80) {
        return (cp >= '0' && cp <= '9') || (cp >= 'A' && cp <= 'Z') || (cp >= 'a' && cp <= 'z') ||
               cp == '_';
    }
    static const Expected<Regex> word =
        Regex::compile(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])");
    std::string ch;
    utf8_append(ch, cp);
    std::vector<Span> matches;
    word->find_all(ch, matches);
    return !matches.empty();
}

char32_t last_char(const std::string& text, std::size_t end) {
    std::size_t pos = end - 1;
    while (pos > 0 && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) {
        --pos;
    }
    std::size_t n = 0;
    return utf8_decode_at(text, pos, n);
}

// Start of the run of whitespace that ends at `end` (space_leftmost_at_end).
std::size_t whitespace_run_start(const std::string& text, std::size_t end) {
    std::size_t pos = end;
    while (pos > 0) {
        std::size_t prev = pos - 1;
        while (prev > 0 && (static_cast<unsigned char>(text[prev]) & 0xC0) == 0x80) {
            --prev;
        }
        std::size_t n = 0;
        if (!is_unicode_whitespace(utf8_decode_at(text, prev, n))) {
            break;
        }
        pos = prev;
    }
    return pos;
}

// End of the run of whitespace that starts at `begin` (space_rightmost_at_start).
std::size_t whitespace_run_end(const std::string& text, std::size_t begin) {
    std::size_t pos = begin;
    std::size_t n = 0;
    while (pos < text.size() && is_unicode_whitespace(utf8_decode_at(text, pos, n))) {
        pos += n;
    }
    return pos;
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens,
                              const std::vector<std::string>& patterns) {
    entries_.clear();
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (patterns[i].empty()) {
            continue;
        }
        const AddedToken& t = tokens[i];
        entries_.push_back(Entry{patterns[i], t.id, t.single_word, t.lstrip, t.rstrip});
    }
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
        return a.pattern.size() > b.pattern.size();
    });
    for (auto& list : by_first_) {
        list.clear();
    }
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        by_first_[static_cast<unsigned char>(entries_[i].pattern[0])].push_back(
            static_cast<int>(i));
    }
}

int AddedTokenMatcher::longest_at(const std::string& text, std::size_t pos) const {
    for (const int i : by_first_[static_cast<unsigned char>(text[pos])]) {
        const std::string& p = entries_[i].pattern;
        if (text.compare(pos, p.size(), p) == 0) {
            return i;
        }
    }
    return -1;
}

void AddedTokenMatcher::split(const Piece& src, std::vector<Piece>& dst) const {
    const std::string& text = src.text;
    std::size_t done = 0;  // end of what has been emitted (start_offset in the reference)
    std::size_t pos = 0;   // where the search resumes: the end of the last raw match
    while (pos < text.size()) {
        const int hit = longest_at(text, pos);
        if (hit < 0) {
            ++pos;
            continue;
        }
        const Entry& e = entries_[hit];
        std::size_t begin = pos;
        std::size_t end = pos + e.pattern.size();
        pos = end;
        if (e.single_word) {
            const bool space_before = begin == 0 || !is_word_char(last_char(text, begin));
            std::size_t n = 0;
            const bool space_after =
                end == text.size() || !is_word_char(utf8_decode_at(text, end, n));
            if (!space_before || !space_after) {
                continue;
            }
        }
        if (e.lstrip) {
            begin = std::max(whitespace_run_start(text, begin), done);
        }
        if (e.rstrip) {
            end = whitespace_run_end(text, end);
        }
        if (done < begin) {
            dst.push_back(
                Piece{text.substr(done, begin - done), -1, origin_of_part(src, done, begin)});
        }
        dst.push_back(Piece{text.substr(begin, end - begin), e.id, 0});
        done = end;
    }
    if (done < text.size()) {
        dst.push_back(Piece{text.substr(done), -1, origin_of_part(src, done, text.size())});
    }
}

}  // namespace mcomp::tok
