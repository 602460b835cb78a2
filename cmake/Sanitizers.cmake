# Sanitizer builds: -DBITUNIX_SANITIZE_ADDRESS=ON (ASan+UBSan) or -DBITUNIX_SANITIZE_THREAD=ON.
option(BITUNIX_SANITIZE_ADDRESS "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(BITUNIX_SANITIZE_THREAD "Build with ThreadSanitizer" OFF)
if(BITUNIX_SANITIZE_ADDRESS AND BITUNIX_SANITIZE_THREAD)
  message(FATAL_ERROR "ASan and TSan cannot be combined; pick one")
endif()
if(BITUNIX_SANITIZE_ADDRESS)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(BITUNIX_SANITIZE_THREAD)
  add_compile_options(-fsanitize=thread -fno-omit-frame-pointer)
  add_link_options(-fsanitize=thread)
endif()

# Fuzzing: -DBITUNIX_FUZZ=ON with clang (scripts/fuzz). Everything is instrumented for libFuzzer's
# coverage and built with ASan + UBSan; the targets in fuzz/ link libFuzzer's main.
option(BITUNIX_FUZZ "Build the fuzz targets with libFuzzer (clang only)" OFF)
if(BITUNIX_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "BITUNIX_FUZZ needs clang (scripts/fuzz uses clang++-14)")
  endif()
  if(BITUNIX_SANITIZE_ADDRESS OR BITUNIX_SANITIZE_THREAD)
    message(FATAL_ERROR "BITUNIX_FUZZ brings its own sanitizers; drop BITUNIX_SANITIZE_*")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
