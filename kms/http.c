/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kmsd's HTTP side on h2o 2.2.5: the listeners and their threads, and the handler of the KMS
 * resources (kms-interface.md). One request, in order:
 *
 *   1. the resource is parsed from the path (kms/resource.c), the optional KmsRequest body
 *      (proto/xml.c), each under its limits;
 *   2. the client is authenticated: its verified certificate (kms/tls.c) names it (its URI, or
 *      a configured SPKI hash), a bearer token is verified (kms/jwt.c); the roster gives its
 *      class, whose policy (auth_ue, auth_server) says which are required;
 *   3. rate limit; authorisation: a UE gets only its own identity (the token's MC service ID,
 *      else its certificate's name), an MC server what the roster entitles it to; kms-hsmd
 *      checks the entitlement again and answers the same for an identity that does not exist;
 *   4. kms-hsmd provisions (TrK-wrapped material only), kmsd renders the XML, kms-hsmd signs
 *      its digest with the client's InK in the token (proto/signedinfo.h);
 *   5. the audit record is appended durably; only then is the response sent (fail closed: a
 *      failed append turns the answer into 503 without material).
 *
 * The handler runs on the thread's event loop and blocks it for the kms-hsmd exchange (each
 * thread has its own kms-hsmd process); the thread count gives the concurrency.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define H2O_USE_LIBUV 0
#include <h2o.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsm/uid.h"
#include "kms/internal.h"
#include "kms/jwt.h"
#include "kms/resource.h"
#include "kms/sandbox.h"
#include "kms/supervise.h"
#include "kms/tls.h"
#include "proto/mp.h"
#include "proto/store.h"
#include "proto/xml.h"

#include "common/banned.h"

#define MAX_BODY       KMS_XML_MAX_BODY /* 64 KiB; h2o itself refuses twice that */
#define REQUEST_ID_LEN 16
#define MAX_KEY_SETS   2 /* the period asked for, and the next one near its end */
#define RETRY_AFTER    "5"

struct kmsd_thread {
	struct kmsd *k;
	unsigned int idx;
	h2o_evloop_t *loop;
	h2o_globalconf_t *gconf;
	h2o_context_t ctx;
	h2o_accept_ctx_t accept;
	h2o_socket_t *listener;
	h2o_context_t mctx; /* the metrics listener (thread 0 only) */
	h2o_accept_ctx_t maccept;
	h2o_socket_t *mlistener;
	struct kms_store *store;
	pthread_t tid;
	atomic_int *stop;
};

struct kms_handler {
	h2o_handler_t super;
	struct kmsd *k;
};

/* Everything one request collects on its way; the audit record and the log line come from it. */
struct req_state {
	struct kmsd_thread *t;
	char rid[REQUEST_ID_LEN + 1];
	char client[KMS_PROTO_MAX_CLIENT_ID + 1]; /* authenticated client id, or "" */
	enum kms_client_class cls;
	char identity[KMS_PROTO_MAX_URI + 1]; /* the identity asked for, or "" */
	char own[KMS_PROTO_MAX_URI + 1];      /* the identity the client acts as */
	char resource[KMS_AUDIT_MAX_RESOURCE + 1];
	char key_ids[KMS_AUDIT_MAX_KEY_IDS + 1];
	const char *outcome;
	char detail[KMS_AUDIT_MAX_DETAIL + 1];
	int status;
	struct kms_resource res;
	struct kms_xml_request body;
	bool has_body;
	bool has_token;
	struct timespec start;
	/* the client's pending TrK/InK rotation, whose new keys init and keyprov carry */
	struct kms_store_rotation rot;
	struct kms_xml_enc_key new_keys[2]; /* NewTransportKey, NewIntegrityKey (from rot) */
	bool rotated; /* this request's signature finished the client's rotation */
	char new_ink[KMS_PROTO_MAX_KEY_ID + 1]; /* then: the InK that proved it */
};

static struct kmsd_thread *
thread_of(h2o_req_t *req)
{
	return (struct kmsd_thread *)((char *)req->conn->ctx - offsetof(struct kmsd_thread, ctx));
}

/* Copy network text into a log- and audit-safe form: UTF-8 without control characters. */
static void
safe_text(char *out, size_t cap, const char *in, size_t len)
{
	size_t i, n = 0;

	if (len >= cap) {
		len = cap - 1;
	}
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		out[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[n] = '\0';
}

static void
set_detail(struct req_state *st, const char *what)
{
	snprintf(st->detail, sizeof(st->detail), "%s", what);
}

/* ----------------------------------------------------------------------------------------- */
/* Responses */

static void make_url(char *out, size_t cap, const struct kmsd *k, h2o_req_t *req);
static void note_rotation(struct req_state *st, bool keys_sent);

static const char *
reason_of(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 413:
		return "Payload Too Large";
	case 414:
		return "URI Too Long";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Internal Server Error";
	}
}

static void
count_status(struct kmsd *k, int status)
{
	size_t i = status < 300                     ? 0
		   : status == 401 || status == 403 ? 2
		   : status == 404                  ? 3
		   : status == 429                  ? 4
		   : status >= 500                  ? 5
						    : 1;

	atomic_fetch_add(&k->metrics.requests[i], 1);
}

static void
set_response(h2o_req_t *req, struct req_state *st, size_t len)
{
	req->res.status = st->status;
	req->res.reason = reason_of(st->status);
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("application/xml; charset=utf-8"));
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL,
		       H2O_STRLIT("no-store"));
	h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL,
			      h2o_strdup(&req->pool, st->rid, SIZE_MAX).base, strlen(st->rid));
	if (st->status == 503 || st->status == 429) {
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL,
			       H2O_STRLIT(RETRY_AFTER));
	}
	req->res.content_length = len; /* HTTP/1.1: Content-Length, not chunked */
}

static void
send_bytes(h2o_req_t *req, struct req_state *st, const uint8_t *body, size_t len)
{
	set_response(req, st, len);
	h2o_send_inline(req, (const char *)body, len);
}

/* A body that is wiped when h2o is done with the request (its pool is cleared). */
struct wiped_body {
	size_t len;
	uint8_t data[];
};

static void
wipe_body(void *p)
{
	struct wiped_body *b = p;

	kms_memzero(b->data, b->len);
}

/*
 * Send a body that may hold a plaintext client's keys. h2o_send_inline would copy it into the
 * request's pool, whose chunks are reused unwiped; this copy is h2o's shared memory with a
 * dispose callback that wipes it, and it is sent as it is: over HTTP/1.1 h2o hands it straight
 * to SSL_write, which encrypts it into h2o's buffers (HTTP/2 copies it into its frame buffer
 * first, so a plaintext body is never sent over HTTP/2: handle_keyprov).
 */
static void
send_wiped(h2o_req_t *req, struct req_state *st, const uint8_t *body, size_t len)
{
	static h2o_generator_t generator = {NULL, NULL};
	struct wiped_body *b = h2o_mem_alloc_shared(&req->pool, sizeof(*b) + len, wipe_body);
	h2o_iovec_t buf;

	b->len = len;
	memcpy(b->data, body, len);
	set_response(req, st, len);
	h2o_start_response(req, &generator);
	buf = h2o_iovec_init(b->data, len);
	h2o_send(req, &buf, 1, H2O_SEND_STATE_FINAL);
}

/* Whether kms-hsmd said it has no audit key (logged once, then quiet). */
static atomic_int checkpoint_unsupported;

