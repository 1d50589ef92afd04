// Data readers on files written here (good, truncated, corrupt), the real Fashion-MNIST files when
// installed, the synthetic set, and minibatch assembly (normalization, crop + flip).
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include <unistd.h>

#include "core/common.h"
#include "problems/datasets/image_data.h"

namespace fs = std::filesystem;
using namespace proxbench;
using namespace proxbench::problems;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("pb_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter()++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}

void write_gz(const std::string& path, const std::vector<uint8_t>& data) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, data.data(), unsigned(data.size())), int(data.size()));
  gzclose(f);
}

void write_raw(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream o(path, std::ios::binary);
  o.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
}

std::vector<uint8_t> idx_images(uint32_t n, uint32_t h, uint32_t w, uint32_t magic = 0x803) {
  std::vector<uint8_t> b;
  put_be32(b, magic);
  put_be32(b, n);
  put_be32(b, h);
  put_be32(b, w);
  for (uint32_t i = 0; i < n * h * w; ++i) b.push_back(uint8_t((i * 7 + 3) % 256));
  return b;
}

std::vector<uint8_t> idx_labels(uint32_t n, uint8_t max_label = 10) {
  std::vector<uint8_t> b;
  put_be32(b, 0x801);
  put_be32(b, n);
  for (uint32_t i = 0; i < n; ++i) b.push_back(uint8_t(i % max_label));
  return b;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Writes a fake Fashion-MNIST folder (gzipped) with n train and m test images of 28x28.
void write_fashion(const TempDir& d, uint32_t n, uint32_t m) {
  write_gz(d.file("train-images-idx3-ubyte.gz"), idx_images(n, 28, 28));
  write_gz(d.file("train-labels-idx1-ubyte.gz"), idx_labels(n));
  write_gz(d.file("t10k-images-idx3-ubyte.gz"), idx_images(m, 28, 28));
  write_gz(d.file("t10k-labels-idx1-ubyte.gz"), idx_labels(m));
}

std::vector<uint8_t> cifar_records(int n, int label_bytes, int first_label) {
  std::vector<uint8_t> b;
  for (int i = 0; i < n; ++i) {
    for (int l = 0; l < label_bytes; ++l) b.push_back(uint8_t((first_label + i + 7 * l) % (l == 0 && label_bytes == 2 ? 20 : (label_bytes == 2 ? 100 : 10))));
    for (int j = 0; j < 3072; ++j) b.push_back(uint8_t((i * 31 + j) % 251));
  }
  return b;
}

}  // namespace

TEST(DataIdx, ReadsGzippedFilesWithValuesAndShape) {
  TempDir d;
  write_fashion(d, 12, 5);
  auto tr = load_fashion_mnist(d.path.string(), true);
  auto te = load_fashion_mnist(d.path.string(), false);
  ASSERT_EQ(tr.images.sizes(), (std::vector<int64_t>{12, 1, 28, 28}));
  ASSERT_EQ(te.size(), 5);
  EXPECT_EQ(tr.num_classes, 10);
  EXPECT_EQ(tr.images.data_ptr<uint8_t>()[100], uint8_t((100 * 7 + 3) % 256));
  EXPECT_EQ(tr.labels[11].item<int64_t>(), 1);
  EXPECT_EQ(te.labels[4].item<int64_t>(), 4);
}

TEST(DataIdx, ReadsUncompressedFiles) {
  TempDir d;
  write_raw(d.file("a"), idx_images(3, 4, 5));
  write_raw(d.file("b"), idx_labels(3));
  auto ds = read_idx_pair(d.file("a"), d.file("b"), 10, "x");
  EXPECT_EQ(ds.images.sizes(), (std::vector<int64_t>{3, 1, 4, 5}));
}

