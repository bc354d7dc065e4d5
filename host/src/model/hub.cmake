# mcomp_hub: model resolution and download from the Hugging Face hub (hub.hpp).
# Included by host/src/model/CMakeLists.txt; a target of its own so that the model area's
# file readers do not link libcurl and OpenSSL.
add_library(mcomp_hub STATIC
    ${CMAKE_CURRENT_LIST_DIR}/hub.cpp
)
target_include_directories(mcomp_hub PUBLIC ${PROJECT_SOURCE_DIR}/host/src)
target_link_libraries(mcomp_hub
    PUBLIC mcomp_util
    PRIVATE CURL::libcurl OpenSSL::Crypto nlohmann_json::nlohmann_json spdlog::spdlog)
