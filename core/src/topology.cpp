// core/src/topology.cpp — NUMA topology from libnuma, or a fake split for tests.
#include "topology.hpp"

#include "iowq/sys.hpp"

#include <dirent.h>
#include <dlfcn.h>
#include <numa.h>
#include <sched.h>
#include <string.h>

#include <algorithm>
#include <type_traits>

namespace iowq::detail {
namespace {

std::vector<int> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  if (out.empty()) out.push_back(0);
  return out;
}

// libnuma is opened when a pool first asks for the real topology, not linked:
// every process the shim is preloaded into would otherwise load it and run
// its constructor (which reads /sys), pool or not. Kept open once loaded.
struct Numa {
  int (*available)();
  int (*max_node)();
  struct bitmask* (*allocate_cpumask)();
  int (*node_to_cpus)(int, struct bitmask*);
  int (*isbitset)(const struct bitmask*, unsigned);
  void (*free_cpumask)(struct bitmask*);
};

bool load_numa(Numa* n) {
  void* h = dlopen("libnuma.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!h) return false;
  auto get = [h](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(sys::symbol(h, name));
    return fn != nullptr;
  };
  return get(n->available, "numa_available") && get(n->max_node, "numa_max_node") &&
         get(n->allocate_cpumask, "numa_allocate_cpumask") && get(n->node_to_cpus, "numa_node_to_cpus") &&
         get(n->isbitset, "numa_bitmask_isbitset") && get(n->free_cpumask, "numa_free_cpumask");
}

// Nodes listed in /sys (node0, node1...); -1 when it cannot be read.
int sys_node_count() {
  DIR* d = opendir("/sys/devices/system/node");
  if (!d) return -1;
  int n = 0;
  while (const struct dirent* e = readdir(d))
    if (strncmp(e->d_name, "node", 4) == 0 && e->d_name[4] >= '0' && e->d_name[4] <= '9') ++n;
  closedir(d);
  return n;
}

std::vector<std::vector<int>> real_nodes(const std::vector<int>& allowed) {
  std::vector<std::vector<int>> nodes;
  // One node (most machines): all allowed CPUs are its, as libnuma would
  // say; loading it (open, six mmaps, its constructor reading /sys and
  // /proc) cost every write-behind process ~0.3 ms of CPU at start-up.
  if (sys_node_count() == 1) return nodes;
  Numa numa;
  if (!load_numa(&numa) || numa.available() < 0) return nodes;
  int max = numa.max_node();
  struct bitmask* bm = numa.allocate_cpumask();
  if (!bm) return nodes;
  for (int n = 0; n <= max; ++n) {
    if (numa.node_to_cpus(n, bm) != 0) continue;
    std::vector<int> cpus;
    for (int c : allowed)
      if (numa.isbitset(bm, static_cast<unsigned>(c))) cpus.push_back(c);
    if (!cpus.empty()) nodes.push_back(std::move(cpus));
  }
  numa.free_cpumask(bm);
  return nodes;
}

}  // namespace

Topology build_topology(int numa_nodes) {
  std::vector<int> allowed = allowed_cpus();
  Topology t;
  if (numa_nodes < 0) t.node_cpus = real_nodes(allowed);
  if (numa_nodes > 0) {
    size_t n = std::min(static_cast<size_t>(numa_nodes), allowed.size());
    for (size_t i = 0; i < n; ++i) {
      size_t lo = allowed.size() * i / n, hi = allowed.size() * (i + 1) / n;
      t.node_cpus.emplace_back(allowed.begin() + static_cast<long>(lo),
                               allowed.begin() + static_cast<long>(hi));
    }
  }
  if (t.node_cpus.empty()) t.node_cpus.push_back(allowed);
  int maxcpu = 0;
  for (auto& cpus : t.node_cpus) maxcpu = std::max(maxcpu, cpus.back());
  t.cpu_node.assign(static_cast<size_t>(maxcpu) + 1, 0);
  for (size_t n = 0; n < t.node_cpus.size(); ++n)
    for (int c : t.node_cpus[n]) t.cpu_node[static_cast<size_t>(c)] = static_cast<int>(n);
  return t;
}

}  // namespace iowq::detail
