# mcomp_add_plugin(): builds a plugin's backend libraries the same way for in-tree and
# third-party plugins.
#
#   mcomp_add_plugin(NAME <id> MANIFEST <plugin.toml>
#                    [CPU_SOURCES <files...>]  [CPU_LIBS <targets...>]
#                    [CUDA_SOURCES <files...>] [CUDA_LIBS <targets...>]
#                    [INCLUDE_DIRS <dirs...>]
#                    [CPU_DEFINITIONS <defs...>] [CUDA_DEFINITIONS <defs...>]
#                    [NO_INSTALL])
#
# Creates mcomp_<id>_cpu (libmcomp_<id>_cpu.so) and, when the CUDA language is enabled and
# CUDA_SOURCES are given, mcomp_<id>_cuda (libmcomp_<id>_cuda.so). Each library exports only
# mc_plugin_entry_v1 (hidden visibility + version script) and must resolve every symbol at
# link time (-z defs). The libraries and the manifest land together in
# ${MCOMP_PLUGIN_OUTPUT_DIR}/<id>/ and are installed to ${MCOMP_INSTALL_PLUGIN_DIR}/<id>/
# (unless NO_INSTALL, e.g. for test plugins). Each library is compiled with
# MCOMP_BACKEND_CPU=1 or MCOMP_BACKEND_CUDA=1 plus the backend's own definitions.
include_guard(GLOBAL)

function(_mcomp_plugin_library target id)
    cmake_parse_arguments(ARG "NO_INSTALL" "" "SOURCES;LIBS;INCLUDE_DIRS;DEFINITIONS" ${ARGN})
    add_library(${target} MODULE ${ARG_SOURCES})
    target_link_libraries(${target} PRIVATE mcomp::sdk ${ARG_LIBS})
    target_include_directories(${target} PRIVATE ${ARG_INCLUDE_DIRS})
    target_compile_definitions(${target} PRIVATE ${ARG_DEFINITIONS})
    set_target_properties(${target} PROPERTIES
        PREFIX "lib"
        C_VISIBILITY_PRESET hidden
        CXX_VISIBILITY_PRESET hidden
        CUDA_VISIBILITY_PRESET hidden
        VISIBILITY_INLINES_HIDDEN ON
        POSITION_INDEPENDENT_CODE ON
        LIBRARY_OUTPUT_DIRECTORY "${MCOMP_PLUGIN_OUTPUT_DIR}/${id}"
        LINK_DEPENDS "${MCOMP_SDK_PLUGIN_MAP}")
    target_link_options(${target} PRIVATE
        "LINKER:--version-script=${MCOMP_SDK_PLUGIN_MAP}" "LINKER:-z,defs")
    if(NOT ARG_NO_INSTALL)
        install(TARGETS ${target} LIBRARY DESTINATION "${MCOMP_INSTALL_PLUGIN_DIR}/${id}")
    endif()
endfunction()

function(mcomp_add_plugin)
    cmake_parse_arguments(ARG "NO_INSTALL" "NAME;MANIFEST"
        "CPU_SOURCES;CPU_LIBS;CUDA_SOURCES;CUDA_LIBS;INCLUDE_DIRS;CPU_DEFINITIONS;CUDA_DEFINITIONS"
        ${ARGN})
    set(no_install)
    if(ARG_NO_INSTALL)
        set(no_install NO_INSTALL)
    endif()
    if(NOT ARG_NAME OR NOT ARG_MANIFEST)
        message(FATAL_ERROR "mcomp_add_plugin: NAME and MANIFEST are required")
    endif()
    if(NOT ARG_CPU_SOURCES AND NOT ARG_CUDA_SOURCES)
        message(FATAL_ERROR "mcomp_add_plugin(${ARG_NAME}): give CPU_SOURCES and/or CUDA_SOURCES")
    endif()
    set(id ${ARG_NAME})
    get_filename_component(manifest "${ARG_MANIFEST}" ABSOLUTE)

    if(ARG_CPU_SOURCES)
        _mcomp_plugin_library(mcomp_${id}_cpu ${id} SOURCES ${ARG_CPU_SOURCES}
                              LIBS ${ARG_CPU_LIBS} INCLUDE_DIRS ${ARG_INCLUDE_DIRS}
                              DEFINITIONS MCOMP_BACKEND_CPU=1 ${ARG_CPU_DEFINITIONS} ${no_install})
        set_target_properties(mcomp_${id}_cpu PROPERTIES OUTPUT_NAME mcomp_${id}_cpu)
    endif()
    get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
    if(ARG_CUDA_SOURCES AND NOT "CUDA" IN_LIST languages)
        message(STATUS "mcomp plugin ${id}: CUDA language not enabled, CUDA backend not built")
    endif()
    if(ARG_CUDA_SOURCES AND "CUDA" IN_LIST languages)
        find_package(CUDAToolkit REQUIRED)
        _mcomp_plugin_library(mcomp_${id}_cuda ${id} SOURCES ${ARG_CUDA_SOURCES}
                              LIBS CUDA::cudart ${ARG_CUDA_LIBS} INCLUDE_DIRS ${ARG_INCLUDE_DIRS}
                              DEFINITIONS MCOMP_BACKEND_CUDA=1 ${ARG_CUDA_DEFINITIONS} ${no_install})
        set_target_properties(mcomp_${id}_cuda PROPERTIES OUTPUT_NAME mcomp_${id}_cuda)
    endif()

    # The manifest sits beside its libraries, in the build tree as in the install.
    set(dst "${MCOMP_PLUGIN_OUTPUT_DIR}/${id}/plugin.toml")
    add_custom_command(OUTPUT "${dst}"
        COMMAND ${CMAKE_COMMAND} -E copy_if_different "${manifest}" "${dst}"
        DEPENDS "${manifest}" COMMENT "mcomp plugin ${id}: manifest")
    add_custom_target(mcomp_${id}_manifest ALL DEPENDS "${dst}")
    if(NOT ARG_NO_INSTALL)
        install(FILES "${manifest}" DESTINATION "${MCOMP_INSTALL_PLUGIN_DIR}/${id}")
    endif()
endfunction()
