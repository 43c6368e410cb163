#ifndef SWETCD_CFUZZERSHIM_H
#define SWETCD_CFUZZERSHIM_H

#include <stddef.h>
#include <stdint.h>

/// The per-input callback libFuzzer calls (LLVMFuzzerTestOneInput's signature).
typedef int (*swetcd_fuzzer_callback)(const uint8_t *data, size_t size);

/// Runs libFuzzer's driver on `argc`/`argv` with `callback` when the program was linked with
/// libFuzzer (`-sanitize=fuzzer`), and returns its exit status; returns -1 in any other build.
int swetcd_fuzzer_run(int argc, char **argv, swetcd_fuzzer_callback callback);

#endif
