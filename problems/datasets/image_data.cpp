#include "problems/datasets/image_data.h"

#include <sys/stat.h>
#include <zlib.h>

#include <cerrno>
#include <functional>

#include <ATen/Parallel.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/common.h"

namespace fs = std::filesystem;

namespace proxbench::problems {
namespace {

// stat() before any open: a missing file, a directory, a FIFO (which would block the reader) or a
// device (/dev/zero would never end) is refused with the file named. Returns the size in bytes.
uint64_t check_regular(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0)
    throw Error("data file '" + path + "' does not exist or cannot be read (" + std::strerror(errno) + ")");
  if (!S_ISREG(st.st_mode)) {
    const char* what = S_ISDIR(st.st_mode)    ? "a directory"
                       : S_ISFIFO(st.st_mode) ? "a FIFO (named pipe)"
                       : S_ISCHR(st.st_mode)  ? "a character device"
                       : S_ISBLK(st.st_mode)  ? "a block device"
                       : S_ISSOCK(st.st_mode) ? "a socket"
                                              : "not a regular file";
    throw Error("data file '" + path + "' is " + what + ", expected a regular file");
  }
  return static_cast<uint64_t>(st.st_size);
}

// A whole data file, gzipped or plain (gzread reads both), read in two steps: the `header_size`
// header first, then `total(header)` bytes in all — a size checked against the file before the
// rest is read (plain files: exactly; gzip: at most the deflate limit of 1032:1), and read in
// chunks, so that a lying header never makes a large allocation. Errors name the file.
std::vector<uint8_t> read_sized(const std::string& path, size_t header_size,
                                const std::function<uint64_t(const std::vector<uint8_t>&)>& total) {
  const uint64_t file_size = check_regular(path);
  gzFile f = gzopen(path.c_str(), "rb");
  if (!f) throw Error("data file '" + path + "': cannot open");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(f, gzclose);
  std::vector<uint8_t> out;
  auto fail = [&](const std::string& msg) { throw Error("data file '" + path + "': " + msg); };
  auto read_upto = [&](uint64_t want) {  // reads until out.size() == want or end of data
    while (out.size() < want) {
      const size_t chunk = size_t(std::min<uint64_t>(want - out.size(), 1 << 20));
      const size_t old = out.size();
      out.resize(old + chunk);
      const int n = gzread(f, out.data() + old, static_cast<unsigned>(chunk));
      if (n < 0) {
        int err = 0;
        const std::string msg = gzerror(f, &err);
        fail("corrupt gzip stream (" + msg + ")");
      }
      out.resize(old + size_t(n));
      if (n == 0) break;
    }
    int err = Z_OK;
    const char* msg = gzerror(f, &err);
    if (err != Z_OK && err != Z_STREAM_END) fail("corrupt or truncated gzip stream (" + std::string(msg ? msg : "") + ")");
  };
  {
    read_upto(header_size);
    if (out.size() < header_size) {
      const std::string m = std::to_string(out.size()) + " bytes, expected at least the " + std::to_string(header_size) +
                            "-byte header (truncated?)";
      fail(m);
    }
    const uint64_t want = total(out);
    const bool plain = gzdirect(f) == 1;
    if (plain && file_size != want)
      fail(std::to_string(file_size) + " bytes, expected " + std::to_string(want) + " from its header" +
           (file_size < want ? "; truncated" : "; trailing data"));
    if (!plain && want / 1032 > file_size + 64)
      fail("its header announces " + std::to_string(want) + " bytes, more than a gzip file of " +
           std::to_string(file_size) + " bytes can hold; truncated or corrupt");
    read_upto(want);
    if (out.size() < want)
      fail(std::to_string(out.size()) + " bytes, expected " + std::to_string(want) + " from its header; truncated");
    uint8_t extra;
    if (gzread(f, &extra, 1) > 0) fail("more than the " + std::to_string(want) + " bytes its header announces; trailing data");
  }
  return out;
}

uint32_t be32(const std::vector<uint8_t>& b, size_t off) {
  return (uint32_t(b[off]) << 24) | (uint32_t(b[off + 1]) << 16) | (uint32_t(b[off + 2]) << 8) | uint32_t(b[off + 3]);
}

std::string pick_existing(const std::string& dir, const std::string& base) {
  const std::string gz = (fs::path(dir) / (base + ".gz")).string();
  const std::string raw = (fs::path(dir) / base).string();
  if (fs::exists(gz)) return gz;
  if (fs::exists(raw)) return raw;
  throw Error("data file '" + gz + "' does not exist (nor '" + raw + "'); Fashion-MNIST comes from the Debian " +
              "package dataset-fashion-mnist or a folder given as data_dir");
}

// CIFAR: accept the folder with the .bin files, or its parent with the official subfolder.
std::string cifar_dir(const std::string& dir, const std::string& probe, const std::string& sub) {
  if (dir.empty()) throw Error("CIFAR data: data_dir is required (the folder holding " + probe + ")");
  if (fs::exists(fs::path(dir) / probe)) return dir;
  if (fs::exists(fs::path(dir) / sub / probe)) return (fs::path(dir) / sub).string();
  throw Error("CIFAR data: '" + (fs::path(dir) / probe).string() + "' does not exist (nor '" +
              (fs::path(dir) / sub / probe).string() + "'); expected the binary version of the data set");
}


// Appends the records of one CIFAR file: `label_bytes` label bytes then 3072 pixels each.
void read_cifar_file(const std::string& path, int label_bytes, int label_index, int64_t num_classes,
                     std::vector<uint8_t>& pixels, std::vector<int64_t>& labels) {
  const size_t rec = size_t(label_bytes) + 3072;
  const uint64_t size = check_regular(path);  // checked before reading (a FIFO or device never is)
  if (size == 0 || size % rec != 0)
    throw Error("data file '" + path + "': size " + std::to_string(size) + " bytes is not a positive multiple of the " +
                std::to_string(rec) + "-byte CIFAR record (" + std::to_string(label_bytes) +
                " label byte(s) + 3 x 32 x 32 = 3072 pixels); truncated or not the binary version?");
  std::vector<uint8_t> b(size);
  {
    std::ifstream in(path, std::ios::binary);
    if (!in || !in.read(reinterpret_cast<char*>(b.data()), std::streamsize(size)))
      throw Error("data file '" + path + "': cannot read " + std::to_string(size) + " bytes");
  }
  const size_t n = b.size() / rec;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* r = b.data() + i * rec;
    const int64_t lab = r[label_index];
    if (lab >= num_classes)
      throw Error("data file '" + path + "': record " + std::to_string(i) + " has label " + std::to_string(lab) +
                  ", expected < " + std::to_string(num_classes));
    labels.push_back(lab);
    pixels.insert(pixels.end(), r + label_bytes, r + rec);
  }
}

