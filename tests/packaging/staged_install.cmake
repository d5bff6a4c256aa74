# Installs the build tree into a temporary prefix and builds an example as a
# standalone project against it (find_package(Tern), Tern::tern), then runs
# pkg-config on the installed tern.pc. Fails on any error, so packaging
# cannot silently rot. Run by CTest (tests/CMakeLists.txt), which passes the
# build's CXX_FLAGS and LINKER_FLAGS (sanitizer presets) for the examples.
cmake_minimum_required(VERSION 3.25)
set(stage ${WORK}/stage)
string(REPLACE "," ";" EXAMPLES "${EXAMPLES}")
file(REMOVE_RECURSE ${WORK})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD} --prefix ${stage}
  RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "cmake --install failed: ${rc}")
endif()
foreach(f include/tern/client.h lib/cmake/Tern/TernConfig.cmake lib/cmake/Tern/TernProto.cmake lib/pkgconfig/tern.pc
          bin/tern bin/protoc-gen-tern)
  if(NOT EXISTS ${stage}/${f})
    message(FATAL_ERROR "missing after install: ${f}")
  endif()
endforeach()
foreach(example ${EXAMPLES})
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE}/examples/${example} -B ${WORK}/${example} -G Ninja
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${stage}
      "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "configuring ${example} against the staged install failed:\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK}/${example} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(rc)
    message(FATAL_ERROR "building ${example} against the staged install failed:\n${out}\n${err}")
  endif()
endforeach()
execute_process(COMMAND ${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${stage}/lib/pkgconfig pkg-config --cflags --libs tern
  RESULT_VARIABLE rc OUTPUT_VARIABLE flags ERROR_VARIABLE err)
if(rc OR NOT flags MATCHES "-ltern_base" OR NOT flags MATCHES "-I[^ ]*include")
  message(FATAL_ERROR "pkg-config on the installed tern.pc failed (${rc}): ${flags} ${err}")
endif()
# The example built against the package runs.
execute_process(COMMAND ${WORK}/call_modes/call_modes RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(rc OR NOT out MATCHES "sync +add\\(1, 2\\) += 3")
  message(FATAL_ERROR "call_modes built against the staged install did not run: ${rc}\n${out}\n${err}")
endif()
message(STATUS "staged install OK (${EXAMPLES})")
