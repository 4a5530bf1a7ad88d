/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-client - the key management client of TS 33.180 Annex D, for operators and tests: asks a
 * KMS for its certificate, key material or certificate cache over HTTPS (mutual TLS and/or a
 * bearer token), checks the signature of the answer, unwraps the key material with the client's
 * TrK and validates it as a UE would. It also receives a TrK/InK rotation's new keys and signs
 * its requests with the InK (--sign), which is how a client proves a new InK.
 * docs/kms-client.md describes it; --help summarises it.
 *
 * The parsing and checking live in libkms_kmsclient (tools/kmsclient.c), which works without a
 * network; this file adds the command line, TLS, output, and the exit codes:
 *   0 every check passed; 1 a check failed (or an output file could not be written);
 *   2 usage (options, or a file they name); 3 transport, TLS or HTTP error, or a KmsError.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/conf.h"
#include "common/err.h"
#include "common/hex.h"
#include "common/secmem.h"
#include "hsm/uid.h"
#include "tools/kmsclient.h"

#include "common/banned.h"

#define EXIT_GOOD      0
#define EXIT_CHECK     1
#define EXIT_USAGE     2
#define EXIT_TRANSPORT 3

#define DEFAULT_URL     "https://127.0.0.1:8443/keymanagement/identity/v1"
#define DEFAULT_TIMEOUT 30
#define MAX_TOKEN       (16u * 1024u)
#define MAX_KEY_FILE    256u
#define MAX_TARGET      8192u

enum command {
	CMD_INIT,
	CMD_KEYPROV,
	CMD_CERTCACHE,
};

struct opts {
	enum command cmd;
	const char *url, *ca, *cert, *key, *token, *trk, *ink, *kms_cert, *out, *at;
	const char *trk_id;  /* --trk-id: the id of the TrK, or NULL */
	const char *ink_id;  /* --ink-id: the KeyName of the request signature, or NULL */
	bool sign;           /* --sign: every KmsRequest body goes out signed with the InK */
	const char *uri;     /* keyprov URI */
	const char *ntp_hex; /* keyprov NTP-HEX, or from --at */
	const char *cache_n; /* certcache N */
	char ntp_buf[17];
	uint64_t at_seconds; /* the requested time, NTP seconds; 0 for now */
	enum kms_id_format id_format;
	long timeout;
	bool quiet;
};

/*
 * The new keys of a key rotation, once received and unwrapped in this run: an implicit init and
 * the keyprov after it both carry them, and they must be the same.
 */
struct rotation {
	struct kms_secret *trk, *ink; /* owned; NULL until received */
	char trk_id[KMS_CLIENT_MAX_KEY_NAME + 1], ink_id[KMS_CLIENT_MAX_KEY_NAME + 1];
	const char *from; /* the label of the response that brought them (borrowed) */
};

/* What main() holds for the run: secrets in locked memory, the TLS context, the out dir. */
struct run {
	const struct opts *o;
	struct kms_client_url url;
	struct kms_secret *trk, *ink, *token; /* owned; NULL when not given */
	SSL_CTX *ssl;
	int out_dir;          /* -1 without --out */
	struct rotation *rot; /* main()'s: what the responses of this run rotated */
};

static const char usage_text[] =
	"usage: kms-client [options] init\n"
	"       kms-client [options] keyprov [URI [NTP-HEX | --at DATE]]\n"
	"       kms-client [options] certcache [N]\n"
	"\n"
	"Asks a KMS (3GPP TS 33.180 Annex D) over HTTPS and checks what it answers.\n"
	"  init       the KMS certificate (KPAK, Z_T, key period)\n"
	"  keyprov    the key sets of the authenticated identity, or of URI, for now or for the\n"
	"             key period containing NTP-HEX (16 hex digits) or DATE\n"
	"  certcache  the certificates of external KMSs (changes after cache number N)\n"
	"\n"
	"options:\n"
	"  --url BASE         the KMS root (default " DEFAULT_URL ")\n"
	"  --ca FILE          CA certificates (PEM) for the server certificate (required)\n"
	"  --cert FILE        client certificate (PEM chain) for mutual TLS; with --key\n"
	"  --key FILE         its private key (PEM, unencrypted)\n"
	"  --token FILE       bearer token (JWT), sent as Authorization: Bearer\n"
	"  --trk FILE         the client's TrK, 64 hex digits: unwraps the key material\n"
	"  --trk-id ID        its id: the KeyName that new keys of a rotation must name\n"
	"  --ink FILE         the client's InK, 64 hex digits: checks the signature (the TrK\n"
	"                     does without an InK; without either, nothing is checked or "
	"unwrapped)\n"
	"  --sign             send keyprov's KmsRequest signed with the InK; needs --ink and\n"
	"                     --ink-id. With a rotation's new InK and --kms-cert, it proves\n"
	"                     that InK\n"
	"  --ink-id ID        the id of the InK (the KeyName of the request signature)\n"
	"  --kms-cert FILE    a saved init response; without it, keyprov calls init first\n"
	"  --id-format F      the identifier ECCSI/SAKKE use: raw (the 32-octet UID, default),\n"
	"                     hex-lower or hex-upper (its 64 hex digits; hex = hex-upper)\n"
	"  --at DATE          keyprov for the period containing DATE (YYYY-MM-DDThh:mm:ssZ)\n"
	"  --out DIR          write response.xml (and init.xml), and per valid key set n (from 1)\n"
	"                     n-ssk.hex, n-pvt.hex, n-rsk.hex; for a key rotation new-trk.hex,\n"
	"                     new-trk.id, new-ink.hex, new-ink.id (mode 0600; existing files are\n"
	"                     never overwritten)\n"
	"  --timeout SECONDS  connect, send and receive timeout (default 30)\n"
	"  --quiet            print nothing but errors\n"
	"  --help             this text\n"
	"\n"
	"exit status: 0 all checks passed; 1 a check failed; 2 usage; 3 transport, TLS or HTTP\n"
	"error, or a KmsError from the KMS.\n"
	"\n"
	"documentation: docs/kms-client.md (and the interface: docs/protocol.md), in the\n"
	"source tree.\n";

static void __attribute__((format(printf, 1, 2))) errorf(const char *fmt, ...)
{
	va_list ap;

	fputs("kms-client: ", stderr);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int
usage_error(const char *msg)
{
	errorf("%s (try --help)", msg);
	return EXIT_USAGE;
}

/* Print s with everything outside printable ASCII escaped: a KMS chooses these bytes. */
static void
put_safe(FILE *f, const char *s)
{
	for (; s != NULL && *s != '\0'; s++) {
		uint8_t c = (uint8_t)*s;

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			fputc(c, f);
		} else {
			fprintf(f, "\\x%02X", c);
		}
	}
}

static void
field(const struct opts *o, const char *name, const char *value)
{
	if (o->quiet) {
		return;
	}
	printf("  %-18s ", name);
	put_safe(stdout, value);
	fputc('\n', stdout);
}

