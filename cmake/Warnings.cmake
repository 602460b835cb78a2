# bitunix_add_warnings(<target>): the project's one warning policy. Third-party headers come in
# through imported targets, whose include directories CMake marks SYSTEM, so they stay quiet.
function(bitunix_add_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic
                                           -Wnon-virtual-dtor -Wno-missing-field-initializers)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    target_compile_options(${target} PRIVATE -Wshadow=local)
  else()
    target_compile_options(${target} PRIVATE -Wshadow-uncaptured-local)
  endif()
  if(BITUNIX_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
