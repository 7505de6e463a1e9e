# Runs inside llama-cpp-sys-2's CMake build of llama.cpp, right after ggml's `project(ggml)`
# (.cargo/config.toml passes it as CMAKE_PROJECT_ggml_INCLUDE, which that crate's build script
# forwards to CMake like every CMAKE_* variable of its environment).
#
# On x86-64 Linux and Windows, xgen-desk links llama.cpp as shared libraries (Cargo.toml turns on
# `dynamic-link` there) and loads the CPU code at run time, one of several builds chosen for the
# processor (the xgen-cpu crate builds them, src/lib.rs chooses). So the core is built with
# backend loading (GGML_BACKEND_DL) and without a CPU backend of its own: llama-cpp-sys-2 offers
# backend loading only together with all thirteen of llama.cpp's x86 CPU builds
# (`dynamic-backends`), about ten CPU-minutes more per cold build, where four cover the
# processors that matter. Everywhere else (macOS, ARM, static builds) this file does nothing.
if(BUILD_SHARED_LIBS AND CMAKE_SYSTEM_NAME MATCHES "^(Linux|Windows)$"
   AND CMAKE_SYSTEM_PROCESSOR MATCHES "^([xX]86_64|AMD64|amd64|x64)$")
  set(GGML_BACKEND_DL ON)
  set(GGML_CPU OFF)
  message(STATUS "xgen-desk: ggml backends as loadable modules; the CPU builds come from xgen-cpu")
endif()
