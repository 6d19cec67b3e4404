package dev.kgreason.neo4j;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.QueryExecutionException;
import org.neo4j.io.ByteUnit;

/**
 * Runs Neo4j Community in this JVM with only the Bolt connector open, on a loopback address.
 *
 * <p>Usage: {@code EmbeddedNeo4j --data DIR [--port 7687] [--host 127.0.0.1] [--pagecache 512m]}.
 * The password of the {@code neo4j} user comes from the environment variable
 * {@code NEO4J_PASSWORD} so that it never shows in a process listing. {@code LOAD CSV} reads
 * {@code file:///NAME} from {@code DIR/import/NAME} and cannot reach other files.
 *
 * <p>Readiness: once Bolt accepts connections the launcher writes {@code DIR/ready} (its content is
 * the Bolt URI) and prints {@code READY bolt://HOST:PORT}. On SIGTERM or SIGINT the JVM runs the
 * shutdown hook, which deletes the ready file and shuts the database down cleanly.
 */
public final class EmbeddedNeo4j {

    private EmbeddedNeo4j() {}

    public static void main(String[] args) throws Exception {
        Map<String, String> options = parseOptions(args);
        Path dataDir = Path.of(require(options, "data")).toAbsolutePath();
        String host = options.getOrDefault("host", "127.0.0.1");
        int port = Integer.parseInt(options.getOrDefault("port", "7687"));
        long pageCacheBytes = ByteUnit.parse(options.getOrDefault("pagecache", "512m"));
        String password = System.getenv("NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            fail("NEO4J_PASSWORD must be set to a password of at least 8 characters");
        }

        Files.createDirectories(dataDir.resolve("import"));
        Path readyFile = dataDir.resolve("ready");
        Files.deleteIfExists(readyFile);

        DatabaseManagementService service = new DatabaseManagementServiceBuilder(dataDir)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, pageCacheBytes)
                .setConfig(GraphDatabaseSettings.shutdown_transaction_end_timeout, Duration.ofSeconds(10))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress(host, port))
                .setConfig(HttpConnector.enabled, false)
                // LOAD CSV resolves file:/// URLs below DIR/import, so it cannot read other files on the host.
                .setConfig(GraphDatabaseSettings.load_csv_file_url_root, dataDir.resolve("import"))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                Files.deleteIfExists(readyFile);
            } catch (IOException ignored) {
                // The ready file is advisory; a stale one is replaced at the next start.
            }
            System.out.println("STOPPING");
            service.shutdown();
            System.out.println("STOPPED");
            stopped.countDown();
        }, "neo4j-shutdown"));

        setPassword(service, password);

        String uri = "bolt://" + host + ":" + port;
        Path tmp = dataDir.resolve("ready.tmp");
        Files.writeString(tmp, uri + "\n", StandardCharsets.UTF_8);
        Files.move(tmp, readyFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        System.out.println("READY " + uri);
        System.out.flush();

        stopped.await();
    }

    /**
     * Sets the neo4j user's password, without the forced change a fresh database asks for.
     * Neo4j rejects setting the password it already has; that case is the normal restart.
     */
    private static void setPassword(DatabaseManagementService service, String password) {
        try {
            service.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME).executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (QueryExecutionException e) {
            if (e.getMessage() == null || !e.getMessage().contains("cannot be the same")) {
                throw e;
            }
        }
    }

    private static Map<String, String> parseOptions(String[] args) {
        Map<String, String> options = new java.util.HashMap<>();
        for (int i = 0; i < args.length; i++) {
            String arg = args[i];
            if (!arg.startsWith("--") || i + 1 >= args.length) {
                fail("invalid argument '" + arg + "'; expected --data DIR [--host H] [--port P] [--pagecache SIZE]");
            }
            options.put(arg.substring(2), args[++i]);
        }
        return options;
    }

    private static String require(Map<String, String> options, String name) {
        String value = options.get(name);
        if (value == null) {
            fail("missing required option --" + name);
        }
        return value;
    }

    private static void fail(String message) {
        System.err.println("embedded-neo4j: " + message);
        System.exit(2);
    }
}
