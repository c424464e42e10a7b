/*
 * transfer.c - what makes a pretrained model a starting point: freezing and
 * unfreezing layers, learning-rate multipliers, scheduled unfreezing,
 * cutting the graph and replacing its head, model options, and loading
 * weights by name and shape with a report.
 *
 * The public layer of transfer learning: it uses the graph (model.c), model
 * files (model_io.c, to load weights by name) and the trainable flags and
 * unfreeze schedule (freeze.c), and nothing below calls into it.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_range(const graft_model *m, int first, int last, const char *func)
{
    GRAFT_RETURN_IF_AT(!m, NULL, GRAFT_E_INVALID_ARG, func, "model is NULL");
    GRAFT_RETURN_IF_AT(first < 0 || last < first || last >= m->n_nodes, m->ctx, GRAFT_E_RANGE,
                       func, "layer range [%d, %d] is not within the model's %d layers", first,
                       last, m->n_nodes);
    return GRAFT_OK;
}

static int check_flag(graft_ctx *ctx, int v, const char *what, const char *func)
{
    GRAFT_RETURN_IF_AT(v != 0 && v != 1, ctx, GRAFT_E_INVALID_ARG, func,
                       "%s is %d, must be 0 or 1", what, v);
    return GRAFT_OK;
}

GRAFT_API int graft_model_set_trainable(graft_model *m, int first, int last, int trainable)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_FORWARD_IF_ERROR(check_range(m, first, last, __func__));
    GRAFT_FORWARD_IF_ERROR(check_flag(m->ctx, trainable, "trainable", __func__));
    graftModelSetTrainableRange(m, first, last, trainable);
    return GRAFT_OK;
}

static int index_of(const graft_model *m, const char *name, const char *func)
{
    GRAFT_RETURN_IF_AT(!m || !name, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG, func,
                       "model and name must not be NULL");
    int i = graftModelFindNode(m, name);
    if (i >= 0) return i;
    return graftError(m->ctx, GRAFT_E_NOT_FOUND, func, "no layer named \"%s\"", name);
}

GRAFT_API int graft_model_set_trainable_by_name(graft_model *m, const char *name, int trainable)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, name, __func__);
    if (i < 0) return i;
    GRAFT_FORWARD_IF_ERROR(check_flag(m->ctx, trainable, "trainable", __func__));
    graftModelSetTrainableRange(m, i, i, trainable);
    return GRAFT_OK;
}

GRAFT_API int graft_model_freeze_through(graft_model *m, const char *name)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, name, __func__);
    if (i < 0) return i;
    graftModelSetTrainableRange(m, 0, i, 0);
    if (i + 1 < m->n_nodes) graftModelSetTrainableRange(m, i + 1, m->n_nodes - 1, 1);
    return GRAFT_OK;
}

GRAFT_API int graft_model_freeze_all_but_last(graft_model *m, int n)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    GRAFT_RETURN_IF(n < 0 || n > m->n_nodes, m->ctx, GRAFT_E_RANGE,
                    "n is %d, must be 0 to %d (the layers)", n, m->n_nodes);
    int split = m->n_nodes - n;
    if (split > 0) graftModelSetTrainableRange(m, 0, split - 1, 0);
    if (n > 0) graftModelSetTrainableRange(m, split, m->n_nodes - 1, 1);
    return GRAFT_OK;
}

GRAFT_API int graft_model_set_lr_scale(graft_model *m, int first, int last, float scale)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_FORWARD_IF_ERROR(check_range(m, first, last, __func__));
    GRAFT_RETURN_IF(!(scale >= 0.0f) || !isfinite(scale), m->ctx, GRAFT_E_RANGE,
                    "scale is %g, must be finite and >= 0", (double)scale);
    for (int i = first; i <= last; i++) m->nodes[i].lr_scale = scale;
    return GRAFT_OK;
}

GRAFT_API float graft_model_layer_lr_scale(const graft_model *m, int i)
{
    return m && i >= 0 && i < m->n_nodes ? m->nodes[i].lr_scale : NAN;
}

/* ---- options ---------------------------------------------------------------- */

