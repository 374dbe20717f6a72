# cmake/packaging.cmake — install layout of the core, its CMake package config
# and pkg-config file, the docs, and CPack (DEB). Included at the end of the
# top-level CMakeLists.txt, so every target exists already.
#
# `cmake --install build --prefix P` lays out (LIBDIR = ${CMAKE_INSTALL_LIBDIR}):
#   P/bin/iowq-run, P/bin/iowq-strace-diff     tools/run, tools/strace_diff
#   P/LIBDIR/libiowq.so                        shim/shim.cmake
#   P/share/man/man1/*.1, man7/iowq.7          tools/run, tools/strace_diff
#   P/include/iowq/*.hpp, P/LIBDIR/libiowq_core.a          (here)
#   P/LIBDIR/cmake/iowq/iowqConfig*.cmake, iowq::core      (here)
#   P/LIBDIR/pkgconfig/iowq.pc                             (here)
#   P/share/doc/iowq/README.md                             (here)
# Every installed path is relative to the prefix chosen at install time: the
# package config and the .pc file locate the prefix from their own location.
# `cpack -G DEB` (from the build dir) packages the same tree under /usr.
include(CMakePackageConfigHelpers)

set(IOWQ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/iowq)

# ---- The core library and its public headers --------------------------------
# The core opens libnuma at run time (dlopen), so consumers link only the
# library itself, Threads and libdl.
set_target_properties(iowq_core PROPERTIES EXPORT_NAME core)

install(TARGETS iowq_core EXPORT iowqTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/include/iowq
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")

# ---- CMake package: find_package(iowq) -> iowq::core ----------------------
install(EXPORT iowqTargets NAMESPACE iowq:: FILE iowqTargets.cmake
        DESTINATION ${IOWQ_CMAKE_DIR})
set(_iowq_cfg_in ${CMAKE_CURRENT_BINARY_DIR}/iowqConfig.cmake.in)
file(WRITE ${_iowq_cfg_in} [=[
# iowqConfig.cmake — find_package(iowq) provides iowq::core, the io-wq pool
# library (static), with its headers <iowq/pool.hpp>, <iowq/work.hpp>,
# <iowq/stats.hpp>. It needs Threads; libnuma1 is opened at run time.
@PACKAGE_INIT@
include(CMakeFindDependencyMacro)
find_dependency(Threads)
include("${CMAKE_CURRENT_LIST_DIR}/iowqTargets.cmake")
check_required_components(iowq)
]=])
configure_package_config_file(${_iowq_cfg_in}
  ${CMAKE_CURRENT_BINARY_DIR}/iowqConfig.cmake
  INSTALL_DESTINATION ${IOWQ_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/iowqConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/iowqConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/iowqConfigVersion.cmake
        DESTINATION ${IOWQ_CMAKE_DIR})

# ---- pkg-config: iowq.pc ---------------------------------------------------
# prefix is derived from ${pcfiledir}, so the file is right for any
# --prefix given at install time (and for the package under /usr).
file(RELATIVE_PATH _iowq_pc_up
     ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig ${CMAKE_INSTALL_PREFIX})
string(REGEX REPLACE "/$" "" _iowq_pc_up "${_iowq_pc_up}")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/iowq.pc
"prefix=\${pcfiledir}/${_iowq_pc_up}
libdir=\${prefix}/${CMAKE_INSTALL_LIBDIR}
includedir=\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}

Name: iowq
Description: The Linux kernel's io-wq thread pool in userspace (core library)
Version: ${PROJECT_VERSION}
Cflags: -I\${includedir}
Libs: -L\${libdir} -liowq_core -ldl -lpthread
")
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/iowq.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- Documentation ------------------------------------------------------------
install(FILES ${PROJECT_SOURCE_DIR}/README.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# ---- CPack: cpack -G DEB ------------------------------------------------------
set(CPACK_PACKAGE_NAME iowq)
set(CPACK_PACKAGE_VENDOR "iowq")
set(CPACK_PACKAGE_CONTACT "iowq maintainers <iowq@localhost>")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "the kernel's io-wq thread pool in userspace, under unmodified programs")
set(CPACK_PACKAGE_DESCRIPTION
"iowq routes the blocking write/read/send/recv calls of unmodified programs
through io-wq style thread pools with an LD_PRELOAD library (libiowq.so),
started with iowq-run: per-file ordering, cross-file parallelism, bounded
concurrency, cancellation of stalled socket operations, opt-in write-behind.
iowq-strace-diff shows that a program did the same I/O with and without it.
Also contains the core pool as a static C++ library with headers, a CMake
package (iowq::core) and a pkg-config file.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_GENERATOR DEB)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${CPACK_PACKAGE_CONTACT}")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies come from dpkg-shlibdeps when it is there (dpkg-dev);
# otherwise from this list, true for Debian 12 (the static libstdc++ in
# libiowq.so needs glibc 2.36's arc4random). python3 runs iowq-strace-diff.
find_program(IOWQ_DPKG_SHLIBDEPS dpkg-shlibdeps)
find_program(IOWQ_FILE_PROGRAM file)
if(IOWQ_DPKG_SHLIBDEPS AND IOWQ_FILE_PROGRAM)
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  # libnuma1 is dlopen'ed, so shlibdeps cannot see it.
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3, libnuma1")
else()
  set(CPACK_DEBIAN_PACKAGE_DEPENDS
      "libc6 (>= 2.36), libnuma1, libgcc-s1, libstdc++6, python3")
endif()
# strace is only needed by iowq-strace-diff.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "strace")
set(CPACK_STRIP_FILES OFF)
include(CPack)
