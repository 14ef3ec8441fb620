/* Bump arena; see arena.h.
 *
 * Blocks are chained newest-first. A step that outgrows the current block
 * chains a bigger one (the old block stays valid: its pointers are still in
 * use); reset then replaces the chain by one block of the high-water size, so
 * a loop whose steps are alike allocates only during its first step. */
#include "autodiff/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64

struct elbo_arena_block {
    elbo_arena_block *prev; /* older block, or NULL */
    size_t cap;             /* usable bytes after the header */
    size_t used;            /* bytes handed out from this block */
    /* the header is padded to ARENA_ALIGN; data follows */
};

/* Header size rounded up so data starts 64-byte aligned. */
#define BLOCK_HEADER (((sizeof(elbo_arena_block) + ARENA_ALIGN - 1) / ARENA_ALIGN) * ARENA_ALIGN)

static size_t round_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

static unsigned char *block_data(elbo_arena_block *b) { return (unsigned char *)b + BLOCK_HEADER; }

static elbo_arena_block *block_new(size_t cap, elbo_arena_block *prev)
{
    cap = round_up(cap);
    if (cap > SIZE_MAX - BLOCK_HEADER)
        return NULL;
    elbo_arena_block *b = aligned_alloc(ARENA_ALIGN, BLOCK_HEADER + cap);
    if (!b)
        return NULL;
    b->prev = prev;
    b->cap = cap;
    b->used = 0;
    return b;
}

static void chain_free(elbo_arena_block *b)
{
    while (b) {
        elbo_arena_block *prev = b->prev;
        free(b);
        b = prev;
    }
}

elbo_status elbo_arena_init(elbo_arena *a, size_t initial_bytes)
{
    a->used_total = 0;
    a->high_water = 0;
    a->head = block_new(initial_bytes ? initial_bytes : 4096, NULL);
    if (!a->head)
        return elbo_fail(ELBO_ERR_NOMEM, "arena init: could not allocate %zu bytes", initial_bytes);
    return ELBO_OK;
}

void *elbo_arena_alloc(elbo_arena *a, size_t bytes)
{
    size_t n = round_up(bytes ? bytes : 1);
    if (n < bytes)
        return NULL; /* overflow */
    elbo_arena_block *b = a->head;
    if (!b || b->cap - b->used < n) {
        /* Grow geometrically so a big first step chains only a few blocks. */
        size_t cap = b ? 2 * b->cap : 4096;
        if (cap < n)
            cap = n;
        b = block_new(cap, a->head);
        if (!b)
            return NULL;
        a->head = b;
    }
    void *p = block_data(b) + b->used;
    b->used += n;
    a->used_total += n;
    if (a->used_total > a->high_water)
        a->high_water = a->used_total;
    return p;
}

void *elbo_arena_calloc(elbo_arena *a, size_t bytes)
{
    void *p = elbo_arena_alloc(a, bytes);
    if (p)
        memset(p, 0, bytes);
    return p;
}

void elbo_arena_reset(elbo_arena *a)
{
    a->used_total = 0;
    if (a->head && a->head->prev) {
        /* Merge: one block big enough for the largest step so far. Should the
         * allocation fail, keep the newest (largest) block and drop the rest. */
        elbo_arena_block *merged = block_new(a->high_water, NULL);
        if (merged) {
            chain_free(a->head);
            a->head = merged;
        } else {
            chain_free(a->head->prev);
            a->head->prev = NULL;
        }
    }
    if (a->head)
        a->head->used = 0;
}

void elbo_arena_free(elbo_arena *a)
{
    chain_free(a->head);
    a->head = NULL;
    a->used_total = 0;
    a->high_water = 0;
}

size_t elbo_arena_capacity(const elbo_arena *a)
{
    size_t cap = 0;
    for (const elbo_arena_block *b = a->head; b; b = b->prev)
        cap += b->cap;
    return cap;
}

int elbo_arena_blocks(const elbo_arena *a)
{
    int n = 0;
    for (const elbo_arena_block *b = a->head; b; b = b->prev)
        n++;
    return n;
}
