// LDAE_HOST_DEVICE marks element math that both the CPU loops (g++) and the
// CUDA kernels (nvcc) compile: __host__ __device__ under nvcc, nothing else.
#pragma once

#if defined(__CUDACC__)
#define LDAE_HOST_DEVICE __host__ __device__
#else
#define LDAE_HOST_DEVICE
#endif
