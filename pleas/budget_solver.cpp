// Global solver for the per-layer merging budget (see budget_solver.h for the method).
// Internally everything is in the "merged fraction" m = 1 - r and in minimisation form:
//     minimise Σ_i w_i·m_i   s.t.   g(m) = Σ_{i<j} C_ij·m_i·m_j + Σ_i Q_i·m_i² + Σ_i U_i·m_i >= T,
// over the free groups (w_i > 0), with footprints divided by Footprint(0).
#include "pleas/budget_solver.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <queue>

#include "engine/error.h"

namespace pleas {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- the reduced problem ----
struct Reduced {
  int n = 0;
  std::vector<int> group;   // free index -> group index
  std::vector<double> w;    // > 0
  std::vector<double> U, Q; // linear and same-group quadratic coefficients of g
  std::vector<double> C;    // dense n×n, symmetric: coefficient of m_i·m_j (i != j)
  std::vector<std::vector<std::pair<int, double>>> adj;  // j, C_ij (C_ij > 0)
  double T = 0;             // g(m) >= T

  double c(int i, int j) const { return C[size_t(i) * size_t(n) + size_t(j)]; }
  double g(const std::vector<double>& m) const {
    double s = 0;
    for (int i = 0; i < n; ++i) {
      double pair = 0;
      for (auto [j, cij] : adj[i])
        if (j > i) pair += cij * m[j];
      s += m[i] * (pair + Q[i] * m[i] + U[i]);
    }
    return s;
  }
  double objective(const std::vector<double>& m) const {
    double s = 0;
    for (int i = 0; i < n; ++i) s += w[i] * m[i];
    return s;
  }
};

// ---- s-t maximum flow (Dinic) on a small graph with double capacities ----
class MaxFlow {
 public:
  void reset(int nodes) {
    head_.assign(size_t(nodes), -1);
    arcs_.clear();
    max_cap_ = 0;
  }
  void add_arc(int u, int v, double cap) {  // u -> v with capacity cap, reverse arc with 0
    if (!(cap > 0)) return;
    arcs_.push_back({v, head_[u], cap});
    head_[u] = int(arcs_.size()) - 1;
    arcs_.push_back({u, head_[v], 0});
    head_[v] = int(arcs_.size()) - 1;
    max_cap_ = std::max(max_cap_, cap);
  }
  // Returns the value of a feasible flow (a lower bound on the min cut; equal up to eps).
  double run(int s, int t) {
    eps_ = max_cap_ * 1e-15;
    double flow = 0;
    const int nodes = int(head_.size());
    level_.resize(size_t(nodes));
    it_.resize(size_t(nodes));
    while (bfs(s, t)) {
      for (int v = 0; v < nodes; ++v) it_[size_t(v)] = head_[size_t(v)];
      while (true) {
        double f = dfs(s, t, kInf);
        if (!(f > eps_)) break;
        flow += f;
      }
    }
    return flow;
  }
  // Source side of the minimum cut: nodes reachable from s in the residual graph.
  void source_side(int s, std::vector<char>& side) {
    bfs(s, -1);
    side.assign(head_.size(), 0);
    for (size_t v = 0; v < head_.size(); ++v) side[v] = level_[v] >= 0;
  }

