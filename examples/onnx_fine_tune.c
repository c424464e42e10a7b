/*
 * onnx_fine_tune.c - fine-tune an ONNX image classifier on a folder of photos.
 *
 *   onnx_fine_tune MODEL.onnx PHOTOS/ OUT.graft [EPOCHS]
 *
 * PHOTOS/ holds one folder per class (PHOTOS/cat/, PHOTOS/dog/, ...) of JPEG or PNG files.
 * The model's classifier (its last dense layer) is replaced by one for those
 * classes, everything else is frozen (its features are computed once and
 * cached), the new head is trained with a fifth of the photos held out, and
 * the result is saved with the class names. Images are resized and
 * normalised as torchvision's ImageNet models expect; see docs/IMAGENET.md
 * for getting such a model.
 *
 * make test runs it on a small ONNX network and generated images:
 * test run: @ROOT@/tests/data/onnx/vgg_style.onnx @PHOTOS@ photos.graft 3
 */
#include <graft.h>

#include <stdio.h>
#include <stdlib.h>

static int fail(graft_ctx *ctx, const char *what)
{
    fprintf(stderr, "%s: %s\n", what, graft_errmsg(ctx));
    return 1;
}

static int report(void *user, const graft_progress *p)
{
    (void)user;
    if (graft_progress_get(p, GRAFT_PROGRESS_EVENT) == GRAFT_EVENT_EPOCH_END)
        printf("epoch %.0f: loss %.3f, accuracy %.3f, validation accuracy %.3f (%.0f images/s)\n",
               graft_progress_get(p, GRAFT_PROGRESS_EPOCH), graft_progress_get(p, GRAFT_PROGRESS_LOSS),
               graft_progress_get(p, GRAFT_PROGRESS_ACCURACY),
               graft_progress_get(p, GRAFT_PROGRESS_VAL_ACCURACY),
               graft_progress_get(p, GRAFT_PROGRESS_IMAGES_PER_SEC));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL.onnx PHOTOS/ OUT.graft [EPOCHS]\n", argv[0]);
        return 2;
    }
    graft_ctx *ctx;
    graft_model *m;
    graft_dataset *all, *train, *val;
    graft_optim *o;
    if (graft_ctx_create(&ctx) != GRAFT_OK) return 1;
    if (graft_onnx_import(ctx, argv[1], NULL, &m) != GRAFT_OK) return fail(ctx, argv[1]);

    /* The photos, sized for the model's input, ImageNet-normalised. */
    int ndim;
    int64_t in[GRAFT_MAX_DIMS];
    graft_model_layer_output_shape(m, -1, &ndim, in);
    graft_folder_opts fo = GRAFT_FOLDER_OPTS_INIT;
    fo.channels = (int)in[0];
    fo.height = (int)in[1];
    fo.width = (int)in[2];
    fo.normalize = GRAFT_FOLDER_NORM_IMAGENET;
    if (graft_dataset_from_folder(ctx, argv[2], &fo, &all) != GRAFT_OK) return fail(ctx, argv[2]);
    if (graft_dataset_split(all, 0.2, 1, &train, &val) != GRAFT_OK) return fail(ctx, "split");
    int classes = graft_dataset_class_count(all);
    const char **names = malloc((size_t)classes * sizeof *names);
    for (int c = 0; c < classes; c++) names[c] = graft_dataset_class_name(all, c);
    printf("%lld photos in %d classes\n", (long long)graft_dataset_size(all), classes);

    /* New head, frozen trunk. */
    graft_head_spec head = GRAFT_HEAD_SPEC_INIT;
    head.class_names = names;
    if (graft_model_replace_head(m, classes, &head) != GRAFT_OK) return fail(ctx, "new head");
    if (graft_model_freeze_all_but_last(m, 1) != GRAFT_OK) return fail(ctx, "freeze");

    if (graft_optim_create(ctx, GRAFT_OPTIM_ADAM, &o) != GRAFT_OK) return fail(ctx, "optimizer");
    graft_fit_opts fit = GRAFT_FIT_OPTS_INIT;
    fit.epochs = argc > 4 ? atoi(argv[4]) : 10;
    fit.batch_size = 16;
    fit.progress = report;
    if (graft_model_fit(m, o, train, val, &fit) != GRAFT_OK) return fail(ctx, "training");
    if (graft_model_save(m, argv[3]) != GRAFT_OK) return fail(ctx, argv[3]);
    printf("saved %s\n", argv[3]);

    free(names);
    graft_optim_free(o);
    graft_dataset_free(train);
    graft_dataset_free(val);
    graft_dataset_free(all);
    graft_model_free(m);
    graft_ctx_free(ctx);
    return 0;
}
