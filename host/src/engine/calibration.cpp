// calibration.cpp: see calibration.hpp. The generator follows CPython's
// Modules/_randommodule.c (itself Matsumoto and Nishimura's mt19937ar.c) and Lib/random.py.
#include "engine/calibration.hpp"

#include <bit>
#include <cassert>
#include <string>

namespace mcomp {

namespace {

constexpr int kShift = 397;  // M in mt19937ar.c
constexpr std::uint32_t kMatrixA = 0x9908b0dfu;
constexpr std::uint32_t kUpperMask = 0x80000000u;
constexpr std::uint32_t kLowerMask = 0x7fffffffu;

}  // namespace

PyRandom::PyRandom(std::uint64_t seed) {
    this->seed(seed);
}

void PyRandom::init_genrand(std::uint32_t s) {
    state_[0] = s;
    for (int i = 1; i < kStateWords; ++i) {
        const std::uint32_t prev = state_[i - 1];
        state_[i] = 1812433253u * (prev ^ (prev >> 30)) + static_cast<std::uint32_t>(i);
    }
    index_ = kStateWords;
}

void PyRandom::init_by_array(const std::uint32_t* key, int key_length) {
    init_genrand(19650218u);
    int i = 1;
    int j = 0;
    for (int k = kStateWords > key_length ? kStateWords : key_length; k > 0; --k) {
        const std::uint32_t prev = state_[i - 1];
        state_[i] = (state_[i] ^ ((prev ^ (prev >> 30)) * 1664525u)) + key[j] +
                    static_cast<std::uint32_t>(j);
        ++i;
        ++j;
        if (i >= kStateWords) {
            state_[0] = state_[kStateWords - 1];
            i = 1;
        }
        if (j >= key_length) {
            j = 0;
        }
    }
    for (int k = kStateWords - 1; k > 0; --k) {
        const std::uint32_t prev = state_[i - 1];
        state_[i] =
            (state_[i] ^ ((prev ^ (prev >> 30)) * 1566083941u)) - static_cast<std::uint32_t>(i);
        ++i;
        if (i >= kStateWords) {
            state_[0] = state_[kStateWords - 1];
            i = 1;
        }
    }
    state_[0] = 0x80000000u;  // MSB 1: the initial array is never all zero
}

void PyRandom::seed(std::uint64_t seed) {
    // CPython: key = |seed| as 32-bit words, least significant first; seed 0 gives [0].
    const std::uint32_t key[2] = {static_cast<std::uint32_t>(seed),
                                  static_cast<std::uint32_t>(seed >> 32)};
    init_by_array(key, (seed >> 32) != 0 ? 2 : 1);
}

void PyRandom::twist() {
    auto mix = [](std::uint32_t upper, std::uint32_t lower) {
        const std::uint32_t y = (upper & kUpperMask) | (lower & kLowerMask);
        return (y >> 1) ^ ((y & 1u) != 0 ? kMatrixA : 0u);
    };
    int k = 0;
    for (; k < kStateWords - kShift; ++k) {
        state_[k] = state_[k + kShift] ^ mix(state_[k], state_[k + 1]);
    }
    for (; k < kStateWords - 1; ++k) {
        state_[k] = state_[k + kShift - kStateWords] ^ mix(state_[k], state_[k + 1]);
    }
    state_[kStateWords - 1] = state_[kShift - 1] ^ mix(state_[kStateWords - 1], state_[0]);
    index_ = 0;
}

std::uint32_t PyRandom::next_u32() {
    if (index_ >= kStateWords) {
        twist();
    }
    std::uint32_t y = state_[index_++];
    y ^= y >> 11;
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= y >> 18;
    return y;
}

std::uint64_t PyRandom::getrandbits(int num_bits) {
    if (num_bits <= 0) {
        return 0;  // Python returns 0 for k == 0 without drawing
    }
    assert(num_bits <= 64);
    if (num_bits <= 32) {
        return next_u32() >> (32 - num_bits);
    }
    // Two words, least significant first; the second keeps its top (num_bits - 32) bits.
    const std::uint64_t low = next_u32();
    const std::uint64_t high = next_u32() >> (64 - num_bits);
    return low | (high << 32);
}

std::int64_t PyRandom::randint(std::int64_t a, std::int64_t b) {
    // Lib/random.py: randrange(a, b + 1) -> a + _randbelow_with_getrandbits(width).
    const std::uint64_t width = static_cast<std::uint64_t>(b) - static_cast<std::uint64_t>(a) + 1;
    const int k = std::bit_width(width);  // n.bit_length()
    std::uint64_t r = getrandbits(k);
    while (r >= width) {
        r = getrandbits(k);
    }
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(a) + r);
}

double PyRandom::random() {
    const std::uint32_t a = next_u32() >> 5;
    const std::uint32_t b = next_u32() >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

Expected<std::vector<std::int64_t>> sample_window_starts(std::int64_t n_tokens, std::int64_t seqlen,
                                                         std::int64_t samples, std::uint64_t seed) {
    if (seqlen <= 0 || samples <= 0) {
        return make_error(ErrorKind::bad_input,
                          "calibration: seqlen (" + std::to_string(seqlen) + ") and samples (" +
                              std::to_string(samples) +
                              ") must be positive; set them in the [calibration] table");
    }
    if (n_tokens <= seqlen) {
        return make_error(ErrorKind::bad_input,
                          "calibration: the text has " + std::to_string(n_tokens) +
                              " tokens, not enough for one window of seqlen " +
                              std::to_string(seqlen) +
                              " (it needs at least seqlen + 1); give a longer text or a "
                              "smaller seqlen");
    }
    PyRandom rng(seed);
    std::vector<std::int64_t> starts(static_cast<std::size_t>(samples), 0);
    for (std::int64_t& start : starts) {
        start = rng.randint(0, n_tokens - seqlen - 1);
    }
    return starts;
}

}  // namespace mcomp
