# TernInstall.cmake - `cmake --install` layout, the CMake package
# (find_package(Tern) -> Tern::tern, tern_generate_proto()), pkg-config file
# and the CPack .deb. Included by the top-level CMakeLists.txt.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

get_property(tern_modules GLOBAL PROPERTY TERN_MODULE_TARGETS)
install(TARGETS ${tern_modules} tern tern_third_party
  EXPORT TernTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/tern DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS protoc-gen-tern RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET tern_cli)
  install(TARGETS tern_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set(TERN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Tern)
install(EXPORT TernTargets NAMESPACE Tern:: DESTINATION ${TERN_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/TernConfig.cmake.in
  ${PROJECT_BINARY_DIR}/TernConfig.cmake INSTALL_DESTINATION ${TERN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/TernConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/TernConfig.cmake ${PROJECT_BINARY_DIR}/TernConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/TernProto.cmake DESTINATION ${TERN_CMAKE_DIR})

# pkg-config (tern.pc): `c++ app.cc $(pkg-config --cflags --libs tern)` must
# link as find_package(Tern) does. Derived from the targets, so a new module or
# dependency cannot be forgotten here:
# - Libs: the modules in the order of Tern::tern's INTERFACE_LINK_LIBRARIES
#   (dependents first: config ... rpc serialization net protocol stream trace base),
#   the order the CMake export links them in (checked below: a module never
#   comes after a module it links);
# - Requires: the .pc of every system library a module links, PUBLIC or
#   PRIVATE. The modules are static archives by default, so their private
#   dependencies must be on the plain `--libs` line (Requires.private and
#   Libs.private are only read with --static); with BUILD_SHARED_LIBS the
#   private ones go to Requires.private. An unmapped dependency is an error.
set(tern_pc_map_PkgConfig::ZSTD libzstd)
set(tern_pc_map_PkgConfig::LZ4 liblz4)
set(tern_pc_map_PkgConfig::NGHTTP2 libnghttp2)
set(tern_pc_map_PkgConfig::XXHASH libxxhash)
set(tern_pc_map_ZLIB::ZLIB zlib)
set(tern_pc_map_OpenSSL::SSL libssl)
set(tern_pc_map_OpenSSL::Crypto libcrypto)
set(tern_pc_map_protobuf::libprotobuf protobuf)
set(tern_pc_map_CURL::libcurl libcurl)
set(tern_pc_map_yaml-cpp yaml-cpp)
set(tern_pc_map_fmt::fmt fmt)
set(tern_pc_map_Threads::Threads -lpthread)                # no .pc; a flag in Libs
set(tern_pc_map_${ZOOKEEPER_LIB} -lzookeeper_mt)           # Debian ships no zookeeper .pc
set(tern_pc_map_nlohmann_json::nlohmann_json "")           # header-only
set(tern_pc_map_msgpack-cxx "")                            # header-only
set(tern_pc_map_tern_third_party "")                       # walked below
set(TERN_PC_LIBS "")
set(TERN_PC_LIBS_PRIVATE "")
set(TERN_PC_REQUIRES "")
set(TERN_PC_REQUIRES_PRIVATE "")
get_target_property(tern_pc_modules tern INTERFACE_LINK_LIBRARIES)
foreach(target ${tern_pc_modules} tern_third_party)
  # LINK_LIBRARIES: every direct dependency (no such property on an INTERFACE
  # library); INTERFACE_LINK_LIBRARIES: the PUBLIC ones, plus the PRIVATE ones
  # as $<LINK_ONLY:...> when the module is static.
  set(public "")
  set(all "")
  get_target_property(deps ${target} INTERFACE_LINK_LIBRARIES)
  foreach(dep ${deps})
    if(dep MATCHES "^\\$<LINK_ONLY:(.*)>$")
      list(APPEND all ${CMAKE_MATCH_1})
    elseif(dep)
      list(APPEND public ${dep})
      list(APPEND all ${dep})
    endif()
  endforeach()
  get_target_property(type ${target} TYPE)
  if(NOT type STREQUAL "INTERFACE_LIBRARY")
    get_target_property(deps ${target} LINK_LIBRARIES)
    foreach(dep ${deps})
      if(dep)
        list(APPEND all ${dep})
      endif()
    endforeach()
  endif()
  list(FIND tern_pc_modules ${target} position)
  foreach(dep ${all})
    if(dep IN_LIST tern_pc_modules)
      list(FIND tern_pc_modules ${dep} dep_position)
      if(dep_position LESS position)  # a static library must come before what it uses
        message(FATAL_ERROR "tern.pc: ${target} links ${dep}, listed before it in Tern::tern's libraries")
      endif()
      continue()
    endif()
    if(NOT DEFINED tern_pc_map_${dep})
      message(FATAL_ERROR "tern.pc: ${target} links ${dep}, which has no pkg-config mapping in cmake/TernInstall.cmake")
    endif()
    set(pc "${tern_pc_map_${dep}}")
    set(private FALSE)
    if(BUILD_SHARED_LIBS AND NOT dep IN_LIST public)
      set(private TRUE)
    endif()
    if(pc STREQUAL "")
      continue()
    elseif(pc MATCHES "^-" AND private)
      list(APPEND TERN_PC_LIBS_PRIVATE ${pc})
    elseif(pc MATCHES "^-")
      list(APPEND TERN_PC_LIBS ${pc})
    elseif(private)
      list(APPEND TERN_PC_REQUIRES_PRIVATE ${pc})
    else()
      list(APPEND TERN_PC_REQUIRES ${pc})
    endif()
  endforeach()
endforeach()
foreach(var TERN_PC_LIBS TERN_PC_LIBS_PRIVATE TERN_PC_REQUIRES TERN_PC_REQUIRES_PRIVATE)
  list(REMOVE_DUPLICATES ${var})
endforeach()
list(REMOVE_ITEM TERN_PC_REQUIRES_PRIVATE ${TERN_PC_REQUIRES})
list(REMOVE_ITEM TERN_PC_LIBS_PRIVATE ${TERN_PC_LIBS})
list(TRANSFORM tern_pc_modules PREPEND -l OUTPUT_VARIABLE tern_pc_module_flags)
list(PREPEND TERN_PC_LIBS ${tern_pc_module_flags})
foreach(var TERN_PC_LIBS TERN_PC_LIBS_PRIVATE TERN_PC_REQUIRES TERN_PC_REQUIRES_PRIVATE)
  list(JOIN ${var} " " ${var})
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/cmake/tern.pc.in ${PROJECT_BINARY_DIR}/tern.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/tern.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# CPack: `cmake --build build/default --target package` -> tern_<version>_amd64.deb
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tern)
set(CPACK_PACKAGE_VENDOR "Tern")
set(CPACK_PACKAGE_CONTACT "Tern developers <tern@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Tern: a high-performance distributed RPC framework for C++20")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
  "libasio-dev, libmsgpack-cxx-dev, nlohmann-json3-dev, libfmt-dev, libprotobuf-dev, protobuf-compiler, libzookeeper-mt-dev, libcurl4-openssl-dev, libxxhash-dev, libzstd-dev, liblz4-dev, libyaml-cpp-dev, libssl-dev, libnghttp2-dev, zlib1g-dev")
include(CPack)