GRAFT_API int graft_model_set_option(graft_model *m, int key, int64_t value)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    switch (key) {
    case GRAFT_MODEL_FROZEN_BN_TRAINS:
        GRAFT_RETURN_IF(value != 0 && value != 1, m->ctx, GRAFT_E_RANGE,
                        "GRAFT_MODEL_FROZEN_BN_TRAINS takes 0 or 1, not %lld", (long long)value);
        m->frozen_bn_trains = (int)value;
        m->training = -1;
        return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE:
        GRAFT_RETURN_IF(value != 0 && value != 1, m->ctx, GRAFT_E_RANGE,
                        "GRAFT_MODEL_FEATURE_CACHE takes 0 or 1, not %lld", (long long)value);
        m->feature_cache = (int)value;
        return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE_MB:
        GRAFT_RETURN_IF(value < 0 || value > ((int64_t)1 << 30), m->ctx, GRAFT_E_RANGE,
                        "GRAFT_MODEL_FEATURE_CACHE_MB takes 0 to 2^30, not %lld",
                        (long long)value);
        m->feature_cache_mb = value;
        return GRAFT_OK;
    default:
        return graftError(m->ctx, GRAFT_E_NOT_FOUND, __func__, "unknown option key %d", key);
    }
}

GRAFT_API int graft_model_get_option(const graft_model *m, int key, int64_t *value)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m || !value, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and value must not be NULL");
    switch (key) {
    case GRAFT_MODEL_FROZEN_BN_TRAINS: *value = m->frozen_bn_trains; return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE: *value = m->feature_cache; return GRAFT_OK;
    case GRAFT_MODEL_FEATURE_CACHE_MB: *value = m->feature_cache_mb; return GRAFT_OK;
    default:
        return graftError(m->ctx, GRAFT_E_NOT_FOUND, __func__, "unknown option key %d", key);
    }
}

/* ---- scheduled unfreezing --------------------------------------------------------- */

GRAFT_API int graft_model_schedule_unfreeze(graft_model *m, const char *from, int epoch,
                                            float lr_scale)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, from, __func__);
    if (i < 0) return i;
    GRAFT_RETURN_IF(epoch < 0, m->ctx, GRAFT_E_RANGE, "epoch is %d, must be >= 0", epoch);
    GRAFT_RETURN_IF(!(lr_scale >= 0.0f) || !isfinite(lr_scale), m->ctx, GRAFT_E_RANGE,
                    "lr_scale is %g, must be finite and >= 0", (double)lr_scale);
    return graftModelAddUnfreeze(m, from, epoch, lr_scale, __func__);
}

GRAFT_API int graft_model_clear_unfreeze_schedule(graft_model *m)
{
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    graftModelClearUnfreeze(m);
    return GRAFT_OK;
}

/* ---- surgery ---------------------------------------------------------------------- */

/* Keeps the nodes keep[i] != 0 (a set closed under "is read by a kept node"),
 * renumbering inputs, freeing the others. */
static void keep_nodes(graft_model *m, const unsigned char *keep, int *map)
{
    int n = 0;
    for (int i = 0; i < m->n_nodes; i++) {
        graftNode *node = &m->nodes[i];
        if (!keep[i]) {
            graft_layer_free(node->layer);
            graftFree(m->ctx, node->name);
            graftFree(m->ctx, node->inputs);
            continue;
        }
        map[i] = n;
        m->nodes[n++] = *node;
    }
    for (int i = 0; i < n; i++) {
        graftNode *node = &m->nodes[i];
        node->consumers = 0;
        for (int k = 0; k < node->n_inputs; k++)
            if (node->inputs[k] != GRAFT_INPUT_NODE) node->inputs[k] = map[node->inputs[k]];
    }
    for (int i = 0; i < n; i++)
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            if (m->nodes[i].inputs[k] != GRAFT_INPUT_NODE) m->nodes[m->nodes[i].inputs[k]].consumers++;
    m->n_nodes = n;
    m->training = -1;
    if (m->n_classes_named && m->n_classes_named != graftModelOutputSize(m))
        graftModelSetClassNames(m, 0, NULL, NULL);
}

