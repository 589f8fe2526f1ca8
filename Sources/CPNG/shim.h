/* PNG for Swift through libpng's simplified API (png_image): decode any PNG to 8-bit RGB, encode
   8-bit RGB. Errors come back as libpng's message. */
#include <png.h>
#include <stdlib.h>
#include <string.h>

/* Reads the header: 0 and *width/*height, or -1 with the message. */
static inline int cpng_size(const unsigned char *data, size_t size, int *width, int *height, char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    *width = (int)image.width;
    *height = (int)image.height;
    png_image_free(&image);
    return 0;
}

/* Decodes to RGB into `rgb` (width·height·3 bytes, from cpng_size). */
static inline int cpng_decode_rgb(const unsigned char *data, size_t size, unsigned char *rgb, size_t rgb_size, char *message,
                                  size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    image.format = PNG_FORMAT_RGB;
    if (PNG_IMAGE_SIZE(image) != rgb_size) {
        snprintf(message, message_size, "unexpected image size");
        png_image_free(&image);
        return -1;
    }
    png_color background = {0, 0, 0};
    if (!png_image_finish_read(&image, &background, rgb, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    return 0;
}

/* Encodes RGB; *out is malloc'd (free with free()), *out_size its length. */
static inline int cpng_encode_rgb(const unsigned char *rgb, int width, int height, unsigned char **out, size_t *out_size,
                                  char *message, size_t message_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    image.width = (png_uint_32)width;
    image.height = (png_uint_32)height;
    image.format = PNG_FORMAT_RGB;
    png_alloc_size_t size = 0;
    if (!png_image_write_to_memory(&image, NULL, &size, 0, rgb, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        return -1;
    }
    *out = malloc(size);
    if (!*out) {
        snprintf(message, message_size, "out of memory");
        return -1;
    }
    if (!png_image_write_to_memory(&image, *out, &size, 0, rgb, 0, NULL)) {
        snprintf(message, message_size, "%s", image.message);
        free(*out);
        return -1;
    }
    *out_size = size;
    return 0;
}