static void __attribute__((format(printf, 3, 4)))
fieldf(const struct opts *o, const char *name, const char *fmt, ...)
{
	va_list ap;

	if (o->quiet) {
		return;
	}
	printf("  %-18s ", name);
	va_start(ap, fmt);
	(void)vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
}

static void
field_time(const struct opts *o, const char *name, uint64_t ntp)
{
	char t[KMS_CLIENT_DATETIME_LEN];

	if (kms_client_datetime_format(t, sizeof(t), ntp) != KMS_OK) {
		(void)snprintf(t, sizeof(t), "(out of range)");
	}
	field(o, name, t);
}

/* The first 8 octets of SHA-256 of a public value, as hex: enough to compare by eye. */
static void
field_fpr(const struct opts *o, const char *name, const uint8_t *p, size_t len)
{
	uint8_t md[SHA256_DIGEST_LENGTH];
	char hex[17];

	SHA256(p, len, md);
	if (kms_hex_encode(hex, sizeof(hex), md, 8) != KMS_OK) {
		hex[0] = '\0';
	}
	fieldf(o, name, "%zu octets, SHA-256 %s...", len, hex);
}

/* ------------------------------------------------------------------------------------------ */
/* Files */

/* Read a regular file of at most cap bytes into buf; *out_len its size. 0 or -1 (errno). */
static int
read_file(const char *path, uint8_t *buf, size_t cap, size_t *out_len)
{
	struct stat st;
	size_t off = 0;
	int fd;

	*out_len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > cap) {
		close(fd);
		errno = EFBIG;
		return -1;
	}
	while (off < cap) {
		ssize_t n = read(fd, buf + off, cap - off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n < 0) {
			close(fd);
			return -1;
		}
		if (n == 0) {
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	*out_len = off;
	return 0;
}

/* A TrK or InK file: 64 hex digits and optional whitespace around them, into locked memory. */
static int
load_key(const char *path, const char *what, struct kms_secret **out)
{
	uint8_t buf[MAX_KEY_FILE];
	size_t len = 0, start = 0;
	int rc = EXIT_USAGE;

	*out = NULL;
	if (read_file(path, buf, sizeof(buf), &len) != 0) {
		errorf("%s: cannot read %s: %s", what, path, strerror(errno));
		goto out;
	}
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' ||
			   buf[len - 1] == '\t')) {
		len--;
	}
	while (start < len && (buf[start] == ' ' || buf[start] == '\t')) {
		start++;
	}
	if ((*out = kms_secret_new(32)) == NULL) {
		errorf("%s: out of locked memory", what);
		goto out;
	}
	if (kms_hex_decode((*out)->data, 32, (const char *)buf + start, len - start) != KMS_OK) {
		/* the message never says what the file held */
		errorf("%s: %s does not hold exactly 64 hex digits", what, path);
		kms_secret_free(*out);
		*out = NULL;
		goto out;
	}
	rc = EXIT_GOOD;
out:
	kms_memzero(buf, sizeof(buf));
	return rc;
}

/* A bearer token file: one token68 (RFC 7235; a JWT is one), whitespace around it dropped. */
static int
load_token(const char *path, struct kms_secret **out)
{
	struct kms_secret *raw = NULL;
	size_t len = 0, start = 0, i;
	int rc = EXIT_USAGE;

	*out = NULL;
	if ((raw = kms_secret_new(MAX_TOKEN)) == NULL) {
		errorf("token: out of locked memory");
		return EXIT_USAGE;
	}
	if (read_file(path, raw->data, raw->len, &len) != 0) {
		errorf("token: cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	while (len > 0 && (raw->data[len - 1] == '\n' || raw->data[len - 1] == '\r' ||
			   raw->data[len - 1] == ' ' || raw->data[len - 1] == '\t')) {
		len--;
	}
	while (start < len && (raw->data[start] == ' ' || raw->data[start] == '\t')) {
		start++;
	}
	for (i = start; i < len; i++) {
		uint8_t c = raw->data[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      strchr("-._~+/=", c) != NULL) ||
		    c == '\0') {
			break;
		}
	}
	if (i != len || len == start) {
		errorf("token: %s does not hold one bearer token (RFC 6750 b64token)", path);
		goto out;
	}
	if ((*out = kms_secret_new(len - start)) == NULL) {
		errorf("token: out of locked memory");
		goto out;
	}
	memcpy((*out)->data, raw->data + start, len - start);
	rc = EXIT_GOOD;
out:
	kms_secret_free(raw);
	return rc;
}

static int
open_out_dir(const char *dir)
{
	int fd;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		errorf("--out: cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		errorf("--out: cannot open %s: %s", dir, strerror(errno));
	}
	return fd;
}

/* Create name in the out directory (never over an existing file or through a link), mode 0600. */
static int
write_out(const struct run *run, const char *name, const uint8_t *data, size_t len)
{
	size_t off = 0;
	int fd;

	fd = openat(run->out_dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		errorf("--out: cannot create %s/%s: %s", run->o->out, name, strerror(errno));
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, data + off, len - off);

		if (n < 0 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			errorf("--out: cannot write %s/%s: %s", run->o->out, name, strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		errorf("--out: cannot write %s/%s: %s", run->o->out, name, strerror(errno));
		return -1;
	}
	return 0;
}

/* A key as upper-case hex and a newline (as kms-devsetup writes trk.hex), via locked memory. */
static int
write_hex(const struct run *run, const char *name, const uint8_t *key, size_t len)
{
	struct kms_secret *hex = kms_secret_new(2 * len + 2);
	int rc = -1;

	if (hex == NULL) {
		errorf("--out: out of locked memory");
		return -1;
	}
	if (kms_hex_encode((char *)hex->data, hex->len, key, len) == KMS_OK) {
		hex->data[2 * len] = '\n';
		rc = write_out(run, name, hex->data, 2 * len + 1);
	}
	kms_secret_free(hex);
	return rc;
}

/* Key n of a key set: "n-kind.hex". */
static int
write_key(const struct run *run, size_t n, const char *kind, const uint8_t *key, size_t len)
{
	char name[64];

	(void)snprintf(name, sizeof(name), "%zu-%s.hex", n, kind);
	return write_hex(run, name, key, len);
}

/* A key id and a newline (as kms-devsetup writes trk.id). */
static int
write_id(const struct run *run, const char *name, const char *id)
{
	char line[KMS_CLIENT_MAX_KEY_NAME + 2];
	size_t len = strlen(id);

	if (len > KMS_CLIENT_MAX_KEY_NAME) {
		errorf("--out: the id for %s is too long", name);
		return -1;
	}
	memcpy(line, id, len);
	line[len] = '\n';
	return write_out(run, name, (const uint8_t *)line, len + 1);
}

/* ------------------------------------------------------------------------------------------ */
/* HTTPS */

/* The OpenSSL error queue, in one place: the first reason, or what the caller says. */
static void
tls_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		errorf("%s: %s", what, buf);
	} else {
		errorf("%s", what);
	}
	ERR_clear_error();
}