 private:
  struct Arc { int to, next; double cap; };
  bool bfs(int s, int t) {
    std::fill(level_.begin(), level_.end(), -1);
    level_.resize(head_.size(), -1);
    queue_.clear();
    queue_.push_back(s);
    level_[size_t(s)] = 0;
    for (size_t q = 0; q < queue_.size(); ++q) {
      const int u = queue_[q];
      for (int a = head_[size_t(u)]; a >= 0; a = arcs_[size_t(a)].next)
        if (arcs_[size_t(a)].cap > eps_ && level_[size_t(arcs_[size_t(a)].to)] < 0) {
          level_[size_t(arcs_[size_t(a)].to)] = level_[size_t(u)] + 1;
          queue_.push_back(arcs_[size_t(a)].to);
        }
    }
    return t >= 0 && level_[size_t(t)] >= 0;
  }
  double dfs(int u, int t, double pushed) {
    if (u == t) return pushed;
    for (int& a = it_[size_t(u)]; a >= 0; a = arcs_[size_t(a)].next) {
      Arc& e = arcs_[size_t(a)];
      if (e.cap > eps_ && level_[size_t(e.to)] == level_[size_t(u)] + 1) {
        const double f = dfs(e.to, t, std::min(pushed, e.cap));
        if (f > eps_) {
          e.cap -= f;
          arcs_[size_t(a ^ 1)].cap += f;
          return f;
        }
      }
    }
    return 0;
  }
  std::vector<Arc> arcs_;
  std::vector<int> head_, level_, it_, queue_;
  double max_cap_ = 0, eps_ = 0;
};

// ---- one branch-and-bound node ----
struct Node {
  std::vector<double> l, u;
  double lb = -kInf;  // lower bound on min Σ w m over the box
};

struct NodeBound {
  double lb = -kInf;
  std::vector<double> vertex;  // feasible vertex of the relaxation (S_hi)
  std::vector<double> point;   // relaxation optimum (convex combination of S_lo, S_hi)
  std::vector<double> s;       // its normalised coordinates
};

class Solver {
 public:
  Solver(const Reduced& P, const SolveOptions& opt)
      : P_(P), opt_(opt), start_(std::chrono::steady_clock::now()) {}

  // Returns the certified lower bound on min Σ w m; the incumbent is in best_m_/best_v_.
  double run(int64_t& nodes) {
    const int n = P_.n;
    best_m_.assign(size_t(n), 1.0);  // everything merged: feasible since B >= 1
    best_v_ = P_.objective(best_m_);
    polish(best_m_);
    best_v_ = P_.objective(best_m_);
    auto cmp = [](const Node& a, const Node& b) { return a.lb > b.lb; };
    std::priority_queue<Node, std::vector<Node>, decltype(cmp)> open(cmp);
    Node root;
    root.l.assign(size_t(n), 0.0);
    root.u.assign(size_t(n), 1.0);
    open.push(root);
    double pruned_lb = kInf;  // min lower bound over nodes pruned by bound
    nodes = 0;
    while (!open.empty()) {
      if (best_v_ - std::min(pruned_lb, open.top().lb) <= opt_.gap_tol) break;
      if (nodes >= opt_.max_nodes) break;
      if (opt_.time_limit_ms > 0 && (nodes & 63) == 0 &&
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count() >
              opt_.time_limit_ms)
        break;
      Node node = open.top();
      open.pop();
      if (node.lb >= best_v_ - opt_.gap_tol) { pruned_lb = std::min(pruned_lb, node.lb); continue; }
      ++nodes;
      const int tr = tighten(node);
      if (tr == kInfeasible) continue;
      if (tr == kNoBetter) { pruned_lb = std::min(pruned_lb, node.lb); continue; }
      NodeBound nb;
      if (!bound(node, nb)) continue;
      node.lb = std::max(node.lb, nb.lb);
      consider(nb.vertex);
      consider_repaired(nb.point, node.u);
      if (node.lb >= best_v_ - opt_.gap_tol) { pruned_lb = std::min(pruned_lb, node.lb); continue; }
      // Branch on the coordinate whose pair terms the relaxation overestimates most at its optimum.
      int bi = -1;
      double best_err = 0;
      for (int i = 0; i < n; ++i) {
        const double di = node.u[size_t(i)] - node.l[size_t(i)];
        if (di <= 0) continue;
        const double si = nb.s[size_t(i)];
        double err = P_.Q[size_t(i)] * di * di * si * (1 - si);
        for (auto [j, cij] : P_.adj[size_t(i)]) {
          const double dj = node.u[size_t(j)] - node.l[size_t(j)], sj = nb.s[size_t(j)];
          err += cij * di * dj * (std::min(si, sj) - si * sj);
        }
        if (err > best_err) { best_err = err; bi = i; }
      }
      double split_s = 0.5;
      if (bi >= 0) {  // halfway between the relaxation optimum and the middle: cuts the optimum
        split_s = 0.5 * nb.s[size_t(bi)] + 0.25;  // off, and each child keeps <= 3/4 of the side
      } else {  // relaxation exact at its optimum up to rounding: split the widest weighted box side
        double widest = 0;
        for (int i = 0; i < n; ++i) {
          const double wd = P_.w[size_t(i)] * (node.u[size_t(i)] - node.l[size_t(i)]);
          if (wd > widest) { widest = wd; bi = i; }
        }
      }
      if (bi < 0 || node.u[size_t(bi)] - node.l[size_t(bi)] < 1e-12) {
        pruned_lb = std::min(pruned_lb, node.lb);  // cannot split further: keep its bound
        continue;
      }
      const double x = node.l[size_t(bi)] + (node.u[size_t(bi)] - node.l[size_t(bi)]) * split_s;
      Node left = node, right = std::move(node);
      left.u[size_t(bi)] = x;
      right.l[size_t(bi)] = x;
      open.push(std::move(left));
      open.push(std::move(right));
    }
    double lb = pruned_lb;
    if (!open.empty()) lb = std::min(lb, open.top().lb);
    return std::min(lb, best_v_);
  }

