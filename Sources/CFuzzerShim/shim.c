// Why a C shim: SwiftPM names an executable's entry point `<module>_main` and aliases `main` to it,
// so libFuzzer's own `main` cannot be the program's. Our main calls libFuzzer's driver instead,
// through this weak reference: in a plain build libFuzzer is absent, the reference stays null and
// the program replays files; in a fuzzer build it resolves. No Swift or C code here is compiled
// with the sanitizers, so nothing is lost by the indirection.
#include "CFuzzerShim.h"

extern int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *, size_t))
    __attribute__((weak));

int swetcd_fuzzer_run(int argc, char **argv, swetcd_fuzzer_callback callback) {
    if (LLVMFuzzerRunDriver == NULL) return -1;
    return LLVMFuzzerRunDriver(&argc, &argv, callback);
}
