// SPDX-License-Identifier: Apache-2.0
/*
 * mig_tls's pumps (mig_tls.h): the bytes of an established connection between the socket
 * and a plain descriptor. For TLS 1.3 with AES-GCM without kTLS, mignet's own record layer
 * (mig_tls_record.c) carries them. Otherwise OpenSSL's: SSL_read into the caller's buffer,
 * gathering the records that already arrived, then one write(2); read(2) then SSL_write,
 * full records. Every SSL call is made under the connection's lock and the waits without
 * it, so the two directions may run in two threads. With kTLS, splice(2) through a pipe on
 * the socket, and a control record (an alert, a key update) handed to SSL_read.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_tls_priv.h"

#define PIPE_BYTES (1u << 20)

/* ---- the pumps ---- */

/* Does mignet's record layer carry @c (decided at the first call)? */
static bool ours(struct mig_tls_conn *c)
{
	enum mig_tls_layer l;

	pthread_mutex_lock(&c->lock);
	l = mig_tls_layer_decide(c);
	pthread_mutex_unlock(&c->lock);
	return l == MIG_TLS_LAYER_OURS;
}

/* One SSL call under the lock. Return: bytes (>0), 0 at close_notify, or -EAGAIN-like. */
enum io_result { IO_DONE, IO_WANT_READ, IO_WANT_WRITE, IO_CLOSED, IO_ERROR };

static enum io_result ssl_io(struct mig_tls_conn *c, bool write, void *buf, size_t len,
			     size_t *ret_n, char *msg, size_t size)
{
	int ok, e, sys;

	pthread_mutex_lock(&c->lock);
	ERR_clear_error();
	errno = 0;
	ok = write ? SSL_write_ex(c->ssl, buf, len, ret_n) : SSL_read_ex(c->ssl, buf, len, ret_n);
	e = ok ? SSL_ERROR_NONE : SSL_get_error(c->ssl, 0);
	sys = errno;
	if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) {
		unsigned long le = ERR_peek_last_error();

		if (ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING ||
		    (e == SSL_ERROR_SYSCALL && !le && !sys))
			snprintf(msg, size,
				 "the %s closed the connection without close_notify "
				 "(truncated)",
				 mig_tls_peer_role(c->role));
		else if (e == SSL_ERROR_SYSCALL && !le)
			snprintf(msg, size, "%s", strerror(sys));
		else
			mig_tls_ssl_errors(msg, size);
	}
	pthread_mutex_unlock(&c->lock);
	switch (e) {
	case SSL_ERROR_NONE:
		return IO_DONE;
	case SSL_ERROR_WANT_READ:
		return IO_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return IO_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return IO_CLOSED;
	default:
		return IO_ERROR;
	}
}

static int write_all(int fd, const char *p, size_t n)
{
	struct iovec iov = { .iov_base = (void *)p, .iov_len = n };

	return mig_tls_writev_all(fd, &iov, 1);
}

/*
 * splice up to @n bytes from @in to @out; on EAGAIN wait for @events on @sock (the
 * non-blocking socket end; the pipe and the plain fd block). Return: bytes, 0 at EOF, -errno.
 */
static ssize_t splice_some(int in, int out, size_t n, int sock, short events)
{
	for (;;) {
		ssize_t s = splice(in, NULL, out, NULL, n, SPLICE_F_MOVE | SPLICE_F_MORE);
		int r;

		if (s >= 0)
			return s;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		r = mig_tls_wait_fd(sock, events, -1);
		if (r < 0)
			return r;
	}
}

static int pipe_open(int p[2])
{
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fcntl(p[1], F_SETPIPE_SZ, PIPE_BYTES);
	return 0;
}

/* kTLS receive: splice the decrypted stream; a non-data record goes to SSL_read. */
static int ktls_in(struct mig_tls_conn *c, int out_fd, void *buf, size_t len, uint64_t *bytes,
		   struct mig_error *err)
{
	int p[2], r;

