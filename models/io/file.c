#include "models/io/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Suffix of temp files; the XXXXXX is filled in by mkstemp. */
#define TMP_SUFFIX ".tmp.XXXXXX"
/* Written files are readable by everyone, like fopen would create them under the usual umask. */
#define FILE_MODE 0644
#define DIR_MODE 0777

/* Fault injection budget in bytes; negative means unlimited. */
static long long write_budget = -1;

void elbo_io_set_write_limit(long long bytes) { __atomic_store_n(&write_budget, bytes, __ATOMIC_SEQ_CST); }

/* Take n bytes from the budget; false when the simulated disk is full. */
static int budget_take(size_t n)
{
    long long b = __atomic_load_n(&write_budget, __ATOMIC_SEQ_CST);
    if (b < 0)
        return 1;
    if ((unsigned long long)b < n) {
        __atomic_store_n(&write_budget, 0, __ATOMIC_SEQ_CST);
        return 0;
    }
    __atomic_store_n(&write_budget, b - (long long)n, __ATOMIC_SEQ_CST);
    return 1;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void afile_release(elbo_afile *a)
{
    if (a->f)
        fclose(a->f);
    if (a->tmp)
        unlink(a->tmp);
    free(a->tmp);
    free(a->path);
    a->f = NULL;
    a->tmp = NULL;
    a->path = NULL;
}

elbo_status elbo_afile_open(elbo_afile *a, const char *path)
{
    memset(a, 0, sizeof *a);
    if (!path || !*path)
        return a->status = elbo_fail(ELBO_ERR_INVALID, "atomic write: empty path");
    size_t n = strlen(path);
    a->path = dup_str(path);
    char *tmp = malloc(n + sizeof TMP_SUFFIX);
    if (!a->path || !tmp) {
        free(tmp); /* never named a file: must not be unlinked */
        afile_release(a);
        return a->status = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(tmp, n + sizeof TMP_SUFFIX, "%s" TMP_SUFFIX, path);
    a->tmp = tmp;
    int fd = mkstemp(a->tmp);
    if (fd < 0) {
        int e = errno;
        free(a->tmp);
        a->tmp = NULL; /* nothing was created */
        afile_release(a);
        return a->status = elbo_fail(ELBO_ERR_IO, "%s: cannot create temp file: %s", path, strerror(e));
    }
    (void)fchmod(fd, FILE_MODE);
    a->f = fdopen(fd, "wb");
    if (!a->f) {
        int e = errno;
        close(fd);
        afile_release(a);
        return a->status = elbo_fail(ELBO_ERR_IO, "%s: fdopen: %s", path, strerror(e));
    }
    return a->status = ELBO_OK;
}

elbo_status elbo_afile_write(elbo_afile *a, const void *data, size_t n)
{
    if (a->status != ELBO_OK)
        return a->status;
    if (!a->f)
        return a->status = elbo_fail(ELBO_ERR_INVALID, "atomic write: file not open");
    if (n == 0)
        return ELBO_OK;
    if (!budget_take(n))
        return a->status = elbo_fail(ELBO_ERR_IO, "%s: write: %s (write limit)", a->path, strerror(ENOSPC));
    if (fwrite(data, 1, n, a->f) != n)
        return a->status = elbo_fail(ELBO_ERR_IO, "%s: write: %s", a->path, strerror(errno));
    return ELBO_OK;
}

elbo_status elbo_afile_vprintf(elbo_afile *a, const char *fmt, va_list ap)
{
    if (a->status != ELBO_OK)
        return a->status;
    char small[512];
    va_list ap2;
    va_copy(ap2, ap);
    int len = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (len < 0)
        return a->status = elbo_fail(ELBO_ERR_INVALID, "%s: bad format", a->path ? a->path : "?");
    if ((size_t)len < sizeof small)
        return elbo_afile_write(a, small, (size_t)len);
    char *big = malloc((size_t)len + 1);
    if (!big)
        return a->status = elbo_fail(ELBO_ERR_NOMEM, "%s: out of memory", a->path);
    vsnprintf(big, (size_t)len + 1, fmt, ap);
    elbo_status st = elbo_afile_write(a, big, (size_t)len);
    free(big);
    return st;
}

elbo_status elbo_afile_printf(elbo_afile *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    elbo_status st = elbo_afile_vprintf(a, fmt, ap);
    va_end(ap);
    return st;
}

/* fsync the directory holding path so the rename itself is durable. */
static void sync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash) {
        strcpy(dir, ".");
    } else {
        size_t n = (size_t)(slash - path);
        if (n == 0)
            n = 1; /* "/file" lives in "/" */
        if (n >= sizeof dir)
            return;
        memcpy(dir, path, n);
        dir[n] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd); /* best effort: some filesystems refuse fsync on directories */
        close(fd);
    }
}

