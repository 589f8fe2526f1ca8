/* libjpeg for Swift. libjpeg reports fatal errors by calling error_exit, whose default calls
   exit(); Swift cannot longjmp safely, so the whole decode and encode run here in C, with an
   error_exit that longjmps back to the caller's setjmp and returns an error code and message.
   Warnings are counted, not printed. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>
#include <jerror.h>

#define CJPEG_MESSAGE_MAX 200

enum {
    CJPEG_OK = 0,
    CJPEG_ERROR = 1,        /* libjpeg reported a fatal error; message says which */
    CJPEG_TOO_LARGE = 2,    /* the image needs more pixels than the caller allowed */
    CJPEG_BAD_BUFFER = 3    /* the output buffer does not match the image */
};

struct cjpeg_error {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    int truncated;          /* libjpeg hit the end of the data and padded the image */
    char message[JMSG_LENGTH_MAX];
};

static inline void cjpeg_error_exit(j_common_ptr cinfo) {
    struct cjpeg_error *e = (struct cjpeg_error *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

static inline void cjpeg_emit_message(j_common_ptr cinfo, int level) {
    struct cjpeg_error *e = (struct cjpeg_error *)cinfo->err;
    if (level < 0) {
        if (e->mgr.num_warnings == 0) (*cinfo->err->format_message)(cinfo, e->message);
        if (e->mgr.msg_code == JWRN_JPEG_EOF) e->truncated = 1;
        e->mgr.num_warnings++;
    }
}

static inline void cjpeg_copy_message(char *out, const char *in) {
    if (!out) return;
    strncpy(out, in, CJPEG_MESSAGE_MAX - 1);
    out[CJPEG_MESSAGE_MAX - 1] = 0;
}

static inline void cjpeg_init_error(struct cjpeg_error *e) {
    jpeg_std_error(&e->mgr);
    e->mgr.error_exit = cjpeg_error_exit;
    e->mgr.emit_message = cjpeg_emit_message;
    e->truncated = 0;
    e->message[0] = 0;
}

/* Decodes a JPEG held in memory. With out == NULL only the header is read and *width, *height
   are set. Otherwise the image is decoded as RGB (grayscale is expanded) into out, which must hold
   exactly width·height·3 bytes of the size a header-only call returned. max_pixels bounds
   width·height before anything is allocated. *warnings and *truncated report libjpeg's
   corrupt-data warnings (truncated: the data ended early and libjpeg padded the image). */
static inline int cjpeg_decode_rgb(const unsigned char *data, unsigned long size,
                                   unsigned char *out, unsigned long capacity, unsigned long max_pixels,
                                   int *width, int *height, int *warnings, int *truncated, char *message) {
    struct jpeg_decompress_struct cinfo;
    struct cjpeg_error err;
    memset(&cinfo, 0, sizeof cinfo);
    cjpeg_init_error(&err);
    cinfo.err = &err.mgr;
    if (setjmp(err.jump)) {
        cjpeg_copy_message(message, err.message);
        jpeg_destroy_decompress(&cinfo);
        return CJPEG_ERROR;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, size);
    jpeg_read_header(&cinfo, TRUE);
    *width = (int)cinfo.image_width;
    *height = (int)cinfo.image_height;
    if ((unsigned long)cinfo.image_width * (unsigned long)cinfo.image_height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return CJPEG_TOO_LARGE;
    }
    if (out == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return CJPEG_OK;
    }
    cinfo.out_color_space = JCS_RGB;
    jpeg_start_decompress(&cinfo);
    unsigned long row_bytes = (unsigned long)cinfo.output_width * 3;
    if (cinfo.output_components != 3 || row_bytes * cinfo.output_height != capacity) {
        jpeg_destroy_decompress(&cinfo);
        return CJPEG_BAD_BUFFER;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = out + (size_t)cinfo.output_scanline * row_bytes;
        if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;
    }
    jpeg_finish_decompress(&cinfo);
    *warnings = (int)err.mgr.num_warnings;
    *truncated = err.truncated;
    if (err.mgr.num_warnings > 0) cjpeg_copy_message(message, err.message);
    jpeg_destroy_decompress(&cinfo);
    return CJPEG_OK;
}

/* Encodes width·height RGB bytes as a baseline JPEG (4:2:0, quality 1–100). On success *out is a
   malloc'ed buffer of *out_size bytes that the caller frees with free(). */
static inline int cjpeg_encode_rgb(const unsigned char *rgb, int width, int height, int quality,
                                   unsigned char **out, unsigned long *out_size, char *message) {
    struct jpeg_compress_struct cinfo;
    struct cjpeg_error err;
    memset(&cinfo, 0, sizeof cinfo);
    cjpeg_init_error(&err);
    cinfo.err = &err.mgr;
    *out = NULL;
    *out_size = 0;
    if (setjmp(err.jump)) {
        cjpeg_copy_message(message, err.message);
        jpeg_destroy_compress(&cinfo);
        /* The destination may have moved its buffer without updating *out yet: not freed here. */
        *out = NULL;
        *out_size = 0;
        return CJPEG_ERROR;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, out, out_size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t row_bytes = (size_t)width * 3;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * row_bytes);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    return CJPEG_OK;
}
