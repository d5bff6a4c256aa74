# Installs the build tree into a temporary prefix and builds examples as
# standalone projects against it (find_package(Tern), Tern::tern), builds and
# runs a program with the installed tern.pc (c++ $(pkg-config ...)), then builds the docs' CMake snippets
# as written in fresh projects that set no C++ standard. Fails on any error, so packaging
# cannot silently rot. Run by CTest (tests/CMakeLists.txt), which passes the
# build's CXX_FLAGS and LINKER_FLAGS (sanitizer presets) for the examples.
cmake_minimum_required(VERSION 3.25)
if(NOT CXX)
  set(CXX c++)
endif()
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

# The pkg-config route as docs/getting-started.md §7 writes it, one compile and
# link: `c++ -std=c++20 main.cc $(pkg-config --cflags --libs tern)` (with this
# build's compiler and flags) links the static libraries and their system
# libraries, and the program makes a real call.
separate_arguments(pc_args UNIX_COMMAND "${flags}")
separate_arguments(cxx_args UNIX_COMMAND "${CXX_FLAGS}")
separate_arguments(ld_args UNIX_COMMAND "${LINKER_FLAGS}")
file(MAKE_DIRECTORY ${WORK}/pkgconfig)
execute_process(COMMAND ${CXX} ${cxx_args} -std=c++20 ${SOURCE}/tests/packaging/downstream/main.cc
    -o ${WORK}/pkgconfig/app ${pc_args} ${ld_args}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc)
  message(FATAL_ERROR "c++ main.cc $(pkg-config --cflags --libs tern) failed:\n${flags}\n${out}\n${err}")
endif()
execute_process(COMMAND ${WORK}/pkgconfig/app RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
if(rc OR NOT out MATCHES "coroutine greet: hello downstream")
  message(FATAL_ERROR "the program built with pkg-config tern did not run: ${rc}\n${out}\n${err}")
endif()

# The docs' CMake snippets as written (README.md "Using Tern in your project",
# docs/getting-started.md, docs/serialization.md), each the whole build of a
# fresh downstream project that sets no C++ standard: Tern::tern must carry
# C++20 and the coroutine flag itself. The project is the snippet plus
# project() and, when the snippet has none, add_executable(app main.cc); its
# program (tests/packaging/downstream/main.cc) runs a coroutine call and, when
# the snippet generates echo.proto, calls the generated stub with a proto3
# `optional` field.
set(snippet_count 0)
foreach(doc README.md docs/getting-started.md docs/serialization.md)
  file(READ ${SOURCE}/${doc} text)
  string(REPLACE ";" "<semicolon>" text "${text}")  # one list element per block
  string(REGEX MATCHALL "```cmake\n[^`]*```" blocks "${text}")
  set(index 0)
  foreach(block ${blocks})
    if(NOT block MATCHES "Tern::tern")
      continue()
    endif()
    string(REGEX REPLACE "^```cmake\n" "" block "${block}")
    string(REGEX REPLACE "```$" "" block "${block}")
    string(REPLACE "<semicolon>" ";" block "${block}")
    string(REGEX REPLACE "#[^\n]*" "" code "${block}")
    if(code MATCHES "CMAKE_CXX_STANDARD|cxx_std_|-std=")
      message(FATAL_ERROR "${doc}'s CMake snippet sets a C++ standard; Tern::tern carries it:\n${block}")
    endif()
    string(REGEX REPLACE "[/.-]" "_" name "${doc}_${index}")
    math(EXPR index "${index} + 1")
    math(EXPR snippet_count "${snippet_count} + 1")
    set(dir ${WORK}/snippets/${name})
    file(MAKE_DIRECTORY ${dir})
    file(COPY ${SOURCE}/tests/packaging/downstream/main.cc ${SOURCE}/tests/packaging/downstream/echo.proto
         DESTINATION ${dir})
    set(target app)
    set(prelude "add_executable(app main.cc)\n")
    if(block MATCHES "add_executable\\(([A-Za-z0-9_]+)")
      set(target ${CMAKE_MATCH_1})
      set(prelude "")
    endif()
    file(WRITE ${dir}/CMakeLists.txt
      "# ${doc}'s CMake snippet as written (tests/packaging/staged_install.cmake); no C++ standard set.\n"
      "cmake_minimum_required(VERSION 3.25)\nproject(downstream LANGUAGES CXX)\n${prelude}${block}")
    execute_process(COMMAND ${CMAKE_COMMAND} -S ${dir} -B ${dir}/build -G Ninja
        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${stage}
        "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
      RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(rc)
      message(FATAL_ERROR "configuring ${doc}'s CMake snippet against the staged install failed:\n${block}\n${out}\n${err}")
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} --build ${dir}/build RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
    if(rc)
      message(FATAL_ERROR "building ${doc}'s CMake snippet (no C++ standard set) failed:\n${block}\n${out}\n${err}")
    endif()
    execute_process(COMMAND ${dir}/build/${target} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err TIMEOUT 60)
    if(rc OR NOT out MATCHES "coroutine greet: hello downstream")
      message(FATAL_ERROR "the program of ${doc}'s CMake snippet did not run: ${rc}\n${out}\n${err}")
    endif()
    if(block MATCHES "tern_generate_proto" AND NOT out MATCHES "optional absent: \"ab\"\noptional zero: \"\"\n")
      message(FATAL_ERROR "the generated stub of ${doc}'s CMake snippet did not keep proto3 optional presence:\n${out}")
    endif()
    message(STATUS "${doc}'s CMake snippet builds as written and runs")
  endforeach()
endforeach()
if(snippet_count LESS 3)
  message(FATAL_ERROR "found ${snippet_count} CMake snippets using Tern::tern in the docs, expected 3")
endif()
message(STATUS "staged install OK (${EXAMPLES}; ${snippet_count} docs' CMake snippets)")
