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

# pkg-config: static libraries in dependency order, then the system libraries.
set(TERN_PC_LIBS "-ltern_config -ltern_monitor -ltern_proxy -ltern_governance -ltern_cluster -ltern_registry -ltern_rpc -ltern_serialization -ltern_net -ltern_protocol -ltern_base")
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
