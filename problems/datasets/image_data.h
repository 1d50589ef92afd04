// Image classification data held in memory, its readers, and minibatch assembly.
//
// Data sets (DESIGN.md §1, issue 5):
//  - Fashion-MNIST (Xiao et al. 2017) from Debian's `dataset-fashion-mnist`: the four gzipped IDX
//    files train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz,
//    t10k-labels-idx1-ubyte.gz under /usr/share/datasets/fashion-mnist/ (uncompressed IDX files of
//    the same names without `.gz` are read too). 60000/10000 images, 1×28×28, 10 classes.
//  - CIFAR-10 binary version (Krizhevsky 2009): data_batch_1.bin … data_batch_5.bin (train) and
//    test_batch.bin, records of 1 label byte + 3072 pixel bytes (R plane, G plane, B plane, each
//    32×32 row-major). 50000/10000 images, 3×32×32, 10 classes.
//  - CIFAR-100 binary version: train.bin and test.bin, records of 1 coarse label byte (20
//    super-classes) + 1 fine label byte (100 classes) + 3072 pixel bytes.
//  - A seeded synthetic set: each class has a smooth random template (a 4×4 random grid upsampled
//    bilinearly to the image size); an image is its class template plus uniform pixel noise. Fully
//    determined by the seed, learnable in a few epochs, used by the tests and the benchmarks.
//
// For CIFAR, `dir` may be the folder holding the .bin files or its parent holding the folder the
// official archive unpacks to (cifar-10-batches-bin/, cifar-100-binary/).
//
// Every reader validates what it reads and throws proxbench::Error naming the file and what was
// expected: a missing file, a wrong IDX magic number or shape, a file shorter or longer than its
// header says (truncated), a CIFAR file whose size is not a whole number of records, a label out of
// range, a corrupt gzip stream.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace proxbench::problems {

/// An image classification data set in memory.
struct ImageDataset {
  std::string name;
  std::string source;    ///< the file(s) it was read from ("" for synthetic sets), for error messages
  torch::Tensor images;  ///< uint8 [N, C, H, W], contiguous
  torch::Tensor labels;  ///< int64 [N], values in [0, num_classes)
  int64_t num_classes = 0;

  int64_t size() const { return images.defined() ? images.size(0) : 0; }
  int64_t channels() const { return images.size(1); }
  int64_t height() const { return images.size(2); }
  int64_t width() const { return images.size(3); }
  /// The first `n` examples (all when n <= 0 or n >= size()); shares no memory with *this.
  ImageDataset head(int64_t n) const;
};

/// Reads an IDX image file (magic 0x00000803, dims N×H×W) and an IDX label file (magic
/// 0x00000801, dim N), gzipped or not; labels must be < num_classes; `expect_h`/`expect_w` (> 0)
/// the required image size (Fashion-MNIST: 28×28). Files must be regular files (checked with
/// stat before opening: a FIFO or a device is refused, never read); the header's size is checked
/// against the file before the data is read.
ImageDataset read_idx_pair(const std::string& images_path, const std::string& labels_path, int64_t num_classes,
                           const std::string& name, int64_t expect_h = 0, int64_t expect_w = 0);
/// Reads CIFAR binary files (records of `label_bytes` label bytes, the label at `label_index`,
/// then 3×32×32 pixels) in order into one set; sizes checked with stat before reading.
ImageDataset read_cifar_files(const std::vector<std::string>& files, int label_bytes, int label_index,
                              int64_t num_classes, const std::string& name);
/// Checks, without reading them, that the files of `dataset` (fashion_mnist | cifar10 | cifar100;
/// others: nothing) exist under `dir` as regular files; throws naming the missing file. Used
/// when an experiment is planned.
void check_dataset_files(const std::string& dataset, const std::string& dir);
/// Fashion-MNIST training (60000) or test (10000) split from `dir`.
ImageDataset load_fashion_mnist(const std::string& dir, bool train);
/// The Debian package's folder.
const char* default_fashion_mnist_dir();

/// CIFAR-10 training split (data_batch_1..5.bin concatenated in order) or test split.
ImageDataset load_cifar10(const std::string& dir, bool train);
/// CIFAR-100 train.bin or test.bin, with the fine (100 classes) or coarse (20) labels.
ImageDataset load_cifar100(const std::string& dir, bool train, bool fine_labels);

/// Synthetic learnable images. The templates depend on `seed` only (so a training and a test set
/// made with the same seed share them); the examples depend on `seed` and `split` (0 = train,
/// 1 = test). `noise` is the half-width of the uniform pixel noise in [0, 255].
ImageDataset make_synthetic_images(int64_t n, int64_t channels, int64_t size, int64_t num_classes, uint64_t seed,
                                   int split, int noise = 64);

/// Per-channel mean and standard deviation of the pixels scaled to [0, 1].
struct ChannelStats {
  std::vector<float> mean, stddev;
};
/// Computed over all pixels of the set (double accumulation).
ChannelStats channel_stats(const ImageDataset& data);

/// The CIFAR training-time augmentation (He et al. 2016 §4.2): pad `pad` zero pixels on every
/// side, take a random H×W crop, flip horizontally with probability 1/2.
struct Augment {
  bool crop = false;
  int64_t pad = 4;
  bool flip = false;
};

/// Deterministic 64-bit mixing (SplitMix64); the RNG every data-order and augmentation decision
/// is drawn from, so that epoch e, batch b is a pure function of (seed, e, b).
struct SplitMix64 {
  uint64_t state;
  explicit SplitMix64(uint64_t s) : state(s) {}
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform integer in [0, n) (Lemire's multiply-shift; bias < n / 2^64).
  uint64_t below(uint64_t n) { return static_cast<uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64); }
};
/// Combines seeds into one (order-sensitive).
uint64_t mix_seed(uint64_t a, uint64_t b);

/// A seeded permutation of 0..n-1 (Fisher–Yates driven by SplitMix64(seed)).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

/// Assembles the float32 batch [B, C, H, W] of examples `index`: x = (p/255 − mean_c)/std_c, with
/// the augmentation drawn from SplitMix64(aug_seed) (padding pixels are 0 before normalization, as
/// torchvision's RandomCrop(padding=4) then Normalize). One pass over raw memory, parallel over
/// the batch; no per-sample torch ops. Labels are returned in `labels_out` (int64 [B]).
torch::Tensor assemble_batch(const ImageDataset& data, const std::vector<int64_t>& index, const ChannelStats& stats,
                             const Augment& augment, uint64_t aug_seed, torch::Tensor* labels_out);

}  // namespace proxbench::problems
