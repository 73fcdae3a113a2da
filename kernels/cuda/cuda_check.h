// One checking macro for CUDA runtime, cuBLAS, cuDNN and cuSOLVER calls: on failure it throws
// pleas::Error with the statement, file, line and the library's own message.
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>
#include <cusolverDn.h>

#include <string>

#include "engine/error.h"

namespace pleas::cudacheck {

inline bool ok(cudaError_t s) { return s == cudaSuccess; }
inline bool ok(cublasStatus_t s) { return s == CUBLAS_STATUS_SUCCESS; }
inline bool ok(cudnnStatus_t s) { return s == CUDNN_STATUS_SUCCESS; }
inline bool ok(cusolverStatus_t s) { return s == CUSOLVER_STATUS_SUCCESS; }

inline std::string message(cudaError_t s) {
  return std::string("CUDA: ") + cudaGetErrorName(s) + ": " + cudaGetErrorString(s);
}
inline std::string message(cublasStatus_t s) {
  return std::string("cuBLAS: ") + cublasGetStatusName(s) + ": " + cublasGetStatusString(s);
}
inline std::string message(cudnnStatus_t s) { return std::string("cuDNN: ") + cudnnGetErrorString(s); }
inline std::string message(cusolverStatus_t s) {
  return "cuSOLVER: status " + std::to_string(int(s));
}

}  // namespace pleas::cudacheck

#define PLEAS_CUDA_CHECK(stmt)                                                                  \
  do {                                                                                          \
    auto pleas_status_ = (stmt);                                                                \
    if (!::pleas::cudacheck::ok(pleas_status_))                                                 \
      ::pleas::detail::throw_error(__FILE__, __LINE__,                                          \
                                   std::string(#stmt) + " failed: " +                           \
                                       ::pleas::cudacheck::message(pleas_status_));             \
  } while (0)

// After every kernel launch: launch-configuration errors surface here.
#define PLEAS_KERNEL_CHECK() PLEAS_CUDA_CHECK(cudaGetLastError())