  const std::vector<double>& best_m() const { return best_m_; }
  double best_v() const { return best_v_; }

 private:
  // Interval reductions. From the constraint: with the others at their upper bounds, g is
  // increasing in m_i, so m_i >= the root of g(u_{-i}, m_i) = T. From the incumbent: w_i·m_i <=
  // best_v - Σ_{j≠i} w_j l_j. kNoBetter: the box cannot improve the incumbent by more than
  // gap_tol (nd.lb is raised to Σ w l, which the certificate keeps).
  enum { kOk, kInfeasible, kNoBetter };
  int tighten(Node& nd) const {
    const int n = P_.n;
    for (int pass = 0; pass < 2; ++pass) {
      const double gu = P_.g(nd.u);
      if (gu < P_.T - opt_.feas_tol) return kInfeasible;
      for (int i = 0; i < n; ++i) {
        const size_t si = size_t(i);
        if (nd.u[si] <= nd.l[si]) continue;
        double p = P_.U[si];  // ∂g/∂m_i without the Q term, others at u
        for (auto [j, cij] : P_.adj[si]) p += cij * nd.u[size_t(j)];
        const double rest = gu - p * nd.u[si] - P_.Q[si] * nd.u[si] * nd.u[si];
        const double need = P_.T - rest;
        if (need <= 0) continue;
        double x;
        if (P_.Q[si] > 0) x = (-p + std::sqrt(p * p + 4 * P_.Q[si] * need)) / (2 * P_.Q[si]);
        else if (p > 0) x = need / p;
        else continue;
        x -= 1e-13;  // never cut a feasible point on rounding grounds
        if (x > nd.l[si]) nd.l[si] = std::min(x, nd.u[si]);
      }
      double wl = 0;
      for (int i = 0; i < n; ++i) wl += P_.w[size_t(i)] * nd.l[size_t(i)];
      if (wl >= best_v_ - opt_.gap_tol) { nd.lb = std::max(nd.lb, wl); return kNoBetter; }
      for (int i = 0; i < n; ++i) {
        const size_t si = size_t(i);
        const double cap = nd.l[si] + (best_v_ - wl) / P_.w[si];
        if (cap < nd.u[si]) nd.u[si] = std::max(cap, nd.l[si]);
      }
    }
    return P_.g(nd.u) >= P_.T - opt_.feas_tol ? kOk : kInfeasible;
  }