	r = pipe_open(p);
	if (r < 0)
		return mig_error_set(err, r, "pipe: %s", strerror(-r));
	for (;;) {
		ssize_t s = splice_some(c->fd, p[1], PIPE_BYTES, c->fd, POLLIN), left, got = s;
		char msg[256] = "";
		size_t n = 0;
		enum io_result io;

		if (s > 0) {
			for (left = s; left > 0; left -= s) {
				s = splice_some(p[0], out_fd, (size_t)left, out_fd, POLLOUT);
				if (s <= 0) {
					r = mig_error_set(err, s < 0 ? (int)s : -EPIPE,
							  "TLS pump: splice to the plain side: %s",
							  strerror(s < 0 ? (int)-s : EPIPE));
					goto out;
				}
			}
			*bytes += (uint64_t)got;
			continue;
		}
		if (s == 0) {
			r = mig_error_set(err, -EPROTO,
					  "TLS pump: the %s closed the connection "
					  "without close_notify (truncated)",
					  mig_tls_peer_role(c->role));
			goto out;
		}
		if (s != -EINVAL && s != -EIO && s != -EBADMSG) {
			r = mig_error_set(err, (int)s, "TLS pump: splice from the socket: %s",
					  strerror((int)-s));
			goto out;
		}
		/* a control record (an alert, a key update): OpenSSL reads it */
		io = ssl_io(c, false, buf, len, &n, msg, sizeof(msg));
		if (io == IO_CLOSED) {
			shutdown(out_fd, SHUT_WR);
			r = 0;
			goto out;
		}
		if (io == IO_ERROR) {
			r = mig_error_set(err, -EPROTO, "TLS pump: %s", msg);
			goto out;
		}
		if (io == IO_DONE && n) {
			r = write_all(out_fd, buf, n);
			if (r < 0) {
				mig_error_set(err, r, "TLS pump: write: %s", strerror(-r));
				goto out;
			}
			*bytes += n;
		}
	}
out:
	close(p[0]);
	close(p[1]);
	return r;
}

/* Write the @fill bytes of @buf to @out_fd. Return: 0 or -errno with @err. */
static int flush_plain(int out_fd, void *buf, size_t *fill, uint64_t *bytes, struct mig_error *err)
{
	int r;

	if (!*fill)
		return 0;
	r = write_all(out_fd, buf, *fill);
	if (r < 0)
		return mig_error_set(err, r, "TLS pump: write to the plain side: %s", strerror(-r));
	*bytes += *fill;
	*fill = 0;
	return 0;
}

int mig_tls_pump_in(struct mig_tls_conn *c, int out_fd, void *buf, size_t len, uint64_t *ret_bytes,
		    struct mig_error *err)
{
	uint64_t total = 0, *bytes = ret_bytes ? ret_bytes : &total;
	size_t fill = 0;
	char msg[256] = "";
	int r;

	*bytes = 0;
	if (c->ktls_rx)
		return ktls_in(c, out_fd, buf, len, bytes, err);
	if (ours(c))
		return mig_tls_record_pump_in(c, out_fd, bytes, err);
	/*
	 * SSL_read returns one record (16 KiB) at most: records that already arrived are
	 * gathered into @buf and written with one write(2), which is flushed whenever
	 * OpenSSL would have to wait for the socket.
	 */
	for (;;) {
		size_t n = 0;
		enum io_result io =
			ssl_io(c, false, (char *)buf + fill, len - fill, &n, msg, sizeof(msg));

		if (io == IO_DONE) {
			fill += n;
			if (len - fill >= 16384)
				continue;
		}
		r = flush_plain(out_fd, buf, &fill, bytes, err);
		if (r < 0)
			return r;
		switch (io) {
		case IO_DONE:
			break;
		case IO_WANT_READ:
			r = mig_tls_wait_fd(c->fd, POLLIN, -1);
			if (r < 0)
				return mig_error_set(err, r, "TLS pump: poll: %s", strerror(-r));
			break;
		case IO_WANT_WRITE:
			r = mig_tls_wait_fd(c->fd, POLLOUT, -1);
			if (r < 0)
				return mig_error_set(err, r, "TLS pump: poll: %s", strerror(-r));
			break;
		case IO_CLOSED:
			shutdown(out_fd, SHUT_WR);
			return 0;
		case IO_ERROR:
			return mig_error_set(err, -EPROTO, "TLS pump: %s", msg);
		}
	}
}

/* close_notify, once our input ended; the other direction goes on. */
static int send_close_notify(struct mig_tls_conn *c, struct mig_error *err)
{
	if (ours(c))
		return mig_tls_record_close_notify(c, err);
	for (;;) {
		int r, e;

		pthread_mutex_lock(&c->lock);
		ERR_clear_error();
		r = SSL_shutdown(c->ssl);
		e = r < 0 ? SSL_get_error(c->ssl, r) : SSL_ERROR_NONE;
		pthread_mutex_unlock(&c->lock);
		if (r >= 0)
			return 0;
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			return mig_error_set(err, -EPIPE,
					     "TLS pump: close_notify could not be sent");
		r = mig_tls_wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, -1);
		if (r < 0)
			return mig_error_set(err, r, "TLS pump: poll: %s", strerror(-r));
	}
}

