#pragma once
// Child processes of the reproj binary (REPROJ_BINARY, set by scripts/test), for crash tests.

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace reproj::test {

class Child {
 public:
  /// Starts REPROJ_BINARY with `args`; `env` entries ("K=V") are added to this process's environment.
  /// With `log_path`, the child's stdout and stderr are appended to that file instead of ours.
  Child(const std::vector<std::string>& args, const std::vector<std::string>& env, const std::string& log_path = "") {
    const char* bin = std::getenv("REPROJ_BINARY");
    if (!bin || !*bin) throw std::runtime_error("REPROJ_BINARY is not set: run the tests through scripts/test");
    std::vector<std::string> argv_s{bin};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    // Later entries override: getenv() would return the first of two equal keys.
    std::vector<std::string> env_s;
    auto key_of = [](const std::string& kv) { return kv.substr(0, kv.find('=') + 1); };
    auto overridden = [&](const std::string& kv) {
      for (const auto& o : env) {
        if (key_of(o) == key_of(kv)) return true;
      }
      return false;
    };
    for (char** e = environ; *e; ++e) {
      if (!overridden(*e)) env_s.emplace_back(*e);
    }
    for (std::size_t i = 0; i < env.size(); ++i) {
      bool later = false;
      for (std::size_t j = i + 1; j < env.size(); ++j) later = later || key_of(env[j]) == key_of(env[i]);
      if (!later) env_s.push_back(env[i]);
    }
    std::vector<char*> argv, envp;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env_s) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    if (!log_path.empty()) {
      posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      posix_spawn_file_actions_adddup2(&actions, 1, 2);
    }
    const int rc = posix_spawn(&pid_, bin, &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error(std::string{"cannot start "} + bin);
  }
  ~Child() {
    if (pid_ > 0 && !reaped_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  void kill(int sig = SIGKILL) { ::kill(pid_, sig); }
  /// Waits for the exit; returns the raw wait status.
  int wait() {
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    return status;
  }
  /// Waits for the exit; returns the raw wait status and, in `peak_rss_kib`, the child's peak resident
  /// set (the kernel's ru_maxrss, KiB, kept across the binary's re-execution of itself).
  int wait(long* peak_rss_kib) {
    int status = 0;
    rusage usage{};
    wait4(pid_, &status, 0, &usage);
    reaped_ = true;
    *peak_rss_kib = usage.ru_maxrss;
    return status;
  }
  /// Waits up to `timeout`; true if it exited.
  bool wait_for(std::chrono::milliseconds timeout, int* status) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (true) {  // polls at least once, so a zero timeout asks "has it exited?"
      if (waitpid(pid_, status, WNOHANG) == pid_) {
        reaped_ = true;
        return true;
      }
      if (std::chrono::steady_clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

}  // namespace reproj::test
