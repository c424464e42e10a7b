/*
 * crc32.h - CRC-32 of the IEEE 802.3 polynomial, as zlib's crc32() computes
 * it (reflected polynomial 0xEDB88320, initial value and final XOR
 * 0xFFFFFFFF). Used by model_io.c to checksum the sections of model files.
 */
#ifndef GRAFT_CRC32_H
#define GRAFT_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* Continues the checksum crc (0 to start) over n bytes at data and returns
 * the new value, so graftCrc32(graftCrc32(0, a, na), b, nb) equals the
 * checksum of a followed by b. graftCrc32(0, "123456789", 9) is 0xCBF43926.
 * Reentrant. */
uint32_t graftCrc32(uint32_t crc, const void *data, size_t n);

#endif /* GRAFT_CRC32_H */
