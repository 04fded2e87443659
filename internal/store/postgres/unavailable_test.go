package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/portcullis/portcullis/internal/store"
)

func TestUnavailable_ConnectionFailuresOnly(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"refused dial", &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}, true},
		{"connection cut mid-query", fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"conn closed by the driver", fmt.Errorf("x: %w", pgconn.ErrConnClosed), true},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"connection exception class", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
		{"caller cancelled", fmt.Errorf("q: %w", context.Canceled), false},
		{"a deadline passed waiting for the database", fmt.Errorf("q: %w", context.DeadlineExceeded), true},
		{"not found", store.ErrNotFound, false},
		{"anything else", errors.New("cannot encode argument"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := unavailable(c.err)
			if got := errors.Is(err, store.ErrUnavailable); got != c.want {
				t.Fatalf("errors.Is(unavailable(%v), store.ErrUnavailable) = %v, want %v", c.err, got, c.want)
			}
			if c.err != nil && !errors.Is(err, c.err) {
				t.Fatalf("the driver's error is lost: %v", err)
			}
		})
	}
}
