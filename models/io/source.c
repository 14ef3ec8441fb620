#include "models/io/source.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "models/io/file.h"

elbo_status elbo_source_open(elbo_source *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->name = path;
    elbo_status st = elbo_open_regular(path, &s->fd, &s->size);
    s->owns_fd = st == ELBO_OK;
    return st;
}

void elbo_source_memory(elbo_source *s, const char *name, const uint8_t *p, size_t n)
{
    memset(s, 0, sizeof *s);
    s->fd = -1;
    s->name = name;
    s->mem = p;
    s->size = n;
}

elbo_status elbo_source_window(elbo_source *s, const elbo_source *parent, uint64_t off, uint64_t n, const char *name)
{
    if (off > parent->size || n > parent->size - off)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: %s needs bytes %llu..%llu, the file has %llu", parent->name,
                         name, (unsigned long long)off, (unsigned long long)(off + n),
                         (unsigned long long)parent->size);
    *s = *parent;
    s->owns_fd = 0;
    s->name = name ? name : parent->name;
    s->base = parent->base + off;
    s->size = n;
    return ELBO_OK;
}

elbo_status elbo_source_read(const elbo_source *s, uint64_t off, void *dst, size_t n, const char *what)
{
    if (off > s->size || n > s->size - off)
        return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated: %s needs bytes %llu..%llu, got %llu", s->name, what,
                         (unsigned long long)off, (unsigned long long)(off + n), (unsigned long long)s->size);
    if (s->mem) {
        memcpy(dst, s->mem + s->base + off, n);
        return ELBO_OK;
    }
    uint8_t *p = dst;
    uint64_t at = s->base + off;
    while (n > 0) {
        ssize_t r = pread(s->fd, p, n, (off_t)at);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return elbo_fail(ELBO_ERR_IO, "%s: read: %s", s->name, strerror(errno));
        if (r == 0)
            return elbo_fail(ELBO_ERR_FORMAT, "%s: truncated while reading %s (the file shrank)", s->name, what);
        p += r;
        at += (uint64_t)r;
        n -= (size_t)r;
    }
    return ELBO_OK;
}

void elbo_source_close(elbo_source *s)
{
    if (s->owns_fd && s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->owns_fd = 0;
}
