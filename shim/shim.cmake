# shim.cmake — libiowq.so, the LD_PRELOAD library (build/lib/libiowq.so).
# Exports only the interposed symbols (libiowq.map); everything else hidden.
add_library(iowq SHARED
  ${CMAKE_CURRENT_LIST_DIR}/libc.cpp
  ${CMAKE_CURRENT_LIST_DIR}/fdtable.cpp
  ${CMAKE_CURRENT_LIST_DIR}/route.cpp
  ${CMAKE_CURRENT_LIST_DIR}/stall.cpp
  ${CMAKE_CURRENT_LIST_DIR}/filecalls.cpp
  ${CMAKE_CURRENT_LIST_DIR}/interpose.cpp
  ${CMAKE_CURRENT_LIST_DIR}/lifecycle.cpp
  ${CMAKE_CURRENT_LIST_DIR}/signals.cpp
  ${CMAKE_CURRENT_LIST_DIR}/writebehind.cpp
  ${CMAKE_CURRENT_LIST_DIR}/syncpoints.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wb_order.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wb_stdio.cpp
  ${CMAKE_CURRENT_LIST_DIR}/wb_signals.cpp
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
target_link_libraries(iowq PRIVATE iowq_core iowq_options iowq_report ${CMAKE_DL_LIBS} Threads::Threads
  -Wl,--version-script=${CMAKE_CURRENT_LIST_DIR}/libiowq.map
  -Wl,-z,now -Wl,--no-undefined
  -static-libstdc++ -static-libgcc -Wl,--gc-sections)
install(TARGETS iowq LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
