package dev.swiftbox.harness;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.harness.Neo4j;
import org.neo4j.harness.Neo4jBuilders;

/**
 * Starts a real Neo4j Community DBMS for SwiftBox's tests.
 *
 * <p>Usage: {@code Main <work-dir> <bolt-port> <uri-file>}; the password for user
 * {@code neo4j} comes from the environment variable {@code SWIFTBOX_NEO4J_PASSWORD}
 * (never from the command line, which other users can read).
 *
 * <p>Bolt listens on 127.0.0.1 only, authentication is on, the HTTP server is off.
 * Once the DBMS is up and the password is set, the Bolt URI is written to
 * {@code uri-file} (atomically), which is what scripts/servers.sh waits for.
 * SIGTERM shuts the DBMS down cleanly.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Main <work-dir> <bolt-port> <uri-file>");
            System.exit(2);
        }
        Path workDir = Path.of(args[0]);
        int port = Integer.parseInt(args[1]);
        Path uriFile = Path.of(args[2]);
        String password = System.getenv("SWIFTBOX_NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("SWIFTBOX_NEO4J_PASSWORD must be set (at least 8 characters)");
            System.exit(2);
        }

        long started = System.nanoTime();
        Neo4j neo4j = Neo4jBuilders.newInProcessBuilder(workDir)
                .withDisabledServer()
                .withConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress("127.0.0.1"))
                .withConfig(BoltConnector.enabled, true)
                .withConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .withConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .withConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .withConfig(GraphDatabaseSettings.auth_enabled, true)
                .withConfig(GraphDatabaseSettings.pagecache_memory, 128L * 1024 * 1024)
                .withConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                // No usage reports to the outside world: tests talk to loopback only.
                .withConfig(GraphDatabaseSettings.udc_enabled, false)
                .withConfig(GraphDatabaseInternalSettings.udc_network_enabled, false)
                // Netty's graceful shutdown otherwise waits ~10 s for a quiet
                // period on every stop; the data is thrown away anyway.
                .withConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .withConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(3))
                .build();

        // The harness creates user neo4j with the default password, which must be
        // changed before first use. Set the known password through the system
        // database (embedded transactions run with full rights), so clients log in
        // with it straight away, exactly as against a configured server.
        neo4j.databaseManagementService()
                .database("system")
                .executeTransactionally(
                        "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                        Map.of("password", password));

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("swiftbox-neo4j-harness: shutting down");
            neo4j.close();
            stopped.countDown();
        }, "swiftbox-neo4j-harness-shutdown"));

        String uri = neo4j.boltURI().toString();
        writeAtomically(uriFile, uri + "\n");
        System.err.printf("swiftbox-neo4j-harness: Neo4j %s ready at %s in %d ms%n",
                org.neo4j.kernel.internal.Version.getNeo4jVersion(), uri,
                (System.nanoTime() - started) / 1_000_000);
        stopped.await();
    }

    private static void writeAtomically(Path target, String content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
