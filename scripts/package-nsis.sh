#!/usr/bin/env bash
# Makes the Windows setup .exe from a built xgen-desk.exe with NSIS (makensis) and the project's
# installer script, packaging/windows/installer.nsi, filled in from packaging/Packager.toml (name,
# version, publisher, icon, file associations). Runs on Windows (CI) and on Linux (Debian's
# nsis package; scripts/test-windows.sh installs the result under Wine).
#
#   scripts/package-nsis.sh --binary PATH/xgen-desk.exe [--out-dir DIR]
#
# --binary   the program to install (the MSVC build on CI, the MinGW-w64 build on Linux)
# --out-dir  where the installer goes (default: Packager.toml's out-dir, target/packages)
#
# llama.cpp's DLLs and the CPU modules listed in xgen-desk-libs.txt beside the binary (cpu/build.rs
# writes it) go into the installer too, installed beside xgen-desk.exe, where Windows looks for
# a program's DLLs first and xgen-desk looks for its CPU modules (docs/cpu.md).
#
# Prints the installer's path: <out-dir>/xgen-desk_<version>_x64-setup.exe. Installs NSIS
# when makensis is missing (apt-get on Debian/Ubuntu, Chocolatey on Windows).
# XGEN_DESK_OS and XGEN_DESK_DRY_RUN (scripts/lib/os.sh) show what it would do on another OS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/os.sh

os=$(xgen_os)
python=$(xgen_python)
binary=""
out_dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --out-dir) out_dir="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "package-nsis: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$binary" ]] || { echo "package-nsis: --binary PATH/xgen-desk.exe is required" >&2; exit 2; }
[[ -f "$binary" || "${XGEN_DESK_DRY_RUN:-}" == 1 ]] \
  || { echo "package-nsis: no program at $binary (build it first)" >&2; exit 1; }

# makensis: on PATH, else where the NSIS installer puts it on Windows, else installed.
makensis=$(command -v makensis 2>/dev/null || true)
if [[ -z "$makensis" && "$os" == windows ]]; then
  for dir in "${PROGRAMFILES:-}" "${PROGRAMFILES_X86:-}" "/c/Program Files (x86)" "/c/Program Files"; do
    if [[ -n "$dir" && -x "$dir/NSIS/makensis.exe" ]]; then makensis="$dir/NSIS/makensis.exe"; break; fi
  done
fi
if [[ -z "$makensis" ]]; then
  case "$os" in
    linux)
      sudo=; [[ $(id -u) == 0 ]] || sudo=sudo
      xgen_run $sudo apt-get update -qq
      DEBIAN_FRONTEND=noninteractive xgen_run $sudo apt-get install -y -qq --no-install-recommends nsis >&2
      ;;
    windows) xgen_run choco install nsis -y --no-progress >&2 ;;
    *) echo "package-nsis: install NSIS (makensis) first" >&2; exit 1 ;;
  esac
  makensis=makensis
  if [[ "$os" == windows && "${XGEN_DESK_DRY_RUN:-}" != 1 ]]; then
    makensis="/c/Program Files (x86)/NSIS/makensis.exe"
  fi
fi

