/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TOOLS_KMS_BENCH_LOAD_H
#define KMS_TOOLS_KMS_BENCH_LOAD_H

/*
 * kms_bench_load - kms-bench load (tools/kms-bench-load.c says what it measures): start kmsd
 * (kmsd_path) on the development domain dir, load it for seconds per phase over conns
 * connections, print the figures. 0 when every request was answered 200, else 1.
 */
int kms_bench_load(const char *dir, const char *kmsd_path, double seconds, unsigned int conns);

/*
 * kms_bench_soak - kms-bench load --soak: start kmsd (kmsd_path) on the development domain dir
 * as kms_bench_load does, then for minutes keep conns connections (clients alice, bob and
 * mcptt-server in turn; 0 means 4, at most 64) busy with a mix of good requests (keyprov,
 * keyprov/<own uri>/<ntp now>, init, certcache: 200 expected) and bad ones that must be refused
 * (a foreign identity 403, a malformed NTP time 400, an unknown resource 404, a malformed
 * KmsRequest 400). Prints a line every 10 s (or every tenth of a shorter run), then the totals
 * and the RSS (VmRSS) of kmsd and of its kms-hsmd children (summed) after a warm-up and at the
 * end. 0 when no good request failed, no bad one got the wrong status and neither kmsd's nor
 * kms-hsmd's RSS grew by more than rss_bound_kb KiB; else 1, the reasons on stderr.
 */
int kms_bench_soak(const char *dir, const char *kmsd_path, double minutes, unsigned int conns,
		   unsigned long rss_bound_kb);

#endif /* KMS_TOOLS_KMS_BENCH_LOAD_H */
