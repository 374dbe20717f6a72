// tests/report/report_test_util.hpp — small helpers for the report tests:
// a temporary directory, file I/O, stderr redirection and the JSON checker.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#ifndef REPORT_CHECKER
#error "REPORT_CHECKER must name check_report.py"
#endif

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/iowq-report-test.XXXXXX";
    const char* p = mkdtemp(tmpl);
    path = p ? p : "/tmp";
  }
  ~TempDir() {
    if (path != "/tmp") {
      const std::string cmd = "chmod -R u+rwx '" + path + "' 2>/dev/null; rm -rf '" + path + "'";
      if (system(cmd.c_str()) != 0) {
      }
    }
  }
};

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

// Points fd 2 at a file for its lifetime.
struct StderrTo {
  int saved;
  explicit StderrTo(const std::string& path) {
    fflush(stderr);
    saved = dup(2);
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    dup2(fd, 2);
    close(fd);
  }
  ~StderrTo() {
    dup2(saved, 2);
    close(saved);
  }
};

// status: the checker's exit code (0 = valid), 77 when python3 is missing.
struct CheckResult {
  int status = -1;
  std::string output;
  std::map<std::string, std::string> values;  // dotted path -> value
};

inline CheckResult run_checker(const std::string& path, const char* flags = "") {
  CheckResult r;
  if (system("command -v python3 >/dev/null 2>&1") != 0) {
    r.status = 77;
    return r;
  }
  const std::string cmd = std::string("python3 '") + REPORT_CHECKER + "' '" + path + "' " + flags + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  const int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  std::istringstream is(r.output);
  std::string line;
  while (std::getline(is, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) r.values[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return r;
}
