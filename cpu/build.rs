//! Builds llama.cpp's CPU code for the x86-64 levels xgen-desk ships (see `src/lib.rs`) as
//! loadable modules, from the llama.cpp that llama-cpp-sys-2 vendors and with its build's
//! settings, and puts them, with llama.cpp's shared libraries, next to the binaries Cargo builds
//! (`target/<profile>/`, its `deps/` and `examples/`), where the programs and the tests find them.
//!
//! Only on x86-64 Linux and Windows, where llama-cpp-sys-2 builds llama.cpp as shared libraries
//! with backend loading (Cargo.toml, `cmake/ggml-project.cmake`); elsewhere nothing is built and
//! the CPU code stays inside the binary.
//!
//! Four modules of the thirteen llama.cpp's `GGML_CPU_ALL_VARIANTS` defines are built: about a
//! CPU-minute each. A build script must not panic on bad input it can explain, but every failure
//! here (no CMake, a compiler error) stops the build anyway; the messages say what is missing.

use std::env;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// llama.cpp's CPU builds shipped on x86-64, by their names in llama.cpp's CMake
/// (`ggml_add_cpu_backend_variant`), lowest first. `src/lib.rs` maps them to levels.
const VARIANTS: [&str; 4] = ["sse42", "haswell", "skylakex", "cascadelake"];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=cmake/ggml-project.cmake");
    println!("cargo::rustc-check-cfg=cfg(xgen_cpu_modules)");
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    // Apple's and ARM's builds keep their CPU code inside the binary (docs/cpu.md).
    if arch != "x86_64" || !matches!(os.as_str(), "linux" | "windows") {
        return;
    }
    if let Err(message) = build(&os) {
        // Cargo shows a build script's stderr when it fails.
        eprintln!("xgen-cpu: {message}");
        std::process::exit(1);
    }
    println!("cargo:rustc-cfg=xgen_cpu_modules");
}

