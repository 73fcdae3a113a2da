// index_select, index_copy_, index_scatter and cat: argument checks, output allocation, dispatch.
// Index tensors are 1-D i64 (or i32) on the data's device. Their values are checked on the host
// (for a CUDA index that is one small device-to-host copy), so kernels never see an index out of
// range.
#include <utility>
#include <vector>

#include "kernels/dispatch.h"
#include "kernels/ops.h"

namespace pleas {

namespace {

int wrap(const char* op, const Tensor& t, int dim) {
  const int n = t.dim();
  PLEAS_CHECK(n >= 1, op, ": needs a tensor with at least 1 dim, got ", t.str());
  PLEAS_CHECK(dim >= -n && dim < n, op, ": dim ", dim, " out of range for ", t.str());
  return dim < 0 ? dim + n : dim;
}

// Validates `index` against a dim of size `size` and returns its values. index_copy_ and
// index_scatter also require distinct values: with a repeated index "dst[index[i]] = src[i] for
// every i" would be contradictory (and the winner would differ between CPU and CUDA).
std::vector<int64_t> check_index(const char* op, const Tensor& index, const Tensor& data,
                                 int64_t size, bool distinct) {
  check_defined(op, index, "index");
  check_same_device(op, data, index);
  PLEAS_CHECK(index.dtype() == DType::i64 || index.dtype() == DType::i32, op,
              ": index must be i64 or i32, got ", index.str());
  PLEAS_CHECK(index.dim() == 1, op, ": index must be 1-D, got ", index.str());
  std::vector<int64_t> v = index.to(Device::cpu()).to(DType::i64).to_vector<int64_t>();
  std::vector<char> seen(distinct ? size_t(size) : 0, 0);
  for (size_t i = 0; i < v.size(); ++i) {
    PLEAS_CHECK(v[i] >= 0 && v[i] < size, op, ": index ", v[i], " (at position ", i,
                ") out of range for size ", size);
    if (distinct) {
      PLEAS_CHECK(!seen[size_t(v[i])], op, ": index ", v[i], " appears more than once");
      seen[size_t(v[i])] = 1;
    }
  }
  return v;
}

void index_copy_impl(const char* op, Tensor& dst, int dim, const Tensor& index, const Tensor& src) {
  check_defined(op, dst, "destination");
  check_defined(op, src, "source");
  check_same_device(op, dst, src);
  dim = wrap(op, dst, dim);
  PLEAS_CHECK(src.dtype() == dst.dtype(), op, ": source ", src.str(), " and destination ",
              dst.str(), " differ in dtype");
  bool shapes_ok = src.dim() == dst.dim();
  for (int d = 0; shapes_ok && d < dst.dim(); ++d)
    shapes_ok = d == dim || src.size(d) == dst.size(d);
  PLEAS_CHECK(shapes_ok, op, ": source ", shape_str(src.shape()), " and destination ",
              shape_str(dst.shape()), " must match in every dim but ", dim);
  check_index(op, index, dst, dst.size(dim), /*distinct=*/true);
  PLEAS_CHECK(index.numel() == src.size(dim), op, ": ", index.numel(), " indices for source ",
              shape_str(src.shape()), " of size ", src.size(dim), " along dim ", dim);
  if (src.numel() == 0) return;
  PLEAS_DISPATCH(dst, index_copy, dst, dim, index, src);
}

}  // namespace

Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  const char* op = "index_select";
  check_defined(op, x, "input");
  dim = wrap(op, x, dim);
  check_index(op, index, x, x.size(dim), /*distinct=*/false);
  Shape s = x.shape();
  s[size_t(dim)] = index.numel();
  Tensor out = Tensor::empty(s, x.dtype(), x.device());
  if (out.numel() > 0) PLEAS_DISPATCH(x, index_select, out, x, dim, index);
  return out;
}

void index_copy_(Tensor& dst, int dim, const Tensor& index, const Tensor& src) {
  index_copy_impl("index_copy_", dst, dim, index, src);
}

