# Included after each project() of llama.cpp's CMake build when it is compiled with MinGW-w64
# (scripts/lib/windows-gnu.sh passes it as CMAKE_PROJECT_INCLUDE, which llama-cpp-sys-2 hands
# on to CMake like every CMAKE_* variable).
#
# ggml drops the "lib" prefix of its libraries on Windows (ggml.a, ggml-base.a, ggml-cpu.a),
# as MSVC names them, but llama-cpp-sys-2 looks for lib*.a when the target is windows-gnu: it
# links libllama.a alone, and every program fails to link with `undefined reference to
# ggml_...`. Once the whole tree is configured, the prefix goes back on ggml's libraries.
if(MINGW AND CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
  function(xgen_ggml_lib_prefix)
    foreach(library IN ITEMS ggml ggml-base ggml-cpu)
      if(TARGET ${library})
        set_target_properties(${library} PROPERTIES PREFIX "lib")
      endif()
    endforeach()
  endfunction()
  cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL xgen_ggml_lib_prefix)
endif()

# The shared libraries and the CPU modules (cpu/build.rs configures its tree with this file too)
# link MinGW's runtimes in, as the .exe does (`-static` in .cargo/config.toml): libstdc++,
# libgcc, winpthread and OpenMP's libgomp. Without it every DLL would need libstdc++-6.dll,
# libgcc_s_seh-1.dll, libwinpthread-1.dll and libgomp-1.dll beside it, which a Windows
# computer does not have. `--exclude-libs` keeps the linker from exporting what it took from
# those archives (ggml-base exports its own functions automatically, all of them): without it
# libggml-base.dll exported libgcc's `_Unwind_Resume`, and the link of libggml.dll, which takes
# it from libgcc too, failed with "multiple definition". Not `ALL`: CMake hands MinGW's linker
# a library's own objects as an archive too (objects.a), whose functions must stay exported.
# Set once, in the top directory: the subdirectories inherit it.
if(MINGW AND CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
  foreach(kind IN ITEMS SHARED MODULE)
    if(NOT CMAKE_${kind}_LINKER_FLAGS MATCHES "(^| )-static( |$)")
      string(APPEND CMAKE_${kind}_LINKER_FLAGS " -static -Wl,--exclude-libs,libgcc.a:libgcc_eh.a:libstdc++.a:libwinpthread.a:libpthread.a:libgomp.a")
    endif()
  endforeach()
  # ggml links OpenMP's runtime by the full path CMake's FindOpenMP finds, which is the import
  # library of libgomp-1.dll (libgomp.dll.a), whatever `-static` says: point it at the archive.
  execute_process(COMMAND "${CMAKE_C_COMPILER}" -print-file-name=libgomp.a
    OUTPUT_VARIABLE xgen_libgomp OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(IS_ABSOLUTE "${xgen_libgomp}" AND EXISTS "${xgen_libgomp}")
    set(OpenMP_gomp_LIBRARY "${xgen_libgomp}" CACHE FILEPATH "OpenMP's runtime, linked in" FORCE)
  endif()
endif()
