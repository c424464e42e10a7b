/*
 * file_reader.h - private: the sequential plain-or-gzip file reader
 * (file_reader.c) that the datasets read from files use (dataset_idx.c,
 * dataset_csv.c).
 */
#ifndef GRAFT_FILE_READER_H
#define GRAFT_FILE_READER_H

#include "core/internal.h"

#include <stdint.h>
#include <stdio.h>

/* A read-only file that is plain or gzip-compressed (told by its first two
 * bytes), read sequentially. Decompression goes through zlib with the
 * context's allocator, and produces only what read calls ask for. */
typedef struct graftFileReader {
    graft_ctx *ctx;
    const char *func;      /* public function named in messages */
    const char *path;      /* borrowed */
    FILE *file;
    uint64_t file_size;    /* bytes on disk */
    int gzip;              /* 1: gzip-compressed */
    void *zs;              /* z_stream *, when gzip */
    unsigned char *in;     /* compressed input buffer, when gzip */
    int stream_end;        /* the current gzip member has ended (CRC checked) */
    int file_eof;          /* no more bytes on disk */
    unsigned char peek[2]; /* the first bytes, read to detect gzip */
    size_t peek_len, peek_pos;
} graftFileReader;

/* Opens path. Errors: GRAFT_E_IO (named file, system reason), GRAFT_E_NOMEM. */
int graftFileOpen(graftFileReader *r, graft_ctx *ctx, const char *func, const char *path);
/* Reads up to n bytes into buf; *got receives how many (fewer only at the
 * end of the data). Errors: GRAFT_E_IO, GRAFT_E_FORMAT (a damaged or
 * truncated gzip stream). */
int graftFileRead(graftFileReader *r, void *buf, size_t n, size_t *got);
/* Closes the file; accepts a reader that failed to open. */
void graftFileClose(graftFileReader *r);

#endif /* GRAFT_FILE_READER_H */