Tensor gather_mix(const Tensor& a, const Tensor& b, int dim, const Tensor& ia, const Tensor& ib, const Tensor& wa,
                  const Tensor& wb) {
  const char* op = "gather_mix";
  for (const auto& [t, what] : {std::pair<const Tensor*, const char*>{&a, "a"}, {&b, "b"}}) {
    check_defined(op, *t, what);
    check_dtype(op, *t, DType::f32, what);
  }
  check_same_device(op, a, b);
  PLEAS_CHECK(a.shape() == b.shape(), op, ": a ", shape_str(a.shape()), " and b ", shape_str(b.shape()),
              " differ in shape");
  dim = wrap(op, a, dim);
  check_index(op, ia, a, a.size(dim), /*distinct=*/false);
  check_index(op, ib, b, b.size(dim), /*distinct=*/false);
  const int64_t m = ia.numel();
  PLEAS_CHECK(ib.numel() == m, op, ": ", m, " indices into a but ", ib.numel(), " into b");
  for (const Tensor* w : {&wa, &wb}) {
    check_defined(op, *w, "weights");
    check_dtype(op, *w, DType::f32, "weights");
    check_same_device(op, a, *w);
    PLEAS_CHECK(w->dim() == 1 && w->numel() == m, op, ": weights ", shape_str(w->shape()), " must be [", m, "]");
  }
  Shape s = a.shape();
  s[size_t(dim)] = m;
  Tensor out = Tensor::empty(s, DType::f32, a.device());
  if (out.numel() == 0) return out;
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  PLEAS_DISPATCH(a, gather_mix, out, ac, bc, dim, ia.contiguous(), ib.contiguous(), wa.contiguous(), wb.contiguous());
  return out;
}

Tensor index_scatter(const Tensor& src, int dim, const Tensor& index, int64_t size) {
  const char* op = "index_scatter";
  check_defined(op, src, "source");
  dim = wrap(op, src, dim);
  PLEAS_CHECK(size >= 0, op, ": negative size ", size);
  Shape s = src.shape();
  s[size_t(dim)] = size;
  Tensor out = Tensor::zeros(s, src.dtype(), src.device());
  index_copy_impl(op, out, dim, index, src);
  return out;
}

// out = [xs[0], xs[1], ...] along dim: each input is copied into its narrow view of the output.
Tensor cat(const std::vector<Tensor>& xs, int dim) {
  const char* op = "cat";
  PLEAS_CHECK(!xs.empty(), op, ": no tensors given");
  for (const Tensor& x : xs) check_defined(op, x, "input");
  const Tensor& x0 = xs[0];
  dim = wrap(op, x0, dim);
  Shape s = x0.shape();
  s[size_t(dim)] = 0;
  for (size_t j = 0; j < xs.size(); ++j) {
    const Tensor& x = xs[j];
    check_same_device(op, x0, x);
    PLEAS_CHECK(x.dtype() == x0.dtype(), op, ": input ", j, " is ", x.str(), " but input 0 is ",
                x0.str());
    bool ok = x.dim() == x0.dim();
    for (int d = 0; ok && d < x0.dim(); ++d) ok = d == dim || x.size(d) == x0.size(d);
    PLEAS_CHECK(ok, op, ": input ", j, " has shape ", shape_str(x.shape()), " but input 0 has ",
                shape_str(x0.shape()), "; they must match in every dim but ", dim);
    s[size_t(dim)] += x.size(dim);
  }
  Tensor out = Tensor::empty(s, x0.dtype(), x0.device());
  // out viewed as [outer, size * inner]; a contiguous input is an [outer, n * inner] block of it,
  // copied as long rows (any other input goes through its narrow view of out).
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < dim; ++d) outer *= s[size_t(d)];
  for (int d = dim + 1; d < int(s.size()); ++d) inner *= s[size_t(d)];
  int64_t at = 0;
  for (const Tensor& x : xs) {
    const int64_t n = x.size(dim);
    if (n > 0 && x.numel() > 0) {
      if (x.is_contiguous())
        out.as_strided({outer, n * inner}, {s[size_t(dim)] * inner, 1}, out.offset() + at * inner)
            .copy_(x.reshape({outer, n * inner}));
      else
        out.narrow(dim, at, n).copy_(x);
    }
    at += n;
  }
  return out;
}

}  // namespace pleas
