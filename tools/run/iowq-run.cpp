// tools/run/iowq-run.cpp — run a command with libiowq.so preloaded.
//
//   iowq-run [OPTION]... [--] COMMAND [ARG]...
//
// The shape of coreutils' stdbuf and eatmydata: every option becomes one
// IOWQ_* variable, the library found next to the launcher (BINDIR/../lib) is
// prepended to LD_PRELOAD (existing entries kept), then COMMAND is exec'd.
// Options, --help and the README table (--options-markdown, hidden) are all
// generated from iowq::shim::kOptions, so they cannot drift from the parser.
//
// Validation is strict, unlike the shim's: a bad option or value makes
// iowq-run exit 125 without running anything. Exit status: COMMAND's own
// (we exec it), 125 iowq-run failed, 126 COMMAND cannot run, 127 not found.
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "options.hpp"

namespace {

using iowq::shim::check_option_value;
using iowq::shim::default_text;
using iowq::shim::find_option_by_flag;
using iowq::shim::kFlagAliases;
using iowq::shim::kNumFlagAliases;
using iowq::shim::kNumOptions;
using iowq::shim::kOptions;
using iowq::shim::OptionDef;

constexpr int kExitFailed = 125;
constexpr int kExitCannotRun = 126;
constexpr int kExitNotFound = 127;

#ifndef IOWQ_RUN_LIBDIR_REL
#define IOWQ_RUN_LIBDIR_REL "../lib"
#endif

[[noreturn]] void fail(const std::string& msg, bool hint = false) {
  std::fprintf(stderr, "iowq-run: %s\n", msg.c_str());
  if (hint) std::fprintf(stderr, "Try 'iowq-run --help' for more information.\n");
  std::exit(kExitFailed);
}

/* ---- Help, generated from the table ------------------------------------- */

std::string default_of(const OptionDef& o) {
  char buf[128];
  default_text(o, buf, sizeof buf);
  return buf;
}

// "--write-behind[=BOOL]", "--mode=auto|pool"
std::string flag_usage(const OptionDef& o) {
  std::string s = std::string("--") + o.flag;
  s += o.implicit ? std::string("[=") + o.metavar + "]" : std::string("=") + o.metavar;
  return s;
}

// Prints "  LEFT   text" with text wrapped at 79 columns under column 26.
void print_entry(const std::string& left, const std::string& text) {
  constexpr size_t kCol = 26, kWidth = 79;
  std::string line = "  " + left;
  if (line.size() + 2 > kCol) {
    std::printf("%s\n", line.c_str());
    line.clear();
  }
  line.resize(kCol, ' ');
  size_t pos = 0;
  while (pos < text.size()) {
    size_t room = kWidth - kCol;
    size_t end = text.size();
    if (end - pos > room) {
      end = text.rfind(' ', pos + room);
      if (end == std::string::npos || end <= pos) end = pos + room;
    }
    line += text.substr(pos, end - pos);
    std::printf("%s\n", line.c_str());
    line.assign(kCol, ' ');
    pos = end;
    while (pos < text.size() && text[pos] == ' ') ++pos;
  }
}

void print_help() {
  std::printf(
      "Usage: iowq-run [OPTION]... [--] COMMAND [ARG]...\n"
      "Run COMMAND with its blocking file and socket I/O (write, read, send, recv...)\n"
      "routed through iowq's io-wq thread pools: libiowq.so is added in front of\n"
      "LD_PRELOAD and each OPTION sets one IOWQ_* environment variable. IOWQ_*\n"
      "variables already in the environment are kept unless an option overrides them.\n"
      "\n"
      "Options:\n");
  for (size_t i = 0; i < kNumOptions; ++i) {
    const OptionDef& o = kOptions[i];
    std::string text = std::string(o.doc) + " [" + o.env + "; default: " + default_of(o) + "]";
    print_entry(flag_usage(o), text);
  }
  for (size_t i = 0; i < kNumFlagAliases; ++i)
    print_entry(std::string("--") + kFlagAliases[i].flag, kFlagAliases[i].doc);
  print_entry("-h, --help", "show this help and exit");
  print_entry("--version", "show the version and exit");
  std::printf(
      "\n"
      "BOOL is 1/0, yes/no, on/off or true/false; a flag given without =BOOL means 1.\n"
      "--stats without =FILE means stderr. An empty VALUE means the default.\n"
      "\n"
      "Exit status:\n"
      "  125  iowq-run itself failed (bad option or value, library not found)\n"
      "  126  COMMAND was found but could not be run\n"
      "  127  COMMAND was not found\n"
      "  otherwise the exit status of COMMAND\n"
      "\n"
      "Statically linked and setuid programs ignore LD_PRELOAD: iowq-run warns and\n"
      "runs them unchanged. See iowq-run(1) and iowq(7).\n");
}

// The README options table: | variable | iowq-run flag | meaning | default |
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|') out += '\\';
    out += c;
  }
  return out;
}

