// core/src/topology.cpp — NUMA topology from libnuma, or a fake split for tests.
#include "topology.hpp"

#include <numa.h>
#include <sched.h>

#include <algorithm>

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

std::vector<std::vector<int>> real_nodes(const std::vector<int>& allowed) {
  std::vector<std::vector<int>> nodes;
  if (numa_available() < 0) return nodes;
  int max = numa_max_node();
  struct bitmask* bm = numa_allocate_cpumask();
  if (!bm) return nodes;
  for (int n = 0; n <= max; ++n) {
    if (numa_node_to_cpus(n, bm) != 0) continue;
    std::vector<int> cpus;
    for (int c : allowed)
      if (numa_bitmask_isbitset(bm, static_cast<unsigned>(c))) cpus.push_back(c);
    if (!cpus.empty()) nodes.push_back(std::move(cpus));
  }
  numa_free_cpumask(bm);
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
      t.node_cpus.emplace_back(allowed.begin() + static_cast<long>(lo), allowed.begin() + static_cast<long>(hi));
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
