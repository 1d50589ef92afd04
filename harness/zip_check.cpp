// harness/zip_check.h. Its own file on purpose: the libFuzzer build instruments
// harness/checkpoint.cpp but links this file uninstrumented from libproxbench.so, so the fuzzer
// cannot see the CRC comparison's operands and forge matching CRCs (it did, 2026-12-01).
#include "harness/zip_check.h"

#include <zlib.h>

#include <cstdint>

#include "core/common.h"

namespace proxbench::harness {

static uint32_t le16(const std::string& b, size_t at) {
  return uint32_t(uint8_t(b[at])) | uint32_t(uint8_t(b[at + 1])) << 8;
}
static uint32_t le32(const std::string& b, size_t at) { return le16(b, at) | le16(b, at + 2) << 16; }

void verify_zip_crcs(const std::string& b) {
  if (b.size() >= (uint64_t(1) << 32)) return;
  if (b.size() < 22) throw Error("not a zip archive (" + std::to_string(b.size()) + " bytes)");
  size_t eocd = std::string::npos;
  for (size_t i = b.size() - 22 + 1; i-- > 0 && b.size() - i <= 22 + 65535;)
    if (le32(b, i) == 0x06054b50u) {
      eocd = i;
      break;
    }
  if (eocd == std::string::npos) throw Error("not a zip archive (no end-of-central-directory record)");
  const uint32_t entries = le16(b, eocd + 10), cd_size = le32(b, eocd + 12), cd_off = le32(b, eocd + 16);
  // LibTorch writes a zip64 end record too, and its reader (miniz) takes the entry count and the
  // central directory's place from it whenever a zip64 locator sits right before the end record.
  // Check exactly what it will read: both records must agree (a forged 32-bit count of 0 let a
  // damaged archive through unchecked: fuzz_checkpoint, 2026-12-01).
  if (eocd >= 20 + 56 && le32(b, eocd - 20) == 0x07064b50u) {
    const uint64_t z = uint64_t(le32(b, eocd - 12)) | uint64_t(le32(b, eocd - 8)) << 32;
    if (z + 56 > eocd - 20 || le32(b, z) != 0x06064b50u) throw Error("zip64 end record damaged");
    auto le64 = [&](size_t at) { return uint64_t(le32(b, at)) | uint64_t(le32(b, at + 4)) << 32; };
    if (le64(z + 24) != le16(b, eocd + 8) || le64(z + 32) != entries || le64(z + 40) != cd_size ||
        le64(z + 48) != cd_off || le16(b, eocd + 8) != entries)
      throw Error("zip64 and zip end records disagree (damaged file)");
  } else if (le16(b, eocd + 8) != entries) {
    throw Error("zip end record damaged (entry counts disagree)");
  }
  if (uint64_t(cd_off) + cd_size > eocd) throw Error("zip central directory out of bounds");
  size_t at = cd_off;
  for (uint32_t k = 0; k < entries; ++k) {
    if (at + 46 > eocd || le32(b, at) != 0x02014b50u) throw Error("zip central directory damaged");
    const uint32_t method = le16(b, at + 10), crc = le32(b, at + 16), csize = le32(b, at + 20),
                   usize = le32(b, at + 24), nlen = le16(b, at + 28), xlen = le16(b, at + 30), clen = le16(b, at + 32),
                   loff = le32(b, at + 42);
    if (at + 46 + nlen > eocd) throw Error("zip central directory damaged");
    const std::string name = b.substr(at + 46, nlen);
    if (method != 0 && method != 8) throw Error("zip entry '" + name + "': unknown compression method");
    if (uint64_t(loff) + 30 > b.size() || le32(b, loff) != 0x04034b50u)
      throw Error("zip entry '" + name + "': local header damaged");
    const uint64_t data = uint64_t(loff) + 30 + le16(b, loff + 26) + le16(b, loff + 28);
    if (data + csize > b.size()) throw Error("zip entry '" + name + "' runs past the end (truncated file?)");
    uLong got = ::crc32(0L, Z_NULL, 0);
    if (method == 0) {
      if (csize != usize) throw Error("zip entry '" + name + "': sizes disagree");
      got = ::crc32(got, reinterpret_cast<const Bytef*>(b.data() + data), usize);
    } else {  // deflate (LibTorch compresses its small code entries): inflate in chunks, CRC as we go
      z_stream z{};
      if (::inflateInit2(&z, -MAX_WBITS) != Z_OK) throw Error("zlib: inflateInit2 failed");
      z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(b.data() + data));
      z.avail_in = csize;
      unsigned char buf[1 << 14];
      uint64_t out = 0;
      int rc = Z_OK;
      while (rc == Z_OK && out <= usize) {
        z.next_out = buf;
        z.avail_out = sizeof buf;
        rc = ::inflate(&z, Z_NO_FLUSH);
        const size_t n = sizeof buf - z.avail_out;
        got = ::crc32(got, buf, uInt(n));
        out += n;
        if (rc == Z_OK && n == 0 && z.avail_in == 0) break;
      }
      ::inflateEnd(&z);
      if (rc != Z_STREAM_END || out != usize)
        throw Error("zip entry '" + name + "' does not inflate to its size (damaged file)");
    }
    if (uint32_t(got) != crc) throw Error("zip entry '" + name + "' fails its CRC-32 check (damaged file)");
    at += size_t(46) + nlen + xlen + clen;
  }
}

}  // namespace proxbench::harness