void print_markdown() {
  std::printf("| variable | iowq-run flag | meaning | default |\n|---|---|---|---|\n");
  for (size_t i = 0; i < kNumOptions; ++i) {
    const OptionDef& o = kOptions[i];
    std::string flags = "`" + md_cell(flag_usage(o)) + "`";
    for (size_t a = 0; a < kNumFlagAliases; ++a)
      if (std::strcmp(kFlagAliases[a].env, o.env) == 0)
        flags += std::string(", `--") + kFlagAliases[a].flag + "`";
    std::printf("| `%s` | %s | %s | %s |\n", o.env, flags.c_str(), md_cell(o.doc).c_str(),
                md_cell(default_of(o)).c_str());
  }
}

/* ---- Finding the library ------------------------------------------------ */

std::string find_library() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) fail(std::string("cannot read /proc/self/exe: ") + std::strerror(errno));
  exe[n] = '\0';
  std::string dir(exe);
  dir.resize(dir.rfind('/'));

  // The install layout's BINDIR->LIBDIR first, then the build tree's bin -> lib.
  std::vector<std::string> tried;
  for (const char* rel : {IOWQ_RUN_LIBDIR_REL, "../lib"}) {
    std::string cand = dir + "/" + rel + "/libiowq.so";
    char real[PATH_MAX];
    if (realpath(cand.c_str(), real) && access(real, R_OK) == 0) return real;
    if (tried.empty() || tried.back() != cand) tried.push_back(cand);
  }
  std::string msg = "cannot find the iowq library (looked for";
  for (const auto& t : tried) msg += " " + t;
  fail(msg + "); is iowq built and installed next to iowq-run?");
}

// lib in front, then every existing entry (space or colon separated) except lib itself.
std::string build_preload(const std::string& lib, const char* existing) {
  std::string out = lib;
  std::string tok;
  for (const char* p = existing ? existing : "";; ++p) {
    if (*p == ' ' || *p == ':' || *p == '\0') {
      if (!tok.empty() && tok != lib) out += ":" + tok;
      tok.clear();
      if (!*p) break;
    } else {
      tok += *p;
    }
  }
  return out;
}

/* ---- Will the preload take effect? -------------------------------------- */

// The file execvp would run, or "" when there is none.
std::string resolve_command(const char* cmd) {
  if (std::strchr(cmd, '/')) return cmd;
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/bin:/usr/bin";  // glibc execvp's default
  size_t pos = 0;
  for (;;) {
    size_t colon = dirs.find(':', pos);
    std::string d = dirs.substr(pos, colon == std::string::npos ? std::string::npos : colon - pos);
    std::string cand = (d.empty() ? std::string(".") : d) + "/" + cmd;
    struct stat st;
    if (stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(cand.c_str(), X_OK) == 0) return cand;
    if (colon == std::string::npos) return "";
    pos = colon + 1;
  }
}

template <class Ehdr, class Phdr>
bool elf_has_interp(int fd) {
  Ehdr eh;
  if (pread(fd, &eh, sizeof eh, 0) != static_cast<ssize_t>(sizeof eh)) return true;
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN) return true;  // not a program: say nothing
  if (eh.e_phentsize != sizeof(Phdr)) return true;
  for (unsigned i = 0; i < eh.e_phnum && i < 4096; ++i) {
    Phdr ph;
    off_t off = static_cast<off_t>(eh.e_phoff + static_cast<uint64_t>(i) * sizeof(Phdr));
    if (pread(fd, &ph, sizeof ph, off) != static_cast<ssize_t>(sizeof ph)) return true;
    if (ph.p_type == PT_INTERP) return true;
  }
  return false;
}

