// calibration.hpp: the seeded choice of calibration windows, reproduced exactly as the
// reference scripts make it, so that mcomp and GPTQ / AWQ / SparseGPT / Wanda see the same
// token windows for the same seed.
//
// The reference scripts (GPTQ's datautils.py get_wikitext2/get_c4, SparseGPT, Wanda) do
//     random.seed(seed)
//     for _ in range(nsamples):
//         i = random.randint(0, n_tokens - seqlen - 1)
//         window = tokens[i : i + seqlen]
// with CPython's `random` module: a Mersenne Twister (MT19937) seeded by init_by_array, and
// randint built on getrandbits with rejection sampling. PyRandom reproduces that module's
// integer path bit for bit (CPython Modules/_randommodule.c and Lib/random.py).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "util/expected.hpp"

namespace mcomp {

// CPython's random.Random, the parts the reference scripts use. Not thread-safe; cheap to
// copy (the whole state is 2.5 KB).
class PyRandom {
  public:
    // Same as Python's random.Random(seed) for a non-negative int seed.
    explicit PyRandom(std::uint64_t seed = 0);

    // random.seed(seed) for an int seed: init_by_array over |seed| split into 32-bit words,
    // least significant first ([0] for seed 0).
    void seed(std::uint64_t seed);

    // One raw 32-bit output of MT19937 (genrand_uint32).
    std::uint32_t next_u32();

    // random.getrandbits(k) for 0 <= k <= 64: the first word drawn is the least significant;
    // the last (most significant) one is shifted right to keep only the bits asked for.
    std::uint64_t getrandbits(int num_bits);

    // random.randint(a, b): a uniform integer in [a, b] (b >= a; b - a < 2^63), drawn as
    // a + _randbelow(b - a + 1) by rejection on getrandbits(bit_length(b - a + 1)).
    std::int64_t randint(std::int64_t a, std::int64_t b);

    // random.random(): a double in [0, 1) with 53 random bits (genrand_res53).
    double random();

  private:
    static constexpr int kStateWords = 624;

    void init_genrand(std::uint32_t s);
    void init_by_array(const std::uint32_t* key, int key_length);
    void twist();

    std::array<std::uint32_t, kStateWords> state_{};
    int index_ = kStateWords + 1;
};

// The start of each of `samples` windows of `seqlen` tokens in a stream of `n_tokens`,
// exactly as the reference scripts choose them: random.seed(seed), then
// random.randint(0, n_tokens - seqlen - 1) per window. The window is
// tokens[start, start + seqlen). Fails (bad_input) when the stream has no more than
// `seqlen` tokens, or when a count is not positive.
Expected<std::vector<std::int64_t>> sample_window_starts(std::int64_t n_tokens, std::int64_t seqlen,
                                                         std::int64_t samples, std::uint64_t seed);

}  // namespace mcomp
