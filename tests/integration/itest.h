/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_TESTS_INTEGRATION_ITEST_H
#define KMS_TESTS_INTEGRATION_ITEST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <CUnit/CUnit.h>
#include <openssl/ssl.h>

/*
 * What the integration tests share: a development domain made by kms-devsetup in a temporary
 * directory, a kmsd process started on it, and a small HTTPS client (status codes, headers, the
 * body; several requests on one connection, read by Content-Length).
 */

#define ROOT      "/keymanagement/identity/v1"
#define RESP_CAP  (256 * 1024)
#define ALICE_URI "sip:alice@example.org"
#define BOB_URI   "sip:bob@example.org"
#define MCS_URI   "sip:mcptt-server@example.org"

extern char it_tmp[256];  /* the test's temporary directory */
extern char it_dev[300];  /* the development domain in it */
extern char it_log[320];  /* kmsd's log file */
extern uint16_t it_port;  /* kmsd's HTTPS port */
extern uint16_t it_mport; /* and its metrics port */
extern pid_t it_kmsd_pid; /* kmsd, or -1 */

/* it_run - run argv (argv[0] a path), its stdout and stderr into out; its exit status. */
int it_run(const char *const argv[], char *out, size_t cap);
/*
 * it_report_value - the number of the line "<name> <number>" of a tool's report out (kms-bench
 * prints one 'name value' per line) into *v: 0, or -1 when there is no such line or no number.
 */
int it_report_value(const char *out, const char *name, double *v);
/* it_free_port - a free TCP port on 127.0.0.1. */
uint16_t it_free_port(void);
/* it_tcp_connect - a connected socket to 127.0.0.1:p, or -1. */
int it_tcp_connect(uint16_t p);
/* it_start_kmsd - start kmsd -c conf (output to it_log), wait until it_port accepts: 0, or -1. */
int it_start_kmsd(const char *conf);
/* it_stop_kmsd - SIGTERM kmsd and reap it: its exit status. */
int it_stop_kmsd(void);

/*
 * it_make_domain - the set-up of a suite: a temporary directory it_tmp (named for tag), it_dev
 * and it_log in it, two free ports (it_port, it_mport) and the development domain made there by
 * kms-devsetup (with kms-hsmd, listening on it_port, metrics on it_mport), extra (NULL, or a
 * NULL-terminated list of at most 8 further kms-devsetup arguments) appended. 0, or -1 (with
 * kms-devsetup's output on stderr). kmsd is not started.
 */
int it_make_domain(const char *tag, const char *const extra[]);
/* it_start_domain_kmsd - it_start_kmsd on conf, or on it_dev/kmsd.conf if conf is NULL; a
 * failure is said on stderr: 0, or -1. */
int it_start_domain_kmsd(const char *conf);
/* it_suite_cleanup - a CUnit suite cleanup: it_stop_kmsd, a non-zero exit status said on
 * stderr: 0 if kmsd exited 0, 1 otherwise. When kmsd exited 0 and no test failed it removes
 * it_tmp (the domain, the token, the logs) unless KMS_TEST_KEEP is set; otherwise it keeps it
 * for a look (and says where). With no
 * kmsd running (a test stopped it), 0, and it_tmp is removed unless a test failed or
 * KMS_TEST_KEEP is set. */
int it_suite_cleanup(void);
/*
 * it_conf_variant - write to dst the configuration src with the overrides: overrides holds
 * lines "key = value" (each ended by a newline); every line of src setting one of their keys is
 * left out and the override lines are appended. A line "key" alone (no '=') only leaves the key
 * out. src may be dst. src at most 64 KiB. 0, or -1.
 */
int it_conf_variant(const char *src, const char *dst, const char *overrides);
/*
 * it_kms_client - run kms-client as client name: --url (kmsd on it_port), --ca, and --cert,
 * --key, --trk, --ink of it_dev/clients/<name>/, then args (a NULL-terminated list of at most
 * 11: further options, which override these, the command and its arguments). Its output (stdout
 * and stderr) into out; its exit status (-1 if it did not run).
 */