ImageDataset from_vectors(std::string name, std::vector<uint8_t>& pixels, std::vector<int64_t>& labels, int64_t c,
                          int64_t h, int64_t w, int64_t classes) {
  ImageDataset d;
  d.name = std::move(name);
  const int64_t n = static_cast<int64_t>(labels.size());
  d.images = torch::empty({n, c, h, w}, torch::kUInt8);
  std::memcpy(d.images.data_ptr<uint8_t>(), pixels.data(), pixels.size());
  d.labels = torch::empty({n}, torch::kInt64);
  std::memcpy(d.labels.data_ptr<int64_t>(), labels.data(), labels.size() * sizeof(int64_t));
  d.num_classes = classes;
  return d;
}

}  // namespace

ImageDataset ImageDataset::head(int64_t n) const {
  ImageDataset d = *this;
  if (n > 0 && n < size()) {
    d.images = images.narrow(0, 0, n).clone();
    d.labels = labels.narrow(0, 0, n).clone();
  }
  return d;
}

ImageDataset read_idx_pair(const std::string& images_path, const std::string& labels_path, int64_t num_classes,
                           const std::string& name, int64_t expect_h, int64_t expect_w) {
  uint64_t n = 0, h = 0, w = 0;
  auto img = read_sized(images_path, 16, [&](const std::vector<uint8_t>& hd) -> uint64_t {
    if (be32(hd, 0) != 0x00000803)
      throw Error("IDX image file '" + images_path + "': magic number " + std::to_string(be32(hd, 0)) +
                  ", expected 2051 (0x00000803: unsigned bytes, 3 dimensions)");
    n = be32(hd, 4), h = be32(hd, 8), w = be32(hd, 12);
    if (n == 0 || h == 0 || w == 0 || h > 4096 || w > 4096)
      throw Error("IDX image file '" + images_path + "': dimensions " + std::to_string(n) + "x" + std::to_string(h) +
                  "x" + std::to_string(w) + " are not valid (expected N>0 images of HxW, 0<H,W<=4096)");
    if ((expect_h > 0 && int64_t(h) != expect_h) || (expect_w > 0 && int64_t(w) != expect_w))
      throw Error("IDX image file '" + images_path + "': images of " + std::to_string(h) + "x" + std::to_string(w) +
                  " pixels, expected " + std::to_string(expect_h) + "x" + std::to_string(expect_w) + " for " + name);
    return 16 + n * h * w;
  });
  auto lab = read_sized(labels_path, 8, [&](const std::vector<uint8_t>& hd) -> uint64_t {
    if (be32(hd, 0) != 0x00000801)
      throw Error("IDX label file '" + labels_path + "': magic number " + std::to_string(be32(hd, 0)) +
                  ", expected 2049 (0x00000801: unsigned bytes, 1 dimension)");
    if (be32(hd, 4) != n)
      throw Error("IDX label file '" + labels_path + "': " + std::to_string(be32(hd, 4)) + " labels, expected " +
                  std::to_string(n) + " (the number of images in '" + images_path + "')");
    return 8 + n;
  });
  std::vector<int64_t> labels(n);
  for (uint64_t i = 0; i < n; ++i) {
    labels[i] = lab[8 + i];
    if (labels[i] >= num_classes)
      throw Error("IDX label file '" + labels_path + "': label " + std::to_string(labels[i]) + " at index " +
                  std::to_string(i) + ", expected < " + std::to_string(num_classes));
  }
  std::vector<uint8_t> pixels(img.begin() + 16, img.end());
  auto d = from_vectors(name, pixels, labels, 1, int64_t(h), int64_t(w), num_classes);
  d.source = images_path + ", " + labels_path;
  return d;
}