int
kmsd_audit_checkpoint(struct kmsd *k, struct kms_store *st, unsigned int slot, uint64_t seq)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	struct timespec now;
	int r;

	memset(&req, 0, sizeof(req));
	(void)clock_gettime(CLOCK_REALTIME, &now);
	req.op = KMS_PROTO_AUDIT_SIGN;
	req.u.audit_sign.seq = seq;
	req.u.audit_sign.time_s = now.tv_sec > 0 ? (uint64_t)now.tv_sec : 0;
	if ((r = kms_store_audit_hash_at(st, seq, req.u.audit_sign.hash)) != KMS_OK) {
		goto out;
	}
	/* kms-hsmd checks the record, signs, and writes the checkpoint itself (hsm/adapter.c). */
	if ((r = kms_hsmd_call(k->pool, slot, &req, &rep)) != KMS_OK) {
		goto out;
	}
	if ((r = rep.status) != KMS_OK) {
		if (r == KMS_ERR_UNSUPPORTED) {
			if (atomic_exchange(&checkpoint_unsupported, 1) == 0) {
				kms_log(KMS_LOG_WARN, "audit checkpoints: kms-hsmd has no audit "
						      "key (kms-hsmd.conf "
						      "audit_key); the log is not checkpointed");
			}
			return r;
		}
		goto out;
	}
	atomic_fetch_add(&k->metrics.checkpoints, 1);
	kms_log(KMS_LOG_DEBUG, "audit checkpoint at record %llu", (unsigned long long)seq);
	return KMS_OK;
out:
	atomic_fetch_add(&k->metrics.checkpoint_failures, 1);
	kms_log(KMS_LOG_ERR, "audit checkpoint at record %llu not made: %s",
		(unsigned long long)seq, kms_strerror(r));
	return r;
}

/* The audit record of st; KMS_OK once it is durable. */
static int
audit(struct req_state *st)
{
	struct kms_audit_rec rec;
	struct timespec now;
	uint64_t seq = 0;
	int r;

	(void)clock_gettime(CLOCK_REALTIME, &now);
	memset(&rec, 0, sizeof(rec));
	rec.time_s = (uint64_t)now.tv_sec;
	rec.time_ns = (uint32_t)now.tv_nsec;
	rec.request_id = st->rid;
	rec.client = st->client;
	rec.identity = st->identity;
	rec.resource = st->resource;
	rec.http_status = st->status;
	rec.outcome = st->outcome;
	rec.detail = st->detail;
	rec.key_ids = st->key_ids;
	if ((r = kms_store_audit_append(st->t->store, &rec, &seq)) != KMS_OK) {
		atomic_fetch_add(&st->t->k->metrics.audit_failures, 1);
		kms_log(KMS_LOG_ERR, "req=%s audit record not written: %s", st->rid,
			kms_strerror(r));
		return r;
	}
	/* A checkpoint now and then; its failure does not fail the request (the record is on
	 * disk). */
	if (st->t->k->cfg.audit_checkpoint_every != 0 &&
	    seq % st->t->k->cfg.audit_checkpoint_every == 0) {
		(void)kmsd_audit_checkpoint(st->t->k, st->t->store, st->t->idx, seq);
	}
	return KMS_OK;
}

static void
log_line(struct req_state *st)
{
	struct timespec now;
	long ms;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (long)(now.tv_sec - st->start.tv_sec) * 1000L +
	     (long)(now.tv_nsec - st->start.tv_nsec) / 1000000L;
	kms_log(KMS_LOG_INFO,
		"req=%s client=%s identity=%s resource=%s status=%d outcome=%s ms=%ld%s%s", st->rid,
		st->client[0] != '\0' ? st->client : "-",
		st->identity[0] != '\0' ? st->identity : "-", st->resource, st->status, st->outcome,
		ms, st->detail[0] != '\0' ? " detail=" : "", st->detail);
	atomic_fetch_add(&st->t->k->metrics.duration_us, (uint64_t)ms * 1000u);
}

/* Render, sign (when the client is known and signing works) and serialize resp. */
static int
render(struct req_state *st, struct kms_xml_response *resp, uint8_t **out, size_t *out_len)
{
	struct kmsd *k = st->t->k;
	struct kms_xml_doc *doc = NULL;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t digest[KMS_XML_HMAC_LEN];
	int r;

	*out = NULL;
	*out_len = 0;
	resp->opts.wrap_alg_compat = k->cfg.wrap_alg_compat;
	resp->opts.cipher_value_hex = k->cfg.cipher_value_hex;
	resp->opts.user_id_base64 = k->cfg.user_id_base64;
	if ((r = kms_xml_render(&doc, resp)) != KMS_OK) {
		goto out;
	}
	if (st->client[0] != '\0') {
		if ((r = kms_xml_digest(doc, digest)) != KMS_OK) {
			goto out;
		}
		memset(&req, 0, sizeof(req));
		req.op = KMS_PROTO_SIGN;
		memcpy(req.u.sign.client_id, st->client, strlen(st->client) + 1);
		req.u.sign.client_id_len = strlen(st->client);
		memcpy(req.u.sign.digest, digest, sizeof(digest));
		if ((r = kms_hsmd_call(k->pool, st->t->idx, &req, &rep)) != KMS_OK) {
			goto out;
		}
		if ((r = rep.status) != KMS_OK) {
			goto out;
		}
		if ((r = kms_xml_attach_signature(doc, digest, rep.u.sign.signature,
						  rep.u.sign.key_id)) != KMS_OK) {
			goto out;
		}
	}
	r = kms_xml_serialize(doc, out, out_len);
out:
	kms_xml_doc_free(doc);
	return r;
}

/*
 * Answer st->status with a KmsError (the message is a fixed text chosen here, never input).
 * The error is audited; a failed audit append changes nothing here (nothing is provisioned).
 */
