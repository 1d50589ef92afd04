// Fuzz target: the IDX reader (problems/datasets/image_data.cpp: read_idx_pair, gzip or plain).
// Input: [2 bytes little-endian: length L of the image file][L bytes image file][label file].
#include "problems/datasets/image_data.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  size_t split = size_t(data[0]) | (size_t(data[1]) << 8);
  if (split > size - 2) split = size - 2;
  proxbench::fuzz::MemFile images(data + 2, split), labels(data + 2 + split, size - 2 - split);
  proxbench::fuzz::expect_clean([&] {
    auto d = proxbench::problems::read_idx_pair(images.path(), labels.path(), 10, "fuzz", (data[0] & 1) ? 28 : 0,
                                                (data[0] & 1) ? 28 : 0);
    if (d.images.numel() != d.size() * d.height() * d.width() || d.labels.numel() != d.size()) std::abort();
  });
  return 0;
}