// True for an ELF executable without a dynamic loader (static or static-pie).
bool is_static_elf(int fd) {
  unsigned char ident[EI_NIDENT];
  if (pread(fd, ident, sizeof ident, 0) != static_cast<ssize_t>(sizeof ident)) return false;
  if (std::memcmp(ident, ELFMAG, SELFMAG) != 0) return false;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (ident[EI_DATA] != ELFDATA2LSB) return false;
#else
  if (ident[EI_DATA] != ELFDATA2MSB) return false;
#endif
  if (ident[EI_CLASS] == ELFCLASS64) return !elf_has_interp<Elf64_Ehdr, Elf64_Phdr>(fd);
  if (ident[EI_CLASS] == ELFCLASS32) return !elf_has_interp<Elf32_Ehdr, Elf32_Phdr>(fd);
  return false;
}

void warn_if_preload_ignored(const char* cmd) {
  std::string path = resolve_command(cmd);
  if (path.empty()) return;  // execvp will report it
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  const char* why = nullptr;
  struct stat st;
  struct statvfs vfs;
  bool nosuid = fstatvfs(fd, &vfs) == 0 && (vfs.f_flag & ST_NOSUID);
  if (is_static_elf(fd)) {
    why = "is statically linked";
  } else if (fstat(fd, &st) == 0 && !nosuid) {
    // The loader ignores LD_PRELOAD in secure-execution mode (AT_SECURE):
    // when exec changes the effective uid or gid, or grants capabilities.
    if ((st.st_mode & S_ISUID) && st.st_uid != getuid())
      why = "is setuid";
    else if ((st.st_mode & S_ISGID) && st.st_gid != getgid())
      why = "is setgid";
    else if (fgetxattr(fd, "security.capability", nullptr, 0) > 0)
      why = "has file capabilities";
  }
  close(fd);
  if (why)
    std::fprintf(stderr, "iowq-run: warning: %s %s; LD_PRELOAD is ignored, iowq will not act\n", cmd, why);
}

}  // namespace

/* ---- main --------------------------------------------------------------- */

int main(int argc, char** argv) {
  std::vector<const char*> values(kNumOptions, nullptr);  // per row; the last flag wins
  int i = 1;
  for (; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--") == 0) {
      ++i;
      break;
    }
    if (a[0] != '-' || a[1] == '\0') break;  // COMMAND
    if (std::strcmp(a, "-h") == 0 || std::strcmp(a, "--help") == 0) {
      print_help();
      return 0;
    }
    if (std::strcmp(a, "--version") == 0) {
      std::printf("iowq-run (iowq) %s\n", iowq::shim::kVersion);
      return 0;
    }
    if (std::strcmp(a, "--options-markdown") == 0) {
      print_markdown();
      return 0;
    }
    if (a[1] != '-') fail(std::string("invalid option -- '") + (a + 1) + "'", true);

    std::string name(a + 2);
    const char* value = nullptr;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = a + 2 + eq + 1;
      name.resize(eq);
    }
    const OptionDef* o = find_option_by_flag(name.c_str());
    if (!o) {
      bool alias = false;
      for (size_t k = 0; k < kNumFlagAliases && !alias; ++k) {
        if (name != kFlagAliases[k].flag) continue;
        if (value) fail("option '--" + name + "' doesn't allow an argument", true);
        o = iowq::shim::find_option_by_env(kFlagAliases[k].env);
        value = kFlagAliases[k].value;
        alias = true;
      }
      if (!o) fail("unrecognized option '" + std::string(a) + "'", true);
    }
    if (!value) {
      if (o->implicit)
        value = o->implicit;
      else if (i + 1 < argc)
        value = argv[++i];
      else
        fail("option '--" + name + "' requires an argument", true);
    }
    char why[256];
    if (check_option_value(*o, value, why, sizeof why) != 0)
      fail("--" + std::string(o->flag) + "='" + value + "' " + why, true);
    values[static_cast<size_t>(o - kOptions)] = value;
  }
  if (i >= argc) fail("missing command", true);

  std::string lib = find_library();
  std::string preload = build_preload(lib, std::getenv("LD_PRELOAD"));
  if (setenv("LD_PRELOAD", preload.c_str(), 1) != 0)
    fail(std::string("cannot set LD_PRELOAD: ") + std::strerror(errno));
  for (size_t k = 0; k < kNumOptions; ++k)
    if (values[k] && setenv(kOptions[k].env, values[k], 1) != 0)
      fail(std::string("cannot set ") + kOptions[k].env + ": " + std::strerror(errno));

  warn_if_preload_ignored(argv[i]);
  std::fflush(stdout);
  execvp(argv[i], argv + i);
  int err = errno;
  std::fprintf(stderr, "iowq-run: failed to run command '%s': %s\n", argv[i], std::strerror(err));
  return err == ENOENT ? kExitNotFound : kExitCannotRun;
}