static int
send_error(h2o_req_t *req, struct req_state *st, int status, const char *outcome, const char *msg)
{
	struct kmsd *k = st->t->k;
	struct kms_xml_response resp;
	char url[KMS_XML_MAX_URI + 1];
	uint8_t *body = NULL;
	size_t len = 0;

	st->status = status;
	st->outcome = outcome;
	if (st->detail[0] == '\0') {
		set_detail(st, msg);
	}
	note_rotation(st, false); /* a rotation this request's signature finished */
	memset(&resp, 0, sizeof(resp));
	make_url(url, sizeof(url), k, req);
	resp.user_uri = st->identity[0] != '\0' ? st->identity : st->own;
	resp.kms_uri = k->cert.kms_uri;
	resp.time = (int64_t)time(NULL);
	resp.kms_id = k->cfg.kms_id;
	resp.client_req_url = url;
	resp.msg = KMS_XML_MSG_NONE;
	resp.has_error = true;
	resp.error_code = status;
	resp.error_msg = msg;
	/* a KmsError is signed for a known client too, but the error must go out regardless */
	if (render(st, &resp, &body, &len) != KMS_OK) {
		char tmp[sizeof(st->client)];
		memcpy(tmp, st->client, sizeof(tmp));
		st->client[0] = '\0';
		resp.user_uri = "";
		(void)render(st, &resp, &body, &len);
		memcpy(st->client, tmp, sizeof(tmp));
	}
	(void)audit(st);
	log_line(st);
	count_status(k, status);
	if (body == NULL) {
		static const char fallback[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
		send_bytes(req, st, (const uint8_t *)fallback, sizeof(fallback) - 1);
	} else {
		send_bytes(req, st, body, len);
	}
	free(body);
	return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Authentication and authorisation */

static bool
auth_satisfied(enum kmsd_auth policy, bool mtls, bool token)
{
	switch (policy) {
	case KMSD_AUTH_MTLS:
		return mtls;
	case KMSD_AUTH_TOKEN:
		return token;
	case KMSD_AUTH_BOTH:
		return mtls && token;
	case KMSD_AUTH_EITHER:
		return mtls || token;
	default:
		return false;
	}
}

/*
 * Who is asking: KMS_OK with st->client, st->cls and st->own set; else the HTTP status to
 * answer (401 or 403) with st->detail set.
 */
static int
authenticate(h2o_req_t *req, struct req_state *st)
{
	struct kmsd *k = st->t->k;
	struct kms_peer peer;
	struct kms_jwt_result jr;
	struct kms_store_client client;
	bool mtls = false;
	char jerr[128];
	ssize_t hi;
	int r;

	memset(&jr, 0, sizeof(jr));
	if (kms_tls_peer(req->conn->callbacks->get_socket(req->conn), &peer) == KMS_OK) {
		/* the client_spki mappings in force (SIGHUP replaces them: kms/config.c) */
		(void)kmsd_spki_lookup(&k->cfg, peer.spki_sha256, st->client, sizeof(st->client));
		if (st->client[0] == '\0' && peer.uri[0] != '\0') {
			snprintf(st->client, sizeof(st->client), "%s", peer.uri);
		}
		mtls = st->client[0] != '\0';
		if (!mtls) {
			set_detail(st,
				   "the client certificate names no client (no URI, no mapping)");
			return 401;
		}
	}
	hi = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
	if (hi >= 0) {
		h2o_iovec_t v = req->headers.entries[hi].value;
		if (k->jwt_keys == NULL) {
			set_detail(st, "bearer tokens are not accepted here");
			return 401;
		}
		if (v.len < 7 || strncasecmp(v.base, "Bearer ", 7) != 0) {
			set_detail(st, "the Authorization header is not a bearer token");
			return 401;
		}
		{
			struct kms_jwt_policy pol;
			memset(&pol, 0, sizeof(pol));
			pol.issuer = k->cfg.idms_issuer;
			pol.audience = k->cfg.idms_audience;
			pol.claims = k->cfg.idms_claims;
			pol.num_claims = k->cfg.num_idms_claims;
			pol.leeway = k->cfg.idms_leeway;
			r = kms_jwt_verify(k->jwt_keys, &pol, (const uint8_t *)v.base + 7,
					   v.len - 7, (int64_t)time(NULL), &jr, jerr, sizeof(jerr));
		}
		if (r != KMS_OK) {
			snprintf(st->detail, sizeof(st->detail), "bearer token refused: %s", jerr);
			/* RFC 6750: a valid token without the scope is insufficient_scope (403);
			 * a check that could not run is ours (503) */
			return r == KMS_ERR_FORBIDDEN                      ? 403
			       : r == KMS_ERR_NOMEM || r == KMS_ERR_CRYPTO ? 503
									   : 401;
		}
		st->has_token = true;
		if (!mtls) {
			/* no certificate: the token's MC service ID names the client */
			if (strlen(jr.mc_id) > KMS_PROTO_MAX_CLIENT_ID) {
				set_detail(st,
					   "the token's MC service ID is too long for a client id");
				return 401;
			}
			snprintf(st->client, sizeof(st->client), "%s", jr.mc_id);
		}
	}
	if (st->client[0] == '\0') {
		set_detail(st, "no client certificate and no bearer token");
		return 401;
	}
	if ((r = kms_store_get_client(st->t->store, st->client, &client)) != KMS_OK) {
		set_detail(st, r == KMS_ERR_FORBIDDEN ? "not an enrolled client"
						      : "the roster could not be read");
		st->client[0] = '\0'; /* not a client: nothing is signed for it */
		return r == KMS_ERR_FORBIDDEN ? 401 : 503;
	}
	if (client.revoked) {
		set_detail(st, "the client is revoked");
		return 403;
	}
	st->cls = client.cls;
	if (mtls && st->has_token && st->cls == KMS_CLIENT_UE &&
	    strcmp(jr.mc_id, st->client) != 0 &&
	    kms_store_check_entitled(st->t->store, st->client, jr.mc_id) != KMS_OK) {
		/* a UE is one user: the user its token names must be its own (its client id, or
		 * an identity the roster gives it) */
		set_detail(st, "the bearer token names another user than the client certificate");
		return 403;
	}
	if (!auth_satisfied(st->cls == KMS_CLIENT_UE ? k->cfg.auth_ue : k->cfg.auth_server, mtls,
			    st->has_token)) {
		set_detail(st, "this client class needs another authentication (auth_ue, "
			       "auth_server)");
		return 401;
	}
	snprintf(st->own, sizeof(st->own), "%s", st->has_token ? jr.mc_id : st->client);
	kms_log(KMS_LOG_DEBUG, "req=%s auth: client %s (%s%s%s), class %s, own identity %s",
		st->rid, st->client,
		!mtls                                                      ? ""
		: peer.uri[0] != '\0' && strcmp(peer.uri, st->client) == 0 ? "certificate URI"
									   : "client_spki mapping",
		mtls && st->has_token ? ", " : "", st->has_token ? "bearer token" : "",
		st->cls == KMS_CLIENT_UE ? "UE" : "MC server", st->own);
	return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* The resources */

static void
make_url(char *out, size_t cap, const struct kmsd *k, h2o_req_t *req)
{
	char path[KMS_XML_MAX_URI + 1];

	safe_text(path, sizeof(path), req->path.base, req->path.len);
	snprintf(out, cap, "%s%s", k->cfg.public_url, path);
}

/* init's KmsCertificate: kms-hsmd's values p, and x, the fields of the store's (borrowed). */
static void
fill_cert(struct kms_xml_cert *c, const struct kms_proto_certificate_rep *p,
	  const struct kmsd_cert_extra *x)
{
	memset(c, 0, sizeof(*c));
	c->role = KMS_XML_ROLE_ROOT;
	c->cert_uri = p->cert_uri_len > 0 ? p->cert_uri : NULL;
	c->kms_uri = p->kms_uri;
	c->issuer = x->issuer[0] != '\0' ? x->issuer : NULL;
	c->has_valid_from = x->has_valid_from;
	c->valid_from = x->valid_from;
	c->has_valid_to = x->has_valid_to;
	c->valid_to = x->valid_to;
	c->user_key_period = p->user_key_period;
	c->user_key_offset = p->user_key_offset;
	memcpy(c->pub_enc_key, p->z_t, sizeof(c->pub_enc_key));
	memcpy(c->pub_auth_key, p->kpak, sizeof(c->pub_auth_key));
	c->domains = x->num_domains > 0 ? x->domains : NULL;
	c->num_domains = x->num_domains;
}

/*
 * Read the certificate's Issuer, ValidFrom, ValidTo and KmsDomainList from the store st into
 * k->cert_extra (before the threads start), if the store's certificate is the one kms-hsmd
 * gave (k->cert: the same KmsUri, KPAK and Z_T); otherwise they stay empty, and init renders
 * without them (they are optional), with a warning when the certificates differ. KMS_OK, or
 * the store's error (KMS_ERR_PARSE: a malformed certificate), which fails the start.
 */
static int
load_cert_extra(struct kmsd *k, struct kms_store *st)
{
	struct kmsd_cert_extra *x = &k->cert_extra;
	struct kms_store_cert *c;
	char *p;
	int r;

	memset(x, 0, sizeof(*x));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	if ((r = kms_store_get_cert(st, c)) != KMS_OK) {
		if (r == KMS_ERR_FORBIDDEN) {
			kms_log(KMS_LOG_WARN, "the store has no KMS certificate: init carries no "
					      "Issuer, validity or KmsDomainList");
			r = KMS_OK;
		}
		goto out;
	}
	if (strcmp(c->kms_uri, k->cert.kms_uri) != 0 ||
	    memcmp(c->kpak, k->cert.kpak, sizeof(c->kpak)) != 0 ||
	    memcmp(c->z_t, k->cert.z_t, sizeof(c->z_t)) != 0) {
		kms_log(KMS_LOG_WARN,
			"the store's KMS certificate is not kms-hsmd's (%s): init "
			"carries no Issuer, validity or KmsDomainList",
			k->cert.kms_uri);
		goto out;
	}
	/* The store checked every field: bounded, no control characters, from before to. */
	memcpy(x->issuer, c->issuer, sizeof(x->issuer));
	x->has_valid_from = c->has_valid_from != 0;
	x->valid_from = c->valid_from;
	x->has_valid_to = c->has_valid_to != 0;
	x->valid_to = c->valid_to;
	memcpy(x->domain_buf, c->domains, sizeof(x->domain_buf));
	/* URIs with one space between each two: split in place. */
	for (p = x->domain_buf; *p != '\0' && x->num_domains < KMS_STORE_MAX_DOMAINS;) {
		x->domains[x->num_domains++] = p;
		if ((p = strchr(p, ' ')) == NULL) {
			break;
		}
		*p++ = '\0';
	}
out:
	free(c);
	return r;
}

/* Map kms-hsmd's answer to PROVISION to an HTTP status and a fixed message. */
static int
provision_status(int r, const char **msg)
{
	switch (r) {
	case KMS_ERR_FORBIDDEN:
		*msg = "not entitled to this identity";
		return 403;
	case KMS_ERR_RANGE:
		*msg = "the time is outside the key periods this KMS serves";
		return 404;
	case KMS_ERR_HSM_UNAVAIL:
	case KMS_ERR_HSM:
	case KMS_ERR_HSM_BUSY:
	case KMS_ERR_HSM_PIN:
		*msg = "the key store is unavailable; try again later";
		return 503;
	default:
		*msg = "the key material could not be issued; try again later";
		return 503;
	}
}

/*
 * A plaintext client's keyprov over HTTP/2: h2o's HTTP/2 copies a body into frame buffers that
 * it reuses unwiped, so its keys are sent over HTTP/1.1 only.
 */
static int
refuse_plain_http2(h2o_req_t *req, struct req_state *st)
{
	set_detail(st, "plaintext key material asked for over HTTP/2");
	return send_error(req, st, 505, "refused",
			  "this client's key material is sent over HTTP/1.1 only");
}

static int
ntp_to_unix(const struct kms_proto_provision_rep *p, int64_t *from, int64_t *to)
{
	uint64_t a, b;

	if (kms_ntp_to_unix(&a, p->period_start) != KMS_OK ||
	    kms_ntp_to_unix(&b, p->period_end) != KMS_OK || a > INT64_MAX || b > INT64_MAX) {
		return KMS_ERR_RANGE;
	}
	*from = (int64_t)a;
	*to = (int64_t)b;
	return KMS_OK;
}

/*
 * The new keys of the client's pending TrK/InK rotation (kms-admin client rotate), if it has
 * one, into resp: NewTransportKey and NewIntegrityKey, each wrapped under the client's current
 * TrK (KeyName) and naming the new key (CarriedKeyName). They come with every init and keyprov
 * until the client proves the new InK with a signed request (check_signature) or an operator
 * finishes or cancels the rotation. A store that cannot say leaves them out this time, and so
 * does a rotation made under a TrK the client no longer has.
 */
static void
add_rotation(struct req_state *st, struct kms_xml_response *resp)
{
	struct kms_store_client client;
	int found = 0, r;

	if (st->client[0] == '\0') {
		return;
	}
	if ((r = kms_store_get_rotation(st->t->store, st->client, &st->rot, &found)) != KMS_OK) {
		kms_log(KMS_LOG_WARN, "req=%s: the pending rotation of %s cannot be read: %s",
			st->rid, st->client, kms_err_name(r));
		return;
	}
	if (!found) {
		return;
	}
	/* made under a TrK the client no longer has (re-enrolled since): useless to it */
	if (kms_store_get_client(st->t->store, st->client, &client) != KMS_OK ||
	    strcmp(client.trk_label, st->rot.from_trk_label) != 0) {
		kms_log(KMS_LOG_WARN,
			"req=%s: the pending rotation of %s was made under another TrK than its "
			"current one (re-enrolled?): not sent; cancel it (kms-admin roster client "
			"cancel-rotation)",
			st->rid, st->client);
		return;
	}
	st->new_keys[0] = (struct kms_xml_enc_key){.key_name = st->rot.from_trk_label,
						   .wrapped = st->rot.new_trk.data,
						   .wrapped_len = st->rot.new_trk.len,
						   .carried_key_name = st->rot.new_trk_label};
	st->new_keys[1] = (struct kms_xml_enc_key){.key_name = st->rot.from_trk_label,
						   .wrapped = st->rot.new_ink.data,
						   .wrapped_len = st->rot.new_ink.len,
						   .carried_key_name = st->rot.new_ink_label};
	resp->new_transport_keys = &st->new_keys[0];
	resp->num_new_transport_keys = 1;
	resp->new_integrity_keys = &st->new_keys[1];
	resp->num_new_integrity_keys = 1;
	kms_log(KMS_LOG_DEBUG, "req=%s: rotation pending: new TrK %s and InK %s sent", st->rid,
		st->rot.new_trk_label, st->rot.new_ink_label);
}

/* Append the texts of parts (NULL-terminated) to st->detail, cut at its end. */
static void
append_detail(struct req_state *st, const char *const *parts)
{
	size_t n = strlen(st->detail), len;

	for (; *parts != NULL; parts++) {
		len = strlen(*parts);
		if (len > sizeof(st->detail) - 1 - n) {
			len = sizeof(st->detail) - 1 - n;
		}
		memcpy(st->detail + n, *parts, len);
		n += len;
	}
	st->detail[n] = '\0';
}

/* The audit detail's note of a rotation this request finished, and, keys_sent, of the new keys
 * of a pending one that its answer carries. */
static void
note_rotation(struct req_state *st, bool keys_sent)
{
	const char *sep = st->detail[0] != '\0' ? "; " : "";

	if (st->rotated) {
		const char *const parts[] = {
			sep, "rotation finished: the request was signed by the new InK ",
			st->new_ink, NULL};
		append_detail(st, parts);
		sep = "; ";
	}
	if (keys_sent && st->new_keys[0].key_name != NULL) {
		const char *const parts[] = {sep,  "rotation pending: sent ", st->rot.new_trk_label,
					     ", ", st->rot.new_ink_label,     NULL};
		append_detail(st, parts);
	}
}

_Static_assert(KMS_XML_MAX_SIGNED_INFO <= KMS_PROTO_MAX_SIGNED_INFO, "a SignedInfo fits VERIFY");
_Static_assert(KMS_XML_HMAC_LEN == KMS_PROTO_HMAC_LEN, "HMAC-SHA256");

/*
 * A signed request (SignedKmsRequest): the parser checked its structure and its reference
 * digest (proto/xml.h); kms-hsmd checks the HMAC in the token under the InK the signature
 * names, which must be the client's InK or the new InK of its pending rotation. A signature
 * that does not verify fails the client's authentication (401). One by the new InK finishes
 * the rotation: this request is answered under the new keys already. Returns true when the
 * signature is good; false when the refusal was sent (*ret is then the handler's value).
 */
static bool
check_signature(h2o_req_t *req, struct req_state *st, int *ret)
{
	struct kmsd *k = st->t->k;
	const struct kms_xml_req_signature *sig = &st->body.sig;
	struct kms_proto_request preq;
	struct kms_proto_reply prep;
	int r;

	memset(&preq, 0, sizeof(preq));
	preq.op = KMS_PROTO_VERIFY;
	preq.u.verify.client_id_len = strlen(st->client);
	memcpy(preq.u.verify.client_id, st->client, preq.u.verify.client_id_len + 1);
	preq.u.verify.key_id_len = strlen(sig->key_name);
	memcpy(preq.u.verify.key_id, sig->key_name, preq.u.verify.key_id_len + 1);
	memcpy(preq.u.verify.signed_info, sig->signed_info, sig->signed_info_len);
	preq.u.verify.signed_info_len = sig->signed_info_len;
	memcpy(preq.u.verify.signature, sig->value, sizeof(preq.u.verify.signature));
	r = kms_hsmd_call(k->pool, st->t->idx, &preq, &prep);
	r = r == KMS_OK ? prep.status : r;
	if (r == KMS_ERR_AUTH || r == KMS_ERR_FORBIDDEN) {
		snprintf(st->detail, sizeof(st->detail),
			 "the request signature (key %s) did not verify", sig->key_name);
		*ret = send_error(req, st, 401, "refused", "the request signature is not valid");
		return false;
	}
	if (r != KMS_OK) {
		snprintf(st->detail, sizeof(st->detail), "kms-hsmd: %s", kms_err_name(r));
		*ret = send_error(req, st, 503, "error",
				  "the request signature cannot be checked; try again later");
		return false;
	}
	if (prep.u.verify.rotated) {
		st->rotated = true;
		memcpy(st->new_ink, sig->key_name, preq.u.verify.key_id_len + 1);
		kms_log(KMS_LOG_INFO,
			"req=%s: %s proved its new InK %s: its TrK/InK rotation is finished",
			st->rid, st->client, sig->key_name);
	}
	return true;
}

static int
handle_keyprov(h2o_req_t *req, struct req_state *st)
{
	struct kmsd *k = st->t->k;
	struct kms_proto_request preq;
	struct kms_proto_reply *reps = NULL;
	struct kms_xml_key_set sets[MAX_KEY_SETS];
	struct kms_xml_response resp;
	char url[KMS_XML_MAX_URI + 1];
	const char *msg = NULL;
	uint64_t ntp_s, period, num = 0, i;
	uint8_t *body = NULL;
	size_t len = 0;
	bool plain = false;
	int r, status;

	snprintf(st->identity, sizeof(st->identity), "%s", st->res.has_uri ? st->res.uri : st->own);
	if (st->has_body && st->body.user_uri[0] != '\0' &&
	    strcmp(st->body.user_uri, st->identity) != 0) {
		return send_error(req, st, 400, "refused",
				  "the UserUri of the request and the identity of the URI differ");
	}
	if (st->cls == KMS_CLIENT_UE && strcmp(st->identity, st->own) != 0) {
		/* the same answer as kms-hsmd gives for an identity that is not entitled */
		set_detail(st, "a UE asked for another identity");
		return send_error(req, st, 403, "refused", "not entitled to this identity");
	}
	ntp_s = st->res.has_time ? kms_ntp_seconds(st->res.ntp)
				 : kms_ntp_from_unix((uint64_t)time(NULL));
	if (kms_key_period_no(&period, ntp_s, k->cert.user_key_period, k->cert.user_key_offset) !=
	    KMS_OK) {
		return send_error(req, st, 404, "refused",
				  "the time is outside the key periods this KMS serves");
	}
	kms_log(KMS_LOG_DEBUG, "req=%s keyprov: identity %s, key period %llu (NTP seconds %llu%s)",
		st->rid, st->identity, (unsigned long long)period, (unsigned long long)ntp_s,
		st->res.has_time ? ", asked" : ", now");
	if ((reps = calloc(MAX_KEY_SETS, sizeof(*reps))) == NULL) {
		return send_error(req, st, 503, "error", "out of memory; try again later");
	}
	for (i = 0; i < MAX_KEY_SETS; i++) {
		uint64_t start, end;

		if (i == 1) {
			/* the next period's set, near the end of the current one (keyprov without
			 * a time only) */
			if (st->res.has_time ||
			    kms_key_period_bounds(&start, &end, period, k->cert.user_key_period,
						  k->cert.user_key_offset) != KMS_OK ||
			    end - ntp_s > k->cfg.next_period_lead) {
				break;
			}
		}
		memset(&preq, 0, sizeof(preq));
		preq.op = KMS_PROTO_PROVISION;
		memcpy(preq.u.provision.client_id, st->client, strlen(st->client) + 1);
		preq.u.provision.client_id_len = strlen(st->client);
		memcpy(preq.u.provision.identity, st->identity, strlen(st->identity) + 1);
		preq.u.provision.identity_len = strlen(st->identity);
		preq.u.provision.key_period = period + i;
		preq.u.provision.no_plain = req->version >= 0x200;
		r = kms_hsmd_call(k->pool, st->t->idx, &preq, &reps[i]);
		r = r == KMS_OK ? reps[i].status : r;
		if (r != KMS_OK) {
			if (i == 1) {
				break; /* the next period is a courtesy: the current one stands */
			}
			kms_wipe_free(reps);
			if (r == KMS_ERR_PLAIN_REFUSED) {
				return refuse_plain_http2(req, st);
			}
			status = provision_status(r, &msg);
			snprintf(st->detail, sizeof(st->detail), "kms-hsmd: %s", kms_err_name(r));
			return send_error(req, st, status, status == 503 ? "error" : "refused",
					  msg);
		}
		num++;
		plain |= reps[i].u.provision.plain;
	}
	if (plain && req->version >= 0x200) {
		/* kms-hsmd refuses these (no_plain); a reply that is plain anyway is not sent */
		kms_wipe_free(reps);
		return refuse_plain_http2(req, st);
	}
	memset(sets, 0, sizeof(sets));
	st->key_ids[0] = '\0';
	for (i = 0; i < num; i++) {
		const struct kms_proto_provision_rep *p = &reps[i].u.provision;
		struct kms_xml_key_set *s = &sets[i];

		s->kms_uri = p->kms_uri;
		s->cert_uri = k->cert.cert_uri_len > 0 ? k->cert.cert_uri : NULL;
		s->user_uri = st->identity;
		memcpy(s->user_id, p->user_id, sizeof(s->user_id));
		if (ntp_to_unix(p, &s->valid_from, &s->valid_to) != KMS_OK) {
			kms_wipe_free(reps);
			return send_error(req, st, 503, "error", "internal error");
		}
		s->key_period_no = p->key_period;
		/* a plaintext client's keys name no TrK (kms-hsmd's plaintext_client) */
		s->rsk = (struct kms_xml_enc_key){.key_name = p->plain ? NULL : p->trk_id,
						  .wrapped = p->rsk_wrapped,
						  .wrapped_len = p->rsk_wrapped_len,
						  .plain = p->plain};
		s->ssk = (struct kms_xml_enc_key){.key_name = p->plain ? NULL : p->trk_id,
						  .wrapped = p->ssk_wrapped,
						  .wrapped_len = p->ssk_wrapped_len,
						  .plain = p->plain};
		s->pvt = (struct kms_xml_enc_key){.key_name = p->plain ? NULL : p->trk_id,
						  .wrapped = p->pvt_wrapped,
						  .wrapped_len = p->pvt_wrapped_len,
						  .plain = p->plain};
		if (i == 0) {
			snprintf(st->key_ids, sizeof(st->key_ids), "%s", p->trk_id);
		}
	}
	make_url(url, sizeof(url), k, req);
	memset(&resp, 0, sizeof(resp));
	resp.user_uri = st->identity;
	resp.kms_uri = k->cert.kms_uri;
	resp.time = (int64_t)time(NULL);
	resp.kms_id = k->cfg.kms_id;
	resp.client_req_url = url;
	resp.msg = KMS_XML_MSG_KEYPROV;
	resp.key_sets = sets;
	resp.num_key_sets = (size_t)num;
	add_rotation(st, &resp);
	r = render(st, &resp, &body, &len);
	kms_wipe_free(reps);
	if (r != KMS_OK) {
		snprintf(st->detail, sizeof(st->detail), "rendering or signing failed: %s",
			 kms_err_name(r));
		return send_error(req, st, 503, "error", "the response could not be signed");
	}
	st->status = 200;
	st->outcome = "provisioned";
	snprintf(st->detail, sizeof(st->detail), "key periods %llu..%llu%s",
		 (unsigned long long)period, (unsigned long long)(period + num - 1),
		 plain ? ", plaintext (KeyContentType)" : "");
	note_rotation(st, true);
	if (audit(st) != KMS_OK) {
		/* fail closed: no key material without its durable audit record */
		kms_wipe_free(body);
		st->key_ids[0] = '\0';
		st->detail[0] = '\0';
		set_detail(st, "the audit record could not be written");
		return send_error(req, st, 503, "error",
				  "the audit log cannot be written; nothing was provisioned");
	}
	atomic_fetch_add(&k->metrics.provisioned, num);
	log_line(st);
	count_status(k, 200);
	send_wiped(req, st, body, len);
	kms_wipe_free(body);
	return 0;
}

/* An external KMS certificate as certcache renders it: the row, and its domains split. */
struct ext_entry {
	struct kms_store_ext_cert row;
	const char *domains[KMS_STORE_MAX_DOMAINS];
	size_t num_domains;
};

struct ext_list {
	struct ext_entry *e; /* owned; num entries */
	size_t num;
};

/* kms_store_ext_cert_read's callback: append a copy (at most KMS_XML_MAX_CERTS). */
static int
ext_collect(void *arg, const struct kms_store_ext_cert *cert)
{
	struct ext_list *l = arg;
	struct ext_entry *e;

	if (l->num >= KMS_XML_MAX_CERTS) {
		return KMS_ERR_INTERNAL; /* the read was bounded to this: cannot happen */
	}
	if ((e = realloc(l->e, (l->num + 1) * sizeof(*e))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	l->e = e;
	e = &l->e[l->num];
	e->row = *cert;
	e->num_domains = 0; /* split once all are in: realloc moves the entries */
	l->num++;
	return KMS_OK;
}

/*
 * certcache: the certificates of external KMSs (Role External) from the thread's store.
 * certcache: those not withdrawn; certcache/<n>: those changed after cache number n, the
 * withdrawn ones with Revoked true. CacheNum is the store's cache number; when more than
 * KMS_XML_MAX_CERTS certificates match, the oldest KMS_XML_MAX_CERTS changes are sent with
 * CacheNum the change number of the last one sent, so that the client asks again from there.
 * certs (owned by the caller, free()) and the response's certcache fields are set; the
 * strings they point to live in *out until it is freed. KMS_OK or the store's error.
 */
static int
fill_certcache(struct req_state *st, struct kms_xml_response *resp, struct ext_list *out,
	       struct kms_xml_cert **out_certs)
{
	struct kms_xml_cert *certs = NULL;
	uint64_t since = 0, cache_num = 0;
	size_t i;
	int more = 0, r;

	*out_certs = NULL;
	if (st->res.has_cache) {
		/* A number beyond any the store can give: nothing changed after it. */
		since = st->res.cache_num > INT64_MAX ? INT64_MAX : st->res.cache_num;
	}
	if ((r = kms_store_ext_cert_read(st->t->store, since, st->res.has_cache ? 0 : 1,
					 KMS_XML_MAX_CERTS, ext_collect, out, &cache_num, &more)) !=
	    KMS_OK) {
		return r;
	}
	if (out->num > 0 && (certs = calloc(out->num, sizeof(*certs))) == NULL) {
		return KMS_ERR_NOMEM;
	}
	for (i = 0; i < out->num; i++) {
		struct ext_entry *e = &out->e[i];
		const struct kms_store_ext_cert *c = &e->row;
		struct kms_xml_cert *x = &certs[i];
		char *p;

		/* The store checked the list: URIs with one space between each two. */
		for (p = e->row.domains; *p != '\0' && e->num_domains < KMS_STORE_MAX_DOMAINS;) {
			e->domains[e->num_domains++] = p;
			if ((p = strchr(p, ' ')) == NULL) {
				break;
			}
			*p++ = '\0';
		}
		x->role = KMS_XML_ROLE_EXTERNAL;
		x->cert_uri = c->cert_uri[0] != '\0' ? c->cert_uri : NULL;
		x->kms_uri = c->kms_uri;
		x->issuer = c->issuer[0] != '\0' ? c->issuer : NULL;
		x->has_valid_from = c->has_valid_from != 0;
		x->valid_from = c->valid_from;
		x->has_valid_to = c->has_valid_to != 0;
		x->valid_to = c->valid_to;
		x->has_revoked = true;
		x->revoked = c->revoked != 0 || c->withdrawn != 0;
		x->user_key_period = c->user_key_period;
		x->user_key_offset = c->user_key_offset;
		memcpy(x->pub_enc_key, c->z_t, sizeof(x->pub_enc_key));
		memcpy(x->pub_auth_key, c->kpak, sizeof(x->pub_auth_key));
		x->domains = out->e[i].num_domains > 0 ? out->e[i].domains : NULL;
		x->num_domains = out->e[i].num_domains;
	}
	resp->msg = KMS_XML_MSG_CERTCACHE;
	resp->cache_num = more && out->num > 0 ? out->e[out->num - 1].row.change_num : cache_num;
	resp->certs = certs;
	resp->num_certs = out->num;
	*out_certs = certs;
	snprintf(st->detail, sizeof(st->detail), "%zu certificates, cache number %llu%s", out->num,
		 (unsigned long long)resp->cache_num, more ? " (more follow)" : "");
	return KMS_OK;
}

static int
handle_public(h2o_req_t *req, struct req_state *st)
{
	struct kmsd *k = st->t->k;
	struct kms_xml_response resp;
	struct kms_xml_cert cert;
	struct kms_xml_cert *ext_certs = NULL;
	struct ext_list ext = {NULL, 0};
	char url[KMS_XML_MAX_URI + 1];
	uint8_t *body = NULL;
	size_t len = 0;
	int r;

	make_url(url, sizeof(url), k, req);
	memset(&resp, 0, sizeof(resp));
	resp.user_uri = st->own;
	resp.kms_uri = k->cert.kms_uri;
	resp.time = (int64_t)time(NULL);
	resp.kms_id = k->cfg.kms_id;
	resp.client_req_url = url;
	if (st->res.kind == KMS_RES_INIT) {
		fill_cert(&cert, &k->cert, &k->cert_extra);
		resp.msg = KMS_XML_MSG_INIT;
		resp.init_cert = &cert;
		add_rotation(st, &resp);
	} else if ((r = fill_certcache(st, &resp, &ext, &ext_certs)) != KMS_OK) {
		free(ext.e);
		snprintf(st->detail, sizeof(st->detail), "certificate cache: %s", kms_err_name(r));
		return send_error(req, st, 503, "error",
				  "the certificate cache is unavailable; try again later");
	}
	r = render(st, &resp, &body, &len);
	free(ext_certs);
	free(ext.e);
	if (r != KMS_OK) {
		snprintf(st->detail, sizeof(st->detail), "rendering or signing failed: %s",
			 kms_err_name(r));
		return send_error(req, st, 503, "error", "the response could not be signed");
	}
	st->status = 200;
	st->outcome = "served";
	note_rotation(st, true);
	if (audit(st) != KMS_OK && st->new_keys[0].key_name != NULL) {
		/* fail closed: the new keys of a rotation are key material */
		free(body);
		st->detail[0] = '\0';
		set_detail(st, "the audit record could not be written");
		return send_error(req, st, 503, "error",
				  "the audit log cannot be written; nothing was provisioned");
	}
	log_line(st);
	count_status(k, 200);
	send_bytes(req, st, body, len);
	free(body);
	return 0;
}

static int
on_req(h2o_handler_t *self, h2o_req_t *req)
{
	struct kms_handler *h = (struct kms_handler *)self;
	struct kmsd *k = h->k;
	struct req_state *st;
	int r, status;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		return -1;
	}
	st->t = thread_of(req);
	(void)clock_gettime(CLOCK_MONOTONIC, &st->start);
	snprintf(st->rid, sizeof(st->rid), "%016llx",
		 (unsigned long long)atomic_fetch_add(&k->next_request, 1));
	st->outcome = "refused";
	{
		char path[KMS_AUDIT_MAX_RESOURCE - 16];
		char method[16];
		safe_text(method, sizeof(method), req->method.base, req->method.len);
		safe_text(path, sizeof(path), req->path.base, req->path.len);
		snprintf(st->resource, sizeof(st->resource), "%s %s", method, path);
	}
	if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST")) &&
	    !h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"))) {
		r = send_error(req, st, 405, "refused", "only POST and GET are served");
		goto out;
	}
	if ((status = authenticate(req, st)) != 0) {
		r = send_error(req, st, status, "refused",
			       status == 401   ? "client authentication failed"
			       : status == 403 ? "the client is not allowed"
					       : "the roster is unavailable; try again later");
		goto out;
	}
	if (!kmsd_ratelimit_take(k->rl, st->client, kms_mono_ms())) {
		r = send_error(req, st, 429, "refused", "too many requests; slow down");
		goto out;
	}
	r = kms_resource_parse(&st->res, k->cfg.root, req->path.base, req->path.len);
	if (r != KMS_OK) {
		status = r == KMS_ERR_UNSUPPORTED ? 404 : r == KMS_ERR_TOO_LARGE ? 414 : 400;
		r = send_error(req, st, status, "refused",
			       status == 404   ? "no such resource"
			       : status == 414 ? "the request URI is too long"
					       : "the request URI is malformed");
		goto out;
	}
	if (req->entity.base != NULL && req->entity.len > 0) {
		char xerr[KMS_XML_ERR_LEN];
		if (req->entity.len > MAX_BODY) {
			r = send_error(req, st, 413, "refused", "the request body is too large");
			goto out;
		}
		if ((r = kms_xml_parse_request(&st->body, xerr, sizeof(xerr),
					       (const uint8_t *)req->entity.base,
					       req->entity.len)) != KMS_OK) {
			snprintf(st->detail, sizeof(st->detail), "KmsRequest: %s", xerr);
			r = r == KMS_ERR_AUTH
				    ? send_error(req, st, 401, "refused",
						 "the request signature is not valid")
				    : send_error(req, st, r == KMS_ERR_TOO_LARGE ? 413 : 400,
						 "refused", "the KmsRequest body is malformed");
			goto out;
		}
		st->has_body = true;
		if (st->body.is_signed && !check_signature(req, st, &r)) {
			goto out;
		}
	}
	r = st->res.kind == KMS_RES_KEYPROV ? handle_keyprov(req, st) : handle_public(req, st);
out:
	kms_memzero(st, sizeof(*st));
	free(st);
	return r;
}

/* ----------------------------------------------------------------------------------------- */
/* /healthz and /metrics on the local listener (plain HTTP; bind it to loopback) */

struct metrics_handler {
	h2o_handler_t super;
	struct kmsd *k;
};

static int
on_metrics(h2o_handler_t *self, h2o_req_t *req)
{
	struct kmsd *k = ((struct metrics_handler *)self)->k;
	struct kms_hsmd_stats hs;
	static const char *const cls[6] = {"2xx", "400", "401_403", "404", "429", "5xx"};
	char buf[4096];
	size_t n = 0, i;

	kms_hsmd_stats(k->pool, &hs);
	if (h2o_memis(req->path_normalized.base, req->path_normalized.len,
		      H2O_STRLIT("/healthz"))) {
		bool ok = hs.up == hs.slots;
		req->res.status = ok ? 200 : 503;
		req->res.reason = ok ? "OK" : "Service Unavailable";
		h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
			       H2O_STRLIT("text/plain"));
		n = (size_t)snprintf(buf, sizeof(buf), "%s: kms-hsmd %u of %u up, issuer %s\n",
				     ok ? "ok" : "degraded", hs.up, hs.slots,
				     hs.issuer[0] != '\0' ? hs.issuer : "unknown");
		req->res.content_length = n;
		h2o_send_inline(req, buf, n);
		return 0;
	}
	if (!h2o_memis(req->path_normalized.base, req->path_normalized.len,
		       H2O_STRLIT("/metrics"))) {
		return -1; /* 404 */
	}
	n += (size_t)snprintf(buf + n, sizeof(buf) - n,
			      "# HELP kms_requests_total Requests answered, by status class.\n"
			      "# TYPE kms_requests_total counter\n");
	for (i = 0; i < 6; i++) {
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
				      "kms_requests_total{status=\"%s\"} %llu\n", cls[i],
				      (unsigned long long)atomic_load(&k->metrics.requests[i]));
	}
	n += (size_t)snprintf(
		buf + n, sizeof(buf) - n,
		"# HELP kms_key_sets_provisioned_total Key sets sent to clients.\n"
		"# TYPE kms_key_sets_provisioned_total counter\n"
		"kms_key_sets_provisioned_total %llu\n"
		"# HELP kms_audit_failures_total Audit records that could not be written.\n"
		"# TYPE kms_audit_failures_total counter\n"
		"kms_audit_failures_total %llu\n"
		"# HELP kms_audit_checkpoints_total Signed audit checkpoints stored.\n"
		"# TYPE kms_audit_checkpoints_total counter\n"
		"kms_audit_checkpoints_total %llu\n"
		"# HELP kms_audit_checkpoint_failures_total Audit checkpoints that could not be "
		"made.\n"
		"# TYPE kms_audit_checkpoint_failures_total counter\n"
		"kms_audit_checkpoint_failures_total %llu\n"
		"# HELP kms_request_duration_seconds_sum Time spent answering requests.\n"
		"# TYPE kms_request_duration_seconds_sum counter\n"
		"kms_request_duration_seconds_sum %.3f\n"
		"# HELP kms_hsmd_up kms-hsmd processes up.\n"
		"# TYPE kms_hsmd_up gauge\n"
		"kms_hsmd_up %u\n"
		"# HELP kms_hsmd_slots kms-hsmd processes configured.\n"
		"# TYPE kms_hsmd_slots gauge\n"
		"kms_hsmd_slots %u\n"
		"# HELP kms_hsmd_restarts_total kms-hsmd processes restarted.\n"
		"# TYPE kms_hsmd_restarts_total counter\n"
		"kms_hsmd_restarts_total %llu\n"
		"# HELP kms_issuer_info The issuer kms-hsmd reported (online, pre-minted, mixed).\n"
		"# TYPE kms_issuer_info gauge\n"
		"kms_issuer_info{issuer=\"%s\"} 1\n",
		(unsigned long long)atomic_load(&k->metrics.provisioned),
		(unsigned long long)atomic_load(&k->metrics.audit_failures),
		(unsigned long long)atomic_load(&k->metrics.checkpoints),
		(unsigned long long)atomic_load(&k->metrics.checkpoint_failures),
		(double)atomic_load(&k->metrics.duration_us) / 1e6, hs.up, hs.slots,
		(unsigned long long)hs.restarts, hs.issuer[0] != '\0' ? hs.issuer : "unknown");
	req->res.status = 200;
	req->res.reason = "OK";
	h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
		       H2O_STRLIT("text/plain; version=0.0.4"));
	n = n < sizeof(buf) ? n : sizeof(buf) - 1;
	req->res.content_length = n;
	h2o_send_inline(req, buf, n);
	return 0;
}

