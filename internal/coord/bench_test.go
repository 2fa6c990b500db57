package coord

import (
	"fmt"
	"testing"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/redistest"
)

// What coordination costs per call, against a real redis-server on a unix socket:
//
//	go test -run '^$' -bench . -benchtime 2s ./internal/coord/

func BenchmarkLimiter_Allow(b *testing.B) {
	srv := redistest.Start(b)
	c, err := Open(b.Context(), srv.URL(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	l, err := c.NewLimiter(LimiterOptions{Name: "bench", Rate: 1e9, Burst: 1e9, Replicas: 3})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ok, _ := l.Allow(b.Context(), "credential"); !ok {
			b.Fatal("refused")
		}
	}
}

func BenchmarkLocker_LockUnlock(b *testing.B) {
	srv := redistest.Start(b)
	c, err := Open(b.Context(), srv.URL(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	l := c.NewLocker(LockOptions{})
	b.ReportAllocs()
	for b.Loop() {
		unlock, err := l.Lock(b.Context(), "name")
		if err != nil {
			b.Fatal(err)
		}
		unlock()
	}
}

func BenchmarkNonceStore_Consume(b *testing.B) {
	srv := redistest.Start(b)
	c, err := Open(b.Context(), srv.URL(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	n := c.NewNonceStore()
	expiry := time.Now().Add(time.Minute)
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		if fresh, err := n.Consume(b.Context(), fmt.Sprint(i), expiry); err != nil || !fresh {
			b.Fatal(fresh, err)
		}
	}
}
