/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_KMS_BENCH_LOAD_H
#define KMS_TOOLS_KMS_BENCH_LOAD_H

/*
 * kms_bench_load - kms-bench load (tools/kms-bench-load.c says what it measures): start kmsd
 * (kmsd_path) on the development domain dir, load it for seconds per phase over conns
 * connections, print the figures. 0 when every request was answered 200, else 1.
 */
int kms_bench_load(const char *dir, const char *kmsd_path, double seconds, unsigned int conns);

#endif /* KMS_TOOLS_KMS_BENCH_LOAD_H */
