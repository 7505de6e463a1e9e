//! Link settings of the xgen-desk programs.
//!
//! The Windows build made with MinGW-w64 (scripts/test-windows.sh runs it under Wine) is linked
//! with its sections page-aligned in the file, as they are in memory. GNU ld aligns them to 512
//! bytes by default, and Wine can map only a page-aligned section from the file: it copies the
//! others into private memory, so under Wine every process of the program commits its whole
//! image (over 130 MiB for a debug build with the OCR models) before its first instruction, and
//! an isolated document reader limited to 128 MiB of commit was out of memory at its start.
//! Windows maps such images from the file either way (an image's pages are never private
//! commit); the padding costs a few kilobytes per section.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "windows" && env == "gnu" {
        println!("cargo:rustc-link-arg=-Wl,--file-alignment=4096");
    }
}