  // McCormick relaxation bound by parametric min cut (see the header). In normalised
  // coordinates s ∈ {0,1}^n (m = l + δ·s) the relaxation's vertices are exact and
  //     objective(S) = W0 + Σ_{i∈S} ω_i,   slack(S) = G0 - T + Σ_{i∈S} γ_i + Σ_{i<j ∈ S} κ_ij,
  // ω_i = w_i δ_i, γ_i = δ_i (U_i + Σ_j C_ij l_j + Q_i (2 l_i + δ_i)), κ_ij = C_ij δ_i δ_j.
  // L(λ) = min_S objective(S) - λ·slack(S) is the Lagrangian dual of the relaxation; every L(λ)
  // is a lower bound, and max_λ L(λ) equals the relaxation's optimum.
  bool bound(const Node& nd, NodeBound& nb) {
    const int n = P_.n;
    std::vector<int> act;
    std::vector<double> d(static_cast<size_t>(n)), omega(static_cast<size_t>(n), 0.0), gamma(static_cast<size_t>(n), 0.0);
    for (int i = 0; i < n; ++i) {
      d[size_t(i)] = nd.u[size_t(i)] - nd.l[size_t(i)];
      if (d[size_t(i)] > 0) act.push_back(i);
    }
    const double W0 = P_.objective(nd.l), G0 = P_.g(nd.l);
    nb.s.assign(size_t(n), 0.0);
    if (G0 >= P_.T) {  // the lower corner is feasible: it is the node's optimum
      nb.lb = W0;
      nb.vertex = nd.l;
      nb.point = nd.l;
      return true;
    }
    double scale = std::fabs(W0);
    for (int i : act) {
      const size_t si = size_t(i);
      double p = P_.U[si] + P_.Q[si] * (2 * nd.l[si] + d[si]);
      for (auto [j, cij] : P_.adj[si]) p += cij * nd.l[size_t(j)];
      gamma[si] = d[si] * p;
      omega[si] = P_.w[si] * d[si];
      scale += omega[si];
    }
    // A line per vertex set S: (objective, slack); Newton's method on max_λ min_S.
    auto eval = [&](const std::vector<char>& S, double& A, double& B) {
      A = W0;
      B = G0 - P_.T;
      for (int i : act) {
        if (!S[size_t(i)]) continue;
        A += omega[size_t(i)];
        B += gamma[size_t(i)];
        for (auto [j, cij] : P_.adj[size_t(i)])
          if (j > i && S[size_t(j)]) B += cij * d[size_t(i)] * d[size_t(j)];
      }
    };
    std::vector<char> s_lo(size_t(n), 0), s_hi(size_t(n), 0), S;
    for (int i : act) s_hi[size_t(i)] = 1;
    double A_lo, B_lo, A_hi, B_hi;
    eval(s_lo, A_lo, B_lo);
    eval(s_hi, A_hi, B_hi);
    if (B_hi < -opt_.feas_tol) return false;
    double lb = W0;  // L(0)
    const int na = int(act.size()), src = na, snk = na + 1;
    std::vector<int> pos(size_t(n), -1);
    for (int k = 0; k < na; ++k) pos[size_t(act[size_t(k)])] = k;
    std::vector<char> side;
    for (int iter = 0; iter < 100 && B_hi > B_lo; ++iter) {
      const double lambda = std::max(0.0, (A_hi - A_lo) / (B_hi - B_lo));
      // min_s Σ h_i s_i - λ Σ κ_ij s_i s_j, with -λκ s_i s_j = -λκ s_i + λκ s_i (1 - s_j):
      // arc i -> j (cut when i ∈ S, j ∉ S); h_i >= 0: arc i -> t; h_i < 0: constant h_i + arc s -> i.
      flow_.reset(na + 2);
      double constant = 0;
      for (int k = 0; k < na; ++k) {
        const int i = act[size_t(k)];
        double h = omega[size_t(i)] - lambda * gamma[size_t(i)];
        for (auto [j, cij] : P_.adj[size_t(i)]) {
          if (pos[size_t(j)] < 0 || j < i) continue;
          const double kap = lambda * cij * d[size_t(i)] * d[size_t(j)];
          h -= kap;
          flow_.add_arc(k, pos[size_t(j)], kap);
        }
        if (h >= 0) flow_.add_arc(k, snk, h);
        else { constant += h; flow_.add_arc(src, k, -h); }
      }
      const double L = W0 - lambda * (G0 - P_.T) + constant + flow_.run(src, snk);
      lb = std::max(lb, L);
      const double v = A_lo - lambda * B_lo;  // the two current lines meet here
      if (L >= v - 1e-13 * scale) break;
      flow_.source_side(src, side);
      S.assign(size_t(n), 0);
      for (int k = 0; k < na; ++k) S[size_t(act[size_t(k)])] = side[size_t(k)];
      double A, B;
      eval(S, A, B);
      if (A - lambda * B >= v - 1e-13 * scale) break;  // no line below the intersection found
      if (B < 0) { s_lo = S; A_lo = A; B_lo = B; }
      else { s_hi = S; A_hi = A; B_hi = B; }
    }
    nb.lb = lb;
    // The relaxation optimum lies on the segment between the two vertices, where slack = 0.
    const double t = B_hi > B_lo ? std::clamp(-B_lo / (B_hi - B_lo), 0.0, 1.0) : 1.0;
    nb.vertex = nd.l;
    nb.point = nd.l;
    for (int i : act) {
      const size_t si = size_t(i);
      nb.s[si] = (1 - t) * s_lo[si] + t * s_hi[si];
      nb.vertex[si] += d[si] * s_hi[si];
      nb.point[si] += d[si] * nb.s[si];
    }
    return true;
  }