fn build(os: &str) -> Result<(), String> {
    let out_dir = PathBuf::from(env::var("OUT_DIR").map_err(|e| format!("OUT_DIR: {e}"))?);
    // llama-cpp-sys-2 (`links = "llama"`) tells its dependents where its CMake package went:
    // <its OUT_DIR>/lib/cmake. Its build tree and CMake cache are next to that.
    println!("cargo:rerun-if-env-changed=DEP_LLAMA_GGML_CMAKE_DIR");
    let cmake_dir = env::var("DEP_LLAMA_GGML_CMAKE_DIR").map_err(|_| {
        "llama-cpp-sys-2 did not say where it built llama.cpp (DEP_LLAMA_GGML_CMAKE_DIR)".to_owned()
    })?;
    let llama_out = Path::new(&cmake_dir)
        .ancestors()
        .nth(2)
        .ok_or("DEP_LLAMA_GGML_CMAKE_DIR is not <out>/lib/cmake")?
        .to_path_buf();
    let cache_path = llama_out.join("build").join("CMakeCache.txt");
    let cache = fs::read_to_string(&cache_path).map_err(|e| {
        format!(
            "llama-cpp-sys-2's CMake cache {}: {e}",
            cache_path.display()
        )
    })?;
    println!("cargo:rerun-if-changed={}", cache_path.display());
    let source = cache_value(&cache, "CMAKE_HOME_DIRECTORY")
        .ok_or("llama-cpp-sys-2's CMake cache names no source directory")?;
    let shared = cache_value(&cache, "BUILD_SHARED_LIBS").is_some_and(|v| is_on(&v));
    if !shared {
        return Err(
            "llama-cpp-sys-2 built llama.cpp as static libraries; xgen-desk needs its \
                    `dynamic-link` feature on x86-64 Linux and Windows (Cargo.toml)"
                .to_owned(),
        );
    }
    let profile = cache_value(&cache, "CMAKE_BUILD_TYPE").unwrap_or_else(|| "Release".to_owned());
    let openmp = cache_value(&cache, "GGML_OPENMP").unwrap_or_else(|| "ON".to_owned());
    let msvc = env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "msvc");
    // The file CMake includes after each `project()` of llama-cpp-sys-2's build, if any (the
    // MinGW build's: the libraries' names and the static runtime, scripts/lib/windows-gnu.sh):
    // the modules are built the same way, so that they import the DLLs the program loads under
    // the names it loads them and need no MinGW DLL either.
    let project_include = cache_value(&cache, "CMAKE_PROJECT_INCLUDE").filter(|v| !v.is_empty());

    let build_root = out_dir.join("variants");
    for variant in VARIANTS {
        let mut config = cmake::Config::new(&source);
        config
            .out_dir(&build_root)
            .profile(&profile)
            // The same shape as llama-cpp-sys-2's build: shared libraries, backend loading, no
            // tools; llama.cpp's list of CPU builds, of which only `variant` is compiled here.
            .define("BUILD_SHARED_LIBS", "ON")
            .define("GGML_BACKEND_DL", "ON")
            .define("GGML_CPU_ALL_VARIANTS", "ON")
            .define("GGML_NATIVE", "OFF")
            .define("GGML_OPENMP", &openmp)
            .define("LLAMA_BUILD_TESTS", "OFF")
            .define("LLAMA_BUILD_EXAMPLES", "OFF")
            .define("LLAMA_BUILD_SERVER", "OFF")
            .define("LLAMA_BUILD_TOOLS", "OFF")
            .define("LLAMA_BUILD_APP", "OFF")
            .define("LLAMA_BUILD_COMMON", "OFF")
            .define("LLAMA_CURL", "OFF")
            // No path of this build tree inside the modules: they find llama.cpp's libraries
            // already loaded by the program, by name.
            .define("CMAKE_SKIP_BUILD_RPATH", "ON")
            .build_target(&format!("ggml-cpu-{variant}"));
        if let Some(include) = &project_include {
            println!("cargo:rerun-if-changed={include}");
            config.define("CMAKE_PROJECT_INCLUDE", include);
        }
        if msvc {
            // As llama-cpp-sys-2 does: a debug Rust build would otherwise compile the CPU code
            // of a Release configuration without optimization (rust-lang/cmake-rs#240).
            for flag in ["/O2", "/DNDEBUG", "/Ob2"] {
                config.cflag(flag).cxxflag(flag);
            }
        }
        config.build();
    }

    let bin_dirs = binary_dirs(&out_dir)?;
    let mut shipped = Vec::new();
    let built = build_root.join("build").join("bin");
    for variant in VARIANTS {
        let module = find_module(&built, variant, os).ok_or_else(|| {
            format!(
                "the build left no ggml-cpu-{variant} module in {}",
                built.display()
            )
        })?;
        let name = module_file_name(variant, os);
        for dir in &bin_dirs {
            place(&module, &dir.join(&name))?;
        }
        shipped.push(name);
    }
    // llama.cpp's shared libraries under the names the dynamic linker looks for (Linux: the
    // SONAMEs; llama-cpp-sys-2 links only the unversioned names into target/, and only when
    // absent, which leaves an older build's files there after a rebuild), and the GPU backends
    // it built as modules.
    for file in engine_libraries(&llama_out, os)? {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("a library name is not UTF-8")?
            .to_owned();
        for dir in &bin_dirs {
            place(&file, &dir.join(&name))?;
        }
        // llama.cpp's `common` helpers (6 MB on Linux, 11 MB as a MinGW DLL): xgen-desk calls
        // none of them, and the linkers drop a library nothing is taken from (`ldd xgen-desk`
        // lists no libllama-common; neither does xgen-desk.exe's import table, which
        // scripts/test-windows.sh checks against this list), so the installers leave it out
        // (`llama-common.dll` in MSVC's naming).
        if !name
            .strip_prefix("lib")
            .unwrap_or(&name)
            .starts_with("llama-common")
        {
            shipped.push(name);
        }
    }
    // What an installer must carry besides the binary: scripts/package*.sh read this list.
    shipped.sort();
    shipped.dedup();
    for dir in &bin_dirs {
        let list = dir.join("xgen-desk-libs.txt");
        fs::write(&list, shipped.join("\n") + "\n")
            .map_err(|e| format!("{}: {e}", list.display()))?;
    }
    Ok(())
}

