// The CRC-32 check of a checkpoint archive before LibTorch reads it (harness/checkpoint.cpp).
#pragma once
#include <string>

namespace proxbench::harness {

/// Checks every entry of the zip archive `bytes` (LibTorch's checkpoint format: stored tensors,
/// deflated code entries) against the CRC-32 of its central-directory record, before LibTorch
/// parses anything: LibTorch 1.13's reader checks no CRC, and its TorchScript importer and
/// CPUGeneratorImpl::set_state crash (SIGSEGV) on damaged entries (found by fuzz_checkpoint).
/// Throws proxbench::Error naming the entry and what is wrong. Archives of 4 GiB and more (zip64)
/// are not checked. A forged archive with consistent CRCs can still reach LibTorch's parser:
/// checkpoints are trusted input, like pickles; damaged ones are refused.
void verify_zip_crcs(const std::string& bytes);

}  // namespace proxbench::harness