  void consider(std::vector<double> m) {
    if (P_.g(m) < P_.T - opt_.feas_tol) return;
    if (P_.objective(m) >= best_v_ + 1e-9 * (1 + std::fabs(best_v_))) return;  // hopeless start
    polish(m);
    const double v = P_.objective(m);
    if (v < best_v_ && P_.g(m) >= P_.T - opt_.feas_tol) { best_v_ = v; best_m_ = std::move(m); }
  }
  // Move the relaxation point towards the box's upper corner until it is feasible.
  void consider_repaired(std::vector<double> m, const std::vector<double>& u) {
    if (P_.g(m) < P_.T) {
      std::vector<double> x(m.size());
      double lo = 0, hi = 1;
      for (int it = 0; it < 60; ++it) {
        const double mid = 0.5 * (lo + hi);
        for (size_t i = 0; i < m.size(); ++i) x[i] = m[i] + mid * (u[i] - m[i]);
        (P_.g(x) >= P_.T ? hi : lo) = mid;
      }
      for (size_t i = 0; i < m.size(); ++i) m[i] += hi * (u[i] - m[i]);
    }
    consider(std::move(m));
  }

  // Exact local improvement of a feasible m over [0,1]^n: single-coordinate decreases and
  // pair moves (the best point of the pair's feasible hyperbola, closed form).
  void polish(std::vector<double>& m) const {
    const int n = P_.n;
    std::vector<double> p(static_cast<size_t>(n));  // p_i = U_i + Σ_j C_ij m_j
    auto recompute = [&]() {
      for (int i = 0; i < n; ++i) {
        double s = P_.U[size_t(i)];
        for (auto [j, cij] : P_.adj[size_t(i)]) s += cij * m[size_t(j)];
        p[size_t(i)] = s;
      }
      return P_.g(m);
    };
    auto set = [&](int i, double x) {
      const double dx = x - m[size_t(i)];
      for (auto [j, cij] : P_.adj[size_t(i)]) p[size_t(j)] += cij * dx;
      m[size_t(i)] = x;
    };
    double g = recompute();
    const double T = P_.T;
    for (int sweep = 0; sweep < 50; ++sweep) {
      bool moved = false;
      for (int i = 0; i < n; ++i) {  // lower m_i until the constraint is tight
        const size_t si = size_t(i);
        if (m[si] <= 0) continue;
        const double q = P_.Q[si];
        const double rest = g - p[si] * m[si] - q * m[si] * m[si];
        const double need = T - rest;
        double x = 0;
        if (need > 0) {
          if (q > 0) x = (-p[si] + std::sqrt(p[si] * p[si] + 4 * q * need)) / (2 * q);
          else if (p[si] > 0) x = need / p[si];
          else continue;
        }
        if (x < m[si] - 1e-15) { set(i, std::max(x, 0.0)); g = recompute(); moved = true; }
      }
      for (int i = 0; i < n; ++i) {
        if (P_.Q[size_t(i)] > 0) continue;
        for (int j = i + 1; j < n; ++j) {
          if (P_.Q[size_t(j)] > 0) continue;
          const double mi = m[size_t(i)], mj = m[size_t(j)];
          if (mi >= 1 && mj >= 1) continue;
          if (mi <= 0 && mj <= 0) continue;
          const double a = P_.c(i, j), b = p[size_t(i)] - a * mj, c = p[size_t(j)] - a * mi;
          const double R = T - (g - a * mi * mj - b * mi - c * mj);
          double x = mi, y = mj;
          if (!pair_optimum(P_.w[size_t(i)], P_.w[size_t(j)], a, b, c, R, x, y)) continue;
          const double gain = P_.w[size_t(i)] * (mi - x) + P_.w[size_t(j)] * (mj - y);
          if (!(gain > 1e-14 * (P_.w[size_t(i)] + P_.w[size_t(j)]))) continue;
          set(i, x);
          set(j, y);
          const double gn = recompute();
          if (gn < T - 1e-14) { set(i, mi); set(j, mj); g = recompute(); continue; }
          g = gn;
          moved = true;
        }
      }
      if (!moved) break;
    }
  }

