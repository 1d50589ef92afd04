// Fuzz target: the CIFAR binary reader (problems/datasets/image_data.cpp: read_cifar_files).
// Input: [1 byte: bit 0 set → CIFAR-100 records (2 label bytes), else CIFAR-10][the .bin file].
#include "problems/datasets/image_data.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool c100 = data[0] & 1;
  proxbench::fuzz::MemFile file(data + 1, size - 1);
  proxbench::fuzz::expect_clean([&] {
    auto d = proxbench::problems::read_cifar_files({file.path()}, c100 ? 2 : 1, c100 ? 1 : 0, c100 ? 100 : 10, "fuzz");
    if (d.images.numel() != d.size() * 3 * 32 * 32) std::abort();
  });
  return 0;
}