/// A value of a CMake cache (`NAME:TYPE=value`).
fn cache_value(cache: &str, name: &str) -> Option<String> {
    cache.lines().find_map(|line| {
        let (key, value) = line.split_once('=')?;
        let (key_name, _) = key.split_once(':')?;
        (key_name == name).then(|| value.trim().to_owned())
    })
}

fn is_on(value: &str) -> bool {
    matches!(
        value.to_ascii_uppercase().as_str(),
        "ON" | "1" | "TRUE" | "YES" | "Y"
    )
}

/// Where Cargo puts the binaries of this build (`target/<profile>`, or
/// `target/<triple>/<profile>`), and its `deps/` (test binaries) and `examples/`: OUT_DIR is
/// `<that>/build/<package>-<hash>/out`.
fn binary_dirs(out_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let profile_dir = out_dir
        .ancestors()
        .nth(3)
        .ok_or("OUT_DIR is not <target>/<profile>/build/<package>/out")?;
    let mut dirs = vec![profile_dir.to_path_buf(), profile_dir.join("deps")];
    let examples = profile_dir.join("examples");
    if examples.is_dir() {
        dirs.push(examples);
    }
    Ok(dirs)
}

/// The module file a CMake build of `variant` left in `dir` (`bin/` for one-configuration
/// generators, `bin/<config>/` for Visual Studio's).
fn find_module(dir: &Path, variant: &str, os: &str) -> Option<PathBuf> {
    let names: &[String] = &if os == "windows" {
        vec![
            format!("ggml-cpu-{variant}.dll"),
            format!("libggml-cpu-{variant}.dll"),
        ]
    } else {
        vec![format!("libggml-cpu-{variant}.so")]
    };
    let dirs = [
        dir.to_path_buf(),
        dir.join("Release"),
        dir.join("RelWithDebInfo"),
    ];
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

/// The name llama.cpp's own loader gives a CPU module (`ggml-cpu-<variant>` with the platform's
/// prefix and suffix; MinGW's `lib` prefix on Windows is dropped).
fn module_file_name(variant: &str, os: &str) -> String {
    if os == "windows" {
        format!("ggml-cpu-{variant}.dll")
    } else {
        format!("libggml-cpu-{variant}.so")
    }
}

/// llama.cpp's shared libraries in llama-cpp-sys-2's install tree: on Linux each under its
/// SONAME (`libllama.so.0`, `libggml.so.0`, `libggml-base.so.0`) plus the GPU backend modules of
/// GPU builds (`bin/libggml-vulkan.so`, ...); on Windows every DLL of `bin/` (the libraries and
/// the modules alike).
fn engine_libraries(llama_out: &Path, os: &str) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let names = |dir: PathBuf| -> Vec<(String, PathBuf)> {
        fs::read_dir(dir)
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                    .collect()
            })
            .unwrap_or_default()
    };
    if os == "windows" {
        for (name, path) in names(llama_out.join("bin")) {
            if name.to_ascii_lowercase().ends_with(".dll") {
                found.push(path);
            }
        }
    } else {
        for sub in ["lib", "lib64"] {
            for (name, path) in names(llama_out.join(sub)) {
                // libllama.so.0, libggml-base.so.0: the versioned names without the full version.
                let soname = name.starts_with("lib")
                    && name
                        .split_once(".so.")
                        .is_some_and(|(_, version)| !version.contains('.'));
                if soname {
                    found.push(path);
                }
            }
        }
        for (name, path) in names(llama_out.join("bin")) {
            if name.starts_with("libggml-") && name.ends_with(".so") {
                found.push(path);
            }
        }
    }
    if found.is_empty() {
        return Err(format!(
            "no llama.cpp shared libraries in {}",
            llama_out.display()
        ));
    }
    Ok(found)
}

/// Copies `from` (following symlinks) to `to`, replacing what is there: a hard link would keep
/// an older build's file alive where the linker writes a new file instead of rewriting it.
fn place(from: &Path, to: &Path) -> Result<(), String> {
    let same = fs::read(from)
        .ok()
        .zip(fs::read(to).ok())
        .is_some_and(|(a, b)| a == b);
    if same {
        return Ok(());
    }
    match fs::remove_file(to) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{}: {e}", to.display())),
    }
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    fs::copy(from, to).map_err(|e| format!("{} -> {}: {e}", from.display(), to.display()))?;
    Ok(())
}
