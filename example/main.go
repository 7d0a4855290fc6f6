// Command example runs the Flask-Session tutorial app on Gin (see
// example/README.md).
//
// Configuration comes entirely from the environment, with Flask's names
// (SESSION_TYPE, SECRET_KEY, SESSION_REDIS, ...), and from a .env file in the
// current directory when there is one (variables already set win). With no
// configuration at all it keeps sessions in ./flask_session and listens on
// 127.0.0.1:5000, like `flask run`:
//
//	go run ./example
//	SESSION_TYPE=redis SESSION_REDIS=redis://127.0.0.1:6379 go run ./example
package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/joho/godotenv"

	"github.com/ginsession/ginsession"
	"github.com/ginsession/ginsession/example/app"

	// The root package registers the built-in backends; these blank imports
	// make sure every SESSION_TYPE works in the example whatever the root
	// package imports (registering twice is impossible: a package's init
	// runs once).
	_ "github.com/ginsession/ginsession/backends/gormstore"
	_ "github.com/ginsession/ginsession/backends/memcachedstore"
	_ "github.com/ginsession/ginsession/backends/mongostore"
	_ "github.com/ginsession/ginsession/backends/redisstore"
)

// DevSecretKey is the SECRET_KEY used when none is set: for local use only.
const devSecretKey = "dev-only-insecure-secret-key-change-me"

// defaultAddr is Flask's development server address.
const defaultAddr = "127.0.0.1:5000"

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	slog.SetDefault(log)
	if err := run(log); err != nil {
		log.Error("example: stopped", "err", err)
		os.Exit(1)
	}
}

func logLevel() slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(os.Getenv("LOG_LEVEL"))); err != nil {
		return slog.LevelInfo
	}
	return l
}

func run(log *slog.Logger) error {
	if _, err := os.Stat(".env"); err == nil {
		if err := godotenv.Load(".env"); err != nil {
			return err
		}
		log.Info("example: loaded .env")
	}
	// The example's own defaults, where Flask-Session's would not make a
	// runnable demo: the filesystem store (no server needed), a signed
	// cookie, and a development secret key.
	setDefault("SESSION_TYPE", "filesystem")
	setDefault("SESSION_USE_SIGNER", "true")
	if os.Getenv("SECRET_KEY") == "" {
		log.Warn("example: SECRET_KEY is not set: using a fixed development key; set SECRET_KEY to a long random value anywhere but your own machine")
		os.Setenv("SECRET_KEY", devSecretKey)
	}
	opts, err := ginsession.OptionsFromEnv()
	if err != nil {
		return err
	}
	opts.Logger = log
	cfg, err := app.ConfigFromEnv(os.LookupEnv, log)
	if err != nil {
		return err
	}
	if os.Getenv("GIN_MODE") == "" {
		gin.SetMode(gin.ReleaseMode)
	}
	handler, m, err := app.New(opts, cfg)
	if err != nil {
		return err
	}
	defer m.Close()

	addr := os.Getenv("ADDR")
	if addr == "" {
		if port := os.Getenv("PORT"); port != "" {
			addr = ":" + port // the PaaS convention: every interface
		} else {
			addr = defaultAddr
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	o := m.Options()
	log.Info("example: listening", "url", "http://"+displayAddr(ln.Addr()), "session_type", o.Type, "file_dir", fileDir(o))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process
	log.Info("example: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return m.Close()
}

func setDefault(name, value string) {
	if os.Getenv(name) == "" {
		os.Setenv(name, value)
	}
}

func fileDir(o ginsession.Options) string {
	if o.Type == "filesystem" {
		return o.FileDir
	}
	return ""
}

// displayAddr turns a wildcard listen address into one a browser can open.
func displayAddr(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || !tcp.IP.IsUnspecified() {
		return a.String()
	}
	return net.JoinHostPort("localhost", strconv.Itoa(tcp.Port))
}
