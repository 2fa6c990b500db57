package coord

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// NonceStore remembers single-use nonces across replicas until they expire, so a sealed
// confirmation is honoured once, by whichever replica sees it first.
type NonceStore struct {
	c *Client
}

// NewNonceStore makes a nonce store on c.
func (c *Client) NewNonceStore() *NonceStore { return &NonceStore{c: c} }

// Consume marks nonce used until expiry. It reports fresh only the first time, on any replica.
// A nonce whose expiry has passed is never fresh. Without Redis it fails (the caller refuses the
// confirmation): accepting it could let one answer count twice.
func (n *NonceStore) Consume(ctx context.Context, nonce string, expiry time.Time) (fresh bool, err error) {
	if !expiry.After(time.Now()) {
		return false, nil
	}
	if err := n.c.ready(); err != nil {
		return false, err
	}
	// One second of slack: a clock that runs behind Redis's must not let the key expire before
	// the state it guards.
	err = n.c.rdb.SetArgs(ctx, n.c.key("nonce", nonce), "1", redis.SetArgs{Mode: "NX", ExpireAt: expiry.Add(time.Second)}).Err()
	switch err = n.c.done(ctx, err); err {
	case nil:
		return true, nil
	case redis.Nil:
		return false, nil
	default:
		return false, err
	}
}
