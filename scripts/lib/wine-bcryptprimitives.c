/* bcryptprimitives.dll for Wine before 9.0, which lacks it (Debian 12 ships Wine 8.0).
 *
 * Rust's standard library (1.78 and later) takes its random numbers (HashMap keys) from
 * ProcessPrng in bcryptprimitives.dll, present since Windows 10; Wine 8 stops every Rust
 * program before main: "Library bcryptprimitives.dll ... not found". scripts/lib/windows-gnu.sh
 * builds this stand-in with MinGW-w64 and puts it in the test prefix's system32, where Wine
 * loads it as it would Windows' own: it only runs under Wine, never in the product, and gives
 * what Windows' does, bytes from the system's generator (RtlGenRandom, which Wine has). */
#include <windows.h>
#define SystemFunction036 NTAPI SystemFunction036
#include <ntsecapi.h>
#undef SystemFunction036

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T size) {
  while (size > 0) {
    ULONG chunk = size > 0x40000000 ? 0x40000000 : (ULONG)size;
    if (!RtlGenRandom(data, chunk)) return FALSE;
    data += chunk;
    size -= chunk;
  }
  return TRUE;
}
