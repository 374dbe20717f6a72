# shim.cmake — libiowq.so, the LD_PRELOAD library (build/lib/libiowq.so).
# Exports only the interposed symbols (libiowq.map); everything else hidden.
# iowq_libc: the shim's one door to the kernel and to real libc functions
# (libc.cpp); its own library because iowq_report uses it too. Its sys:: shares
# the core's low-level helpers (iowq_sys: core/sys/iowq/sys.hpp).
add_library(iowq_libc STATIC ${CMAKE_CURRENT_LIST_DIR}/sys/libc.cpp)
set_target_properties(iowq_libc PROPERTIES POSITION_INDEPENDENT_CODE ON
  CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
target_include_directories(iowq_libc PRIVATE ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(iowq_libc PUBLIC iowq_sys PRIVATE ${CMAKE_DL_LIBS})
add_library(iowq SHARED
  ${CMAKE_CURRENT_LIST_DIR}/route/fdtable.cpp
  ${CMAKE_CURRENT_LIST_DIR}/route/route.cpp
  ${CMAKE_CURRENT_LIST_DIR}/route/stall.cpp
  ${CMAKE_CURRENT_LIST_DIR}/interpose/filecalls.cpp
  ${CMAKE_CURRENT_LIST_DIR}/interpose/interpose.cpp
  ${CMAKE_CURRENT_LIST_DIR}/process/lifecycle.cpp
  ${CMAKE_CURRENT_LIST_DIR}/process/threads.cpp
  ${CMAKE_CURRENT_LIST_DIR}/process/seccomp.cpp
  ${CMAKE_CURRENT_LIST_DIR}/process/libc_threads.cpp
  ${CMAKE_CURRENT_LIST_DIR}/process/exitwatch.cpp
  ${CMAKE_CURRENT_LIST_DIR}/process/startslot.cpp
  ${CMAKE_CURRENT_LIST_DIR}/interpose/fdcalls.cpp
  ${CMAKE_CURRENT_LIST_DIR}/signals/signals.cpp
  ${CMAKE_CURRENT_LIST_DIR}/interpose/longjmp.cpp
  ${CMAKE_CURRENT_LIST_DIR}/writebehind/writebehind.cpp
  ${CMAKE_CURRENT_LIST_DIR}/writebehind/syncpoints.cpp
  ${CMAKE_CURRENT_LIST_DIR}/writebehind/wb_order.cpp
  ${CMAKE_CURRENT_LIST_DIR}/writebehind/wb_stdio.cpp
  ${CMAKE_CURRENT_LIST_DIR}/writebehind/wb_signals.cpp
  ${CMAKE_CURRENT_LIST_DIR}/writebehind/net.cpp
)
set_target_properties(iowq PROPERTIES
  OUTPUT_NAME iowq
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  LINK_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/libiowq.map)
target_include_directories(iowq PRIVATE ${CMAKE_CURRENT_LIST_DIR})
# Preloaded, so static TLS is available: every thread_local is one
# %fs-relative access, never __tls_get_addr.
target_compile_options(iowq PRIVATE -ftls-model=initial-exec)
# No -z now: the library's own ~80 imports (pthread_*, stdio, libstdc++'s
# needs) are bound on first call, as libc's are in most programs; binding
# them all in every process cost ~45k instructions per exec (callgrind on
# /bin/true), and a short-lived process calls few of them. The real libc
# functions behind the interposers are not PLT calls: real::resolve()
# finds them at start-up (sys/libc.cpp), so no handler ever binds those.
target_link_libraries(iowq PRIVATE iowq_libc iowq_core iowq_options iowq_report ${CMAKE_DL_LIBS} Threads::Threads
  -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/libiowq.map
  -Wl,--no-undefined
  -static-libstdc++ -static-libgcc -Wl,--gc-sections)
install(TARGETS iowq LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
