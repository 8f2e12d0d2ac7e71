// Command swiftbox-ferretdb runs FerretDB (a MongoDB wire-protocol server) on
// its SQLite backend for SwiftBox's tests. It embeds the public
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
	dataDir := flag.String("data-dir", "", "directory for the SQLite databases (required)")
	uriFile := flag.String("uri-file", "", "file to write the MongoDB URI to once listening (required)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	flag.Parse()

	if err := run(*listen, *dataDir, *uriFile, *logLevel); err != nil {
		fmt.Fprintf(os.Stderr, "swiftbox-ferretdb: %v\n", err)
		os.Exit(1)
	}
}

func run(listen, dataDir, uriFile, logLevel string) error {
	if dataDir == "" || uriFile == "" {
		return fmt.Errorf("-data-dir and -uri-file are required")
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

	absData, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err = os.MkdirAll(absData, 0o700); err != nil {
		return err
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + absData + "/",
	})
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
	fmt.Fprintf(os.Stderr, "swiftbox-ferretdb: FerretDB ready at %s (sqlite data in %s)\n", uri, absData)

	err = <-done
	fmt.Fprintln(os.Stderr, "swiftbox-ferretdb: stopped")
	return err
}
