# bitunix_add_warnings(<target>): the project's one warning policy. Third-party headers come in
# through imported targets, whose include directories CMake marks SYSTEM, so they stay quiet.
function(bitunix_add_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                                           -Wnon-virtual-dtor -Wno-missing-field-initializers)
  if(BITUNIX_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