static SSL_CTX *
tls_context(const struct opts *o)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	static const unsigned char alpn[] = "\x08http/1.1";

	if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
		tls_error("TLS: cannot set up");
		goto fail;
	}
	/* Only the given CAs: never the system's store. */
	if (SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
		tls_error("--ca: cannot load the CA certificates");
		goto fail;
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (o->cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
				SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1 ||
				SSL_CTX_check_private_key(ctx) != 1)) {
		tls_error("--cert/--key: cannot use the client certificate and key");
		goto fail;
	}
	/* HTTP/1.1 only (this client does not speak HTTP/2); returns 0 on success */
	if (SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1) != 0) {
		tls_error("TLS: cannot set ALPN");
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static int
tcp_connect(const struct run *run)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct timeval tv = {.tv_sec = run->o->timeout, .tv_usec = 0};
	int fd = -1;
	int e;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (run->url.host_is_ip ? AI_NUMERICHOST : 0);
	if ((e = getaddrinfo(run->url.host, run->url.port, &hints, &res)) != 0) {
		errorf("%s: cannot resolve: %s", run->url.host, gai_strerror(e));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			continue;
		}
		/* Linux applies SO_SNDTIMEO to connect() too */
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 &&
		    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 &&
		    connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
			break;
		}
		e = errno;
		close(fd);
		fd = -1;
		errno = e;
	}
	if (fd < 0) {
		errorf("%s port %s: cannot connect: %s", run->url.host, run->url.port,
		       strerror(errno));
	}
	freeaddrinfo(res);
	return fd;
}

static int
ssl_write_all(SSL *ssl, const uint8_t *p, size_t len)
{
	size_t done = 0;

	while (done < len) {
		size_t n = 0;

		if (SSL_write_ex(ssl, p + done, len - done, &n) != 1) {
			return -1;
		}
		done += n;
	}
	return 0;
}

/*
 * post - POST body to target and read the response (at most KMS_CLIENT_MAX_RESPONSE bytes),
 * parsing as it arrives so that a complete response ends the read. EXIT_GOOD with *out filled
 * (cleaned up by the caller), else EXIT_TRANSPORT after a message.
 */
static int
post(const struct run *run, const char *target, const char *body, size_t body_len,
     struct kms_http_response *out)
{
	struct kms_secret *head = NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, len = 0, head_cap;
	SSL *ssl = NULL;
	int fd = -1;
	int n, e, rc = EXIT_TRANSPORT;
	int pr = KMS_ERR_TRUNCATED;

	memset(out, 0, sizeof(*out));
	/* The head carries the token: it is built in locked memory and wiped. */
	head_cap = strlen(target) + strlen(run->url.authority) + 512 +
		   (run->token != NULL ? run->token->len : 0);
	if ((head = kms_secret_new(head_cap)) == NULL) {
		errorf("out of locked memory");
		goto out;
	}
	n = snprintf((char *)head->data, head->len,
		     "POST %s HTTP/1.1\r\n"
		     "Host: %s\r\n"
		     "User-Agent: kms-client\r\n"
		     "Accept: application/xml\r\n"
		     "%s"
		     "Content-Length: %zu\r\n"
		     "%s%.*s%s"
		     "Connection: close\r\n"
		     "\r\n",
		     target, run->url.authority,
		     body_len > 0 ? "Content-Type: application/xml\r\n" : "", body_len,
		     run->token != NULL ? "Authorization: Bearer " : "",
		     run->token != NULL ? (int)run->token->len : 0,
		     run->token != NULL ? (const char *)run->token->data : "",
		     run->token != NULL ? "\r\n" : "");
	if (n < 0 || (size_t)n >= head->len) {
		errorf("request too large");
		goto out;
	}

	if ((fd = tcp_connect(run)) < 0) {
		goto out;
	}
	if ((ssl = SSL_new(run->ssl)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		tls_error("TLS: cannot set up the connection");
		goto out;
	}
	if (run->url.host_is_ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), run->url.host) != 1) {
			tls_error("TLS: cannot set the expected IP address");
			goto out;
		}
	} else {
		/* SNI; the macro takes a non-const pointer */
		char sni[sizeof(run->url.host)];

		memcpy(sni, run->url.host, sizeof(sni));
		if (SSL_set_tlsext_host_name(ssl, sni) != 1 || SSL_set1_host(ssl, sni) != 1) {
			tls_error("TLS: cannot set the expected host name");
			goto out;
		}
	}
	if (SSL_connect(ssl) != 1) {
		long v = SSL_get_verify_result(ssl);

		if (v != X509_V_OK) {
			errorf("TLS: the server certificate of %s was refused: %s", run->url.host,
			       X509_verify_cert_error_string(v));
			ERR_clear_error();
		} else {
			tls_error("TLS: handshake failed");
		}
		goto out;
	}
	if (ssl_write_all(ssl, head->data, (size_t)n) != 0 ||
	    (body_len > 0 && ssl_write_all(ssl, (const uint8_t *)body, body_len) != 0)) {
		tls_error("TLS: cannot send the request");
		goto out;
	}

	for (;;) {
		size_t got = 0;

		if (len == cap) {
			size_t ncap = cap == 0 ? 65536 : cap * 2;
			uint8_t *nbuf;

			if (cap == KMS_CLIENT_MAX_RESPONSE) {
				errorf("the response is larger than %u bytes",
				       KMS_CLIENT_MAX_RESPONSE);
				goto out;
			}
			if (ncap > KMS_CLIENT_MAX_RESPONSE) {
				ncap = KMS_CLIENT_MAX_RESPONSE;
			}
			if ((nbuf = malloc(ncap)) == NULL) {
				errorf("out of memory");
				goto out;
			}
			if (len > 0) {
				memcpy(nbuf, buf, len);
			}
			if (buf != NULL) {
				kms_memzero(buf, len);
				free(buf);
			}
			buf = nbuf;
			cap = ncap;
		}
		if (SSL_read_ex(ssl, buf + len, cap - len, &got) == 1) {
			len += got;
			pr = kms_http_response_parse(out, buf, len, false);
			if (pr != KMS_ERR_TRUNCATED) {
				break;
			}
			continue;
		}
		e = SSL_get_error(ssl, 0);
		if (e == SSL_ERROR_ZERO_RETURN) {
			/* close_notify: the end of a body delimited by the connection */
			pr = kms_http_response_parse(out, buf, len, true);
		} else if (e == SSL_ERROR_WANT_READ ||
			   (e == SSL_ERROR_SYSCALL && (errno == EAGAIN || errno == EWOULDBLOCK))) {
			errorf("timed out waiting for the response");
			goto out;
		} else if (e == SSL_ERROR_SSL &&
			   ERR_GET_REASON(ERR_peek_error()) != SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			/* with TLS 1.3, a refused client certificate is reported here */
			tls_error("TLS: the connection failed");
			goto out;
		}
		/* else the connection ended without close_notify: only a framed body is whole */
		break;
	}
	if (pr == KMS_ERR_TRUNCATED) {
		errorf("the connection ended before the response was complete (%zu bytes)", len);
		goto out;
	}
	if (pr != KMS_OK) {
		errorf("malformed HTTP response: %s", kms_strerror(pr));
		goto out;
	}
	rc = EXIT_GOOD;