int it_kms_client(const char *name, const char *const args[], char *out, size_t cap);
/* it_kms_client_cmd - it_kms_client as name with the command cmd alone; a non-zero exit status
 * is said on stderr with kms-client's output. Its exit status. */
int it_kms_client_cmd(const char *name, const char *cmd);
/* it_client_path - it_dev/clients/<name>/<file> into out (cap bytes). */
void it_client_path(char *out, size_t cap, const char *name, const char *file);

struct it_conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
};

/* it_conn_open - connect as client name (it_dev/clients/<name>/), or with no certificate. */
int it_conn_open(struct it_conn *c, const char *name);
void it_conn_close(struct it_conn *c);
/* it_conn_request - one request on c: the status, or -1; headers NUL-terminated in out, the
 * body at *out_body (NUL-terminated, *body_len bytes). */
int it_conn_request(struct it_conn *c, const char *method, const char *path, const char *extra,
		    const char *body, size_t body_len, char *out, size_t cap, char **out_body,
		    size_t *body_len_out);
/* it_request - it_conn_request on a connection of its own. */
int it_request(const char *name, const char *method, const char *path, const char *extra,
	       const char *body, size_t body_len, char *out, size_t cap, char **out_body,
	       size_t *blen);
/* it_element_text - the text of the first element name in xml (a crude look): 0, or -1. */
int it_element_text(const char *xml, const char *name, char *out, size_t cap);
/* it_schema_valid - whether body validates against docs/schema/ts33180-kms-interface.xsd. */
int it_schema_valid(const char *body, size_t len);
/* it_mint - a development bearer token (kms-devsetup token) for mcid, with opt val if opt. */
int it_mint(char *out, size_t cap, const char *mcid, const char *opt, const char *val);

/* it_children - the pids of pid's children, of every thread of pid (/proc), without a
 * sanitizer's symbolizer process: how many (<= cap). */
size_t it_children(pid_t pid, pid_t *out, size_t cap);

/* it_read_line - the file path (at most cap - 1 bytes) without its trailing CR and LF into out,
 * NUL-terminated: its length, or -1 if it cannot be read. */
long it_read_line(const char *path, char *out, size_t cap);
/* it_read_hex - a file of one line of hex digits (trk.hex, n-ssk.hex) into out (cap bytes): its
 * length in bytes, or 0. */
size_t it_read_hex(const char *path, uint8_t *out, size_t cap);

/* A needle to look for in a process's memory (it_scan_memory). */
struct it_needle {
	const char *what;
	uint8_t bytes[64];
	size_t len;
	int found;
};

/* it_needle_from_hex - the first 64 octets (at most) after skip of the hex file path (one line
 * of hex digits: n-ssk.hex, trk.hex) as the needle what: 0, or -1. */
int it_needle_from_hex(struct it_needle *n, const char *what, const char *path, size_t skip);
/* it_scan_memory - search every readable mapping of pid (/proc/PID/maps, /proc/PID/mem; needs
 * CAP_SYS_PTRACE) for the needles, setting found: the bytes read, or 0 if none could be. */
size_t it_scan_memory(pid_t pid, struct it_needle *needles, size_t num);

/* it_scan_control - the control of a memory scan: an init request by name with a header of
 * random text, which is then in kmsd's memory (h2o's buffers are not wiped); n is that text.
 * A scan that does not find it proves nothing. 0, or -1. */
int it_scan_control(struct it_needle *n, const char *name);

/* it_curl_http2 - curl (an independent HTTP/2 client) POSTs to path over HTTP/2 as name (its
 * certificate): its output into out, which ends in "HTTPVERSION=V STATUS=S"; curl's exit
 * status. */
int it_curl_http2(const char *name, const char *path, char *out, size_t cap);

/* it_main - an integration test's main: SIGPIPE ignored (a server that closes is an error to
 * see, not a death), libxml2 set up around kms_test_main(suites): its exit status. */
int it_main(CU_SuiteInfo *suites);

/* it_wait_healthy - wait up to ms for kmsd's /healthz (local listener) to answer 200, that is
 * for every kms-hsmd slot to be up: 0 when it does, -1 when the time is over. */
int it_wait_healthy(int ms);

#endif /* KMS_TESTS_INTEGRATION_ITEST_H */