/* Keeps node last and every node it reads, directly or not. */
static int cut_after(graft_model *m, int last, const char *func)
{
    unsigned char *keep = graftCalloc(m->ctx, (size_t)m->n_nodes, 1);
    int *map = graftCalloc(m->ctx, (size_t)m->n_nodes, sizeof *map);
    if (!keep || !map) {
        graftFree(m->ctx, keep);
        graftFree(m->ctx, map);
        return graftError(m->ctx, GRAFT_E_NOMEM, func, "cannot allocate the cut");
    }
    keep[last] = 1;
    for (int i = last; i >= 0; i--) {
        if (!keep[i]) continue;
        for (int k = 0; k < m->nodes[i].n_inputs; k++)
            if (m->nodes[i].inputs[k] != GRAFT_INPUT_NODE) keep[m->nodes[i].inputs[k]] = 1;
    }
    keep_nodes(m, keep, map);
    graftFree(m->ctx, keep);
    graftFree(m->ctx, map);
    return GRAFT_OK;
}

GRAFT_API int graft_model_cut(graft_model *m, const char *name)
{
    graftClearError(m ? m->ctx : NULL);
    int i = index_of(m, name, __func__);
    if (i < 0) return i;
    return cut_after(m, i, __func__);
}

GRAFT_API int graft_model_replace_head(graft_model *m, int n_classes, const graft_head_spec *spec)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    GRAFT_RETURN_IF(!m, NULL, GRAFT_E_INVALID_ARG, "model is NULL");
    graft_head_spec hs = GRAFT_HEAD_SPEC_INIT;
    if (spec) {
        GRAFT_RETURN_IF(spec->struct_size != sizeof hs, m->ctx, GRAFT_E_VERSION,
                        "spec->struct_size is %u, expected %u (use GRAFT_HEAD_SPEC_INIT)",
                        (unsigned)spec->struct_size, (unsigned)sizeof hs);
        hs = *spec;
    }
    GRAFT_RETURN_IF(n_classes < 1, m->ctx, GRAFT_E_INVALID_ARG, "n_classes is %d, must be >= 1",
                    n_classes);
    GRAFT_RETURN_IF(hs.hidden_units < 0, m->ctx, GRAFT_E_INVALID_ARG,
                    "hidden_units is %d, must be >= 0", hs.hidden_units);
    GRAFT_RETURN_IF(!(hs.dropout >= 0.0f && hs.dropout < 1.0f), m->ctx, GRAFT_E_INVALID_ARG,
                    "dropout is %g, must be in [0, 1)", (double)hs.dropout);
    GRAFT_RETURN_IF(m->n_nodes == 0, m->ctx, GRAFT_E_STATE, "the model has no layers");
    if (hs.class_names) {
        for (int c = 0; c < n_classes; c++) {
            size_t len = hs.class_names[c] ? strlen(hs.class_names[c]) : 0;
            GRAFT_RETURN_IF(len < 1 || len > GRAFT_CLASS_NAME_MAX, m->ctx, GRAFT_E_INVALID_ARG,
                            "class_names[%d] must be 1 to %d bytes", c, GRAFT_CLASS_NAME_MAX);
        }
    }
    /* The old head: a trailing softmax, then the dense layer before it. */
    int last = m->n_nodes - 1;
    if (m->nodes[last].layer->vtbl == &graftSoftmaxVtbl && last > 0) last--;
    if (m->nodes[last].layer->vtbl == &graftDenseVtbl) {
        /* Remove the dense head and, if it was made by an earlier
         * replace_head, the rest of that head ("head/..." layers). */
        int keep = last;
        do {
            if (m->nodes[keep].n_inputs != 1 || m->nodes[keep].inputs[0] == GRAFT_INPUT_NODE)
                return graftError(m->ctx, GRAFT_E_STATE, func,
                                  "the head \"%s\" reads the model input: nothing would remain",
                                  m->nodes[keep].name);
            keep = m->nodes[keep].inputs[0];
        } while (strncmp(m->nodes[keep].name, "head/", 5) == 0);
        GRAFT_FORWARD_IF_ERROR(cut_after(m, keep, func));
    } else if (last != m->n_nodes - 1) {
        GRAFT_FORWARD_IF_ERROR(cut_after(m, last, func));
    }

    /* The new layers, built with seeds drawn from hs.seed. */
    graftRng rng;
    graftRngSeed(&rng, hs.seed);
    uint64_t saved_seed = m->seed;
    graft_layer *l = NULL;
    int st = GRAFT_OK;
    if (hs.hidden_units > 0) {
        m->seed = graftRngNext(&rng);
        st = graft_layer_dense(m->ctx, hs.hidden_units, 1, &l);
        if (st == GRAFT_OK) st = graft_model_add(m, "head/hidden", l, 0, NULL);
        if (st == GRAFT_OK) st = graft_layer_relu(m->ctx, &l);
        if (st == GRAFT_OK) st = graft_model_add(m, "head/relu", l, 0, NULL);
    }
    if (st == GRAFT_OK && hs.dropout > 0.0f) {
        st = graft_layer_dropout(m->ctx, hs.dropout, graftRngNext(&rng), &l);
        if (st == GRAFT_OK) st = graft_model_add(m, "head/dropout", l, 0, NULL);
    }
    if (st == GRAFT_OK) {
        m->seed = graftRngNext(&rng);
        st = graft_layer_dense(m->ctx, n_classes, 1, &l);
        if (st == GRAFT_OK) st = graft_model_add(m, "head/fc", l, 0, NULL);
    }
    m->seed = saved_seed;
    if (st != GRAFT_OK) return st;
    if (hs.class_names) return graftModelSetClassNames(m, n_classes, hs.class_names, func);
    return graftModelSetClassNames(m, 0, NULL, func);
}