out:
	if (ssl != NULL) {
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	if (fd >= 0) {
		close(fd);
	}
	ERR_clear_error();
	kms_secret_free(head);
	if (buf != NULL) {
		kms_memzero(buf, cap);
		free(buf);
	}
	if (rc != EXIT_GOOD) {
		kms_http_response_cleanup(out);
	}
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Responses */

/*
 * check_signature - verify r's signature when the client has a key (InK, else TrK). A
 * successful response must be signed then; an error response (which the KMS may send before it
 * knows the client) is checked only if it is signed. saved: r is the --kms-cert file.
 */
static int
check_signature(const struct run *run, const struct kms_client_response *r, bool success,
		bool saved)
{
	const struct kms_secret *key = run->ink != NULL ? run->ink : run->trk;
	const char *which = run->ink != NULL ? "InK" : "TrK";
	char err[KMS_CLIENT_ERR_LEN];
	char line[160];

	if (key == NULL) {
		field(run->o, "signature",
		      r->has_signature ? "present, not checked (no --ink or --trk)"
				       : "none (and no --ink or --trk to expect one)");
		return EXIT_GOOD;
	}
	/*
	 * A --sign run may prove a rotation's new InK: a saved init from before the proof is signed
	 * under the old one, which the run does not hold. It was checked when it was received, and
	 * the key sets of this run, signed under the new InK, are validated against its KPAK, Z_T,
	 * period and offset: a change to those fails there.
	 */
	if (saved && run->o->sign) {
		field(run->o, "signature",
		      "not checked (a saved init in a --sign run: it may be signed under the InK "
		      "that --ink replaces)");
		return EXIT_GOOD;
	}
	if (!r->has_signature && !success) {
		field(run->o, "signature", "none");
		return EXIT_GOOD;
	}
	if (kms_client_verify(err, sizeof(err), r, key->data) != KMS_OK) {
		errorf("signature check failed: %s", err);
		if (run->o->sign && r->msg == KMS_CLIENT_MSG_INIT) {
			/* the usual way to get there: proving a new InK without --kms-cert */
			errorf("(the init before a signed keyprov goes unsigned; to prove a new "
			       "InK, give --kms-cert the init.xml saved when the new keys came)");
		}
		return EXIT_CHECK;
	}
	(void)snprintf(line, sizeof(line), "valid (HMAC-SHA256 under the %s)", which);
	field(run->o, "signature", line);
	if (r->sig_key_name != NULL) {
		field(run->o, "signature KeyName", r->sig_key_name);
	}
	return EXIT_GOOD;
}

static void
print_cert(const struct opts *o, const struct kms_client_cert *c, uint64_t now)
{
	uint64_t no = 0;

	field(o, "KmsUri", c->kms_uri);
	if (c->cert_uri != NULL) {
		field(o, "CertUri", c->cert_uri);
	}
	if (c->issuer != NULL) {
		field(o, "Issuer", c->issuer);
	}
	if (c->role != NULL) {
		field(o, "Role", c->role);
	}
	if (c->has_valid_from) {
		field_time(o, "ValidFrom", c->valid_from);
	}
	if (c->has_valid_to) {
		field_time(o, "ValidTo", c->valid_to);
	}
	field(o, "UserIdFormat", c->user_id_format);
	fieldf(o, "UserKeyPeriod", "%llu s", (unsigned long long)c->period);
	fieldf(o, "UserKeyOffset", "%llu s", (unsigned long long)c->offset);
	if (kms_key_period_no(&no, now, c->period, c->offset) == KMS_OK) {
		fieldf(o, "current period", "%llu", (unsigned long long)no);
	}
	field_fpr(o, "PubEncKey (Z_T)", c->z_pub, sizeof(c->z_pub));
	field_fpr(o, "PubAuthKey (KPAK)", c->kpak, sizeof(c->kpak));
	if (c->signed_cert) {
		field(o, "certificate",
		      "in a SignedKmsCertificate (that signature is not checked)");
	}
}

static const char *
wrap_name(const struct kms_client_key *k)
{
	switch (k->wrap) {
	case KMS_CLIENT_KEY_PLAIN:
		return "plain (KeyContentType, not encrypted)";
	case KMS_CLIENT_KEY_KW_AES256_PAD:
		return "AES-256 key wrap with padding (kw-aes-256-pad)";
	case KMS_CLIENT_KEY_KW_AES256:
		return "AES-256 key wrap with padding (labelled kw-aes256)";
	default:
		return "unsupported EncryptionMethod";
	}
}

/* One key set: print it, check it, open and validate its keys when possible, write them. */
static int
do_keyset(const struct run *run, size_t n, const struct kms_client_keyset *ks,
	  const struct kms_client_cert *cert, uint64_t at)
{
	const struct opts *o = run->o;
	struct kms_client_keys *keys = NULL;
	char err[KMS_CLIENT_ERR_LEN];
	char uid_hex[2 * KMS_UID_LEN + 1];
	uint64_t start = 0, end = 0;
	bool plain = ks->rsk.wrap == KMS_CLIENT_KEY_PLAIN && ks->ssk.wrap == KMS_CLIENT_KEY_PLAIN &&
		     ks->pvt.wrap == KMS_CLIENT_KEY_PLAIN;
	int rc = EXIT_CHECK;

	if (!o->quiet) {
		printf("key set %zu\n", n);
	}
	field(o, "UserUri", ks->user_uri);
	field(o, "KmsUri", ks->kms_uri);
	if (kms_key_period_bounds(&start, &end, ks->key_period_no, cert->period, cert->offset) ==
	    KMS_OK) {
		char a[KMS_CLIENT_DATETIME_LEN], b[KMS_CLIENT_DATETIME_LEN];

		if (kms_client_datetime_format(a, sizeof(a), start) == KMS_OK &&
		    kms_client_datetime_format(b, sizeof(b), end) == KMS_OK) {
			fieldf(o, "KeyPeriodNo", "%llu (%s .. %s)",
			       (unsigned long long)ks->key_period_no, a, b);
		} else {
			fieldf(o, "KeyPeriodNo", "%llu", (unsigned long long)ks->key_period_no);
		}
	}
	if (ks->has_valid_from) {
		field_time(o, "ValidFrom", ks->valid_from);
	}
	if (ks->has_valid_to) {
		field_time(o, "ValidTo", ks->valid_to);
	}
	if (kms_hex_encode(uid_hex, sizeof(uid_hex), ks->user_id, sizeof(ks->user_id)) == KMS_OK) {
		fieldf(o, "UserID", "%s (%s)", uid_hex, ks->user_id_base64 ? "base64" : "hex");
	}
	field(o, "keys", wrap_name(&ks->ssk));
	if (ks->ssk.key_name != NULL) {
		field(o, "TrK KeyName", ks->ssk.key_name);
	}
	if (kms_client_keyset_check(err, sizeof(err), ks, cert, o->uri, at) != KMS_OK) {
		errorf("key set %zu: %s", n, err);
		goto out;
	}
	field(o, "UID", "matches UserUri, KmsUri and KeyPeriodNo");
	if (!plain && run->trk == NULL) {
		field(o, "material", "wrapped; not unwrapped or validated (no --trk)");
		rc = EXIT_GOOD;
		goto out;
	}
	if (kms_client_keyset_open(&keys, err, sizeof(err), ks, cert,
				   run->trk != NULL ? run->trk->data : NULL,
				   o->id_format) != KMS_OK) {
		errorf("key set %zu: %s", n, err);
		goto out;
	}
	if (!o->quiet) {
		printf("  ECCSI pair: valid\n  SAKKE RSK: valid\n");
	}
	if (run->out_dir >= 0 && (write_key(run, n, "ssk", keys->ssk, sizeof(keys->ssk)) != 0 ||
				  write_key(run, n, "pvt", keys->pvt, sizeof(keys->pvt)) != 0 ||
				  write_key(run, n, "rsk", keys->rsk, sizeof(keys->rsk)) != 0)) {
		goto out;
	}
	rc = EXIT_GOOD;
out:
	kms_client_keys_free(keys);
	return rc;
}

/* The id of the TrK that the key sets' wrapped keys name (the first ds:KeyName), or NULL. */
static const char *
keyset_trk_id(const struct kms_client_response *r)
{
	size_t i;

	for (i = 0; i < r->num_keysets; i++) {
		const struct kms_client_keyset *k = &r->keysets[i];

		if (k->rsk.key_name != NULL) {
			return k->rsk.key_name;
		}
		if (k->ssk.key_name != NULL) {
			return k->ssk.key_name;
		}
		if (k->pvt.key_name != NULL) {
			return k->pvt.key_name;
		}
	}
	return NULL;
}

/*
 * do_rotation - the new keys of a TrK/InK rotation that r carries, if any: one NewTransportKey
 * and one NewIntegrityKey, each naming its new key (xenc:CarriedKeyName). With --trk both are
 * unwrapped and checked (32 octets; wrapped under the TrK that --trk-id, or else the key sets'
 * KeyName, names), kept for the run, and with --out written to new-trk.hex, new-trk.id,
 * new-ink.hex and new-ink.id. The keyprov after an implicit init carries them again: they must
 * be the same, and are not written twice. A saved response (--kms-cert) is not processed again:
 * in a run that proves the new InK, --trk is already the new TrK.
 */
static int
do_rotation(const struct run *run, const char *label, const struct kms_client_response *r,
	    bool saved)
{
	const struct opts *o = run->o;
	struct rotation *rot = run->rot;
	struct kms_secret *trk = NULL, *ink = NULL;
	const struct kms_client_key *nt = &r->new_trk[0], *ni = &r->new_ink[0];
	const char *expected;
	char err[KMS_CLIENT_ERR_LEN];
	char ids[2 * KMS_CLIENT_MAX_KEY_NAME + 32];
	char line[KMS_CLIENT_MAX_KEY_NAME + 32];
	int rc = EXIT_CHECK;

	if (r->num_new_trk == 0 && r->num_new_ink == 0) {
		return EXIT_GOOD;
	}
	if (r->num_new_trk != 1 || r->num_new_ink != 1) {
		errorf("%s: key rotation: %zu NewTransportKey and %zu NewIntegrityKey (a rotation "
		       "is one of each)",
		       label, r->num_new_trk, r->num_new_ink);
		return EXIT_CHECK;
	}
	/* the reader keeps only visible ASCII ids: printable as they are */
	if (nt->carried_name == NULL || ni->carried_name == NULL) {
		errorf("%s: key rotation: the %s has no xenc:CarriedKeyName (the new key's id)",
		       label, nt->carried_name == NULL ? "NewTransportKey" : "NewIntegrityKey");
		return EXIT_CHECK;
	}
	(void)snprintf(ids, sizeof(ids), "new TrK %s, new InK %s", nt->carried_name,
		       ni->carried_name);
	if (saved) {
		fieldf(o, "key rotation", "%s: in the saved response, not processed again", ids);
		return EXIT_GOOD;
	}
	if (run->trk == NULL) {
		fieldf(o, "key rotation", "%s: received, not unwrapped (no --trk)", ids);
		return EXIT_GOOD;
	}
	expected = o->trk_id != NULL ? o->trk_id : keyset_trk_id(r);
	if (kms_client_new_key_open(&trk, err, sizeof(err), nt, run->trk->data, expected,
				    "NewTransportKey") != KMS_OK ||
	    kms_client_new_key_open(&ink, err, sizeof(err), ni, run->trk->data, expected,
				    "NewIntegrityKey") != KMS_OK) {
		errorf("%s: key rotation: %s", label, err);
		goto out;
	}
	if (rot->trk != NULL) {
		if (strcmp(rot->trk_id, nt->carried_name) != 0 ||
		    strcmp(rot->ink_id, ni->carried_name) != 0 ||
		    CRYPTO_memcmp(rot->trk->data, trk->data, KMS_CLIENT_NEW_KEY_LEN) != 0 ||
		    CRYPTO_memcmp(rot->ink->data, ink->data, KMS_CLIENT_NEW_KEY_LEN) != 0) {
			errorf("%s: key rotation: the new keys are not those of %s", label,
			       rot->from);
			goto out;
		}
		fieldf(o, "key rotation", "%s: received (the same as in %s)", ids, rot->from);
		rc = EXIT_GOOD;
		goto out;
	}
	if (run->out_dir >= 0 && (write_hex(run, "new-trk.hex", trk->data, trk->len) != 0 ||
				  write_id(run, "new-trk.id", nt->carried_name) != 0 ||
				  write_hex(run, "new-ink.hex", ink->data, ink->len) != 0 ||
				  write_id(run, "new-ink.id", ni->carried_name) != 0)) {
		goto out;
	}
	(void)snprintf(rot->trk_id, sizeof(rot->trk_id), "%s", nt->carried_name);
	(void)snprintf(rot->ink_id, sizeof(rot->ink_id), "%s", ni->carried_name);
	rot->trk = trk;
	rot->ink = ink;
	trk = NULL; /* transferred */
	ink = NULL;
	rot->from = label;
	fieldf(o, "key rotation", "%s: received", ids);
	if (expected != NULL) {
		(void)snprintf(line, sizeof(line), "under the TrK %s", expected);
		field(o, "new keys wrapped", line);
	} else {
		field(o, "new keys wrapped",
		      "under --trk (its id not compared: no --trk-id, and no key set names it)");
	}
	rc = EXIT_GOOD;
out:
	kms_secret_free(trk);
	kms_secret_free(ink);
	return rc;
}

/*
 * handle - everything after the HTTP exchange: save the body, read the KmsResponse, report a
 * KmsError, check the signature, then the message and a key rotation. *out_resp keeps the
 * response (owned) when the caller needs it (the certificate of an init). http is NULL for the
 * --kms-cert file. signed_req: the request went out signed (--sign).
 */
static int
handle(const struct run *run, const char *label, const char *save_as,
       const struct kms_http_response *http, const uint8_t *body, size_t body_len,
       const struct kms_client_cert *cert, bool signed_req, struct kms_client_response **out_resp)
{
	const struct opts *o = run->o;
	struct kms_client_response *r = NULL;
	char err[KMS_CLIENT_ERR_LEN];
	bool success = http == NULL || (http->status >= 200 && http->status < 300);
	uint64_t at;
	size_t i;
	int rc = EXIT_CHECK;
	int sig_rc;

	if (out_resp != NULL) {
		*out_resp = NULL;
	}
	if (run->out_dir >= 0 && save_as != NULL && body_len > 0 &&
	    write_out(run, save_as, body, body_len) != 0) {
		goto out;
	}
	if (http != NULL && !success) {
		errorf("%s: HTTP %d %s", label, http->status, http->reason);
		if (http->retry_after[0] != '\0') {
			fputs("kms-client: Retry-After: ", stderr);
			put_safe(stderr, http->retry_after);
			fputc('\n', stderr);
		}
		rc = EXIT_TRANSPORT;
	}
	if (http != NULL && http->content_type[0] != '\0' &&
	    !kms_http_media_is_xml(http->content_type)) {
		if (success) {
			errorf("%s: the response is not XML (Content-Type %.64s)", label,
			       http->content_type);
			rc = EXIT_TRANSPORT;
		}
		goto out;
	}
	if (kms_client_response_parse(&r, err, sizeof(err), body, body_len) != KMS_OK) {
		if (success) {
			errorf("%s: malformed KmsResponse: %s", label, err);
		}
		goto out;
	}
	if (!o->quiet) {
		printf("%s\n", label);
	}
	field(o, "UserUri", r->user_uri);
	field(o, "KmsUri", r->kms_uri);
	field_time(o, "Time", r->time);
	field(o, "ClientReqUrl", r->client_req_url);
	if (signed_req) {
		(void)snprintf(err, sizeof(err), "signed, HMAC-SHA256 under the InK %s", o->ink_id);
		field(o, "request", err);
	}
	sig_rc = check_signature(run, r, success, http == NULL);
	if (r->has_error || !success) {
		if (r->has_error) {
			fprintf(stderr, "kms-client: %s: KmsError %lld: ", label,
				(long long)r->error_code);
			put_safe(stderr, r->error_msg);
			fputc('\n', stderr);
		}
		rc = EXIT_TRANSPORT;
		goto out;
	}
	if (sig_rc != EXIT_GOOD) {
		rc = sig_rc;
		goto out;
	}
	at = o->at_seconds != 0 ? o->at_seconds : r->time;
	switch (o->cmd == CMD_KEYPROV && cert == NULL ? CMD_INIT : o->cmd) {
	case CMD_INIT:
		if (r->msg != KMS_CLIENT_MSG_INIT) {
			errorf("%s: the response carries no KmsInit", label);
			goto out;
		}
		print_cert(o, &r->certs[0], r->time);
		if (kms_client_cert_check(err, sizeof(err), &r->certs[0]) != KMS_OK) {
			errorf("%s: KMS certificate: %s", label, err);
			goto out;
		}
		field(o, "certificate", "usable (UserIdFormat 2, parameter set 1, points valid)");
		break;
	case CMD_KEYPROV: {
		bool current = false;
		uint64_t at_no = 0;

		if (r->msg != KMS_CLIENT_MSG_KEYPROV) {
			errorf("%s: the response carries no KmsKeyProv", label);
			goto out;
		}
		if (r->num_keysets == 0) {
			errorf("%s: KmsKeyProv holds no key set", label);
			goto out;
		}
		rc = EXIT_GOOD;
		for (i = 0; i < r->num_keysets; i++) {
			if (do_keyset(run, i + 1, &r->keysets[i], cert, at) != EXIT_GOOD) {
				rc = EXIT_CHECK;
			}
		}
		if (kms_key_period_no(&at_no, at, cert->period, cert->offset) == KMS_OK) {
			for (i = 0; i < r->num_keysets; i++) {
				current |= r->keysets[i].key_period_no == at_no;
			}
		}
		if (!current) {
			errorf("%s: no key set for key period %llu (the one asked for)", label,
			       (unsigned long long)at_no);
			rc = EXIT_CHECK;
		}
		if (rc != EXIT_GOOD) {
			goto out;
		}
		break;
	}
	case CMD_CERTCACHE:
		if (r->msg != KMS_CLIENT_MSG_CERTCACHE) {
			errorf("%s: the response carries no KmsCertCache", label);
			goto out;
		}
		if (r->has_cache_num) {
			fieldf(o, "CacheNum", "%llu", (unsigned long long)r->cache_num);
		}
		fieldf(o, "certificates", "%zu", r->num_certs);
		rc = EXIT_GOOD;
		for (i = 0; i < r->num_certs; i++) {
			if (!o->quiet) {
				printf("certificate %zu\n", i + 1);
			}
			print_cert(o, &r->certs[i], r->time);
			if (kms_client_cert_check(err, sizeof(err), &r->certs[i]) != KMS_OK) {
				errorf("%s: certificate %zu: %s", label, i + 1, err);
				rc = EXIT_CHECK;
			}
		}
		if (rc != EXIT_GOOD) {
			goto out;
		}
		break;
	}
	if (do_rotation(run, label, r, http == NULL) != EXIT_GOOD) {
		rc = EXIT_CHECK;
		goto out;
	}
	if (out_resp != NULL) {
		*out_resp = r;
		r = NULL;
	}
	rc = EXIT_GOOD;
out:
	kms_client_response_free(r);
	return rc;
}

static uint64_t
ntp_now(void)
{
	time_t t = time(NULL);

	return kms_ntp_from_unix(t > 0 ? (uint64_t)t : 0);
}

/*
 * One request: target, optional body, response handled. self is the client's own identity as
 * its init response named it (UserUri), or NULL: a signed keyprov without a URI names it in its
 * body.
 */
static int
exchange(const struct run *run, const char *label, const char *save_as, const char *resource,
	 const char *uri, const char *tail, const struct kms_client_cert *cert, const char *self,
	 struct kms_client_response **out_resp)
{
	const char *body_uri = uri != NULL ? uri : run->o->sign ? self : NULL;
	struct kms_http_response http;
	char target[MAX_TARGET];
	char full[MAX_TARGET + 300];
	char *body = NULL;
	size_t body_len = 0;
	int rc;

	memset(&http, 0, sizeof(http));
	if (kms_client_request_target(target, sizeof(target), &run->url, resource, uri, tail) !=
	    KMS_OK) {
		return usage_error("cannot make the request path (URI or NTP time malformed)");
	}
	(void)snprintf(full, sizeof(full), "https://%s%s", run->url.authority, target);
	/*
	 * A KmsRequest when both URIs are known; otherwise the path says it all. --sign needs a
	 * body to sign: without a URI, it names the identity the init response gave.
	 */
	if (body_uri != NULL && cert != NULL &&
	    kms_client_request_build(&body, &body_len, body_uri, cert->kms_uri, ntp_now(), full) !=
		    KMS_OK) {
		errorf("cannot build the KmsRequest");
		return EXIT_USAGE;
	}
	if (body != NULL && run->o->sign) {
		char *signed_body = NULL;
		size_t signed_len = 0;
		int r = kms_client_request_sign(&signed_body, &signed_len, body, body_len,
						run->ink->data, run->o->ink_id);

		free(body);
		if (r != KMS_OK) {
			errorf("cannot sign the KmsRequest: %s", kms_strerror(r));
			return EXIT_USAGE;
		}
		body = signed_body;
		body_len = signed_len;
	}
	if ((rc = post(run, target, body, body_len, &http)) == EXIT_GOOD) {
		rc = handle(run, label, save_as, &http, http.body, http.body_len, cert,
			    body != NULL && run->o->sign, out_resp);
	}
	free(body);
	kms_http_response_cleanup(&http);
	return rc;
}

static int
run_command(struct run *run)
{
	const struct opts *o = run->o;
	struct kms_client_response *init = NULL;
	const struct kms_client_cert *cert = NULL;
	int rc;

	if (o->cmd == CMD_INIT) {
		return exchange(run, "init", "response.xml", "init", NULL, NULL, NULL, NULL, NULL);
	}
	if (o->cmd == CMD_CERTCACHE) {
		return exchange(run, "certcache", "response.xml", "certcache", NULL, o->cache_n,
				NULL, NULL, NULL);
	}
	/* keyprov needs the KMS certificate: from a saved init response, or from init */
	if (o->kms_cert != NULL) {
		uint8_t *buf = malloc(KMS_CLIENT_MAX_BODY);
		size_t len = 0;

		if (buf == NULL) {
			errorf("out of memory");
			return EXIT_USAGE;
		}
		if (read_file(o->kms_cert, buf, KMS_CLIENT_MAX_BODY, &len) != 0) {
			errorf("--kms-cert: cannot read %s: %s", o->kms_cert, strerror(errno));
			free(buf);
			return EXIT_USAGE;
		}
		rc = handle(run, "init (--kms-cert)", NULL, NULL, buf, len, NULL, false, &init);
		free(buf);
	} else {
		rc = exchange(run, "init", "init.xml", "init", NULL, NULL, NULL, NULL, &init);
	}
	if (rc != EXIT_GOOD) {
		return rc;
	}
	cert = &init->certs[0];
	rc = exchange(run, "keyprov", "response.xml", "keyprov", o->uri, o->ntp_hex, cert,
		      init->user_uri, NULL);
	kms_client_response_free(init);
	return rc;
}

/* ------------------------------------------------------------------------------------------ */
/* Options */

/* A key id: 1..KMS_CLIENT_MAX_KEY_NAME visible ASCII characters (what a KeyName carries). */
static bool
is_key_id(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i == KMS_CLIENT_MAX_KEY_NAME || (uint8_t)s[i] < 0x21 || (uint8_t)s[i] > 0x7e) {
			return false;
		}
	}
	return i > 0;
}