  // min wi·x + wj·y  s.t.  a·x·y + b·x + c·y >= R, (x, y) ∈ [0,1]², with a, b, c >= 0.
  // On the boundary y(x) = (R - b x)/(a x + c), which is decreasing and convex, so the objective
  // along it is convex: the optimum is an end of the feasible x range or where
  // (a x + c)² = wj (b c + a R) / wi.
  static bool pair_optimum(double wi, double wj, double a, double b, double c, double R, double& x,
                           double& y) {
    x = y = 0;
    if (R <= 0) return true;
    auto ymin = [&](double xx) {
      const double num = R - b * xx, den = a * xx + c;
      if (num <= 0) return 0.0;
      if (den <= 0) return kInf;
      return num / den;
    };
    double xlo = 0;
    if (a + b > 0) xlo = std::max(0.0, (R - c) / (a + b));
    else if (c < R) return false;
    if (xlo > 1) return false;
    double xhi = 1;
    if (b > 0) xhi = std::min(1.0, std::max(xlo, R / b));
    double cand[3] = {xlo, xhi, xlo};
    const double K = b * c + a * R;
    if (a > 0 && K > 0) cand[2] = std::clamp((std::sqrt(wj * K / wi) - c) / a, xlo, xhi);
    double best = kInf;
    for (double xx : cand) {
      double yy = ymin(xx);
      if (yy > 1) {
        if (yy > 1 + 1e-12) continue;
        yy = 1;
      }
      const double f = wi * xx + wj * yy;
      if (f < best) { best = f; x = xx; y = yy; }
    }
    if (!(best < kInf)) return false;
    // Nudge onto the feasible side of rounding.
    y = std::min(1.0, y + 1e-15 * (1 + y));
    return true;
  }

  const Reduced& P_;
  const SolveOptions& opt_;
  std::chrono::steady_clock::time_point start_;
  std::vector<double> best_m_;
  double best_v_ = kInf;
  MaxFlow flow_;
};

}  // namespace

