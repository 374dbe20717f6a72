# iowq_report: the shim's live counters, exit report (text/JSON) and call-site
# attribution. Linked into libiowq.so, so PIC and hidden visibility.
# libunwind is NOT linked: callsites.cpp dlopen()s libunwind.so.8 RTLD_LOCAL
# (Debian's libunwind.a is not PIC, and a DT_NEEDED libunwind.so.8 would put
# its `backtrace` and `_Unwind_*` into the host program's global scope).
find_path(LIBUNWIND_INCLUDE libunwind.h REQUIRED)
add_library(iowq_report STATIC
  ${CMAKE_CURRENT_LIST_DIR}/counters.cpp
  ${CMAKE_CURRENT_LIST_DIR}/report.cpp
  ${CMAKE_CURRENT_LIST_DIR}/callsites.cpp
)
set_target_properties(iowq_report PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_compile_options(iowq_report PRIVATE -fvisibility=hidden -fvisibility-inlines-hidden)
target_include_directories(iowq_report
  PUBLIC  ${CMAKE_CURRENT_LIST_DIR}
  PRIVATE ${LIBUNWIND_INCLUDE} ${CMAKE_CURRENT_LIST_DIR}/..)
target_link_libraries(iowq_report PUBLIC iowq_core PRIVATE iowq_libc ${CMAKE_DL_LIBS})