static int ktls_out(struct mig_tls_conn *c, int in_fd, uint64_t *bytes, struct mig_error *err)
{
	int p[2], r;

	r = pipe_open(p);
	if (r < 0)
		return mig_error_set(err, r, "pipe: %s", strerror(-r));
	for (;;) {
		ssize_t s = splice_some(in_fd, p[1], PIPE_BYTES, in_fd, POLLIN), left, got = s;

		if (s == 0) {
			r = send_close_notify(c, err);
			break;
		}
		if (s < 0) {
			r = mig_error_set(err, (int)s, "TLS pump: splice from the plain side: %s",
					  strerror((int)-s));
			break;
		}
		for (left = s; left > 0; left -= s) {
			s = splice_some(p[0], c->fd, (size_t)left, c->fd, POLLOUT);
			if (s <= 0)
				break;
		}
		if (left > 0) {
			r = mig_error_set(err, s < 0 ? (int)s : -EPIPE,
					  "TLS pump: splice to the "
					  "socket: %s",
					  strerror(s < 0 ? (int)-s : EPIPE));
			break;
		}
		*bytes += (uint64_t)got;
	}
	close(p[0]);
	close(p[1]);
	return r;
}

int mig_tls_pump_out(struct mig_tls_conn *c, int in_fd, void *buf, size_t len, uint64_t *ret_bytes,
		     struct mig_error *err)
{
	uint64_t total = 0, *bytes = ret_bytes ? ret_bytes : &total;
	char msg[256] = "";
	int r;

	*bytes = 0;
	if (c->ktls_tx)
		return ktls_out(c, in_fd, bytes, err);
	if (ours(c))
		return mig_tls_record_pump_out(c, in_fd, bytes, err);
	for (;;) {
		struct iovec iov = { .iov_base = buf, .iov_len = len };
		ssize_t n = mig_tls_plain_readv(in_fd, &iov, 1, err);
		size_t off = 0;

		if (n < 0)
			return (int)n;
		if (n == 0)
			return send_close_notify(c, err);
		while (off < (size_t)n) {
			size_t w = 0;

			switch (ssl_io(c, true, (char *)buf + off, (size_t)n - off, &w, msg,
				       sizeof(msg))) {
			case IO_DONE:
				off += w;
				*bytes += w;
				break;
			case IO_WANT_READ:
			case IO_WANT_WRITE:
				r = mig_tls_wait_fd(c->fd, POLLOUT, -1);
				if (r < 0)
					return mig_error_set(err, r, "TLS pump: poll: %s",
							     strerror(-r));
				break;
			case IO_CLOSED:
			case IO_ERROR:
				return mig_error_set(err, -EPIPE, "TLS pump: %s",
						     msg[0] ? msg : "the peer closed");
			}
		}
	}
}

int mig_tls_write_all(struct mig_tls_conn *c, const void *buf, size_t len, int timeout_ms)
{
	double deadline = timeout_ms > 0 ? mig_now() + timeout_ms / 1000.0 : -1;
	int ssl_err, sys, r;

	if (ours(c))
		return mig_tls_record_write_all(c, buf, len, deadline);
	pthread_mutex_lock(&c->lock);
	r = mig_tls_step(c, STEP_WRITE, (void *)buf, len, deadline, &ssl_err, &sys);
	pthread_mutex_unlock(&c->lock);
	return r == -EIO ? -EPIPE : r;
}

int mig_tls_read_full(struct mig_tls_conn *c, void *buf, size_t len, int timeout_ms)
{
	double deadline = timeout_ms > 0 ? mig_now() + timeout_ms / 1000.0 : -1;
	int ssl_err = 0, sys, r;

	if (ours(c))
		return mig_tls_record_read_full(c, buf, len, deadline);
	pthread_mutex_lock(&c->lock);
	r = mig_tls_step(c, STEP_READ, buf, len, deadline, &ssl_err, &sys);
	pthread_mutex_unlock(&c->lock);
	if (r == -EIO)
		return ssl_err == SSL_ERROR_ZERO_RETURN ? -EPIPE : -EPROTO;
	return r;
}
