#include "pleas/matching.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include "kernels/ops.h"
#include "pleas/lap.h"

namespace pleas {

namespace {

// ---------------------------------------------------------------------------------------------
// Shared helpers

const char* const kBnParams[] = {".weight", ".bias", ".running_mean", ".running_var"};

Tensor as_index(const std::vector<int64_t>& v, Device dev) {
  return Tensor::from_vector(v, {int64_t(v.size())}, dev);
}

void check_perms(const char* op, const PermSpec& spec, const std::vector<std::vector<int64_t>>& perms) {
  PLEAS_CHECK(perms.size() == spec.groups.size(), op, ": ", perms.size(), " permutations for ",
              spec.groups.size(), " groups");
  for (size_t g = 0; g < perms.size(); ++g) {
    const int64_t d = spec.groups[g].size;
    PLEAS_CHECK(int64_t(perms[g].size()) == d, op, ": permutation of group ", spec.groups[g].name,
                " has ", perms[g].size(), " entries, the group has ", d, " units");
    std::vector<bool> seen(size_t(d), false);
    for (int64_t v : perms[g]) {
      PLEAS_CHECK(v >= 0 && v < d && !seen[size_t(v)], op, ": permutation of group ",
                  spec.groups[g].name, " is not a permutation of 0..", d - 1);
      seen[size_t(v)] = true;
    }
  }
}

// Fisher–Yates over std::mt19937_64 with unbiased draws (rejection), so that the visiting order is
// the same on every platform (std::shuffle's algorithm is implementation-defined).
void shuffle(std::vector<int>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const uint64_t n = i, limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do r = rng(); while (r >= limit);
    std::swap(v[i - 1], v[size_t(r % n)]);
  }
}

// ---------------------------------------------------------------------------------------------
// Weight matching

// The state tensors of spec's layers, on `dev`, with A and B checked to agree in shape.
struct States {
  TensorDict a, b;
};

std::vector<std::string> param_names(const LayerSpec& l) {
  std::vector<std::string> n;
  switch (l.kind) {
    case LayerKind::conv:
    case LayerKind::linear:
      n.push_back(l.path + ".weight");
      if (l.has_bias) n.push_back(l.path + ".bias");
      break;
    case LayerKind::bn:
      for (const char* p : kBnParams) n.push_back(l.path + p);
      break;
    case LayerKind::norm:
      n.push_back(l.path + ".weight");
      n.push_back(l.path + ".bias");
      break;
    case LayerKind::param:
      n.push_back(l.path);
      break;
    case LayerKind::channel_map:  // no weights
    case LayerKind::attention:
      break;
  }
  return n;
}

States upload(const char* op, const PermSpec& spec, const TensorDict& A, const TensorDict& B, Device dev) {
  States s;
  for (const LayerSpec& l : spec.layers) {
    const int64_t out = spec.layout_size(l.out), in = spec.layout_size(l.in);
    for (const std::string& name : param_names(l)) {
      auto ia = A.find(name), ib = B.find(name);
      PLEAS_CHECK(ia != A.end(), op, ": state A has no tensor ", name);
      PLEAS_CHECK(ib != B.end(), op, ": state B has no tensor ", name);
      const Tensor &ta = ia->second, &tb = ib->second;
      PLEAS_CHECK(ta.dtype() == DType::f32 && tb.dtype() == DType::f32, op, ": ", name, " must be f32 in both states, got ",
                  ta.str(), " and ", tb.str());
      PLEAS_CHECK(ta.shape() == tb.shape(), op, ": ", name, " is ", shape_str(ta.shape()), " in A but ",
                  shape_str(tb.shape()), " in B");
      const bool matrix = name == l.path + ".weight" && (l.kind == LayerKind::conv || l.kind == LayerKind::linear);
      const int axis = l.kind == LayerKind::param ? ta.dim() - 1 : 0;
      PLEAS_CHECK(ta.dim() >= 1 && ta.size(axis) == out && (!matrix || (ta.dim() >= 2 && ta.size(1) == in)), op,
                  ": ", name, " ", shape_str(ta.shape()), " does not fit the spec's layouts (out ", out,
                  matrix ? ", in " + std::to_string(in) : std::string(), ")");
      s.a[name] = ta.to(dev);
      s.b[name] = tb.to(dev);
    }
  }
  return s;
}

// Units off..off+d of t along `axis` as rows [d, k]: the slice with `axis` swapped to the front,
// the other axes flattened (the same order for A and B, so row inner products are ⟨unit, unit⟩).
Tensor unit_rows(const Tensor& t, int axis, int64_t off, int64_t d) {
  Tensor s = t.narrow(axis, off, d);
  if (axis != 0) s = s.transpose(0, axis);
  return s.contiguous().reshape({d, -1});
}

// The unit matrices of group g in one state: one [d, k] matrix per (layer, axis) where g appears
// (rows = g's units, in the same order for A and B), so that C_g = Σ_terms a · bᵀ. With `perms`
// (model B) each matrix's OTHER axis is permuted by the current permutations; without (model A,
// never permuted) it is left as is.
using Terms = std::vector<Tensor>;

Terms unit_matrices(const PermSpec& spec, const TensorDict& s, int g, const std::vector<std::vector<int64_t>>* perms,
                    Device dev) {
  const int64_t d = spec.groups[size_t(g)].size;
  auto other = [&](const Tensor& w, int axis, const Layout& l) {  // w's `axis` permuted along layout l
    return perms ? index_select(w, axis, as_index(layout_index(spec, l, *perms), dev)) : w;
  };
  Terms terms;
  for (const LayerSpec& l : spec.layers) {
    if (l.kind == LayerKind::channel_map || l.kind == LayerKind::attention) continue;
    // Every occurrence of g on each axis (a fused qkv holds the query/key group twice).
    const std::vector<int64_t> oos = spec.group_offsets(l.out, g), ios = spec.group_offsets(l.in, g);
    if (l.kind == LayerKind::bn || l.kind == LayerKind::norm) {
      // The norm's per-channel vectors: one [d, 4] (BN) or [d, 2] (LayerNorm) matrix.
      for (int64_t oo : oos) {
        std::vector<Tensor> v;
        for (const std::string& name : param_names(l)) v.push_back(unit_rows(s.at(name), 0, oo, d));
        terms.push_back(cat(v, 1));
      }
      continue;
    }
    if (l.kind == LayerKind::param) {  // the last axis carries the layout
      const Tensor& t = s.at(l.path);
      for (int64_t oo : oos) terms.push_back(unit_rows(t, t.dim() - 1, oo, d));
      continue;
    }
    const Tensor& w = s.at(l.path + ".weight");
    for (int64_t oo : oos) {  // axis 0: rows of g, the input axis permuted
      terms.push_back(unit_rows(other(w.narrow(0, oo, d), 1, l.in), 0, 0, d));
      if (l.has_bias) terms.push_back(unit_rows(s.at(l.path + ".bias"), 0, oo, d));
    }
    for (int64_t io : ios)  // axis 1: columns of g, the output axis permuted
      terms.push_back(unit_rows(other(w.narrow(1, io, d), 0, l.out), 1, 0, d));
  }
  return terms;
}

// C_g[i][j] = Σ_terms ⟨a_i, b_j⟩ = Σ_terms (a bᵀ)[i][j], each product on the device in f32, summed
// over terms in f64 on the host.
std::vector<double> terms_cost(const Terms& a, const Terms& b, int64_t d) {
  std::vector<double> c(size_t(d * d), 0.0);
  for (size_t t = 0; t < a.size(); ++t) {
    const std::vector<double> p = matmul(a[t], b[t], false, true).to_double_vector();
    for (size_t k = 0; k < c.size(); ++k) c[k] += p[k];
  }
  return c;
}

// ‖row i‖² summed over the matrices: the squared norm of each unit over all of its entries.
std::vector<double> terms_sq_norms(const Terms& terms, int64_t d) {
  std::vector<double> n(size_t(d), 0.0);
  for (const Tensor& x : terms) {
    const std::vector<double> v = sum(mul(x, x), {1}).to_double_vector();
    for (size_t i = 0; i < n.size(); ++i) n[i] += v[i];
  }
  return n;
}

double matched_total(const std::vector<double>& c, const std::vector<int64_t>& p) {
  const int64_t d = int64_t(p.size());
  double s = 0;
  for (int64_t i = 0; i < d; ++i) s += c[size_t(i * d + p[size_t(i)])];
  return s;
}

// ---------------------------------------------------------------------------------------------
// Heads (ViT attention): a head-structured leader group and its followers are assigned together.
// Valid permutations map A's head a to one B head π(a) for the leader and every follower, with a
// free permutation of the units inside the head per group. The best such permutations solve
//   max_π Σ_a S[a][π(a)],  S[a][b] = Σ_{groups} max_σ Σ_j C[a·hd + j][b·hd + σ(j)],
// i.e. a within-head assignment for every head pair and group, then an assignment over heads
// (exact: the objective separates over heads once π is fixed).

struct HeadAssignment {
  std::vector<std::vector<int64_t>> perms;  // one per cost matrix
  double value = 0;                          // Σ over the matrices of their matched entries
};

HeadAssignment head_assignment(const std::vector<const std::vector<double>*>& costs, int64_t H, int64_t hd) {
  const int64_t d = H * hd;
  std::vector<double> S(size_t(H * H), 0.0);
  std::vector<std::vector<std::vector<int64_t>>> inner(costs.size(), std::vector<std::vector<int64_t>>(size_t(H * H)));
  std::vector<double> sub(size_t(hd * hd));
  for (size_t c = 0; c < costs.size(); ++c)
    for (int64_t a = 0; a < H; ++a)
      for (int64_t b = 0; b < H; ++b) {
        for (int64_t i = 0; i < hd; ++i)
          for (int64_t j = 0; j < hd; ++j) sub[size_t(i * hd + j)] = (*costs[c])[size_t((a * hd + i) * d + b * hd + j)];
        Assignment w = solve_assignment(sub, hd, /*maximize=*/true);
        S[size_t(a * H + b)] += w.cost;
        inner[c][size_t(a * H + b)] = std::move(w.col_of_row);
      }
  const Assignment heads = solve_assignment(S, H, /*maximize=*/true);
  HeadAssignment r;
  r.value = heads.cost;
  for (size_t c = 0; c < costs.size(); ++c) {
    std::vector<int64_t> p(static_cast<size_t>(d));
    for (int64_t a = 0; a < H; ++a) {
      const int64_t b = heads.col_of_row[size_t(a)];
      const auto& s = inner[c][size_t(a * H + b)];
      for (int64_t j = 0; j < hd; ++j) p[size_t(a * hd + j)] = b * hd + s[size_t(j)];
    }
    r.perms.push_back(std::move(p));
  }
  return r;
}

// The groups of one head step: the leader g, then its followers.
std::vector<int> head_members(const PermSpec& spec, int g) {
  std::vector<int> members = {g};
  for (int f : spec.followers(g)) members.push_back(f);
  return members;
}

// The two-level rule on the members' costs (in head_members order); installs their permutations
// and returns the matched total.
double assign_heads(const PermSpec& spec, int g, const std::vector<const std::vector<double>*>& costs,
                    std::vector<std::vector<int64_t>>& perms) {
  const std::vector<int> members = head_members(spec, g);
  HeadAssignment h = head_assignment(costs, spec.groups[size_t(g)].heads(), spec.groups[size_t(g)].head_dim);
  for (size_t i = 0; i < members.size(); ++i) perms[size_t(members[i])] = std::move(h.perms[i]);
  return h.value;
}

}  // namespace

