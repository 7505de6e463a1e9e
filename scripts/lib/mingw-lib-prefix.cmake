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
