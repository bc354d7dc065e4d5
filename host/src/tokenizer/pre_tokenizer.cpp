// pre_tokenizer.cpp: see pre_tokenizer.hpp.
#include "tokenizer/pre_tokenizer.hpp"

#include "tokenizer/normalizer.hpp"
#include "tokenizer/unicode.hpp"

namespace mcomp::tok {

namespace {

struct Segment {
    std::size_t begin = 0;
    std::size_t end = 0;
    bool flag = false;  // is a match before the behaviour; "remove" after it
};

// The whole text as alternating match / non-match segments (Pattern::find_matches).
std::vector<Segment> segments_of(std::size_t size, const std::vector<Span>& matches, bool invert) {
    std::vector<Segment> segs;
    segs.reserve(matches.size() * 2 + 1);
    std::size_t prev = 0;
    for (const Span& m : matches) {
        if (prev != m.first) {
            segs.push_back({prev, m.first, invert});
        }
        segs.push_back({m.first, m.second, !invert});
        prev = m.second;
    }
    if (prev != size) {
        segs.push_back({prev, size, invert});
    }
    return segs;
}

// Applies a delimiter behaviour; the result's flag says whether to drop the segment.
std::vector<Segment> apply_behavior(const std::vector<Segment>& segs, SplitBehavior behavior) {
    std::vector<Segment> out;
    out.reserve(segs.size());
    switch (behavior) {
        case SplitBehavior::removed:
            return segs;
        case SplitBehavior::isolated:
            for (const Segment& s : segs) {
                out.push_back({s.begin, s.end, false});
            }
            return out;
        case SplitBehavior::contiguous:
            for (std::size_t i = 0; i < segs.size(); ++i) {
                if (i > 0 && segs[i].flag == segs[i - 1].flag) {
                    out.back().end = segs[i].end;
                } else {
                    out.push_back({segs[i].begin, segs[i].end, false});
                }
            }
            return out;
        case SplitBehavior::merged_with_previous: {
            bool previous_match = false;
            for (const Segment& s : segs) {
                if (s.flag && !previous_match && !out.empty()) {
                    out.back().end = s.end;
                } else {
                    out.push_back({s.begin, s.end, false});
                }
                previous_match = s.flag;
            }
            return out;
        }
        case SplitBehavior::merged_with_next: {
            bool previous_match = false;
            for (std::size_t i = segs.size(); i-- > 0;) {
                const Segment& s = segs[i];
                if (s.flag && !previous_match && !out.empty()) {
                    out.back().begin = s.begin;
                } else {
                    out.push_back({s.begin, s.end, false});
                }
                previous_match = s.flag;
            }
            return {out.rbegin(), out.rend()};
        }
    }
    return out;
}

void find_literal(const std::string& text, const std::string& literal, std::vector<Span>& dst) {
    if (literal.empty()) {
        return;
    }
    for (std::size_t pos = text.find(literal); pos != std::string::npos;
         pos = text.find(literal, pos + literal.size())) {
        dst.emplace_back(pos, pos + literal.size());
    }
}

void run_split(const PreTokenizerStep& step, const Piece& src, std::vector<Piece>& dst) {
    std::vector<Span> matches;
    if (step.pattern) {
        step.pattern->find_all(src.text, matches);
    } else {
        find_literal(src.text, step.text, matches);
    }
    split_piece(src, matches, step.behavior, step.invert, dst);
}

void run_byte_level(const PreTokenizerStep& step, const Regex* gpt2, Piece src,
                    std::vector<Piece>& dst) {
    if (step.add_prefix_space && src.text[0] != ' ') {
        src.origin_bytes = prepend_to(src.text, " ", src.origin_bytes);
    }
    const std::size_t first = dst.size();
    if (step.use_regex && gpt2 != nullptr) {
        std::vector<Span> matches;
        gpt2->find_all(src.text, matches);
        split_piece(src, matches, SplitBehavior::isolated, false, dst);
    } else {
        dst.push_back(std::move(src));
    }
    const std::array<std::string, 256>& chars = byte_level_chars();
    // Each byte becomes one char aligned like the char the byte belonged to.
    for (std::size_t i = first; i < dst.size(); ++i) {
        std::string mapped;
        mapped.reserve(dst[i].text.size() * 2);
        std::size_t origin = 0;
        for (std::size_t b = 0; b < dst[i].text.size(); ++b) {
            mapped += chars[static_cast<unsigned char>(dst[i].text[b])];
            if (b < dst[i].origin_bytes) {
                origin = mapped.size();
            }
        }
        dst[i].text = std::move(mapped);
        dst[i].origin_bytes = origin;
    }
}

void run_metaspace(const PreTokenizerStep& step, Piece src, std::vector<Piece>& dst) {
    const std::string& rep = step.text;
    src.origin_bytes = replace_all(src.text, " ", std::nullopt, rep, src.origin_bytes);
    // "first": the piece begins at offset 0 of the original text (offsets_original).
    const bool starts_with_rep = src.text.compare(0, rep.size(), rep) == 0;
    const bool prepend =
        !starts_with_rep && (step.prepend_scheme == PrependScheme::always ||
                             (step.prepend_scheme == PrependScheme::first && src.origin_bytes > 0));
    if (prepend) {
        src.origin_bytes = prepend_to(src.text, rep, src.origin_bytes);
    }
    if (!step.split) {
        dst.push_back(std::move(src));
        return;
    }
    std::vector<Span> matches;
    find_literal(src.text, rep, matches);
    split_piece(src, matches, SplitBehavior::merged_with_next, false, dst);
}

}  // namespace

void split_piece(const Piece& src, const std::vector<Span>& matches, SplitBehavior behavior,
                 bool invert, std::vector<Piece>& dst) {
    if (matches.empty() && !invert) {
        if (!src.text.empty()) {
            dst.push_back(src);
        }
        return;
    }
    const std::vector<Segment> segs =
        apply_behavior(segments_of(src.text.size(), matches, invert), behavior);
    for (const Segment& s : segs) {
        if (s.flag || s.end == s.begin) {
            continue;
        }
        dst.push_back(Piece{src.text.substr(s.begin, s.end - s.begin), -1,
                            origin_of_part(src, s.begin, s.end)});
    }
}

void pre_tokenize(const std::vector<PreTokenizerStep>& steps, const Regex* gpt2,
                  std::vector<Piece>& pieces) {
    std::vector<Piece> next;
    for (const PreTokenizerStep& step : steps) {
        next.clear();
        next.reserve(pieces.size());
        for (Piece& p : pieces) {
            if (p.id >= 0) {
                next.push_back(std::move(p));
                continue;
            }
            switch (step.kind) {
                case PreTokenizerKind::split:
                    run_split(step, p, next);
                    break;
                case PreTokenizerKind::byte_level:
                    run_byte_level(step, gpt2, std::move(p), next);
                    break;
                case PreTokenizerKind::metaspace:
                    run_metaspace(step, std::move(p), next);
                    break;
            }
        }
        pieces.swap(next);
    }
}

}  // namespace mcomp::tok
