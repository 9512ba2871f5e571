// libFuzzer's entry for programs with their own main (SwiftPM renames an executable's main, so
// the fuzz target calls this instead of relying on libFuzzer's main). Only the -sanitize=fuzzer
// build references it.
#pragma once
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