work=target/packages/nsis
mkdir -p "$work"
# The values of Packager.toml as NSIS defines, and one XGEN_ASSOCIATE call per extension.
# Paths are absolute, in the form of the OS makensis runs on (Python's own).
installer=$("$python" - "$binary" "${out_dir}" "$work/xgen-desk.nsh" <<'PY'
import os, sys, tomllib

binary, out_dir, include = sys.argv[1:4]
config = tomllib.load(open("packaging/Packager.toml", "rb"))
crate = tomllib.load(open("Cargo.toml", "rb"))["workspace"]["package"]["version"]
if config["version"] != crate:
    sys.exit(f"package-nsis: packaging/Packager.toml has version {config['version']}, "
             f"Cargo.toml {crate}: make them equal")
version = config["version"]
parts = version.split("+")[0].split("-")[0].split(".")
if len(parts) != 3 or not all(p.isdigit() for p in parts):
    sys.exit(f"package-nsis: version {version} is not MAJOR.MINOR.PATCH")
main = [b for b in config["binaries"] if b.get("main")]
if len(main) != 1:
    sys.exit("package-nsis: packaging/Packager.toml needs exactly one main binary")
icons = [i for i in config["icons"] if i.endswith(".ico")]
if not icons:
    sys.exit("package-nsis: packaging/Packager.toml lists no .ico icon")
icon = config.get("nsis", {}).get("installer-icon", icons[0])
mode = config.get("nsis", {}).get("installer-mode", "currentUser")
if mode != "currentUser":
    sys.exit(f"package-nsis: installer-mode {mode}: installer.nsi installs per user only")
out_dir = os.path.abspath(out_dir or config["out-dir"])
os.makedirs(out_dir, exist_ok=True)
out_file = os.path.join(out_dir, f"{main[0]['path']}_{version}_x64-setup.exe")

# What the installer carries beside the program: the files of xgen-desk-libs.txt, from the
# binary's folder; every one must be there (an installer without its CPU modules would install a
# program that cannot run a model).
libraries = []
listing = os.path.join(os.path.dirname(os.path.abspath(binary)), "xgen-desk-libs.txt")
if os.path.exists(listing):
    for name in open(listing, encoding="utf-8").read().split():
        path = os.path.join(os.path.dirname(listing), name)
        if os.path.basename(name) != name or not name.lower().endswith(".dll"):
            sys.exit(f"package-nsis: {listing} names {name!r}, not a DLL beside the program")
        if not os.path.isfile(path):
            sys.exit(f"package-nsis: {listing} names {name}, which is not in {os.path.dirname(listing)}: build again")
        libraries.append((name, os.path.abspath(path)))

def text(value):
    """An NSIS string: one line, $ and quotes escaped."""
    value = " ".join(str(value).split())
    return value.replace("$", "$$").replace('"', '$\\"').replace("`", "$\\`")

defines = {
    "PRODUCT_NAME": config["product-name"],
    "BINARY_NAME": main[0]["path"],
    "VERSION": version,
    "VERSION_FOUR": ".".join(parts) + ".0",
    "PUBLISHER": config["publisher"],
    "DESCRIPTION": config["description"],
    "HOMEPAGE": config["homepage"],
    "COPYRIGHT": config["copyright"],
    "ICON": os.path.abspath(icon),
    "BINARY": os.path.abspath(binary),
    "OUT_FILE": out_file,
    "ESTIMATED_KIB": str(((os.path.getsize(binary) if os.path.exists(binary) else 0)
                          + sum(os.path.getsize(p) for _, p in libraries)) // 1024),
}
with open(include, "w", encoding="utf-8-sig") as f:
    f.write("; Generated by scripts/package-nsis.sh from packaging/Packager.toml.\n")
    for name, value in defines.items():
        f.write(f'!define {name} "{text(value)}"\n')
    f.write("!macro XGEN_ASSOCIATIONS DO\n")
    for association in config.get("file-associations", []):
        for ext in association["extensions"]:
            if not ext.isalnum():
                sys.exit(f"package-nsis: file extension {ext!r} is not letters and digits")
            f.write(f'  !insertmacro ${{DO}} "{ext}" "{text(association["description"])}" '
                    f'"{text(association["mime-type"])}"\n')
    f.write("!macroend\n")
    f.write("!macro XGEN_LIBRARIES DO\n")
    for name, path in libraries:
        f.write(f'  !insertmacro ${{DO}} "{text(name)}" "{text(path)}"\n')
    f.write("!macroend\n")
print(out_file)
PY
)
include=$("$python" -c 'import os, sys; print(os.path.abspath(sys.argv[1]))' "$work/xgen-desk.nsh")
# -V2: warnings and errors only; -WX: a warning (an unused macro, a missing file) fails the build.
xgen_run "$makensis" -V2 -WX "-DXGEN_INCLUDE=$include" packaging/windows/installer.nsi >&2
[[ "${XGEN_DESK_DRY_RUN:-}" == 1 ]] || [[ -f "$installer" ]] \
  || { echo "package-nsis: makensis made no $installer" >&2; exit 1; }
echo "$installer"
