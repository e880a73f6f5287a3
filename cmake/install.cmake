# `cmake --install`: the reproj binary, the libraries with the public headers of the engine, the
# projection interface, the API and the command line, and a CMake package (find_package(reproj)
# gives reproj::engine and reproj::api). CPack makes two .deb packages of it: reproj (the binary,
# a systemd unit, /etc/reproj/reproj.env, a reproj system user, the --help text) and reproj-dev.
include(CMakePackageConfigHelpers)

set_target_properties(reproj_engine PROPERTIES EXPORT_NAME engine)
set_target_properties(reproj_api PROPERTIES EXPORT_NAME api)
set_target_properties(reproj_router PROPERTIES EXPORT_NAME router)
set_target_properties(reproj_migrations PROPERTIES EXPORT_NAME migrations)
set_target_properties(reproj_projections PROPERTIES EXPORT_NAME projections)
set_target_properties(reproj_sources PROPERTIES EXPORT_NAME sources)
set_target_properties(reproj_warnings PROPERTIES EXPORT_NAME warnings)

install(TARGETS reproj RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS reproj_engine reproj_api reproj_router reproj_migrations reproj_projections reproj_sources reproj_warnings
        EXPORT reprojTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/reproj)
foreach(dir engine api projections sources)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/reproj/${dir}
          COMPONENT dev FILES_MATCHING PATTERN "*.hpp")
endforeach()
install(EXPORT reprojTargets NAMESPACE reproj:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reproj COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/reprojConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/reprojConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reproj)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/reprojConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/reprojConfig.cmake ${PROJECT_BINARY_DIR}/reprojConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reproj COMPONENT dev)

# The service: a systemd unit running `reproj serve`, its environment file, the help text.
set(help_txt ${PROJECT_BINARY_DIR}/reproj-help.txt)
add_custom_command(
  OUTPUT ${help_txt}
  COMMAND sh -c "for c in '' serve migrate import rebuild status work generate; do $<TARGET_FILE:reproj> $c --help; echo; done > ${help_txt}"
  DEPENDS reproj
  COMMENT "Writing reproj-help.txt"
  VERBATIM)
add_custom_target(reproj_help_text ALL DEPENDS ${help_txt})
install(FILES ${help_txt} DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/reproj.service DESTINATION /lib/systemd/system COMPONENT runtime)
install(FILES ${PROJECT_SOURCE_DIR}/packaging/reproj.env DESTINATION /etc/reproj COMPONENT runtime)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME reproj)
set(CPACK_PACKAGE_VENDOR "reproj")
set(CPACK_PACKAGE_CONTACT "reproj maintainers <reproj@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Rebuilds event-sourced projections in PostgreSQL while they keep serving")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # the build keeps debug info; the package does not need it
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME reproj)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION database)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA "${PROJECT_SOURCE_DIR}/packaging/postinst;${PROJECT_SOURCE_DIR}/packaging/conffiles")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME reproj-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "libpqxx-dev, libpq-dev, libboost-dev, nlohmann-json3-dev, libspdlog-dev, libfmt-dev, libcli11-dev, libabsl-dev, prometheus-cpp-dev, libssl-dev, libsimdjson-dev, libhiredis-dev, librdkafka-dev")
include(CPack)
