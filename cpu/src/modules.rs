//! Finding llama.cpp's backend modules and handing them to llama.cpp, and asking llama.cpp what
//! its CPU code was compiled with.

#![allow(
    unsafe_code,
    reason = "llama.cpp's C API loads the module and reports what its CPU code was compiled with"
)]

use std::ffi::{CStr, CString};
use std::path::{Path, PathBuf};

use crate::{CpuError, Level};

/// Where the modules are: the executable's folder (Windows installs; `target/<profile>` and its
/// `deps/` in a build tree, where the build script copies them), then `../lib/xgen-desk` next
/// to it (the .deb's /usr/lib/xgen-desk, the AppImage's usr/lib/xgen-desk). Only these: llama.cpp's
/// own search also tries the current folder, which would run whatever library lies in the folder
/// a document was opened from.
fn search_dirs() -> Vec<PathBuf> {
    let Ok(exe) = std::env::current_exe() else {
        return Vec::new();
    };
    // A symlink on PATH (/usr/local/bin/xgen-desk) points at the installed binary.
    let exe = exe.canonicalize().unwrap_or(exe);
    let Some(dir) = exe.parent() else {
        return Vec::new();
    };
    vec![
        dir.to_path_buf(),
        dir.join("..").join("lib").join("xgen-desk"),
    ]
}

/// `ggml-<stem>` with the platform's prefix and suffix, as llama.cpp names its modules; on
/// Windows also MinGW's name, with the `lib` prefix (the CPU modules are copied under the first
/// name, llama-cpp-sys-2 leaves a GPU module under the name its toolchain gave it).
fn file_names(stem: &str) -> Vec<String> {
    if cfg!(windows) {
        vec![format!("ggml-{stem}.dll"), format!("libggml-{stem}.dll")]
    } else {
        vec![format!("libggml-{stem}.so")]
    }
}

/// The first of `names` in the first of `dirs` that has one.
fn find(dirs: &[PathBuf], names: &[String]) -> Option<PathBuf> {
    dirs.iter()
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

pub(crate) fn load_level(level: Level) -> Result<PathBuf, CpuError> {
    let names = file_names(&format!("cpu-{}", level.variant()));
    let dirs = search_dirs();
    let Some(path) = find(&dirs, &names) else {
        return Err(CpuError::Missing {
            level,
            file: names.into_iter().next().unwrap_or_default(),
            searched: dirs,
        });
    };
    load_path(&path)?;
    Ok(path)
}

pub(crate) fn load_named(name: &str) -> Result<Option<PathBuf>, CpuError> {
    let Some(path) = find(&search_dirs(), &file_names(name)) else {
        return Ok(None);
    };
    load_path(&path)?;
    Ok(Some(path))
}

fn load_path(path: &Path) -> Result<(), CpuError> {
    let not_loaded = || CpuError::NotLoaded {
        path: path.to_path_buf(),
    };
    let c_path = loader_path(path).ok_or_else(not_loaded)?;
    // SAFETY: a NUL-terminated path that outlives the call. llama.cpp opens the library, checks
    // its score function (0 when the processor lacks what it was compiled for, a second guard
    // after `choose`), and registers the backend it returns for the rest of the process.
    let reg = unsafe { llama_cpp_sys_2::ggml_backend_load(c_path.as_ptr()) };
    if reg.is_null() {
        Err(not_loaded())
    } else {
        Ok(())
    }
}

/// The path llama.cpp is given for the module at `path`.
#[cfg(not(windows))]
fn loader_path(path: &Path) -> Option<CString> {
    CString::new(path.as_os_str().as_encoded_bytes()).ok()
}

/// The path llama.cpp is given for the module at `path`: on Windows its bare file name, once
/// the module is loaded here by its full path. llama.cpp turns a `char` path into the wide path
/// `LoadLibraryW` takes with the C runtime's code page (MinGW) or the ANSI code page (MSVC),
/// not as UTF-8, so a per-user install under a user name such as "Zoë" would not load. Windows
/// resolves a bare name to a module already loaded under that name before it searches any folder
/// (the current folder included), so llama.cpp gets this very file and still checks its score.
/// The reference taken here is never released: the module stays for the life of the process, as
/// llama.cpp's registration does.
#[cfg(windows)]
fn loader_path(path: &Path) -> Option<CString> {
    use std::os::windows::ffi::OsStrExt;
    let wide: Vec<u16> = path
        .as_os_str()
        .encode_wide()
        .chain(std::iter::once(0))
        .collect();
    // SAFETY: a NUL-terminated wide path that outlives the call; the handle is kept (see above).
    let module = unsafe { windows_sys::Win32::System::LibraryLoader::LoadLibraryW(wide.as_ptr()) };
    if module.is_null() {
        return None;
    }
    CString::new(path.file_name()?.as_encoded_bytes()).ok()
}

/// What llama.cpp's CPU code was compiled with, as it reports it ("AVX2", "FMA", "AVX512_VNNI",
/// "NEON", "DOTPROD", "MATMUL_INT8", "REPACK", "OPENMP", ...; a value other than "1" follows an
/// `=`): the loaded module's where modules are used (empty before [`crate::load`]), the built-in
/// code's elsewhere.
#[must_use]
pub fn compiled_features() -> Vec<String> {
    // SAFETY: a static NUL-terminated name; llama.cpp returns null when no backend has it.
    let reg = unsafe { llama_cpp_sys_2::ggml_backend_reg_by_name(c"CPU".as_ptr()) };
    if reg.is_null() {
        return Vec::new();
    }
    // SAFETY: a live backend and a static NUL-terminated name; null when it has no such function.
    let function = unsafe {
        llama_cpp_sys_2::ggml_backend_reg_get_proc_address(
            reg,
            c"ggml_backend_get_features".as_ptr(),
        )
    };
    if function.is_null() {
        return Vec::new();
    }
    // SAFETY: the CPU backend returns its `ggml_backend_get_features_t` under this name
    // (ggml-cpu.cpp); a non-null function pointer fits the `Option` of one.
    let get: llama_cpp_sys_2::ggml_backend_get_features_t =
        unsafe { std::mem::transmute::<*mut std::ffi::c_void, _>(function) };
    let Some(get) = get else {
        return Vec::new();
    };
    let mut features = Vec::new();
    // SAFETY: the function returns a static array that ends with an entry whose name is null;
    // every name and value before it is a static NUL-terminated string.
    unsafe {
        let mut entry = get(reg);
        while !entry.is_null() && !(*entry).name.is_null() {
            let name = CStr::from_ptr((*entry).name).to_string_lossy();
            let value = if (*entry).value.is_null() {
                "1".into()
            } else {
                CStr::from_ptr((*entry).value).to_string_lossy()
            };
            features.push(if value == "1" {
                name.into_owned()
            } else {
                format!("{name}={value}")
            });
            entry = entry.add(1);
        }
    }
    features
}
