// Guava's Hashing throughput for bench/compare_checksum_peers.sh (Java 17, compiled at
// run time against /usr/share/java/guava.jar). ThingsBoard computes package checksums
// with these functions.
//
//   java -cp guava.jar:. GuavaChecksumBench SECONDS
// Output, one line per measurement: "guava_<function> <bytes> <GB/s>".
import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;
import java.util.Random;

public final class GuavaChecksumBench {
  private static volatile int sink;

  private static double measure(HashFunction f, byte[] data, int size, double seconds) {
    long iterations = 0;
    long start = System.nanoTime();
    long deadline = start + (long) (seconds * 1e9);
    long now;
    do {
      sink ^= f.hashBytes(data, 0, size).asInt();
      ++iterations;
      now = System.nanoTime();
    } while (now < deadline);
    return (double) iterations * size / ((now - start) / 1e9) / 1e9;
  }

  @SuppressWarnings("deprecation") // md5, sha256 and murmur3_32 are what ThingsBoard calls
  public static void main(String[] args) {
    double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 2.0;
    String[] names = {"crc32", "murmur3_32", "murmur3_128", "md5", "sha256", "sha384", "sha512"};
    HashFunction[] functions = {
      Hashing.crc32(), Hashing.murmur3_32_fixed(), Hashing.murmur3_128(), Hashing.md5(),
      Hashing.sha256(), Hashing.sha384(), Hashing.sha512(),
    };
    int[] sizes = {1 << 20, 64 << 20};
    byte[] data = new byte[sizes[1]];
    new Random(1).nextBytes(data);
    for (int s = 0; s < sizes.length; ++s) {
      for (int i = 0; i < functions.length; ++i) {
        measure(functions[i], data, sizes[s], Math.min(1.0, seconds)); // JIT warm-up
        double gbps = measure(functions[i], data, sizes[s], seconds);
        System.out.printf("guava_%s %d %.3f%n", names[i], sizes[s], gbps);
        System.out.flush();
      }
    }
  }
}
