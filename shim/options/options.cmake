# shim/options/options.cmake — iowq_options: the one IOWQ_* options table and its
# allocation-free parser. Linked into libiowq.so (hidden visibility, PIC) and
# into iowq-run, which generates --help and the README table from the table.
add_library(iowq_options STATIC ${CMAKE_CURRENT_LIST_DIR}/options.cpp)
target_include_directories(iowq_options PUBLIC ${CMAKE_CURRENT_LIST_DIR})
set_target_properties(iowq_options PROPERTIES
  POSITION_INDEPENDENT_CODE ON
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON)
# Runs in an LD_PRELOAD constructor: no exceptions or RTTI needed.
target_compile_options(iowq_options PRIVATE -fno-exceptions -fno-rtti)
# kVersion: the one place the version reaches the shim and iowq-run.
target_compile_definitions(iowq_options PRIVATE IOWQ_VERSION="${PROJECT_VERSION}")
