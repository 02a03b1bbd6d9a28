// Command edgate runs the gateway: edgate -config edgate.yaml
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/gateway"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "edgate: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("edgate", flag.ContinueOnError)
	// Usage and flag errors are printed here, not by the flag package: -h prints the usage
	// to stdout and succeeds; a bad flag prints it to stderr and fails.
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "edgate.yaml", "path of the YAML configuration file")
	watch := fs.Duration("watch", 2*time.Second, "reload when the config or a schema file changes, checking this often (0: only on SIGHUP)")
	printSchema := fs.Bool("print-schema", false, "print the schema clients see (what introspection returns) as SDL and exit")
	version := fs.Bool("version", false, "print the version and exit")
	healthcheck := fs.Bool("healthcheck", false, "check /health/ready of the gateway the config describes (on this host) and exit 0 if it is ready, 1 otherwise: for a container's HEALTHCHECK in an image without curl")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stdout)
			return nil
		}
		usage(fs, stderr)
		return err
	}
	if fs.NArg() > 0 {
		usage(fs, stderr)
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *version {
		_, err := fmt.Fprintln(stdout, versionString())
		return err
	}
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	if *healthcheck {
		return checkReady(cfg)
	}
	if *printSchema {
		sdl, err := gateway.ClientSchema(cfg)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, sdl+"\n")
		return err
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	started := time.Now()
	gw, err := gateway.New(context.Background(), cfg, log)
	if err != nil {
		return err
	}
	log.Info().Str("url", gw.URL()).Dur("startup", time.Since(started)).Msg("edgate is ready")
	// Composition runs a JavaScript VM that is garbage once start-up is over; hand its
	// memory back now rather than whenever the heap next grows (two cycles: the composer
	// keeps its VM in a sync.Pool, which survives one).
	go func() {
		runtime.GC()
		runtime.GC()
		debug.FreeOSMemory()
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- gw.Serve() }()

	// SIGHUP and (with -watch) file changes reload the schema without dropping valid
	// subscriptions; a failed reload keeps the running configuration.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	reloadCtx, stopReload := context.WithCancel(ctx)
	defer stopReload()
	go func() {
		for {
			select {
			case <-reloadCtx.Done():
				return
			case <-hup:
				if _, err := gw.Reload(reloadCtx); err != nil {
					log.Error().Err(err).Msg("reload failed; the running configuration is kept")
				}
			}
		}
	}()
	if *watch > 0 {
		go gw.Watch(reloadCtx, *watch)
	}

	select {
	case err := <-serveErr:
		_ = gw.Shutdown(context.Background())
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		return nil
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	err = gw.Shutdown(sctx)
	if serr := <-serveErr; serr != nil && !errors.Is(serr, context.Canceled) {
		err = errors.Join(err, serr)
	}
	return err
}

// checkReady asks the gateway that cfg describes, on this host, whether it is ready.
func checkReady(cfg *config.Config) error {
	host, port, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: listen_addr %q: %w", cfg.ListenAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	scheme := "http"
	client := &http.Client{Timeout: 3 * time.Second}
	if cfg.TLS != nil {
		// The certificate names the service, not 127.0.0.1; this only asks our own process.
		scheme = "https"
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // local readiness probe
	}
	resp, err := client.Get(scheme + "://" + net.JoinHostPort(host, port) + "/health/ready")
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /health/ready answered %s", resp.Status)
	}
	return nil
}

func usage(fs *flag.FlagSet, w io.Writer) {
	fmt.Fprint(w, `edgate is an event-driven GraphQL subscription gateway for federated graphs.

Usage:
  edgate [-config edgate.yaml] [-watch 2s]   serve the gateway
  edgate -print-schema [-config edgate.yaml] print the client schema and exit
  edgate -version                            print the version and exit
  edgate -healthcheck [-config edgate.yaml]  exit 0 if the local gateway is ready

Flags:
`)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	fmt.Fprint(w, `
Environment:
  EDGATE_PPROF=host:port   serve net/http/pprof there (for profiling; unset: off)

Configuration reference: config/REFERENCE.md in the edgate repository.
`)
}

// versionString describes this binary from its build information: the module version
// (a release tag, or "(devel)" for a build from a checkout), the VCS revision and time
// when the build recorded them, and the Go version.
func versionString() string {
	version, detail := "(unknown)", []string{runtime.Version(), runtime.GOOS + "/" + runtime.GOARCH}
	if info, ok := debug.ReadBuildInfo(); ok {
		version = info.Main.Version
		var rev, when, modified string
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			detail = append(detail, "commit "+rev+modified)
		}
		if when != "" {
			detail = append(detail, when)
		}
	}
	return "edgate " + version + " (" + strings.Join(detail, ", ") + ")"
}

func newLogger(c config.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log level %q: %w", c.Level, err)
	}
	if c.Format == config.LogConsole {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(level).With().Timestamp().Logger(), nil
}
