/*
 * registry.c - the registry of layer kinds, expanded from the one list in
 * kinds.h, and what needs it: finding a kind by index or by name,
 * loading a layer saved under its kind's name, and copying a layer (through
 * its saved form). Above every kind's file and
 * layer.c, so that nothing there depends on the list.
 */
#include "layer.h"

#include <string.h>

static const graftLayerVtbl *const kind_registry[] = {
#define GRAFT_LAYER_KIND(ENUM, name, vtable) [GRAFT_KIND_##ENUM] = &vtable,
#include "kinds.h"
#undef GRAFT_LAYER_KIND
};
_Static_assert(sizeof kind_registry / sizeof kind_registry[0] == GRAFT_LAYER_KIND_COUNT,
               "every layer kind needs an entry in kind_registry");

const graftLayerVtbl *graftLayerKindAt(int index)
{
    return index >= 0 && index < GRAFT_LAYER_KIND_COUNT ? kind_registry[index] : NULL;
}


const graftLayerVtbl *graftLayerKindByName(const char *name)
{
    for (int i = 0; i < GRAFT_LAYER_KIND_COUNT; i++)
        if (strcmp(kind_registry[i]->kind, name) == 0) return kind_registry[i];
    return NULL;
}

int graftLayerLoad(graft_ctx *ctx, graftReader *r, graft_layer **out)
{
    char *kind = NULL;
    uint32_t version;
    graft_layer *l = NULL;
    *out = NULL;
    GRAFT_FORWARD_IF_ERROR(graftReadString(r, &kind, GRAFT_LAYER_MAX_NAME, "layer kind"));
    const graftLayerVtbl *v = graftLayerKindByName(kind);
    if (!v) {
        int st = graftError(ctx, GRAFT_E_FORMAT, "graft_load", "unknown layer kind \"%s\"", kind);
        graftFree(ctx, kind);
        return st;
    }
    graftFree(ctx, kind);
    GRAFT_FORWARD_IF_ERROR(graftReadU32(r, &version, "layer version"));
    if (version == 0)
        return graftError(ctx, GRAFT_E_FORMAT, "graft_load",
                          "%s layer version 0 is not valid (versions start at 1)", v->kind);
    if (version > v->version)
        return graftError(ctx, GRAFT_E_VERSION, "graft_load",
                          "%s layer version %u; this graft reads versions 1 to %u", v->kind,
                          version, v->version);
    GRAFT_FORWARD_IF_ERROR(graftLayerNew(ctx, v, "graft_load", &l));
    int st = v->load ? v->load(l, r, version) : GRAFT_OK;
    if (st == GRAFT_OK) st = graftLayerLoadBody(l, r);
    if (st != GRAFT_OK) {
        graft_layer_free(l);
        return st;
    }
    *out = l;
    return GRAFT_OK;
}

int graftLayerCopy(const graft_layer *src, int share, const char *func, graft_layer **out)
{
    graft_ctx *ctx = src->ctx;
    const graftLayerVtbl *v = src->vtbl;
    graft_layer *l = NULL;
    graftWriter w;
    graftReader r;
    *out = NULL;
    graftWriterInit(&w, ctx);
    /* the attributes (and, for a full copy, the build and the parameters)
     * travel as in a model file, so the copy is what loading would give */
    int st = share ? (v->save ? v->save(src, &w) : GRAFT_OK) : graftLayerSave(src, &w);
    if (st == GRAFT_OK) st = w.status;
    if (st != GRAFT_OK) goto done;
    graftReaderInit(&r, ctx, w.data, w.size);
    if (!share) {
        st = graftLayerLoad(ctx, &r, &l);
        goto done;
    }
    st = graftLayerNew(ctx, v, func, &l);
    if (st == GRAFT_OK && v->load)
        st = v->load(l, &r, v->save_version ? v->save_version(src) : v->version);
    if (st == GRAFT_OK && src->built) st = graftLayerBuildShared(l, src, func);

done:
    graftWriterDispose(&w);
    if (st != GRAFT_OK) {
        graft_layer_free(l);
        return graftErrorAt(ctx, st, func);
    }
    *out = l;
    return GRAFT_OK;
}