ImageDataset read_cifar_files(const std::vector<std::string>& files, int label_bytes, int label_index,
                              int64_t num_classes, const std::string& name) {
  if (label_bytes < 1 || label_index < 0 || label_index >= label_bytes)
    throw Error("read_cifar_files: label byte " + std::to_string(label_index) + " of " + std::to_string(label_bytes));
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  std::string source;
  for (const auto& f : files) {
    read_cifar_file(f, label_bytes, label_index, num_classes, pixels, labels);
    source += (source.empty() ? "" : ", ") + f;
  }
  auto d = from_vectors(name, pixels, labels, 3, 32, 32, num_classes);
  d.source = source;
  return d;
}

void check_dataset_files(const std::string& dataset, const std::string& dir) {
  if (dataset == "fashion_mnist") {
    const std::string d = dir.empty() ? default_fashion_mnist_dir() : dir;
    for (const char* base : {"train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"}) check_regular(pick_existing(d, base));
    for (const char* base : {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"}) {  // and their headers: 28x28
      const std::string path = pick_existing(d, base);
      check_regular(path);
      gzFile f = gzopen(path.c_str(), "rb");
      if (!f) throw Error("data file '" + path + "': cannot open");
      std::vector<uint8_t> h(16);
      const int n = gzread(f, h.data(), 16);
      gzclose(f);
      if (n != 16) throw Error("data file '" + path + "': shorter than the 16-byte IDX header");
      if (be32(h, 0) != 0x00000803 || be32(h, 8) != 28 || be32(h, 12) != 28)
        throw Error("IDX image file '" + path + "': header says magic " + std::to_string(be32(h, 0)) + ", images of " +
                    std::to_string(be32(h, 8)) + "x" + std::to_string(be32(h, 12)) +
                    "; Fashion-MNIST needs magic 2051 and 28x28 images");
    }
  } else if (dataset == "cifar10") {
    const std::string d = cifar_dir(dir, "data_batch_1.bin", "cifar-10-batches-bin");
    for (const char* f : {"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                          "data_batch_5.bin", "test_batch.bin"})
      check_regular((fs::path(d) / f).string());
  } else if (dataset == "cifar100") {
    const std::string d = cifar_dir(dir, "train.bin", "cifar-100-binary");
    for (const char* f : {"train.bin", "test.bin"}) check_regular((fs::path(d) / f).string());
  }
}

const char* default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

ImageDataset load_fashion_mnist(const std::string& dir, bool train) {
  const std::string d = dir.empty() ? default_fashion_mnist_dir() : dir;
  const std::string p = train ? "train" : "t10k";
  const std::string images = pick_existing(d, p + "-images-idx3-ubyte");
  const std::string labels = pick_existing(d, p + "-labels-idx1-ubyte");
  return read_idx_pair(images, labels, 10, std::string("fashion_mnist/") + (train ? "train" : "test"), 28, 28);
}

ImageDataset load_cifar10(const std::string& dir, bool train) {
  const std::string d = cifar_dir(dir, train ? "data_batch_1.bin" : "test_batch.bin", "cifar-10-batches-bin");
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  std::vector<std::string> files;
  if (train)
    for (int i = 1; i <= 5; ++i) files.push_back((fs::path(d) / ("data_batch_" + std::to_string(i) + ".bin")).string());
  else
    files.push_back((fs::path(d) / "test_batch.bin").string());
  return read_cifar_files(files, 1, 0, 10, std::string("cifar10/") + (train ? "train" : "test"));
}

ImageDataset load_cifar100(const std::string& dir, bool train, bool fine_labels) {
  const std::string file = train ? "train.bin" : "test.bin";
  const std::string d = cifar_dir(dir, file, "cifar-100-binary");
  return read_cifar_files({(fs::path(d) / file).string()}, 2, fine_labels ? 1 : 0, fine_labels ? 100 : 20,
                          std::string("cifar100/") + (train ? "train" : "test"));
}

ImageDataset make_synthetic_images(int64_t n, int64_t channels, int64_t size, int64_t num_classes, uint64_t seed,
                                   int split, int noise) {
  if (n <= 0 || channels <= 0 || size < 4 || num_classes < 2)
    throw Error("synthetic images: need n > 0, channels > 0, size >= 4, classes >= 2 (got n=" + std::to_string(n) +
                ", channels=" + std::to_string(channels) + ", size=" + std::to_string(size) +
                ", classes=" + std::to_string(num_classes) + ")");
  // Class templates: a 4x4 grid per channel with values in [40, 215], upsampled bilinearly.
  const int64_t g = 4, hw = size * size, per = channels * hw;
  std::vector<float> tmpl(size_t(num_classes * per));
  SplitMix64 trng(mix_seed(seed, 0x7e3d));
  for (int64_t k = 0; k < num_classes; ++k)
    for (int64_t c = 0; c < channels; ++c) {
      float grid[4][4];
      for (auto& row : grid)
        for (float& v : row) v = 40.0f + 175.0f * float(trng.below(1 << 20)) / float(1 << 20);
      for (int64_t y = 0; y < size; ++y)
        for (int64_t x = 0; x < size; ++x) {
          const float fy = float(y) * (g - 1) / float(size - 1), fx = float(x) * (g - 1) / float(size - 1);
          const int y0 = std::min<int>(int(fy), g - 2), x0 = std::min<int>(int(fx), g - 2);
          const float ty = fy - y0, tx = fx - x0;
          tmpl[size_t(k * per + c * hw + y * size + x)] =
              (1 - ty) * ((1 - tx) * grid[y0][x0] + tx * grid[y0][x0 + 1]) +
              ty * ((1 - tx) * grid[y0 + 1][x0] + tx * grid[y0 + 1][x0 + 1]);
        }
    }
  ImageDataset d;
  d.name = std::string("synthetic/") + (split == 0 ? "train" : "test");
  d.num_classes = num_classes;
  d.images = torch::empty({n, channels, size, size}, torch::kUInt8);
  d.labels = torch::empty({n}, torch::kInt64);
  uint8_t* px = d.images.data_ptr<uint8_t>();
  int64_t* lb = d.labels.data_ptr<int64_t>();
  const uint64_t base = mix_seed(seed, 0x5a17 + uint64_t(split));
  at::parallel_for(0, n, 64, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      SplitMix64 r(mix_seed(base, uint64_t(i)));
      const int64_t k = int64_t(r.below(uint64_t(num_classes)));
      lb[i] = k;
      const float* t = tmpl.data() + k * per;
      uint8_t* o = px + i * per;
      for (int64_t j = 0; j < per; ++j) {
        const float v = t[j] + float(int64_t(r.below(uint64_t(2 * noise + 1))) - noise);
        o[j] = uint8_t(std::lround(std::min(255.0f, std::max(0.0f, v))));
      }
    }
  });
  return d;
}

ChannelStats channel_stats(const ImageDataset& data) {
  ChannelStats s;
  const int64_t n = data.size(), c = data.channels(), hw = data.height() * data.width();
  const uint8_t* p = data.images.data_ptr<uint8_t>();
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* q = p + (i * c + ch) * hw;
      uint64_t s1 = 0, s2 = 0;
      for (int64_t j = 0; j < hw; ++j) {
        s1 += q[j];
        s2 += uint64_t(q[j]) * q[j];
      }
      sum += double(s1);
      sq += double(s2);
    }
    const double cnt = double(n) * double(hw);
    const double mean = sum / cnt / 255.0;
    const double var = std::max(0.0, sq / cnt / (255.0 * 255.0) - mean * mean);
    s.mean.push_back(float(mean));
    s.stddev.push_back(float(std::sqrt(var) > 1e-8 ? std::sqrt(var) : 1.0));
  }
  return s;
}

