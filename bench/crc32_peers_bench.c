/* CRC32 peers for bench/compare_checksum_peers.sh: zlib's crc32_z and ISA-L's
 * crc32_gzip_refl over the same buffers our checksum_bench uses (1 MiB, 64 MiB).
 *
 * ISA-L's crc32_gzip_refl(init, buf, len) is the gzip / zlib CRC-32 (reflected
 * 0xEDB88320) with the pre- and post-inversion inside, exactly like zlib's
 * crc32(init, buf, len): crc32_gzip_refl(0, buf, len) == crc32(0, buf, len), and it
 * chains the same way. This program checks both facts before it times anything and
 * fails if they do not hold.
 *
 * Output, one line per measurement: "<peer> <bytes> <GB/s>".
 */
#include <isa-l/crc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

static double Now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint32_t Zlib(uint32_t crc, const unsigned char* p, size_t n) {
  return (uint32_t)crc32_z(crc, p, n);
}

static uint32_t Isal(uint32_t crc, const unsigned char* p, size_t n) {
  return crc32_gzip_refl(crc, p, n);
}

/* Runs `fn` over `size` bytes repeatedly for about `seconds`; returns GB/s. */
static double Measure(uint32_t (*fn)(uint32_t, const unsigned char*, size_t),
                      const unsigned char* buf, size_t size, double seconds) {
  volatile uint32_t sink = 0;
  for (int i = 0; i < 3; ++i) sink ^= fn(0, buf, size); /* warm caches */
  size_t iterations = 0;
  const double start = Now();
  double elapsed;
  do {
    sink ^= fn(0, buf, size);
    ++iterations;
    elapsed = Now() - start;
  } while (elapsed < seconds);
  (void)sink;
  return (double)iterations * (double)size / elapsed / 1e9;
}

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  const size_t sizes[] = {(size_t)1 << 20, (size_t)64 << 20};
  unsigned char* buf = malloc(sizes[1]);
  if (buf == NULL) return 1;
  uint64_t x = 88172645463325252ull;
  for (size_t i = 0; i < sizes[1]; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    buf[i] = (unsigned char)x;
  }

  /* ISA-L and zlib agree, including on a continued CRC. */
  for (size_t n = 0; n < 5000; n += 37) {
    const uint32_t z = Zlib(0, buf, n);
    const uint32_t i = Isal(0, buf, n);
    if (z != i || Zlib(z, buf + n, 1000) != Isal(i, buf + n, 1000)) {
      fprintf(stderr, "crc32_gzip_refl differs from zlib at n=%zu: %08x vs %08x\n", n, i, z);
      return 1;
    }
  }
  printf("# crc32_gzip_refl(0, buf, len) == zlib crc32(0, buf, len): yes\n");

  for (int s = 0; s < 2; ++s) {
    printf("zlib_crc32 %zu %.3f\n", sizes[s], Measure(Zlib, buf, sizes[s], seconds));
    printf("isal_crc32_gzip_refl %zu %.3f\n", sizes[s], Measure(Isal, buf, sizes[s], seconds));
    fflush(stdout);
  }
  free(buf);
  return 0;
}