std::vector<double> weight_matching_cost(const PermSpec& spec, const TensorDict& A, const TensorDict& B,
                                         const std::vector<std::vector<int64_t>>& perms, int group, Device dev) {
  const char* op = "weight_matching_cost";
  PLEAS_CHECK(group >= 0 && size_t(group) < spec.groups.size(), op, ": group ", group, " out of range [0, ",
              spec.groups.size(), ")");
  check_perms(op, spec, perms);
  const States s = upload(op, spec, A, B, dev);
  return terms_cost(unit_matrices(spec, s.a, group, nullptr, dev), unit_matrices(spec, s.b, group, &perms, dev),
                    spec.groups[size_t(group)].size);
}

Matching weight_matching(const PermSpec& spec, const TensorDict& A, const TensorDict& B, uint64_t seed,
                         int max_sweeps, Device dev) {
  const char* op = "weight_matching";
  PLEAS_CHECK(max_sweeps >= 1, op, ": max_sweeps must be >= 1, got ", max_sweeps);
  const States s = upload(op, spec, A, B, dev);  // A and B uploaded once
  Matching m;
  m.perms = identity_perms(spec);
  std::vector<Terms> a_terms(spec.groups.size());  // A's unit matrices never change
  for (size_t g = 0; g < spec.groups.size(); ++g) a_terms[g] = unit_matrices(spec, s.a, int(g), nullptr, dev);

  std::vector<int> order;  // followers move with their leader
  for (size_t g = 0; g < spec.groups.size(); ++g)
    if (!spec.groups[g].fixed && spec.groups[g].follows < 0) order.push_back(int(g));
  std::mt19937_64 rng(seed);

  // Coordinate descent: each step maximises the objective over P_g exactly (a linear assignment),
  // so the objective never decreases; a sweep that improves it nowhere is a fixed point.
  while (m.sweeps < max_sweeps) {
    shuffle(order, rng);
    double total = 0, best_gain = 0;
    for (int g : order) {
      const PermGroup& pg = spec.groups[size_t(g)];
      const int64_t d = pg.size;
      if (pg.head_dim > 0) {
        // The leader and its followers in one exact step (their costs do not depend on each other).
        std::vector<std::vector<double>> cs;
        double old_value = 0;
        for (int x : head_members(spec, g)) {
          cs.push_back(terms_cost(a_terms[size_t(x)], unit_matrices(spec, s.b, x, &m.perms, dev), d));
          old_value += matched_total(cs.back(), m.perms[size_t(x)]);
        }
        std::vector<const std::vector<double>*> ptrs;
        for (auto& c : cs) ptrs.push_back(&c);
        const double value = assign_heads(spec, g, ptrs, m.perms);
        best_gain = std::max(best_gain, value - old_value);
        total += value;
        continue;
      }
      const std::vector<double> c = terms_cost(a_terms[size_t(g)], unit_matrices(spec, s.b, g, &m.perms, dev), d);
      const double old_value = matched_total(c, m.perms[size_t(g)]);
      Assignment a = solve_assignment(c, d, /*maximize=*/true);
      best_gain = std::max(best_gain, a.cost - old_value);
      total += a.cost;
      m.perms[size_t(g)] = std::move(a.col_of_row);
    }
    ++m.sweeps;
    // |objective| is taken as the sweep's Σ_g of the groups' new values (each with the perms of
    // its moment); the LAP is optimal, so gains are >= 0 up to rounding.
    if (!(best_gain > 1e-9 * std::fabs(total))) break;
  }

  // Final costs with all permutations fixed: objective and cosine similarity of matched pairs.
  m.similarity.resize(spec.groups.size());
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    const int64_t d = spec.groups[g].size;
    const Terms b_terms = unit_matrices(spec, s.b, int(g), &m.perms, dev);
    const std::vector<double> c = terms_cost(a_terms[g], b_terms, d);
    const std::vector<double> na = terms_sq_norms(a_terms[g], d), nb = terms_sq_norms(b_terms, d);
    const std::vector<int64_t>& p = m.perms[g];
    m.similarity[g].resize(size_t(d));
    for (int64_t i = 0; i < d; ++i) {
      const int64_t j = p[size_t(i)];
      const double den = std::sqrt(na[size_t(i)]) * std::sqrt(nb[size_t(j)]);
      m.similarity[g][size_t(i)] = den > 0 ? c[size_t(i * d + j)] / den : 0.0;
    }
    if (!spec.groups[g].fixed) m.objective += matched_total(c, p);
  }
  return m;
}

