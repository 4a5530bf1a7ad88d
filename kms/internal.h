/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KMS_KMS_INTERNAL_H
#define KMS_KMS_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/conf.h"
#include "proto/msg.h"

/* kmsd's configuration (kmsd.conf; deploy/kmsd.conf.example explains every key). */

enum kmsd_auth {
	KMSD_AUTH_MTLS = 0,   /* a verified client certificate */
	KMSD_AUTH_TOKEN = 1,  /* a valid IdMS bearer token */
	KMSD_AUTH_BOTH = 2,   /* both */
	KMSD_AUTH_EITHER = 3, /* one of the two */
};

#define KMSD_MAX_SPKI_MAP 256
#define KMSD_MAX_THREADS  64

struct kmsd_spki_map {
	uint8_t spki_sha256[32];
	char client_id[KMS_PROTO_MAX_CLIENT_ID + 1];
};

struct kmsd_config {
	struct kms_conf *conf; /* owns the strings below */
	const char *listen_host;
	char listen_host_buf[256];
	uint16_t listen_port;
	unsigned int threads;
	const char *public_url;                     /* no trailing "/" */
	const char *root;                           /* "/keymanagement/identity/v1" */
	const char *tls_cert, *tls_key, *client_ca; /* tls_key: NULL with tls_key_token */
	bool tls_key_token; /* the private key is kms-hsmd's tls_key (kms/tlskey.h) */
	bool client_cert_optional;
	struct kmsd_spki_map *spki_map;
	size_t num_spki_map;
	const char *store;
	const char *hsmd, *hsmd_conf;
	char hsmd_buf[4096];
	unsigned int hsmd_timeout_ms;
	const char *idms_keys, *idms_issuer, *idms_audience;
	const char *idms_claims[8];
	size_t num_idms_claims;
	char idms_claims_buf[512];
	uint64_t idms_leeway;
	enum kmsd_auth auth_ue, auth_server;
	const char *kms_id;
	bool cipher_value_hex, user_id_base64, wrap_alg_compat;
	uint64_t next_period_lead;
	uint64_t rate_limit, rate_burst;
	const char *metrics_host;
	char metrics_host_buf[256];
	uint16_t metrics_port;
	bool has_metrics;
	uint64_t request_timeout_ms;
	const char *user;
	bool sandbox; /* seccomp on the event-loop threads (kms/sandbox.c) */
	int log_level;
};

/*
 * kmsd_config_load - load and check path. Returns KMS_OK; KMS_ERR_PARSE and friends with
 * err "FILE:LINE: why" or "FILE: why". cfg->conf is owned (kmsd_config_free).
 */
int kmsd_config_load(struct kmsd_config *cfg, const char *path, char *err, size_t err_len) KMS_WUR;
void kmsd_config_free(struct kmsd_config *cfg);

/* kmsd_parse_hostport - "HOST:PORT", "[v6]:PORT": host into host[0..cap), port 1..65535. */
int kmsd_parse_hostport(const char *s, char *host, size_t cap, uint16_t *port) KMS_WUR;

/* The rate limiter: a token bucket per client, rate per second, burst deep. */
struct kmsd_ratelimit;
int kmsd_ratelimit_new(struct kmsd_ratelimit **out, uint64_t rate, uint64_t burst) KMS_WUR;
void kmsd_ratelimit_free(struct kmsd_ratelimit *rl);
/* kmsd_ratelimit_take - true if client may make a request now (thread-safe). */
bool kmsd_ratelimit_take(struct kmsd_ratelimit *rl, const char *client, uint64_t now_ms);

/* The counters /metrics shows. */
struct kmsd_metrics {
	atomic_uint_least64_t requests[6]; /* by status class: 2xx, 400, 401/403, 404, 429, 5xx */
	atomic_uint_least64_t provisioned; /* key sets sent */
	atomic_uint_least64_t audit_failures;
	atomic_uint_least64_t duration_us; /* sum over requests */
};

/* kmsd's state, read-only once the threads run (but for the counters). */
struct kms_hsmd_pool;
struct kms_jwt_keys;
struct kmsd {
	struct kmsd_config cfg;
	struct ssl_ctx_st *ssl; /* SSL_CTX */
	struct kms_hsmd_pool *pool;
	struct kms_jwt_keys *jwt_keys; /* NULL: bearer tokens are not accepted */
	struct kmsd_ratelimit *rl;
	struct kms_proto_certificate_rep cert; /* the KMS certificate, from kms-hsmd at start */
	struct kmsd_metrics metrics;
	atomic_uint_least64_t next_request;
};

/*
 * kms_tlskey_slot - the kms-hsmd slot (kms_hsmd_call) of the calling thread, for the TLS key in
 * the token (kms/tlskey.c): each worker thread sets its own index (kms/http.c, thread_main)
 * before it runs handshakes, as its requests use that slot; 0 on other threads.
 */
extern _Thread_local unsigned int kms_tlskey_slot;

/*
 * kmsd_serve - run the HTTPS listener (and the metrics listener) on k->cfg.threads threads
 * until *stop becomes non-zero. Returns KMS_OK after a clean stop; KMS_ERR_IO when a listener
 * cannot be set up (err says which address and why).
 */
int kmsd_serve(struct kmsd *k, volatile int *stop, char *err, size_t err_len) KMS_WUR;

#endif /* KMS_KMS_INTERNAL_H */
