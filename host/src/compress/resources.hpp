// resources.hpp: what the engine measures and gives back of the machine's memory — the
// process's peak and current resident set, and the pages of a memory-mapped weight that a
// finished block no longer needs (so a model larger than memory streams through).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mcomp::compress {

// Peak resident set of this process so far (getrusage ru_maxrss), in bytes.
std::int64_t peak_rss_bytes();

// Resident set now (/proc/self/statm), in bytes; 0 where it cannot be read.
std::int64_t current_rss_bytes();

// Tells the kernel that the pages under [data, data + num_bytes) of a read-only file
// mapping will not be needed soon (madvise MADV_DONTNEED): they leave this process's
// resident set and are read again from the page cache on the next access. Whole pages
// around the range are covered; that is harmless for a private read-only mapping.
// Only for memory of such a mapping: on heap (anonymous) memory it would discard the data.
void drop_mapped_pages(const void* data, std::size_t num_bytes);

// Asks the kernel to start reading pages of a file mapping in the background (the next
// block's weights while this one computes); no-op on other memory.
void prefetch_mapped_pages(const void* data, std::size_t num_bytes);

// Returns the heap's free memory to the kernel (glibc malloc_trim). The engine frees a
// block's worth of large buffers after every block; without this, glibc's growing mmap
// threshold keeps them in the heap and the resident set creeps up block after block.
void release_free_heap();

// Fixes glibc's mmap threshold at 1 MiB (mallopt M_MMAP_THRESHOLD), which also turns off its
// growth: every large buffer (a layer's weights, codes, results) is then its own mapping,
// returned to the kernel when freed, instead of heap memory that stays resident once a
// bigger buffer was freed. Process-wide; called by the engine before its first block.
void prefer_mmap_for_large_buffers();

}  // namespace mcomp::compress
