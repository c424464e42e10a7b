/*
 * protobuf.c - writing protocol buffer fields (see protobuf.h).
 */
#include "protobuf.h"

#include <string.h>

static size_t varint_bytes(uint64_t v, unsigned char *buf)
{
    size_t n = 0;
    do {
        unsigned char b = (unsigned char)(v & 0x7f);
        v >>= 7;
        buf[n++] = (unsigned char)(b | (v ? 0x80 : 0));
    } while (v);
    return n;
}

void graftPbWriteVarint(graftWriter *w, uint64_t v)
{
    unsigned char buf[10];
    graftWriteBytes(w, buf, varint_bytes(v, buf));
}

void graftPbWriteTag(graftWriter *w, uint32_t field, int wire)
{
    graftPbWriteVarint(w, (uint64_t)field << 3 | (uint64_t)wire);
}

void graftPbWriteInt(graftWriter *w, uint32_t field, int64_t v)
{
    graftPbWriteTag(w, field, PB_VARINT);
    graftPbWriteVarint(w, (uint64_t)v);
}

void graftPbWriteFloat(graftWriter *w, uint32_t field, float v)
{
    graftPbWriteTag(w, field, PB_FIXED32);
    graftWriteF32(w, v);
}

void graftPbWriteBytes(graftWriter *w, uint32_t field, const void *p, size_t n)
{
    graftPbWriteTag(w, field, PB_LEN);
    graftPbWriteVarint(w, n);
    graftWriteBytes(w, p, n);
}

void graftPbWriteString(graftWriter *w, uint32_t field, const char *s)
{
    graftPbWriteBytes(w, field, s, strlen(s));
}

size_t graftPbBeginMessage(graftWriter *w, uint32_t field)
{
    graftPbWriteTag(w, field, PB_LEN);
    return w->size;
}

void graftPbEndMessage(graftWriter *w, size_t start)
{
    if (w->status != GRAFT_OK) return;
    size_t len = w->size - start;
    unsigned char buf[10];
    size_t n = varint_bytes(len, buf);
    graftWriteBytes(w, buf, n); /* grows the buffer by n bytes */
    if (w->status != GRAFT_OK) return;
    memmove(w->data + start + n, w->data + start, len);
    memcpy(w->data + start, buf, n);
}