elbo_status elbo_afile_commit(elbo_afile *a)
{
    elbo_status st = a->status;
    if (st == ELBO_OK && !a->f)
        st = elbo_fail(ELBO_ERR_INVALID, "atomic write: file not open");
    if (st == ELBO_OK && fflush(a->f) != 0)
        st = elbo_fail(ELBO_ERR_IO, "%s: flush: %s", a->path, strerror(errno));
    if (st == ELBO_OK && fsync(fileno(a->f)) != 0)
        st = elbo_fail(ELBO_ERR_IO, "%s: fsync: %s", a->path, strerror(errno));
    if (a->f) {
        int rc = fclose(a->f);
        a->f = NULL;
        if (st == ELBO_OK && rc != 0)
            st = elbo_fail(ELBO_ERR_IO, "%s: close: %s", a->path, strerror(errno));
    }
    if (st == ELBO_OK) {
        if (rename(a->tmp, a->path) != 0) {
            st = elbo_fail(ELBO_ERR_IO, "%s: rename from temp file: %s", a->path, strerror(errno));
        } else {
            free(a->tmp);
            a->tmp = NULL; /* now the real file: must not be unlinked */
            sync_parent(a->path);
        }
    }
    afile_release(a);
    a->status = st;
    return st;
}

void elbo_afile_abort(elbo_afile *a) { afile_release(a); }

elbo_status elbo_write_file_atomic(const char *path, const void *data, size_t n)
{
    elbo_afile a;
    elbo_status st = elbo_afile_open(&a, path);
    if (st != ELBO_OK)
        return st;
    elbo_afile_write(&a, data, n);
    return elbo_afile_commit(&a);
}

elbo_status elbo_open_regular(const char *path, int *fd_out, uint64_t *size)
{
    *fd_out = -1;
    *size = 0;
    /* O_NONBLOCK: opening a FIFO (or a device) must not wait for a writer;
     * such files are refused below, and O_NONBLOCK is cleared for the read. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return elbo_fail(ELBO_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return elbo_fail(ELBO_ERR_IO, "%s: stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        close(fd);
        return elbo_fail(ELBO_ERR_IO, "%s: expected a file, got a directory", path);
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return elbo_fail(ELBO_ERR_IO, "%s: expected a regular file, got a special file", path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        int e = errno;
        close(fd);
        return elbo_fail(ELBO_ERR_IO, "%s: fcntl: %s", path, strerror(e));
    }
    *fd_out = fd;
    *size = (uint64_t)sb.st_size;
    return ELBO_OK;
}

elbo_status elbo_read_file(const char *path, size_t max_bytes, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (max_bytes == 0)
        max_bytes = ELBO_IO_MAX_FILE_BYTES;
    int fd;
    uint64_t file_size;
    elbo_status st = elbo_open_regular(path, &fd, &file_size);
    if (st != ELBO_OK)
        return st;
    if (file_size > max_bytes) {
        close(fd);
        return elbo_fail(ELBO_ERR_FORMAT, "%s: file too large: expected at most %zu bytes, got %llu", path,
                         max_bytes, (unsigned long long)file_size);
    }
    size_t size = (size_t)file_size;
    uint8_t *buf = malloc(size + 1);
    if (!buf) {
        close(fd);
        return elbo_fail(ELBO_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, size + 1);
    }
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(buf);
            close(fd);
            return elbo_fail(ELBO_ERR_IO, "%s: read: %s", path, strerror(e));
        }
        if (r == 0)
            break; /* shrank while reading: parse what is there, the format checks will object */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = 0;
    *out = buf;
    *n = got;
    return ELBO_OK;
}

elbo_status elbo_mkdir_p(const char *path)
{
    if (!path || !*path)
        return elbo_fail(ELBO_ERR_INVALID, "mkdir: empty path");
    size_t n = strlen(path);
    if (n >= PATH_MAX)
        return elbo_fail(ELBO_ERR_INVALID, "%s: path too long", path);
    char buf[PATH_MAX];
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, DIR_MODE) != 0) {
            int e = errno;
            struct stat sb;
            if (e != EEXIST)
                return elbo_fail(ELBO_ERR_IO, "%s: cannot create directory '%s': %s", path, buf, strerror(e));
            if (stat(buf, &sb) != 0 || !S_ISDIR(sb.st_mode))
                return elbo_fail(ELBO_ERR_IO, "%s: expected a directory at '%s', got a file", path, buf);
        }
        buf[i] = saved;
    }
    return ELBO_OK;
}
