package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/portcullis/portcullis/internal/store"
)

// Connection settings applied when the URL does not set them, so that an
// unreachable database makes requests fail in seconds instead of hanging
// on the operating system's TCP timeouts, and a pool never piles up dials
// while PostgreSQL is down.
const (
	// defaultConnectTimeout bounds one connection attempt (the URL's
	// connect_timeout overrides it).
	defaultConnectTimeout = 5 * time.Second
	// healthCheckPeriod is how often idle connections are checked, so that
	// connections broken by an outage are dropped before a request meets them.
	healthCheckPeriod = 5 * time.Second
)

// applyPoolDefaults sets the connect timeout and health checks on cfg where
// the URL did not set them.
func applyPoolDefaults(cfg *pgxpool.Config, url string) {
	if cfg.ConnConfig.ConnectTimeout == 0 && !strings.Contains(url, "connect_timeout") {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if !strings.Contains(url, "pool_health_check_period") {
		cfg.HealthCheckPeriod = healthCheckPeriod
	}
}

// unavailable wraps err with store.ErrUnavailable when it says the database
// could not be reached or the connection broke (not when the server refused
// a statement, nor when the caller cancelled), and returns it as is
// otherwise.
func unavailable(err error) error {
	if err == nil || errors.Is(err, store.ErrUnavailable) || !connectionFailure(err) {
		return err
	}
	return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
}

func connectionFailure(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 08 connection exception; 57P01-57P03 the server is
		// shutting down or starting; 53300 too many connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03" || pe.Code == "53300"
	}
	if errors.Is(err, context.Canceled) {
		return false // the caller gave up; the database may be fine
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, context.DeadlineExceeded)
}