/* ---- loading weights by name -------------------------------------------------------- */

typedef struct report_entry {
    char *name;   /* "layer/param" */
    int status;
    char detail[160];
} report_entry;

struct graft_load_report {
    graft_ctx *ctx;
    int n, cap;
    report_entry *entries;
};

GRAFT_API void graft_load_report_free(graft_load_report *r)
{
    if (!r) return;
    for (int i = 0; i < r->n; i++) graftFree(r->ctx, r->entries[i].name);
    graftFree(r->ctx, r->entries);
    graftFree(r->ctx, r);
}

static int report_add(graft_load_report *r, const char *layer, const char *param, int status,
                      const char *detail)
{
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 32;
        report_entry *e = graftCalloc(r->ctx, (size_t)cap, sizeof *e);
        if (!e) return GRAFT_E_NOMEM;
        if (r->n) memcpy(e, r->entries, (size_t)r->n * sizeof *e);
        graftFree(r->ctx, r->entries);
        r->entries = e;
        r->cap = cap;
    }
    size_t len = strlen(layer) + strlen(param) + 2;
    char *name = graftAlloc(r->ctx, len);
    if (!name) return GRAFT_E_NOMEM;
    snprintf(name, len, "%s/%s", layer, param);
    report_entry *e = &r->entries[r->n++];
    e->name = name;
    e->status = status;
    snprintf(e->detail, sizeof e->detail, "%s", detail);
    return GRAFT_OK;
}

static void shape_text(const graft_tensor *t, char *buf, size_t size)
{
    graftShapeString(t->ndim, t->dims, buf, size);
}

/* Copies every tensor of src into dst where layer name, parameter name and
 * shape agree; records every decision in r. */