static int
parse_args(struct opts *o, int argc, char **argv)
{
	enum {
		OPT_URL = 256,
		OPT_CA,
		OPT_CERT,
		OPT_KEY,
		OPT_TOKEN,
		OPT_TRK,
		OPT_TRK_ID,
		OPT_INK,
		OPT_INK_ID,
		OPT_SIGN,
		OPT_KMS_CERT,
		OPT_ID_FORMAT,
		OPT_AT,
		OPT_OUT,
		OPT_TIMEOUT,
		OPT_QUIET,
		OPT_HELP,
	};
	static const struct option longopts[] = {
		{"url", required_argument, NULL, OPT_URL},
		{"ca", required_argument, NULL, OPT_CA},
		{"cert", required_argument, NULL, OPT_CERT},
		{"key", required_argument, NULL, OPT_KEY},
		{"token", required_argument, NULL, OPT_TOKEN},
		{"trk", required_argument, NULL, OPT_TRK},
		{"trk-id", required_argument, NULL, OPT_TRK_ID},
		{"ink", required_argument, NULL, OPT_INK},
		{"ink-id", required_argument, NULL, OPT_INK_ID},
		{"sign", no_argument, NULL, OPT_SIGN},
		{"kms-cert", required_argument, NULL, OPT_KMS_CERT},
		{"id-format", required_argument, NULL, OPT_ID_FORMAT},
		{"at", required_argument, NULL, OPT_AT},
		{"out", required_argument, NULL, OPT_OUT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"quiet", no_argument, NULL, OPT_QUIET},
		{"help", no_argument, NULL, OPT_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *cmd;
	uint64_t num = 0;
	int c;

	memset(o, 0, sizeof(*o));
	o->url = DEFAULT_URL;
	o->timeout = DEFAULT_TIMEOUT;
	o->id_format = KMS_ID_RAW;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_URL:
			o->url = optarg;
			break;
		case OPT_CA:
			o->ca = optarg;
			break;
		case OPT_CERT:
			o->cert = optarg;
			break;
		case OPT_KEY:
			o->key = optarg;
			break;
		case OPT_TOKEN:
			o->token = optarg;
			break;
		case OPT_TRK:
			o->trk = optarg;
			break;
		case OPT_TRK_ID:
			o->trk_id = optarg;
			break;
		case OPT_INK:
			o->ink = optarg;
			break;
		case OPT_INK_ID:
			o->ink_id = optarg;
			break;
		case OPT_SIGN:
			o->sign = true;
			break;
		case OPT_KMS_CERT:
			o->kms_cert = optarg;
			break;
		case OPT_ID_FORMAT:
			if (strcmp(optarg, "raw") == 0) {
				o->id_format = KMS_ID_RAW;
			} else if (strcmp(optarg, "hex-lower") == 0) {
				o->id_format = KMS_ID_HEX_LOWER;
			} else if (strcmp(optarg, "hex-upper") == 0 || strcmp(optarg, "hex") == 0) {
				o->id_format = KMS_ID_HEX_UPPER;
			} else {
				return usage_error("--id-format is raw, hex-lower or hex-upper");
			}
			break;
		case OPT_AT:
			o->at = optarg;
			break;
		case OPT_OUT:
			o->out = optarg;
			break;
		case OPT_TIMEOUT:
			if (kms_conf_decimal(optarg, strlen(optarg), 3600, &num) != KMS_OK ||
			    num < 1) {
				return usage_error("--timeout is 1 to 3600 seconds");
			}
			o->timeout = (long)num;
			break;
		case OPT_QUIET:
			o->quiet = true;
			break;
		case OPT_HELP:
			fputs(usage_text, stdout);
			return -1;
		default:
			return usage_error("unknown option, or an option without its value");
		}
	}
	if (optind >= argc) {
		return usage_error("no command (init, keyprov or certcache)");
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "init") == 0) {
		o->cmd = CMD_INIT;
		if (optind != argc) {
			return usage_error("init takes no argument");
		}
	} else if (strcmp(cmd, "keyprov") == 0) {
		o->cmd = CMD_KEYPROV;
		if (argc - optind > 2) {
			return usage_error("keyprov takes at most URI and NTP-HEX");
		}
		o->uri = optind < argc ? argv[optind++] : NULL;
		o->ntp_hex = optind < argc ? argv[optind++] : NULL;
	} else if (strcmp(cmd, "certcache") == 0) {
		o->cmd = CMD_CERTCACHE;
		if (argc - optind > 1) {
			return usage_error("certcache takes at most N");
		}
		o->cache_n = optind < argc ? argv[optind++] : NULL;
	} else {
		return usage_error("unknown command (init, keyprov or certcache)");
	}

	if (o->ca == NULL) {
		return usage_error("--ca is required (the server certificate is always checked)");
	}
	if ((o->cert == NULL) != (o->key == NULL)) {
		return usage_error("--cert and --key go together");
	}
	if (o->cmd != CMD_KEYPROV && (o->at != NULL || o->kms_cert != NULL)) {
		return usage_error("--at and --kms-cert are for keyprov");
	}
	if ((o->trk_id != NULL && !is_key_id(o->trk_id)) ||
	    (o->ink_id != NULL && !is_key_id(o->ink_id))) {
		return usage_error("--trk-id and --ink-id are 1 to 255 visible ASCII characters");
	}
	if (o->sign && (o->ink == NULL || o->ink_id == NULL)) {
		return usage_error("--sign needs --ink and --ink-id (the key and its id)");
	}
	if (o->ink_id != NULL && !o->sign) {
		return usage_error("--ink-id goes with --sign");
	}
	if (o->sign && o->cmd != CMD_KEYPROV) {
		return usage_error("--sign is for keyprov: only it sends a KmsRequest body");
	}
	if (o->uri != NULL && (o->uri[0] == '\0' || strlen(o->uri) > KMS_UID_MAX_URI_LEN)) {
		return usage_error("URI must be 1 to 2048 characters");
	}
	for (const char *p = o->uri; p != NULL && *p != '\0'; p++) {
		if ((uint8_t)*p <= 0x20 || (uint8_t)*p >= 0x7f) {
			return usage_error("URI must be printable ASCII (percent-encode the rest)");
		}
	}
	if (o->at != NULL) {
		uint64_t secs = 0;

		if (o->ntp_hex != NULL || o->uri == NULL) {
			return usage_error("--at needs a URI and replaces NTP-HEX");
		}
		if (kms_client_datetime_parse(&secs, o->at, strlen(o->at)) != KMS_OK || secs == 0 ||
		    secs > UINT32_MAX) {
			return usage_error("--at is YYYY-MM-DDThh:mm:ss[Z|+hh:mm], 1900 to 2036");
		}
		(void)snprintf(o->ntp_buf, sizeof(o->ntp_buf), "%08llX00000000",
			       (unsigned long long)secs);
		o->ntp_hex = o->ntp_buf;
		o->at_seconds = secs;
	} else if (o->ntp_hex != NULL) {
		uint64_t ts = 0;

		if (kms_ntp_parse_hex(&ts, o->ntp_hex, strlen(o->ntp_hex)) != KMS_OK ||
		    kms_ntp_seconds(ts) == 0) {
			return usage_error("NTP-HEX is 16 hex digits (seconds since 1900, then the "
					   "fraction), e.g. D6B4323200000000");
		}
		o->at_seconds = kms_ntp_seconds(ts);
	}
	if (o->cache_n != NULL) {
		size_t i, len = strlen(o->cache_n);

		for (i = 0; i < len; i++) {
			if (o->cache_n[i] < '0' || o->cache_n[i] > '9') {
				break;
			}
		}
		if (len == 0 || len > 9 || i != len) {
			return usage_error("N is a cache number of 1 to 9 digits");
		}
	}
	return 0;
}

