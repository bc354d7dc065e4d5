# third_party_plugin.cmake: builds the example third-party plugin against an installed mcomp
# and checks it with the installed CLI (run by CTest as `cmake -P`).
#
#   1. cmake --install <build> --prefix <work>/prefix
#   2. configure + build examples/third-party-plugin with -DCMAKE_PREFIX_PATH=<work>/prefix
#   3. MCOMP_PLUGIN_PATH=<example build>/plugins: mcomp plugins list / show / test ternary
#   4. cmake --install <example build> (into the prefix's plugin folder), MCOMP_PLUGIN_PATH
#      unset: the installed mcomp finds it on its own
#
# Inputs: MCOMP_BUILD_DIR, EXAMPLE_DIR, WORK_DIR, GENERATOR, CXX_COMPILER.
cmake_minimum_required(VERSION 3.25)

foreach(var MCOMP_BUILD_DIR EXAMPLE_DIR WORK_DIR GENERATOR)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "third_party_plugin.cmake: pass -D${var}=...")
    endif()
endforeach()

set(prefix "${WORK_DIR}/prefix")
set(example_build "${WORK_DIR}/ternary-build")
set(mcomp "${prefix}/bin/mcomp")
file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}")

# Runs a command; stops the test with its output when it fails. The output lands in
# ${out_var}.
function(run_step what out_var)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out
                    ERROR_VARIABLE out)
    if(NOT status EQUAL 0)
        message(FATAL_ERROR "${what} failed (${status}):\n  ${ARGN}\n${out}")
    endif()
    message(STATUS "ok: ${what}")
    set(${out_var} "${out}" PARENT_SCOPE)
endfunction()

# Fails unless every regular expression after `text` matches it.
function(expect_output what text)
    foreach(pattern IN LISTS ARGN)
        if(NOT text MATCHES "${pattern}")
            message(FATAL_ERROR "${what}: expected output matching '${pattern}', got:\n${text}")
        endif()
    endforeach()
endfunction()

# ---- 1. install mcomp -------------------------------------------------------------------------
run_step("install mcomp" out ${CMAKE_COMMAND} --install "${MCOMP_BUILD_DIR}" --prefix "${prefix}")
foreach(file bin/mcomp lib/cmake/mcomp-sdk/mcomp-sdk-config.cmake include/mcomp/plugin.h)
    if(NOT EXISTS "${prefix}/${file}")
        message(FATAL_ERROR "install mcomp: ${prefix}/${file} is missing")
    endif()
endforeach()

# ---- 2. build the example against the installed SDK -------------------------------------------
set(configure_args -S "${EXAMPLE_DIR}" -B "${example_build}" -G "${GENERATOR}"
    "-DCMAKE_PREFIX_PATH=${prefix}" -DCMAKE_BUILD_TYPE=Release)
if(CXX_COMPILER)
    list(APPEND configure_args "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
endif()
run_step("configure the example" out ${CMAKE_COMMAND} ${configure_args})
run_step("build the example" out ${CMAKE_COMMAND} --build "${example_build}")
foreach(file libmcomp_ternary_cpu.so plugin.toml)
    if(NOT EXISTS "${example_build}/plugins/ternary/${file}")
        message(FATAL_ERROR "build the example: plugins/ternary/${file} is missing")
    endif()
endforeach()

# ---- 3. the installed CLI sees it through MCOMP_PLUGIN_PATH ------------------------------------
set(with_path ${CMAKE_COMMAND} -E env "MCOMP_PLUGIN_PATH=${example_build}/plugins")
run_step("mcomp plugins list" out ${with_path} "${mcomp}" plugins list)
expect_output("mcomp plugins list" "${out}" "ternary 0\\.1\\.0" "ternary \\(quantizer, layer\\)"
              "rtn 1\\.0\\.0" "magnitude 1\\.0\\.0")
if(out MATCHES "ternary \\(broken\\)")
    message(FATAL_ERROR "mcomp plugins list: the example's manifest was refused:\n${out}")
endif()
run_step("mcomp plugins show ternary" out ${with_path} "${mcomp}" plugins show ternary)
expect_output("mcomp plugins show ternary" "${out}" "plugin ternary 0\\.1\\.0"
              "technique ternary \\(quantizer, layer granularity\\)"
              "delta_ratio +float +default 0\\.7, min 0\\.0, max 1\\.0")
run_step("mcomp plugins test ternary" out ${with_path} "${mcomp}" plugins test ternary)
expect_output("mcomp plugins test ternary" "${out}" "ternary \\(quantizer, layer\\) on cpu"
              "quant: +bits 2, group_size -1, num_groups 1" "largest code 2" "ok \\(")

# ---- 4. installed next to mcomp's own plugins, found without any setting ----------------------
run_step("install the example" out ${CMAKE_COMMAND} --install "${example_build}")
if(NOT EXISTS "${prefix}/lib/mcomp/plugins/ternary/libmcomp_ternary_cpu.so")
    message(FATAL_ERROR "install the example: not in ${prefix}/lib/mcomp/plugins/ternary")
endif()
set(without_path ${CMAKE_COMMAND} -E env --unset=MCOMP_PLUGIN_PATH)
run_step("mcomp plugins list (installed)" out ${without_path} "${mcomp}" plugins list)
expect_output("mcomp plugins list (installed)" "${out}" "ternary 0\\.1\\.0"
              "plugins/ternary/plugin\\.toml")
run_step("mcomp plugins test ternary (installed)" out ${without_path} "${mcomp}" plugins test
         ternary)
expect_output("mcomp plugins test ternary (installed)" "${out}" "ok \\(")
message(STATUS "third-party plugin: built against the installed SDK and accepted by mcomp")
