// PLEAS_HD marks functions compiled for host and device: kernel index arithmetic lives in such
// functions so that CPU tests exercise exactly what a CUDA kernel computes.
#pragma once
#if defined(__CUDACC__)
#define PLEAS_HD __host__ __device__
#else
#define PLEAS_HD
#endif