static int match_weights(graft_model *dst, graft_model *src, graft_load_report *r)
{
    unsigned char *used = graftCalloc(dst->ctx, (size_t)src->n_nodes * GRAFT_LAYER_MAX_PARAMS + 1, 1);
    if (!used) return GRAFT_E_NOMEM;
    int st = GRAFT_OK;
    for (int i = 0; i < dst->n_nodes && st == GRAFT_OK; i++) {
        graft_layer *l = dst->nodes[i].layer;
        int j = -1;
        for (int s = 0; s < src->n_nodes && j < 0; s++)
            if (strcmp(src->nodes[s].name, dst->nodes[i].name) == 0) j = s;
        for (int k = 0; k < l->n_params && st == GRAFT_OK; k++) {
            graftParam *p = &l->params[k];
            graftParam *q = NULL;
            int qk = -1;
            if (j >= 0 && src->nodes[j].layer->vtbl == l->vtbl)
                for (int t = 0; t < src->nodes[j].layer->n_params; t++)
                    if (strcmp(src->nodes[j].layer->params[t].name, p->name) == 0) {
                        q = &src->nodes[j].layer->params[t];
                        qk = t;
                    }
            char detail[160], a[64], b[64];
            if (!q) {
                snprintf(detail, sizeof detail, j < 0 ? "no layer of that name in the file"
                                                      : "the file's layer of that name is a %s",
                         j < 0 ? "" : src->nodes[j].layer->vtbl->kind);
                st = report_add(r, dst->nodes[i].name, p->name, GRAFT_WEIGHT_NOT_IN_FILE, detail);
                continue;
            }
            used[(size_t)j * GRAFT_LAYER_MAX_PARAMS + qk] = 1;
            if (!graftTensorSameShape(p->value, q->value)) {
                shape_text(q->value, a, sizeof a);
                shape_text(p->value, b, sizeof b);
                snprintf(detail, sizeof detail, "shape %s in the file, %s in the model", a, b);
                st = report_add(r, dst->nodes[i].name, p->name, GRAFT_WEIGHT_SHAPE_MISMATCH,
                                detail);
                continue;
            }
            memcpy(p->value->data, q->value->data, p->value->numel * sizeof(float));
            shape_text(p->value, a, sizeof a);
            snprintf(detail, sizeof detail, "shape %s", a);
            st = report_add(r, dst->nodes[i].name, p->name, GRAFT_WEIGHT_LOADED, detail);
        }
    }
    for (int s = 0; s < src->n_nodes && st == GRAFT_OK; s++)
        for (int t = 0; t < src->nodes[s].layer->n_params && st == GRAFT_OK; t++)
            if (!used[(size_t)s * GRAFT_LAYER_MAX_PARAMS + t])
                st = report_add(r, src->nodes[s].name, src->nodes[s].layer->params[t].name,
                                GRAFT_WEIGHT_NOT_IN_MODEL, "no place for it in the model");
    graftFree(dst->ctx, used);
    return st;
}

GRAFT_API int graft_model_load_weights(graft_model *m, const char *path, graft_load_report **out)
{
    const char *func = __func__;
    graftClearError(m ? m->ctx : NULL);
    if (out) *out = NULL;
    GRAFT_RETURN_IF(!m || !path, m ? m->ctx : NULL, GRAFT_E_INVALID_ARG,
                    "model and path must not be NULL");
    graft_model *src = NULL;
    GRAFT_FORWARD_IF_ERROR(graft_model_load(m->ctx, path, &src));
    graft_load_report *r = graftCalloc(m->ctx, 1, sizeof *r);
    int st = r ? GRAFT_OK : GRAFT_E_NOMEM;
    if (r) {
        r->ctx = m->ctx;
        st = match_weights(m, src, r);
    }
    graft_model_free(src);
    if (st != GRAFT_OK) {
        graft_load_report_free(r);
        return graftError(m->ctx, st, func, "cannot allocate the load report");
    }
    if (out) *out = r;
    else graft_load_report_free(r);
    return GRAFT_OK;
}

GRAFT_API int graft_load_report_count(const graft_load_report *r, int status)
{
    if (!r) return 0;
    if (status < 0) return r->n;
    int n = 0;
    for (int i = 0; i < r->n; i++) n += r->entries[i].status == status;
    return n;
}

GRAFT_API int graft_load_report_entry(const graft_load_report *r, int i, const char **name,
                                      int *status, const char **detail)
{
    graftClearError(r ? r->ctx : NULL);
    GRAFT_RETURN_IF(!r, NULL, GRAFT_E_INVALID_ARG, "report is NULL");
    GRAFT_RETURN_IF(i < 0 || i >= r->n, r->ctx, GRAFT_E_RANGE,
                    "entry %d out of range: the report has %d", i, r->n);
    if (name) *name = r->entries[i].name;
    if (status) *status = r->entries[i].status;
    if (detail) *detail = r->entries[i].detail;
    return GRAFT_OK;
}