SolveResult solve_budget(const BudgetProblem& problem, const SolveOptions& options) {
  const auto t0 = std::chrono::steady_clock::now();
  const FootprintModel& M = problem.model;
  M.validate();
  const int G = M.num_groups();
  PLEAS_CHECK(int(problem.w.size()) == G, "solve_budget: ", problem.w.size(), " weights for ", G, " groups");
  for (double v : problem.w) PLEAS_CHECK(std::isfinite(v), "solve_budget: non-finite weight");
  PLEAS_CHECK(std::isfinite(problem.budget) && problem.budget >= 1 - 1e-12,
              "solve_budget: budget B = ", problem.budget,
              " is infeasible (B >= 1 is needed: the fully merged model has footprint 1)");
  PLEAS_CHECK(options.gap_tol >= 0, "solve_budget: gap_tol must be >= 0");
  const double F0 = footprint(M, std::vector<double>(size_t(G), 0.0), problem.metric);
  PLEAS_CHECK(F0 > 0, "solve_budget: the model has zero footprint");

  // Normalised g over all groups: Footprint(r)/F0 = 2·S + K - g(m), S + K = 1, so
  // Footprint/F0 <= B  <=>  g(m) >= T = S + 1 - B.
  Reduced P;
  std::vector<int> free_idx(size_t(G), -1);
  for (int g = 0; g < G; ++g)
    if (problem.w[size_t(g)] > 0) {
      free_idx[size_t(g)] = P.n++;
      P.group.push_back(g);
      P.w.push_back(problem.w[size_t(g)]);
    }
  const int n = P.n;
  P.U.assign(size_t(n), 0);
  P.Q.assign(size_t(n), 0);
  P.C.assign(size_t(n) * size_t(n), 0);
  P.adj.resize(size_t(n));
  double S = 0, fixed_g = 0;  // fixed groups sit at m = 1
  for (const auto& t : M.terms) {
    const double c = term_coefficient(t, problem.metric) / F0;
    if (c == 0) continue;
    if (t.in >= 0 && t.out >= 0) {
      const double k = c * double(M.groups[size_t(t.in)].d) * double(M.groups[size_t(t.out)].d);
      S += k;
      const int a = free_idx[size_t(t.in)], b = free_idx[size_t(t.out)];
      if (a >= 0 && b >= 0) {
        if (a == b) P.Q[size_t(a)] += k;
        else { P.C[size_t(a) * size_t(n) + size_t(b)] += k; P.C[size_t(b) * size_t(n) + size_t(a)] += k; }
      } else if (a >= 0) P.U[size_t(a)] += k;
      else if (b >= 0) P.U[size_t(b)] += k;
      else fixed_g += k;
    } else if (t.in >= 0 || t.out >= 0) {
      const int g = t.in >= 0 ? t.in : t.out;
      const double k = c * double(M.groups[size_t(g)].d);
      S += k;
      if (free_idx[size_t(g)] >= 0) P.U[size_t(free_idx[size_t(g)])] += k;
      else fixed_g += k;
    }
  }
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j)
      if (i != j && P.c(i, j) > 0) P.adj[size_t(i)].push_back({j, P.c(i, j)});
  P.T = S + 1 - problem.budget - fixed_g;

  std::vector<double> m(size_t(n), 1.0);
  double lb_min = 0;
  int64_t nodes = 0;
  if (n > 0) {
    Solver solver(P, options);
    lb_min = solver.run(nodes);
    m = solver.best_m();
  }
  SolveResult res;
  res.r.assign(size_t(G), 0.0);
  double wsum = 0;
  for (int i = 0; i < n; ++i) {
    res.r[size_t(P.group[size_t(i)])] = std::clamp(1.0 - m[size_t(i)], 0.0, 1.0);
    wsum += P.w[size_t(i)];
  }
  for (int g = 0; g < G; ++g) res.objective += problem.w[size_t(g)] * res.r[size_t(g)];
  res.upper_bound = std::max(res.objective, wsum - lb_min);
  res.gap = res.upper_bound - res.objective;
  res.optimal = res.gap <= options.gap_tol;
  res.relative_footprint = relative_footprint(M, res.r, problem.metric);
  res.nodes = nodes;
  res.solve_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return res;
}