/* ----------------------------------------------------------------------------------------- */
/* Listeners and threads */

/*
 * A TCP socket bound to the numeric host:port: shared, non-blocking and listening (SO_REUSEPORT:
 * one per thread) for a listener, or alone (no SO_REUSEPORT, so that any socket already bound
 * there makes bind fail with EADDRINUSE) for a probe. SO_REUSEADDR both ways: connections of an
 * earlier kmsd in TIME_WAIT do not count. The socket, or -1 with err said.
 */
static int
bind_socket(const char *host, uint16_t port, bool listener, char *err, size_t err_len)
{
	struct addrinfo hints, *ai = NULL;
	char portstr[8];
	int fd = -1, one = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	snprintf(portstr, sizeof(portstr), "%u", port);
	if ((r = getaddrinfo(host, portstr, &hints, &ai)) != 0) {
		snprintf(err, err_len, "listen address %s: %s (want a numeric address)", host,
			 gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | (listener ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    (listener && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 ||
	    (listener && listen(fd, SOMAXCONN) != 0)) {
		if (!listener && errno == EADDRINUSE) {
			snprintf(err, err_len,
				 "cannot listen on %s:%u: another process listens there already "
				 "(another kmsd?)",
				 host, port);
		} else {
			snprintf(err, err_len, "cannot listen on %s:%u: %s", host, port,
				 strerror(errno));
		}
		if (fd >= 0) {
			(void)close(fd);
		}
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int
open_listener(const char *host, uint16_t port, char *err, size_t err_len)
{
	return bind_socket(host, port, true, err, err_len);
}

/* Can a socket without SO_REUSEPORT bind host:port (nobody is bound there)? */
static int
probe_free(const char *host, uint16_t port, char *err, size_t err_len)
{
	int fd = bind_socket(host, port, false, err, err_len);

	if (fd < 0) {
		return KMS_ERR_IO;
	}
	(void)close(fd);
	return KMS_OK;
}

int
kmsd_listen_free(const struct kmsd_config *cfg, char *err, size_t err_len)
{
	int r = probe_free(cfg->listen_host, cfg->listen_port, err, err_len);

	if (r == KMS_OK && cfg->has_metrics) {
		r = probe_free(cfg->metrics_host, cfg->metrics_port, err, err_len);
	}
	return r;
}

static void
on_accept(h2o_socket_t *listener, const char *err)
{
	h2o_accept_ctx_t *actx = listener->data;
	h2o_socket_t *sock;

	if (err != NULL) {
		return;
	}
	if ((sock = h2o_evloop_socket_accept(listener)) == NULL) {
		return;
	}
	if (actx->ssl_ctx != NULL) {
		kms_tls_ctx_refresh(&actx->ssl_ctx); /* the TLS context of a reload, if any */
	}
	h2o_accept(actx, sock);
}

static atomic_int sandbox_failed;

static void *
thread_main(void *arg)
{
	struct kmsd_thread *t = arg;

	kms_tlskey_slot = t->idx; /* this thread's handshakes sign through its own kms-hsmd */
	if (t->k->cfg.sandbox && kms_sandbox_worker() != KMS_OK) {
		kms_log(KMS_LOG_ERR, "thread %u: the seccomp sandbox cannot be installed; stopping",
			t->idx);
		atomic_store(&sandbox_failed, 1);
		*t->stop = 1;
		return NULL;
	}
	while (!*t->stop) {
		(void)h2o_evloop_run(t->loop, 200);
	}
	return NULL;
}

struct server {
	h2o_globalconf_t gconf;
	h2o_globalconf_t mconf;
	struct kmsd_thread *threads;
	unsigned int num;
};

/*
 * On a clean stop, once no thread appends any more: checkpoint the last record unless it is
 * checkpointed already, with thread 0's store handle and kms-hsmd (slot 0), from the main
 * thread.
 */
static void
final_checkpoint(struct kmsd *k, struct kms_store *st)
{
	uint8_t hash[KMS_AUDIT_HASH_LEN];
	uint64_t last = 0, cp = 0;

	if (k->cfg.audit_checkpoint_every == 0 || st == NULL) {
		return;
	}
	if (kms_store_audit_head(st, &last, hash) != KMS_OK ||
	    kms_store_checkpoint_last(st, &cp) != KMS_OK) {
		kms_log(KMS_LOG_ERR, "audit checkpoint at stop: cannot read the log");
		return;
	}
	if (last != 0 && cp != last) {
		(void)kmsd_audit_checkpoint(k, st, 0, last);
	}
}

/* The server lives until the process ends (h2o's contexts are not torn down one by one). */
static struct server *the_server;

int
kmsd_serve(struct kmsd *k, atomic_int *stop, char *err, size_t err_len)
{
	struct server *s;
	h2o_hostconf_t *host, *mhost;
	h2o_pathconf_t *path;
	struct kms_handler *h;
	struct metrics_handler *mh;
	int mfd = -1;
	unsigned int i;
	int r = KMS_ERR_IO;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->threads = calloc(k->cfg.threads, sizeof(*s->threads))) == NULL) {
		free(s);
		snprintf(err, err_len, "out of memory");
		return KMS_ERR_NOMEM;
	}
	the_server = s;
	h2o_config_init(&s->gconf);
	s->gconf.max_request_entity_size = 2 * MAX_BODY;
	s->gconf.server_name = h2o_iovec_init(H2O_STRLIT("kmsd"));
	s->gconf.http1.req_timeout = k->cfg.request_timeout_ms;
	s->gconf.http2.idle_timeout = k->cfg.request_timeout_ms;
	s->gconf.handshake_timeout = k->cfg.request_timeout_ms;
	host = h2o_config_register_host(&s->gconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(host, "/", 0);
	h = (struct kms_handler *)h2o_create_handler(path, sizeof(*h));
	h->super.on_req = on_req;
	h->k = k;

	h2o_config_init(&s->mconf);
	s->mconf.server_name = h2o_iovec_init(H2O_STRLIT("kmsd"));
	mhost = h2o_config_register_host(&s->mconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
	path = h2o_config_register_path(mhost, "/", 0);
	mh = (struct metrics_handler *)h2o_create_handler(path, sizeof(*mh));
	mh->super.on_req = on_metrics;
	mh->k = k;

	if (k->cfg.has_metrics &&
	    (mfd = open_listener(k->cfg.metrics_host, k->cfg.metrics_port, err, err_len)) < 0) {
		goto out;
	}
	s->num = k->cfg.threads;
	for (i = 0; i < s->num; i++) {
		struct kmsd_thread *t = &s->threads[i];
		int fd;

		t->k = k;
		t->idx = i;
		t->stop = stop;
		if ((fd = open_listener(k->cfg.listen_host, k->cfg.listen_port, err, err_len)) <
		    0) {
			goto out;
		}
		if ((r = kms_store_open(&t->store, k->cfg.store, KMS_STORE_RW)) != KMS_OK) {
			snprintf(err, err_len, "cannot open the store %s: %s", k->cfg.store,
				 kms_strerror(r));
			(void)close(fd);
			r = KMS_ERR_IO;
			goto out;
		}
		if (i == 0 && (r = load_cert_extra(k, t->store)) != KMS_OK) {
			snprintf(err, err_len,
				 "cannot read the KMS certificate from the store %s: %s",
				 k->cfg.store, kms_strerror(r));
			(void)close(fd);
			goto out;
		}
		t->loop = h2o_evloop_create();
		h2o_context_init(&t->ctx, t->loop, &s->gconf);
		t->accept.ctx = &t->ctx;
		t->accept.hosts = s->gconf.hosts;
		t->accept.ssl_ctx = (SSL_CTX *)k->ssl;
		t->listener = h2o_evloop_socket_create(t->loop, fd, H2O_SOCKET_FLAG_DONT_READ);
		t->listener->data = &t->accept;
		h2o_socket_read_start(t->listener, on_accept);
		if (i == 0 && mfd >= 0) {
			h2o_context_init(&t->mctx, t->loop, &s->mconf);
			t->maccept.ctx = &t->mctx;
			t->maccept.hosts = s->mconf.hosts;
			t->mlistener =
				h2o_evloop_socket_create(t->loop, mfd, H2O_SOCKET_FLAG_DONT_READ);
			mfd = -1;
			t->mlistener->data = &t->maccept;
			h2o_socket_read_start(t->mlistener, on_accept);
		}
	}
	kms_log(KMS_LOG_INFO, "serving https://%s:%u%s/ on %u threads", k->cfg.listen_host,
		k->cfg.listen_port, k->cfg.root, s->num);
	for (i = 0; i < s->num; i++) {
		if (pthread_create(&s->threads[i].tid, NULL, thread_main, &s->threads[i]) != 0) {
			*stop = 1;
			s->num = i;
			snprintf(err, err_len, "cannot start thread %u", i);
			r = KMS_ERR_NOMEM;
			break;
		}
	}
	kmsd_main_loop(k, stop); /* kms/main.c: readiness, SIGHUP, SIGTERM; until *stop */
	for (i = 0; i < s->num; i++) {
		(void)pthread_join(s->threads[i].tid, NULL);
	}
	if (s->num > 0) {
		final_checkpoint(k, s->threads[0].store);
	}
	if (*stop && r != KMS_ERR_NOMEM) {
		r = KMS_OK;
	}
	if (atomic_load(&sandbox_failed)) {
		snprintf(err, err_len,
			 "the seccomp sandbox cannot be installed (sandbox = no turns it "
			 "off)");
		r = KMS_ERR_UNSUPPORTED;
	}
out:
	/* the process ends after this; h2o's contexts are not torn down one by one */
	for (i = 0; i < k->cfg.threads; i++) {
		kms_store_close(s->threads[i].store);
	}
	if (mfd >= 0) {
		(void)close(mfd);
	}
	return r;
}