TEST(DataIdx, TruncatedImageFileNamesFileAndExpectedSize) {
  TempDir d;
  auto img = idx_images(4, 28, 28);
  img.resize(img.size() - 100);
  write_gz(d.file("train-images-idx3-ubyte.gz"), img);
  write_gz(d.file("train-labels-idx1-ubyte.gz"), idx_labels(4));
  const auto msg = error_of([&] { load_fashion_mnist(d.path.string(), true); });
  EXPECT_NE(msg.find("train-images-idx3-ubyte.gz"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected 3152"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
}

TEST(DataIdx, BadMagicLabelMismatchAndBadLabel) {
  TempDir d;
  write_raw(d.file("img"), idx_images(3, 2, 2, 0x801));
  write_raw(d.file("lab"), idx_labels(3));
  auto msg = error_of([&] { read_idx_pair(d.file("img"), d.file("lab"), 10, "x"); });
  EXPECT_NE(msg.find("magic number"), std::string::npos) << msg;
  EXPECT_NE(msg.find(d.file("img")), std::string::npos) << msg;
  write_raw(d.file("img"), idx_images(3, 2, 2));
  write_raw(d.file("lab"), idx_labels(4));
  msg = error_of([&] { read_idx_pair(d.file("img"), d.file("lab"), 10, "x"); });
  EXPECT_NE(msg.find("4 labels, expected 3"), std::string::npos) << msg;
  write_raw(d.file("lab"), idx_labels(3, 12));
  msg = error_of([&] { read_idx_pair(d.file("img"), d.file("lab"), 2, "x"); });
  EXPECT_NE(msg.find("expected < 2"), std::string::npos) << msg;
}

TEST(DataIdx, CorruptAndCutGzipStreamsAndMissingFile) {
  TempDir d;
  write_gz(d.file("img.gz"), idx_images(50, 28, 28));
  write_gz(d.file("lab.gz"), idx_labels(50));
  std::ifstream in(d.file("img.gz"), std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), {});
  // cut in the middle of the deflate stream
  write_raw(d.file("cut.gz"), std::vector<uint8_t>(gz.begin(), gz.begin() + gz.size() / 2));
  auto msg = error_of([&] { read_idx_pair(d.file("cut.gz"), d.file("lab.gz"), 10, "x"); });
  EXPECT_NE(msg.find("cut.gz"), std::string::npos) << msg;
  EXPECT_FALSE(msg.empty());
  // garbage in the deflate stream
  auto bad = gz;
  for (size_t i = 20; i < bad.size() - 10; i += 3) bad[i] ^= 0xA5;
  write_raw(d.file("bad.gz"), bad);
  msg = error_of([&] { read_idx_pair(d.file("bad.gz"), d.file("lab.gz"), 10, "x"); });
  EXPECT_NE(msg.find("bad.gz"), std::string::npos) << msg;
  msg = error_of([&] { load_fashion_mnist(d.file("nowhere"), false); });
  EXPECT_NE(msg.find("t10k-images-idx3-ubyte"), std::string::npos) << msg;
  EXPECT_NE(msg.find("does not exist"), std::string::npos) << msg;
}

TEST(DataCifar, Cifar10ReadsBatchesInOrderAndPlanes) {
  TempDir d;
  for (int i = 1; i <= 5; ++i) write_raw(d.file("data_batch_" + std::to_string(i) + ".bin"), cifar_records(3, 1, i));
  write_raw(d.file("test_batch.bin"), cifar_records(2, 1, 0));
  auto tr = load_cifar10(d.path.string(), true);
  auto te = load_cifar10(d.path.string(), false);
  ASSERT_EQ(tr.images.sizes(), (std::vector<int64_t>{15, 3, 32, 32}));
  ASSERT_EQ(te.size(), 2);
  EXPECT_EQ(tr.labels[0].item<int64_t>(), 1);   // batch 1, record 0
  EXPECT_EQ(tr.labels[3].item<int64_t>(), 2);   // batch 2, record 0
  EXPECT_EQ(tr.labels[14].item<int64_t>(), 7);  // batch 5, record 2
  // record 1 pixel j sits at channel j/1024, row (j%1024)/32, column j%32
  const int j = 1024 + 5 * 32 + 7;
  EXPECT_EQ(tr.images[1][1][5][7].item<int64_t>(), (1 * 31 + j) % 251);
}

TEST(DataCifar, ParentFolderLayoutAndErrors) {
  TempDir d;
  fs::create_directories(d.path / "cifar-10-batches-bin");
  const auto sub = (d.path / "cifar-10-batches-bin").string();
  write_raw(sub + "/test_batch.bin", cifar_records(2, 1, 0));
  EXPECT_EQ(load_cifar10(d.path.string(), false).size(), 2);
  // missing batch 2
  write_raw(sub + "/data_batch_1.bin", cifar_records(2, 1, 0));
  auto msg = error_of([&] { load_cifar10(d.path.string(), true); });
  EXPECT_NE(msg.find("data_batch_2.bin"), std::string::npos) << msg;
  // truncated record
  auto rec = cifar_records(2, 1, 0);
  rec.resize(rec.size() - 10);
  write_raw(sub + "/test_batch.bin", rec);
  msg = error_of([&] { load_cifar10(sub, false); });
  EXPECT_NE(msg.find("test_batch.bin"), std::string::npos) << msg;
  EXPECT_NE(msg.find("3073-byte"), std::string::npos) << msg;
  msg = error_of([&] { load_cifar10("", false); });
  EXPECT_NE(msg.find("data_dir"), std::string::npos) << msg;
}

TEST(DataCifar, Cifar100FineAndCoarseLabels) {
  TempDir d;
  write_raw(d.file("train.bin"), cifar_records(4, 2, 3));
  write_raw(d.file("test.bin"), cifar_records(2, 2, 0));
  auto fine = load_cifar100(d.path.string(), true, true);
  auto coarse = load_cifar100(d.path.string(), true, false);
  EXPECT_EQ(fine.num_classes, 100);
  EXPECT_EQ(coarse.num_classes, 20);
  EXPECT_EQ(coarse.labels[1].item<int64_t>(), 4);       // (3 + 1) % 20
  EXPECT_EQ(fine.labels[1].item<int64_t>(), 4 + 7);     // (3 + 1 + 7) % 100
  EXPECT_EQ(fine.images[2][0][0][0].item<int64_t>(), (2 * 31) % 251);
  auto rec = cifar_records(2, 1, 0);  // CIFAR-10 records are not CIFAR-100 records
  write_raw(d.file("test.bin"), rec);
  auto msg = error_of([&] { load_cifar100(d.path.string(), false, true); });
  EXPECT_NE(msg.find("3074-byte"), std::string::npos) << msg;
}

TEST(DataFashionMnist, RealFilesIfInstalled) {
  const std::string dir = default_fashion_mnist_dir();
  if (!fs::exists(dir + "/t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian package dataset-fashion-mnist not installed (" << dir << " missing)";
  auto te = load_fashion_mnist(dir, false);
  ASSERT_EQ(te.images.sizes(), (std::vector<int64_t>{10000, 1, 28, 28}));
  auto counts = torch::bincount(te.labels);
  for (int k = 0; k < 10; ++k) EXPECT_EQ(counts[k].item<int64_t>(), 1000);
  auto tr = load_fashion_mnist(dir, true);
  EXPECT_EQ(tr.size(), 60000);
  auto st = channel_stats(tr);
  EXPECT_NEAR(st.mean[0], 0.2860, 2e-3);  // the commonly quoted Fashion-MNIST statistics
  EXPECT_NEAR(st.stddev[0], 0.3530, 2e-3);
}

TEST(DataSynthetic, SeededLearnableAndSplitsShareTemplates) {
  auto a = make_synthetic_images(40, 3, 8, 4, 7, 0);
  auto b = make_synthetic_images(40, 3, 8, 4, 7, 0);
  auto c = make_synthetic_images(40, 3, 8, 4, 8, 0);
  auto t = make_synthetic_images(40, 3, 8, 4, 7, 1);
  EXPECT_TRUE(a.images.equal(b.images));
  EXPECT_TRUE(a.labels.equal(b.labels));
  EXPECT_FALSE(a.images.equal(c.images));
  EXPECT_FALSE(a.images.equal(t.images));
  EXPECT_GE(a.labels.min().item<int64_t>(), 0);
  EXPECT_LT(a.labels.max().item<int64_t>(), 4);
  // nearest class mean (from the training split) classifies the test split: the task is learnable
  auto xf = a.images.to(torch::kFloat).flatten(1);
  auto tf = t.images.to(torch::kFloat).flatten(1);
  std::vector<torch::Tensor> means;
  for (int k = 0; k < 4; ++k) {
    auto m = a.labels.eq(k);
    means.push_back(m.any().item<bool>() ? xf.index({m}).mean(0) : torch::full({xf.size(1)}, 1e9));
  }
  auto dist = torch::cdist(tf, torch::stack(means));
  const double acc = dist.argmin(1).eq(t.labels).to(torch::kFloat).mean().item<double>();
  EXPECT_GT(acc, 0.9);
  EXPECT_THROW(make_synthetic_images(0, 3, 8, 4, 1, 0), Error);
}

TEST(DataBatch, PermutationIsSeededPermutation) {
  auto p = seeded_permutation(100, 5);
  auto q = seeded_permutation(100, 5);
  auto r = seeded_permutation(100, 6);
  EXPECT_EQ(p, q);
  EXPECT_NE(p, r);
  auto s = p;
  std::sort(s.begin(), s.end());
  for (int i = 0; i < 100; ++i) EXPECT_EQ(s[size_t(i)], i);
}

TEST(DataBatch, NormalizationWithoutAugmentation) {
  auto ds = make_synthetic_images(10, 3, 8, 3, 1, 0);
  auto st = channel_stats(ds);
  torch::Tensor y;
  auto x = assemble_batch(ds, {4, 2, 9}, st, Augment{}, 0, &y);
  auto idx = torch::tensor(std::vector<int64_t>{4, 2, 9});
  auto ref = ds.images.index_select(0, idx).to(torch::kFloat) / 255.0;
  auto mean = torch::tensor(st.mean).view({1, 3, 1, 1}), sd = torch::tensor(st.stddev).view({1, 3, 1, 1});
  ref = (ref - mean) / sd;
  EXPECT_TRUE(torch::allclose(x, ref, 1e-5, 1e-5));
  EXPECT_TRUE(y.equal(ds.labels.index_select(0, idx)));
  // normalized training set has per-channel mean 0, std 1
  std::vector<int64_t> all(10);
  std::iota(all.begin(), all.end(), 0);
  auto xa = assemble_batch(ds, all, st, Augment{}, 0, nullptr);
  auto m = xa.mean({0, 2, 3});
  auto s = xa.std({0, 2, 3}, false);
  EXPECT_TRUE(torch::allclose(m, torch::zeros({3}), 0, 1e-4));
  EXPECT_TRUE(torch::allclose(s, torch::ones({3}), 0, 1e-4));
}

TEST(DataBatch, CropAndFlipAreOneOfThePaddedShiftsAndSeeded) {
  auto ds = make_synthetic_images(6, 3, 10, 3, 2, 0);
  auto st = channel_stats(ds);
  Augment aug;
  aug.crop = aug.flip = true;
  std::vector<int64_t> idx{0, 1, 2, 3, 4, 5};
  auto x1 = assemble_batch(ds, idx, st, aug, 99, nullptr);
  auto x2 = assemble_batch(ds, idx, st, aug, 99, nullptr);
  auto x3 = assemble_batch(ds, idx, st, aug, 100, nullptr);
  EXPECT_TRUE(x1.equal(x2));
  EXPECT_FALSE(x1.equal(x3));
  auto mean = torch::tensor(st.mean).view({3, 1, 1}), sd = torch::tensor(st.stddev).view({3, 1, 1});
  int flipped = 0, shifted = 0;
  for (int64_t i = 0; i < 6; ++i) {
    auto img = ds.images[i].to(torch::kFloat) / 255.0;
    auto padded = torch::constant_pad_nd(img, {4, 4, 4, 4}, 0.0);
    bool found = false;
    for (int oy = 0; oy <= 8 && !found; ++oy)
      for (int ox = 0; ox <= 8 && !found; ++ox)
        for (int f = 0; f < 2 && !found; ++f) {
          auto crop = padded.slice(1, oy, oy + 10).slice(2, ox, ox + 10);
          if (f) crop = crop.flip({2});
          if (torch::allclose((crop - mean) / sd, x1[i], 1e-5, 1e-5)) {
            found = true;
            flipped += f;
            shifted += (oy != 4 || ox != 4);
          }
        }
    EXPECT_TRUE(found) << "example " << i << " is not a padded crop (+flip) of its image";
  }
  EXPECT_GT(shifted, 0);
}
