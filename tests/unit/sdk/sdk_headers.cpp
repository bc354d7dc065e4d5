// sdk_headers.cpp: every SDK header, C and C++ helpers, included in C++ (C++17 and C++20).
#include "mcomp/cpp/plugin.hpp"
#include "mcomp/mcomp.h"

int mc_sdk_headers_cxx_probe();
int mc_sdk_headers_cxx_probe() {
    mcomp::sdk::Params params(nullptr);
    return static_cast<int>(params.get_int("bits", 4));
}
