package tools

import (
	"context"
	"sync"
)

// Locker serialises work on one key: the creates of one name (a client retrying while the
// first call is still under way) run one after the other, so the second one's duplicate check
// sees the first one's object. Replicas that share a Locker (e.g. on Redis) do the same across
// processes.
type Locker interface {
	// Lock waits for the lock on key and returns its unlock, or returns ctx's error at once
	// when ctx ends first.
	Lock(ctx context.Context, key string) (unlock func(), err error)
}

// LocalLocker is a Locker for one process.
type LocalLocker struct {
	mu    sync.Mutex
	locks map[string]*keyLock
}

type keyLock struct {
	ch    chan struct{} // holds a token while the lock is held
	users int           // under LocalLocker.mu
}

// NewLocalLocker returns an in-process Locker.
func NewLocalLocker() *LocalLocker { return &LocalLocker{locks: map[string]*keyLock{}} }

// Lock implements Locker.
func (l *LocalLocker) Lock(ctx context.Context, key string) (func(), error) {
	l.mu.Lock()
	k, ok := l.locks[key]
	if !ok {
		k = &keyLock{ch: make(chan struct{}, 1)}
		l.locks[key] = k
	}
	k.users++
	l.mu.Unlock()
	release := func() {
		l.mu.Lock()
		if k.users--; k.users == 0 {
			delete(l.locks, key)
		}
		l.mu.Unlock()
	}
	if err := ctx.Err(); err != nil {
		release()
		return nil, err
	}
	select {
	case k.ch <- struct{}{}:
	case <-ctx.Done():
		release()
		return nil, ctx.Err()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-k.ch
			release()
		})
	}, nil
}
