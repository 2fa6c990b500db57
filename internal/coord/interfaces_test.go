package coord

import (
	"context"
	"time"
)

// The interfaces the HTTP layer and the tools engine define for these parts (for running several replicas): coord's
// types must keep fitting them, so that wiring stays a few lines.
type (
	limiter interface {
		Allow(ctx context.Context, key string) (ok bool, retryAfter time.Duration)
	}
	locker interface {
		Lock(ctx context.Context, name string) (unlock func(), err error)
	}
	nonceStore interface {
		Consume(ctx context.Context, nonce string, expiry time.Time) (fresh bool, err error)
	}
	sessionCounter interface {
		Acquire(ctx context.Context) (release func(), ok bool, err error)
	}
)

var (
	_ limiter        = (*Limiter)(nil)
	_ locker         = (*Locker)(nil)
	_ nonceStore     = (*NonceStore)(nil)
	_ sessionCounter = (*SessionCounter)(nil)
)
