#include "harness/launch.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/common.h"
#include "core/distributed.h"

extern char** environ;

namespace proxbench::harness {
namespace {
// One write(2) per line: the ranks share this stderr, and an ostream writes each << apart, so a
// rank's line could land inside the launcher's (seen: "rank " … a survivor's line … "0 was killed").
void write_stderr_line(const std::string& line) {
  std::cerr << std::flush;
  for (size_t off = 0; off < line.size();) {
    const ssize_t w = ::write(2, line.data() + off, line.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += size_t(w);
  }
}
}  // namespace

int launch_local_ranks(int nproc) {
  if (nproc < 1) throw Error("--nproc " + std::to_string(nproc) + ": must be >= 1");
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string raw((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  for (size_t i = 0; i < raw.size();) {
    size_t j = raw.find('\0', i);
    if (j == std::string::npos) j = raw.size();
    args.push_back(raw.substr(i, j - i));
    i = j + 1;
  }
  std::vector<std::string> child_args;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    child_args.push_back(args[i]);
  }
  char exe[4096];
  ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw Error("--nproc: cannot find this executable (/proc/self/exe)");
  exe[n] = 0;
  const int port = core::free_local_port();
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  const std::string threads = std::to_string(std::max(1u, hw / unsigned(nproc)));
  double timeout = 300;
  if (const char* t = std::getenv("PROXBENCH_DIST_TIMEOUT"); t && *t) timeout = std::max(1.0, std::atof(t));
  std::cout << std::flush;
  std::cerr << std::flush;
  std::vector<pid_t> pids;
  for (int r = 0; r < nproc; ++r) {
    // environment built before fork(): the child only calls execve (async-signal-safe)
    std::vector<std::string> env;
    const std::vector<std::pair<std::string, std::string>> set = {
        {"RANK", std::to_string(r)},           {"LOCAL_RANK", std::to_string(r)},
        {"WORLD_SIZE", std::to_string(nproc)}, {"LOCAL_WORLD_SIZE", std::to_string(nproc)},
        {"MASTER_ADDR", "127.0.0.1"},          {"MASTER_PORT", std::to_string(port)}};
    for (char** e = environ; *e; ++e) {
      std::string kv = *e;
      bool replaced = false;
      for (const auto& s : set) replaced |= kv.rfind(s.first + "=", 0) == 0;
      if (!replaced) env.push_back(kv);
    }
    for (const auto& s : set) env.push_back(s.first + "=" + s.second);
    if (!std::getenv("OMP_NUM_THREADS")) env.push_back("OMP_NUM_THREADS=" + threads);
    std::vector<char*> argv, envp;
    for (auto& a : child_args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    pid_t pid = ::fork();
    if (pid < 0) {
      for (pid_t q : pids) ::kill(q, SIGTERM);
      throw Error("--nproc: fork failed: " + std::string(std::strerror(errno)));
    }
    if (pid == 0) {
      ::execve(exe, argv.data(), envp.data());
      static const char msg[] = "proxbench: error: --nproc: cannot start a rank (execve failed)\n";
      (void)!::write(2, msg, sizeof msg - 1);
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  int rc = 0, alive = nproc;
  bool deadline_set = false;
  auto deadline = std::chrono::steady_clock::now();
  while (alive > 0) {
    int st = 0;
    pid_t p = ::waitpid(-1, &st, deadline_set ? WNOHANG : 0);
    if (p == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::ostringstream os;
        os << "proxbench: --nproc: ranks still running " << timeout + 30
           << " s after another rank failed; terminating them\n";
        write_stderr_line(os.str());
        for (pid_t q : pids)
          if (q > 0) ::kill(q, SIGTERM);
        deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3600);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      continue;
    }
    if (p < 0) break;
    int r = 0;
    for (; r < nproc && pids[r] != p; ++r) {
    }
    if (r == nproc) continue;
    pids[r] = -1;
    --alive;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (code != 0) {
      if (WIFSIGNALED(st))
        write_stderr_line("proxbench: --nproc: rank " + std::to_string(r) + " was killed by signal " +
                          std::to_string(WTERMSIG(st)) + "\n");
      if (rc == 0) rc = code;
      if (!deadline_set) {
        deadline_set = true;
        deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(int64_t((timeout + 30) * 1000));
      }
    }
  }
  return rc;
}

}  // namespace proxbench::harness
