// parallel.hpp: when a loop is worth an OpenMP team. On a machine with few cores shared with
// other work, a parallel region around a few thousand operations costs more in barrier spins
// than it saves; loops pass `if (parallel_worth(work))` with their count of elementary steps.
#pragma once

#include <cstdint>

namespace mcomp::common {

inline constexpr int64_t kParallelMinWork = int64_t{1} << 18;

inline bool parallel_worth(int64_t work) {
    return work >= kParallelMinWork;
}

}  // namespace mcomp::common