/* libxml2's generic error channel (the canonicaliser's) stays quiet: errors come back as codes. */
static void
xml_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct run run;
	struct rotation rot;
	int rc;

	memset(&run, 0, sizeof(run));
	memset(&rot, 0, sizeof(rot));
	run.out_dir = -1;
	run.o = &o;
	run.rot = &rot;
	rc = parse_args(&o, argc, argv);
	if (rc != 0) {
		return rc < 0 ? EXIT_GOOD : rc;
	}
	if (kms_harden_process() != KMS_OK) {
		errorf("cannot harden the process (core dumps, ptrace)");
		return EXIT_USAGE;
	}
	(void)signal(SIGPIPE, SIG_IGN);
	/* plain keys (KeyContentType) pass through libxml2's buffers: what it frees is wiped */
	if (xmlMemSetup(kms_wipe_free, malloc, kms_wipe_realloc, kms_wipe_strdup) != 0) {
		errorf("cannot set up libxml2");
		return EXIT_USAGE;
	}
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, xml_quiet);

	rc = EXIT_USAGE;
	if (kms_client_url_parse(&run.url, o.url) != KMS_OK) {
		errorf("--url: not an https://HOST[:PORT][/PATH] URL: %s", o.url);
		goto out;
	}
	if ((o.trk != NULL && load_key(o.trk, "--trk", &run.trk) != EXIT_GOOD) ||
	    (o.ink != NULL && load_key(o.ink, "--ink", &run.ink) != EXIT_GOOD) ||
	    (o.token != NULL && load_token(o.token, &run.token) != EXIT_GOOD)) {
		goto out;
	}
	if (o.out != NULL && (run.out_dir = open_out_dir(o.out)) < 0) {
		goto out;
	}
	if ((run.ssl = tls_context(&o)) == NULL) {
		goto out;
	}
	rc = run_command(&run);
	if (rc == EXIT_GOOD && !o.quiet) {
		printf(run.ink != NULL || run.trk != NULL
			       ? "all checks passed\n"
			       : "done: without --ink or --trk the signature was not checked\n");
	}
out:
	SSL_CTX_free(run.ssl);
	if (run.out_dir >= 0) {
		close(run.out_dir);
	}
	kms_secret_free(run.trk);
	kms_secret_free(run.ink);
	kms_secret_free(run.token);
	kms_secret_free(rot.trk);
	kms_secret_free(rot.ink);
	xmlCleanupParser();
	return rc;
}
