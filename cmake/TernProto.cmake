# TernProto.cmake - tern_generate_proto(): compile .proto files into protobuf
# message classes (protoc --cpp_out) and Tern service contracts and stubs
# (protoc --tern_out, tools/protoc-gen-tern) for one target.
#
#   find_package(Tern REQUIRED)   # includes this file (Tern's own CMakeLists.txt does too)
#   add_executable(echo main.cc)
#   target_link_libraries(echo PRIVATE Tern::tern)
#   tern_generate_proto(echo FILES echo.proto [IMPORT_DIRS dir ...] [OUT_DIR dir])
#
# For a.proto it generates, in OUT_DIR (default ${CMAKE_CURRENT_BINARY_DIR}/tern_proto):
#   a.pb.h, a.pb.cc    protoc's C++ classes (a.pb.cc is added to the target)
#   a.tern.h           only when a.proto declares a service: `#include "a.tern.h"`
# OUT_DIR is added to the target's include path and protobuf::libprotobuf to
# its link libraries. Paths inside OUT_DIR mirror each file's path below its
# import directory (IMPORT_DIRS, default: the file's own directory).
#
# The plugin is the in-tree target protoc-gen-tern when it exists (Tern's own
# build), otherwise a protoc-gen-tern found on PATH or in TERN_PROTOC_GEN_TERN.

find_package(Protobuf REQUIRED)

function(tern_generate_proto target)
  cmake_parse_arguments(TP "" "OUT_DIR" "FILES;IMPORT_DIRS" ${ARGN})
  if(NOT TP_FILES)
    message(FATAL_ERROR "tern_generate_proto(${target}): FILES is empty")
  endif()
  if(NOT TP_OUT_DIR)
    set(TP_OUT_DIR ${CMAKE_CURRENT_BINARY_DIR}/tern_proto)
  endif()
  file(MAKE_DIRECTORY ${TP_OUT_DIR})

  if(TARGET protoc-gen-tern)
    set(plugin $<TARGET_FILE:protoc-gen-tern>)
    set(plugin_dep protoc-gen-tern)
  else()
    find_program(TERN_PROTOC_GEN_TERN protoc-gen-tern REQUIRED)
    set(plugin ${TERN_PROTOC_GEN_TERN})
    set(plugin_dep ${TERN_PROTOC_GEN_TERN})
  endif()
  if(TARGET protobuf::protoc)
    set(protoc $<TARGET_FILE:protobuf::protoc>)
  else()
    set(protoc ${Protobuf_PROTOC_EXECUTABLE})
  endif()

  set(import_args)
  foreach(d ${TP_IMPORT_DIRS})
    get_filename_component(d ${d} ABSOLUTE)
    list(APPEND import_args -I${d})
  endforeach()

  set(generated_srcs)
  foreach(f ${TP_FILES})
    get_filename_component(abs ${f} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    # The file's path relative to the first import directory containing it.
    set(rel)
    foreach(d ${TP_IMPORT_DIRS})
      get_filename_component(d ${d} ABSOLUTE)
      file(RELATIVE_PATH r ${d} ${abs})
      if(NOT r MATCHES "^\\.\\.")
        set(rel ${r})
        break()
      endif()
    endforeach()
    set(args ${import_args})
    if(NOT rel)
      get_filename_component(rel ${abs} NAME)
      list(APPEND args -I${dir})
    endif()
    string(REGEX REPLACE "\\.proto$" "" stem ${rel})
    set(outputs ${TP_OUT_DIR}/${stem}.pb.cc ${TP_OUT_DIR}/${stem}.pb.h)
    file(READ ${abs} content)
    if(content MATCHES "(^|\n)[ \t]*service[ \t]")
      list(APPEND outputs ${TP_OUT_DIR}/${stem}.tern.h)
    endif()
    add_custom_command(
      OUTPUT ${outputs}
      COMMAND ${protoc} ${args} --cpp_out=${TP_OUT_DIR} --plugin=protoc-gen-tern=${plugin}
              --tern_out=${TP_OUT_DIR} ${abs}
      DEPENDS ${abs} ${plugin_dep}
      COMMENT "protoc --cpp_out --tern_out ${rel}"
      VERBATIM)
    list(APPEND generated_srcs ${outputs})
  endforeach()

  target_sources(${target} PRIVATE ${generated_srcs})
  target_include_directories(${target} PUBLIC ${TP_OUT_DIR})
  target_link_libraries(${target} PUBLIC protobuf::libprotobuf)
endfunction()
