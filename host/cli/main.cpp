// main.cpp: the `mcomp` command line (placeholder until the host core lands).
#include <cstdio>

int main() {
    std::puts("mcomp");
    return 0;
}
