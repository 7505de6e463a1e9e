//! The window's process and the Windows console.
//!
//! xgen-desk is one program for the window and the command line, so on Windows it is a console
//! program: `xgen-desk summarize` in a terminal writes there, and the terminal waits for it.
//! Started from the Start menu, from Explorer ("Open with") or by a double click, though,
//! Windows gives a console program a console window of its own, which would stay open behind
//! the app for as long as it runs. The window therefore lets go of a console that no other
//! process shares ([`release_own_console`]; the console window then closes, after a blink),
//! and says a fatal error in a message box ([`show_error`]), since nobody would read it in a
//! console. Started from a terminal, it keeps the terminal: its logs stay there.
//!
//! Other systems have no such console: both functions do nothing there.

/// Lets go of the console window Windows made for this process alone (started from the Start
/// menu or Explorer), and says whether it did; a console shared with the terminal that started
/// the process is kept.
#[must_use]
pub fn release_own_console() -> bool {
    imp::release_own_console()
}

/// Shows `message` to the person at the computer when there is no console to say it in: a
/// message box on Windows titled "xgen-desk"; nothing on other systems.
pub fn show_error(message: &str) {
    imp::show_error(message);
}

#[cfg(windows)]
#[allow(
    unsafe_code,
    reason = "the console and the message box are Windows calls (GetConsoleProcessList, FreeConsole, MessageBoxW)"
)]
mod imp {
    use windows_sys::Win32::System::Console::{FreeConsole, GetConsoleProcessList};
    use windows_sys::Win32::UI::WindowsAndMessaging::{MessageBoxW, MB_ICONERROR, MB_OK};

    pub(super) fn release_own_console() -> bool {
        // Room for two: one means this process alone, more a terminal's console; none, no
        // console at all.
        let mut processes = [0u32; 2];
        // SAFETY: the buffer holds the count of entries passed; the call writes at most that.
        let attached = unsafe { GetConsoleProcessList(processes.as_mut_ptr(), 2) };
        if attached != 1 {
            return false;
        }
        // SAFETY: a plain call on this process's own console; failure leaves it attached.
        unsafe { FreeConsole() != 0 }
    }

    pub(super) fn show_error(message: &str) {
        let text: Vec<u16> = message.encode_utf16().chain([0]).collect();
        let title: Vec<u16> = "xgen-desk".encode_utf16().chain([0]).collect();
        // SAFETY: both strings are NUL-terminated UTF-16 that live for the call; no owner
        // window.
        unsafe {
            MessageBoxW(
                std::ptr::null_mut(),
                text.as_ptr(),
                title.as_ptr(),
                MB_OK | MB_ICONERROR,
            );
        }
    }
}

#[cfg(not(windows))]
mod imp {
    pub(super) fn release_own_console() -> bool {
        false
    }

    pub(super) fn show_error(_: &str) {}
}
