// Package startgc keeps the garbage collector out of the server's start-up, as the Go compiler
// does for its own (cmd/compile's AdjustStartingHeap).
//
// A client spawns a stdio server for each session and waits for its initialize and tools/list
// answers. Until then the process allocates about 5 MB (package initialisation, most of it the
// JSON Schema meta-schemas that mcp-go's validator compiles, then the catalog, the registry and
// the tools/list answer) and keeps most of it, yet the collector's first goal is 4 MB: one
// collection runs during start-up, for ~1.5 ms of wall time and ~250 page faults, and leaves the
// idle process 1 MiB larger (both measured in BENCHMARKS.md). So start-up runs with a goal of
// 400 % and the operator's GOGC (100 by default) applies again from Done on: the first tool call,
// or a few seconds after start, whichever comes first.
//
// The package must be initialised before the packages that allocate the most at init: its
// import path sorts before theirs, and it depends on nothing but the runtime, which Go's
// initialisation order (dependencies first, then by import path) turns into "first".
package startgc

import (
	"runtime/debug"
	"sync"
	"time"
)

// startPercent is the collector's goal during start-up.
const startPercent = 400

// MaxStartup bounds start-up: past it Done is called even without a tool call.
const MaxStartup = 5 * time.Second

var (
	operatorPercent int
	done            sync.Once
	timer           *time.Timer
)

func init() {
	operatorPercent = debug.SetGCPercent(startPercent)
	timer = time.AfterFunc(MaxStartup, Done)
}

// Done ends start-up: the operator's GOGC applies from now on. Safe to call often and from any
// goroutine.
func Done() {
	done.Do(func() {
		timer.Stop()
		debug.SetGCPercent(operatorPercent)
	})
}