uint64_t mix_seed(uint64_t a, uint64_t b) {
  SplitMix64 r(a ^ (b * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull));
  r.next();
  return r.next();
}

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) p[size_t(i)] = i;
  SplitMix64 r(seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[size_t(i)], p[size_t(r.below(uint64_t(i + 1)))]);
  return p;
}

torch::Tensor assemble_batch(const ImageDataset& data, const std::vector<int64_t>& index, const ChannelStats& stats,
                             const Augment& augment, uint64_t aug_seed, torch::Tensor* labels_out) {
  const int64_t b = static_cast<int64_t>(index.size()), c = data.channels(), h = data.height(), w = data.width();
  const int64_t n = data.size();
  for (int64_t i : index)
    if (i < 0 || i >= n) throw Error("assemble_batch: example index " + std::to_string(i) + " outside [0, " +
                                     std::to_string(n) + ")");
  // Augmentation draws first (serial, so the result does not depend on the thread count).
  std::vector<int32_t> dy(size_t(b), 0), dx(size_t(b), 0);
  std::vector<uint8_t> flip(size_t(b), 0);
  SplitMix64 r(aug_seed);
  for (int64_t i = 0; i < b; ++i) {
    if (augment.crop && augment.pad > 0) {
      dy[size_t(i)] = int32_t(r.below(uint64_t(2 * augment.pad + 1))) - int32_t(augment.pad);
      dx[size_t(i)] = int32_t(r.below(uint64_t(2 * augment.pad + 1))) - int32_t(augment.pad);
    }
    if (augment.flip) flip[size_t(i)] = uint8_t(r.next() >> 63);
  }
  auto out = torch::empty({b, c, h, w}, torch::kFloat32);
  float* o = out.data_ptr<float>();
  const uint8_t* src = data.images.data_ptr<uint8_t>();
  std::vector<float> scale(static_cast<size_t>(c)), shift(static_cast<size_t>(c));
  for (int64_t ch = 0; ch < c; ++ch) {
    scale[size_t(ch)] = 1.0f / (255.0f * stats.stddev[size_t(ch)]);
    shift[size_t(ch)] = -stats.mean[size_t(ch)] / stats.stddev[size_t(ch)];
  }
  at::parallel_for(0, b, 8, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const int32_t oy = dy[size_t(i)], ox = dx[size_t(i)];
      const bool fl = flip[size_t(i)] != 0;
      for (int64_t ch = 0; ch < c; ++ch) {
        const uint8_t* s = src + (index[size_t(i)] * c + ch) * h * w;
        float* d = o + (i * c + ch) * h * w;
        const float sc = scale[size_t(ch)], sh = shift[size_t(ch)];
        for (int64_t y = 0; y < h; ++y) {
          const int64_t sy = y + oy;
          float* drow = d + y * w;
          if (sy < 0 || sy >= h) {
            for (int64_t x = 0; x < w; ++x) drow[x] = sh;
            continue;
          }
          const uint8_t* srow = s + sy * w;
          for (int64_t x = 0; x < w; ++x) {
            const int64_t xx = fl ? (w - 1 - x) : x;  // flip the cropped window
            const int64_t sx = xx + ox;
            drow[x] = (sx < 0 || sx >= w) ? sh : float(srow[sx]) * sc + sh;
          }
        }
      }
    }
  });
  if (labels_out) {
    auto idx = torch::from_blob(const_cast<int64_t*>(index.data()), {b}, torch::kInt64);
    *labels_out = data.labels.index_select(0, idx);
  }
  return out;
}

}  // namespace proxbench::problems
