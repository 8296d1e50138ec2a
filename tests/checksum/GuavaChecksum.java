// Prints Guava's checksums of each file, as ThingsBoard computes them
// (com.google.common.hash.Hashing, HashCode.toString()): one line per file,
// "<file> md5 sha256 sha384 sha512 crc32 murmur3_32 murmur3_128".
// Compiled and run by compare_tools.py against /usr/share/java/guava.jar.
import com.google.common.hash.HashFunction;
import com.google.common.hash.Hashing;
import java.nio.file.Files;
import java.nio.file.Paths;

public final class GuavaChecksum {
  @SuppressWarnings("deprecation") // md5, sha256 and murmur3_32 are what ThingsBoard calls
  public static void main(String[] args) throws Exception {
    HashFunction[] functions = {
      Hashing.md5(), Hashing.sha256(), Hashing.sha384(), Hashing.sha512(),
      Hashing.crc32(), Hashing.murmur3_32(), Hashing.murmur3_128(),
    };
    for (String file : args) {
      byte[] data = Files.readAllBytes(Paths.get(file));
      StringBuilder line = new StringBuilder(file);
      for (HashFunction f : functions) line.append(' ').append(f.hashBytes(data).toString());
      System.out.println(line);
    }
  }
}
