#include "harness/run_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/common.h"
#include "harness/io.h"

namespace proxbench::harness {

RunLock::~RunLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the only descriptor releases the flock
}

const char* run_lock_file_name() { return "run.lock"; }

std::unique_ptr<RunLock> try_lock_run(const std::string& run_dir) {
  make_dirs(run_dir);
  const std::string path = run_dir + "/" + run_lock_file_name();
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) throw Error("cannot open the run lock '" + path + "': " + std::strerror(errno));
  while (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EINTR) continue;
    ::close(fd);
    if (err == EWOULDBLOCK) return nullptr;
    throw Error("cannot lock '" + path + "': " + std::strerror(err));
  }
  return std::make_unique<RunLock>(fd);
}

}  // namespace proxbench::harness
