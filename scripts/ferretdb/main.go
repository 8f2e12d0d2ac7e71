// Command swiftbox-ferretdb runs FerretDB (a MongoDB wire-protocol server) on
// its SQLite backend (the default) or its PostgreSQL one (-handler postgresql
// -postgresql-url postgres://...) for SwiftBox's tests. It embeds the public
// github.com/FerretDB/FerretDB/ferretdb package instead of building FerretDB's
// own cmd/ferretdb, whose v1.24.2 module build panics at start for want of the
// generated build/version/version.txt.
//
// It listens on the given TCP address (127.0.0.1 only, port 0 picks a free
// port), keeps its data in the given directory, writes the MongoDB URI to
// -uri-file (atomically) once the listener is up, and stops on SIGTERM/SIGINT.
// Built and run by scripts/servers.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (loopback only)")
	dataDir := flag.String("data-dir", "", "directory for the SQLite databases (required with -handler sqlite)")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	pgURL := flag.String("postgresql-url", "", "PostgreSQL URL (required with -handler postgresql)")
	uriFile := flag.String("uri-file", "", "file to write the MongoDB URI to once listening (required)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	flag.Parse()

	if err := run(*listen, *dataDir, *uriFile, *logLevel, *handler, *pgURL); err != nil {
		fmt.Fprintf(os.Stderr, "swiftbox-ferretdb: %v\n", err)
		os.Exit(1)
	}
}

func run(listen, dataDir, uriFile, logLevel, handler, pgURL string) error {
	if uriFile == "" {
		return fmt.Errorf("-uri-file is required")
	}
	switch {
	case handler == "sqlite" && dataDir == "":
		return fmt.Errorf("-data-dir is required with -handler sqlite")
	case handler == "postgresql" && pgURL == "":
		return fmt.Errorf("-postgresql-url is required with -handler postgresql")
	case handler != "sqlite" && handler != "postgresql":
		return fmt.Errorf("bad -handler %q: sqlite or postgresql", handler)
	}

	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("bad -listen %q: %w", listen, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %q: only loopback addresses are allowed", listen)
	}

	var level slog.Level
	if err = level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", logLevel, err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	config := ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: listen},
		Logger:        logger,
		Handler:       handler,
		PostgreSQLURL: pgURL,
	}
	where := "postgresql"
	if handler == "sqlite" {
		absData, err := filepath.Abs(dataDir)
		if err != nil {
			return err
		}
		if err = os.MkdirAll(absData, 0o700); err != nil {
			return err
		}
		config.SQLiteURL = "file:" + absData + "/"
		where = "sqlite data in " + absData
	}

	f, err := ferretdb.New(&config)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI blocks until the listener is bound.
	uri := f.MongoDBURI()
	tmp := uriFile + ".tmp"
	if err = os.WriteFile(tmp, []byte(uri+"\n"), 0o600); err != nil {
		return err
	}
	if err = os.Rename(tmp, uriFile); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "swiftbox-ferretdb: FerretDB ready at %s (%s)\n", uri, where)

	err = <-done
	fmt.Fprintln(os.Stderr, "swiftbox-ferretdb: stopped")
	return err
}
