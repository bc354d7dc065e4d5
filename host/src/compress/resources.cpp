// resources.cpp: see resources.hpp.
#include "compress/resources.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>

namespace mcomp::compress {

std::int64_t peak_rss_bytes() {
    rusage usage = {};
    if (::getrusage(RUSAGE_SELF, &usage) != 0) {
        return 0;
    }
    return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

std::int64_t current_rss_bytes() {
    std::FILE* file = std::fopen("/proc/self/statm", "r");
    if (file == nullptr) {
        return 0;
    }
    long total_pages = 0;
    long resident_pages = 0;
    const int read = std::fscanf(file, "%ld %ld", &total_pages, &resident_pages);
    std::fclose(file);
    if (read != 2) {
        return 0;
    }
    return static_cast<std::int64_t>(resident_pages) * ::sysconf(_SC_PAGESIZE);
}

namespace {

// Advice only: a failure (e.g. memory that is not a mapping) changes nothing.
void advise_pages(const void* data, std::size_t num_bytes, int advice) {
    if (data == nullptr || num_bytes == 0) {
        return;
    }
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = reinterpret_cast<std::uintptr_t>(data) & ~(page - 1);
    const auto end = (reinterpret_cast<std::uintptr_t>(data) + num_bytes + page - 1) & ~(page - 1);
    ::madvise(reinterpret_cast<void*>(begin), end - begin, advice);
}

}  // namespace

void drop_mapped_pages(const void* data, std::size_t num_bytes) {
    advise_pages(data, num_bytes, MADV_DONTNEED);
}

void prefetch_mapped_pages(const void* data, std::size_t num_bytes) {
    advise_pages(data, num_bytes, MADV_WILLNEED);
}

void prefer_mmap_for_large_buffers() {
    ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

void release_free_heap() {
    ::malloc_trim(0);
}

}  // namespace mcomp::compress