RoundedBudget round_to_k(const BudgetProblem& problem, const SolveResult& result, int64_t multiple_of) {
  const FootprintModel& M = problem.model;
  const int G = M.num_groups();
  PLEAS_CHECK(multiple_of >= 1, "round_to_k: multiple_of = ", multiple_of);
  PLEAS_CHECK(int(result.r.size()) == G && int(problem.w.size()) == G, "round_to_k: r has ",
              result.r.size(), " and w ", problem.w.size(), " entries for ", G, " groups");
  const double B = problem.budget;
  // Admissible neighbours of k in group g: multiples of q, and d itself.
  auto up = [&](int g, int64_t k) {
    const int64_t d = M.groups[size_t(g)].d;
    return std::min(d, (k / multiple_of + 1) * multiple_of);
  };
  auto down = [&](int g, int64_t k) {
    const int64_t d = M.groups[size_t(g)].d;
    if (k == d && d % multiple_of != 0) return (d / multiple_of) * multiple_of;
    return std::max<int64_t>(0, k - multiple_of);
  };
  RoundedBudget out;
  out.k.resize(size_t(G));
  for (int g = 0; g < G; ++g) {
    const int64_t d = M.groups[size_t(g)].d;
    const double target = (1.0 - result.r[size_t(g)]) * double(d);
    int64_t k = std::llround(target / double(multiple_of)) * multiple_of;
    k = std::clamp<int64_t>(k, 0, d);
    if (d - target < std::fabs(double(k) - target)) k = d;
    out.k[size_t(g)] = k;
  }
  auto foot = [&](const std::vector<int64_t>& k) { return relative_footprint(M, r_from_k(M, k), problem.metric); };
  const double tol = 1e-12;
  double f = foot(out.k);
  // Over budget: merge more where the objective lost per footprint saved is smallest.
  while (f > B + tol) {
    int bg = -1;
    double best = kInf, bf = f;
    for (int g = 0; g < G; ++g) {
      const int64_t k = out.k[size_t(g)];
      if (k >= M.groups[size_t(g)].d) continue;
      auto k2 = out.k;
      k2[size_t(g)] = up(g, k);
      const double f2 = foot(k2);
      if (!(f2 < f)) continue;
      const double loss = problem.w[size_t(g)] * double(k2[size_t(g)] - k) / double(M.groups[size_t(g)].d);
      const double ratio = loss / (f - f2);
      if (ratio < best) { best = ratio; bg = g; bf = f2; }
    }
    PLEAS_CHECK(bg >= 0, "round_to_k: cannot reach budget ", B);
    out.k[size_t(bg)] = up(bg, out.k[size_t(bg)]);
    f = bf;
  }
  // Then improving moves that stay within budget, best first: un-merge one step of a group, or
  // un-merge one step of h while merging one more step of g (a swap).
  auto value = [&](int g, int64_t k_from, int64_t k_to) {  // objective change of k_from -> k_to
    return problem.w[size_t(g)] * double(k_from - k_to) / double(M.groups[size_t(g)].d);
  };
  for (int round = 0; round < 10 * G; ++round) {
    int bg = -1, bh = -1;
    double best = 1e-15, bf = f;
    auto k2 = out.k;
    for (int h = 0; h < G; ++h) {
      const int64_t kh = out.k[size_t(h)];
      if (kh <= 0 || problem.w[size_t(h)] <= 0) continue;
      k2[size_t(h)] = down(h, kh);
      const double gain_h = value(h, kh, k2[size_t(h)]);
      const double f2 = foot(k2);
      if (f2 <= B + tol && gain_h > best) { best = gain_h; bg = -1; bh = h; bf = f2; }
      for (int g = 0; g < G && f2 > B + tol; ++g) {  // does not fit alone: try a swap
        const int64_t kg = out.k[size_t(g)];
        if (g == h || kg >= M.groups[size_t(g)].d) continue;
        const double gain = gain_h + value(g, kg, up(g, kg));
        if (gain <= best) continue;
        k2[size_t(g)] = up(g, kg);
        const double f3 = foot(k2);
        k2[size_t(g)] = kg;
        if (f3 <= B + tol) { best = gain; bg = g; bh = h; bf = f3; }
      }
      k2[size_t(h)] = kh;
    }
    if (bh < 0) break;
    out.k[size_t(bh)] = down(bh, out.k[size_t(bh)]);
    if (bg >= 0) out.k[size_t(bg)] = up(bg, out.k[size_t(bg)]);
    f = bf;
  }
  out.r = r_from_k(M, out.k);
  out.relative_footprint = f;
  for (int g = 0; g < G; ++g) out.objective += problem.w[size_t(g)] * out.r[size_t(g)];
  out.objective_loss = result.objective - out.objective;
  return out;
}

std::vector<double> loo_weights(double merged, double ensemble, const std::vector<double>& only_merged,
                                const std::vector<double>& only_separate, double budget) {
  PLEAS_CHECK(only_merged.size() == only_separate.size(), "loo_weights: ", only_merged.size(),
              " only-merged vs ", only_separate.size(), " only-separate accuracies");
  PLEAS_CHECK(budget >= 1 && budget <= 2, "loo_weights: budget B = ", budget, " outside [1, 2]");
  std::vector<double> w(only_merged.size());
  for (size_t g = 0; g < w.size(); ++g)
    w[g] = (2 - budget) * (only_separate[g] - merged) + (budget - 1) * (ensemble - only_merged[g]);
  return w;
}

double loo_predicted_accuracy(double merged, double ensemble, const std::vector<double>& only_merged,
                              const std::vector<double>& only_separate, double budget,
                              const std::vector<double>& r) {
  const auto w = loo_weights(merged, ensemble, only_merged, only_separate, budget);
  PLEAS_CHECK(r.size() == w.size(), "loo_predicted_accuracy: r has ", r.size(), " entries for ",
              w.size(), " groups");
  double drop = 0, acc = 0;
  for (size_t g = 0; g < w.size(); ++g) {
    drop += ensemble - only_merged[g];
    acc += w[g] * r[g];
  }
  return (2 - budget) * merged + (budget - 1) * (ensemble - drop) + acc;
}

}  // namespace pleas
