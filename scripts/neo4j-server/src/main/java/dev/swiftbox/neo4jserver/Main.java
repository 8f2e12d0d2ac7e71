package dev.swiftbox.neo4jserver;

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
import org.neo4j.configuration.connectors.HttpConnector;
import org.neo4j.configuration.connectors.HttpsConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;
import org.neo4j.logging.Level;
import org.neo4j.logging.log4j.Log4jLogProvider;

/**
 * Runs a real Neo4j Community DBMS with a persistent store for SwiftBox's tests.
 *
 * <p>Usage: {@code Main [--train] <home-dir> <bolt-port> <uri-file>}; the password for
 * user {@code neo4j} comes from the environment variable {@code SWIFTBOX_NEO4J_PASSWORD}
 * (never from the command line, which other users can read).
 *
 * <p>{@code --train} is for scripts/servers.sh's install step: once the DBMS is up it
 * runs a few statements of the kinds SwiftBox sends (schema, {@code MERGE}, reads,
 * deletes) through the embedded API, shuts down and exits, so a JVM started with
 * {@code -XX:ArchiveClassesAtExit} archives the classes a start-up and a first query
 * load (application class-data sharing, which makes every later start faster).
 *
 * <p>The DBMS is the embedded one of {@code org.neo4j:neo4j}: its home, with the
 * store ({@code data/databases}), the transaction logs ({@code data/transactions})
 * and the system database (users, passwords), is {@code home-dir}, and stays there.
 * Started again on the same {@code home-dir}, it opens the same store; after a
 * crash (SIGKILL, power loss) Neo4j recovers it from the transaction logs first.
 *
 * <p>Bolt listens on 127.0.0.1 only, authentication is on, HTTP is off. The
 * password is set only while the system database is new (user {@code neo4j} still
 * has its initial password and must change it); on a store that has one already, it
 * is left alone, so a restart keeps the password a client already has. Once the DBMS
 * is up, the Bolt URI is written to {@code uri-file} (atomically), which is what
 * scripts/servers.sh waits for. SIGTERM shuts the DBMS down cleanly (a checkpoint, so
 * the next start needs no recovery).
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) throws Exception {
        boolean train = args.length == 4 && args[0].equals("--train");
        if (args.length != 3 && !train) {
            System.err.println("usage: Main [--train] <home-dir> <bolt-port> <uri-file>");
            System.exit(2);
        }
        int at = train ? 1 : 0;
        Path home = Path.of(args[at]).toAbsolutePath();
        int port = Integer.parseInt(args[at + 1]);
        Path uriFile = Path.of(args[at + 2]);
        String password = System.getenv("SWIFTBOX_NEO4J_PASSWORD");
        if (password == null || password.length() < 8) {
            System.err.println("SWIFTBOX_NEO4J_PASSWORD must be set (at least 8 characters)");
            System.exit(2);
        }

        long started = System.nanoTime();
        boolean existing = Files.isDirectory(home.resolve("data/databases/system"));
        DatabaseManagementServiceBuilder builder = new DatabaseManagementServiceBuilder(home);
        // Extra settings in neo4j.conf's format, for experiments; the settings below
        // come after them and win (loopback, authentication, ...). Neo4j validates
        // names and values strictly, so a misspelt one stops the start with its message.
        String conf = System.getenv("SWIFTBOX_NEO4J_CONF");
        if (conf != null && !conf.isEmpty()) {
            System.err.println("swiftbox-neo4j-server: settings from " + conf);
            builder.loadPropertiesFromFile(Path.of(conf));
        }
        DatabaseManagementService dbms = builder
                // Neo4j's user log (start-up, recovery, shutdown) to stderr, which
                // servers.sh keeps in neo4j.log; the debug log is home/logs/debug.log.
                .setUserLogProvider(new Log4jLogProvider(System.err, Level.INFO))
                .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress("127.0.0.1"))
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.advertised_address, new SocketAddress("127.0.0.1", port))
                .setConfig(BoltConnector.encryption_level, BoltConnector.EncryptionLevel.DISABLED)
                .setConfig(HttpConnector.enabled, false)
                .setConfig(HttpsConnector.enabled, false)
                .setConfig(GraphDatabaseSettings.auth_enabled, true)
                .setConfig(GraphDatabaseSettings.pagecache_memory, 128L * 1024 * 1024)
                // Transaction logs are kept (recovery after a crash replays them from
                // the last checkpoint), bounded by size so a long-lived test store does
                // not grow without end; files are not preallocated (start-up, disk).
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "512M size")
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                // No usage reports to the outside world: tests talk to loopback only.
                .setConfig(GraphDatabaseSettings.udc_enabled, false)
                .setConfig(GraphDatabaseInternalSettings.udc_network_enabled, false)
                // Netty's graceful shutdown otherwise waits ~10 s for a quiet
                // period on every stop.
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(3))
                .build();

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.err.println("swiftbox-neo4j-server: shutting down");
            dbms.shutdown();
            System.err.println("swiftbox-neo4j-server: shut down cleanly");
            stopped.countDown();
        }, "swiftbox-neo4j-server-shutdown"));

        boolean passwordSet = setInitialPassword(dbms.database(GraphDatabaseSettings.SYSTEM_DATABASE_NAME), password);

        if (train) {
            train(dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME));
            System.err.println("swiftbox-neo4j-server: training run done");
            System.exit(0); // runs the shutdown hook; the JVM then writes its class archive
        }

        String uri = "bolt://127.0.0.1:" + port;
        writeAtomically(uriFile, uri + "\n");
        System.err.printf("swiftbox-neo4j-server: Neo4j %s (%s store in %s%s) ready at %s in %d ms%n",
                org.neo4j.kernel.internal.Version.getNeo4jVersion(),
                existing ? "existing" : "new", home,
                passwordSet ? ", password set" : ", password kept",
                uri, (System.nanoTime() - started) / 1_000_000);
        stopped.await();
    }

    /**
     * Sets the password of user {@code neo4j} when the system database is new, and
     * says whether it did. A new system database has user {@code neo4j} with the
     * initial password, flagged as to be changed; any later start finds the flag
     * cleared by the first one and leaves the password alone. (A crash between the
     * system database's creation and this change leaves the flag set, so the next
     * start sets the password then.)
     */
    private static boolean setInitialPassword(GraphDatabaseService system, String password) {
        boolean fresh = system.executeTransactionally(
                "SHOW USERS YIELD user, passwordChangeRequired "
                        + "WHERE user = 'neo4j' RETURN passwordChangeRequired",
                Map.of(),
                result -> result.hasNext() && Boolean.TRUE.equals(result.next().get("passwordChangeRequired")));
        if (fresh) {
            // Embedded transactions run with full rights, so no login is needed.
            system.executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        }
        return fresh;
    }

    /** Statements of the shapes SwiftBox's graph store runs, to load their classes. */
    private static void train(GraphDatabaseService db) {
        db.executeTransactionally(
                "CREATE CONSTRAINT train_id IF NOT EXISTS FOR (n:Train) REQUIRE n.id IS UNIQUE");
        db.executeTransactionally("CALL db.awaitIndexes(60)");
        for (int round = 0; round < 3; round++) {
            db.executeTransactionally(
                    "UNWIND $rows AS row CALL (row) { MERGE (n:Train {id: row.id}) "
                            + "ON CREATE SET n.v = row.v SET n.v = CASE WHEN n.v < row.v THEN row.v ELSE n.v END } "
                            + "WITH count(*) AS c MATCH (a:Train {id: 1}), (b:Train {id: 2}) "
                            + "MERGE (a)-[r:LINK {k: 'x'}]->(b) ON CREATE SET r.n = 1 ON MATCH SET r.n = r.n + 1 "
                            + "RETURN c",
                    Map.of("rows", java.util.List.of(Map.of("id", 1L, "v", 1L), Map.of("id", 2L, "v", 2L))));
            db.executeTransactionally(
                    "MATCH (a:Train)-[r:LINK]->(b:Train) WHERE a.id = $id "
                            + "RETURN b.id AS id, sum(r.n) AS n ORDER BY n DESC LIMIT 10",
                    Map.of("id", 1L),
                    result -> result.stream().count());
        }
        db.executeTransactionally("MATCH (n:Train) DETACH DELETE n");
        db.executeTransactionally("DROP CONSTRAINT train_id IF EXISTS");
    }

    private static void writeAtomically(Path target, String content) throws IOException {
        Path tmp = target.resolveSibling(target.getFileName() + ".tmp");
        Files.writeString(tmp, content, StandardCharsets.UTF_8);
        Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
    }
}