Matching activation_matching(const PermSpec& spec, Model& A, Model& B, data::DataLoader& loader, bool progress,
                             SiteRule rule) {
  std::vector<GroupStats> stats;
  try {
    stats = feature_stats(spec, {&A, &B}, loader, rule, progress);
  } catch (const Error& e) {
    throw Error(std::string("activation_matching: ") + e.what());
  }

  // corr_g = the cross block of the (A, B) correlation: A's unit i (row i), B's unit j (column d + j).
  Matching m;
  m.perms = identity_perms(spec);
  m.similarity.resize(spec.groups.size());
  for (size_t g = 0; g < spec.groups.size(); ++g)
    m.similarity[g].assign(size_t(spec.groups[g].size), 1.0);  // fixed groups: identity, not measured
  std::map<int, std::vector<double>> corrs;
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    if (spec.groups[g].fixed) continue;
    const size_t d = size_t(stats[g].d), w = 2 * d;
    const std::vector<double>& full = stats[g].corr;
    std::vector<double> corr(d * d);
    for (size_t i = 0; i < d; ++i)
      for (size_t j = 0; j < d; ++j) corr[i * d + j] = full[i * w + d + j];
    corrs[int(g)] = std::move(corr);
  }
  // Assignments: plain groups alone; head groups with their followers (two-level rule).
  for (auto& [g, corr] : corrs) {
    const PermGroup& pg = spec.groups[size_t(g)];
    const int64_t d = pg.size;
    if (pg.follows >= 0) continue;
    if (pg.head_dim == 0) {
      Assignment a = solve_assignment(corr, d, /*maximize=*/true);
      m.objective += a.cost;
      m.perms[size_t(g)] = std::move(a.col_of_row);
    } else {
      std::vector<const std::vector<double>*> ptrs;
      for (int x : head_members(spec, g)) ptrs.push_back(&corrs.at(x));
      m.objective += assign_heads(spec, g, ptrs, m.perms);
    }
  }
  for (auto& [g, corr] : corrs) {
    const int64_t d = spec.groups[size_t(g)].size;
    for (int64_t i = 0; i < d; ++i)
      m.similarity[size_t(g)][size_t(i)] = corr[size_t(i * d + m.perms[size_t(g)][size_t(i)])];
  }
  return m;
}

}  // namespace pleas
