package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// The multi-replica phase (-replicas): our server behind HAProxy (deploy/haproxy.cfg) with one
// replica and no Redis, one replica sharing Redis, and three replicas sharing Redis, at the
// largest session level; then, one replica directly, what Redis adds to a read's and a
// write's latency. On a 2-core machine more replicas cannot be faster: the figures show what
// coordination and the proxy cost per call. It needs the haproxy and redis-server binaries and
// is skipped, saying so, without them.

// replicaFigures is the multi-replica phase.
type replicaFigures struct {
	Sessions int              `json:"sessions"`
	Setups   []replicaSetup   `json:"setups,omitempty"`
	Latency  []latencyFigures `json:"latency,omitempty"`
	Skipped  string           `json:"skipped,omitempty"`
}

// replicaSetup is one configuration under load through HAProxy. ServerCPUusPerCall adds up the
// replicas'.
type replicaSetup struct {
	Name     string `json:"name"`
	Replicas int    `json:"replicas"`
	Redis    bool   `json:"redis"`
	httpLevel
	ProxyCPUusPerCall span  `json:"proxy_cpu_us_per_call"`
	RedisCPUusPerCall *span `json:"redis_cpu_us_per_call,omitempty"`
}

// latencyFigures are one session's sequential calls to one replica, without the proxy.
type latencyFigures struct {
	Redis      bool    `json:"redis"`
	Reads      int     `json:"reads"`
	ReadP50ms  float64 `json:"read_p50_ms"`
	ReadP99ms  float64 `json:"read_p99_ms"`
	Writes     int     `json:"writes"`
	WriteP50ms float64 `json:"write_p50_ms"`
	WriteP99ms float64 `json:"write_p99_ms"`
}

// redisProc is a redis-server on a unix socket, nothing on TCP.
type redisProc struct {
	cmd    *exec.Cmd
	dir    string
	socket string
}

func startRedis(bin string) (*redisProc, error) {
	dir, err := os.MkdirTemp("", "rb") // unix socket paths are short
	if err != nil {
		return nil, err
	}
	r := &redisProc{dir: dir, socket: filepath.Join(dir, "redis.sock")}
	r.cmd = exec.Command(bin, "--port", "0", "--unixsocket", r.socket, "--unixsocketperm", "700",
		"--dir", dir, "--save", "", "--appendonly", "no", "--logfile", filepath.Join(dir, "redis.log"))
	if err := r.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for range 500 { // bounded: 5 s
		if c, err := net.Dial("unix", r.socket); err == nil {
			c.Close()
			return r, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.stop()
	return nil, errors.New("redis-server did not listen within 5 s")
}

func (r *redisProc) url() string { return "unix://" + r.socket }

func (r *redisProc) stop() {
	stopProcess(r.cmd)
	os.RemoveAll(r.dir)
}

// cluster is HAProxy in front of some replicas.
type cluster struct {
	replicas []*exec.Cmd
	proxy    *exec.Cmd
	url      string // http://…/mcp through the proxy
	direct   string // the first replica's /mcp
}

func (c *cluster) stop() {
	if c.proxy != nil {
		stopProcess(c.proxy)
	}
	for _, r := range c.replicas {
		stopProcess(r)
	}
}

func (c *cluster) pids() []int {
	var out []int
	for _, r := range c.replicas {
		out = append(out, r.Process.Pid)
	}
	return out
}

// startCluster starts n replicas of ours (with Redis when redisURL is set) and, when proxy is
// true, HAProxy with deploy/haproxy.cfg in front of them.
func startCluster(ours server, haproxy, cfgFile string, n int, redisURL string, proxy bool) (_ *cluster, err error) {
	c := &cluster{}
	defer func() {
		if err != nil {
			c.stop()
		}
	}()
	var addrs []string
	for range n {
		addr, err := freePort()
		if err != nil {
			return nil, err
		}
		s := ours
		s.httpArgs = append(slices.Clone(ours.httpArgs), "--listen", addr, "--replicas", strconv.Itoa(n))
		if redisURL != "" {
			s.env = append(slices.Clone(ours.env), "EXOSCALE_MCP_REDIS_URL="+redisURL)
		}
		cmd, url, err := startHTTP(s)
		if err != nil {
			return nil, err
		}
		c.replicas = append(c.replicas, cmd)
		addrs = append(addrs, addr)
		if c.direct == "" {
			c.direct = url
		}
	}
	if !proxy {
		return c, nil
	}
	bind, err := freePort()
	if err != nil {
		return nil, err
	}
	for len(addrs) < 3 { // the config names three servers: one replica fills every place
		addrs = append(addrs, addrs[0])
	}
	c.proxy = exec.Command(haproxy, "-db", "-f", cfgFile)
	c.proxy.Env = append(os.Environ(), "MCP_BIND="+bind, "REPLICA1="+addrs[0], "REPLICA2="+addrs[1], "REPLICA3="+addrs[2])
	c.proxy.Stdout, c.proxy.Stderr = ours.stderr, ours.stderr
	if err := c.proxy.Start(); err != nil {
		return nil, err
	}
	c.url = "http://" + bind + "/mcp"
	for range 500 { // bounded: 5 s
		if conn, err := net.Dial("tcp", bind); err == nil {
			conn.Close()
			return c, nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil, errors.New("haproxy did not listen within 5 s")
}

// measureReplicas runs the phase; a missing binary skips it.
func measureReplicas(cfg settings, ours server) (*replicaFigures, error) {
	n := slices.Max(cfg.HTTPLevels)
	f := &replicaFigures{Sessions: n}
	haproxy, err1 := exec.LookPath("haproxy")
	redisBin, err2 := exec.LookPath("redis-server")
	if err := errors.Join(err1, err2); err != nil {
		f.Skipped = "haproxy or redis-server not installed (apt-get install -y haproxy redis-server): " + err.Error()
		progress("replicas: skipped: %s", f.Skipped)
		return f, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(root, "deploy", "haproxy.cfg")
	redis, err := startRedis(redisBin)
	if err != nil {
		return nil, err
	}
	defer redis.stop()

	for _, s := range []struct {
		name     string
		replicas int
		redis    bool
	}{{"1 replica, no Redis", 1, false}, {"1 replica, Redis", 1, true}, {"3 replicas, Redis", 3, true}} {
		progress("replicas: %s, behind HAProxy, %d sessions: %d rounds × %s", s.name, n, cfg.HTTPRounds, cfg.HTTPDuration)
		// A sandbox of its own, so every setup starts from the same state.
		sb, err := startSandbox()
		if err != nil {
			return nil, err
		}
		srv := ours
		srv.env = append(slices.Clone(ours.env), sb.env()...)
		url := ""
		if s.redis {
			url = redis.url()
		}
		c, err := startCluster(srv, haproxy, cfgFile, s.replicas, url, true)
		if err != nil {
			sb.stop()
			return nil, err
		}
		extra := []int{c.proxy.Process.Pid}
		if s.redis {
			extra = append(extra, redis.cmd.Process.Pid)
		}
		setup, err := loadCluster(cfg, c, n, readMix(sb), extra)
		c.stop()
		sb.stop()
		if err != nil {
			return nil, fmt.Errorf("replicas: %s: %w", s.name, err)
		}
		setup.Name, setup.Replicas, setup.Redis = s.name, s.replicas, s.redis
		f.Setups = append(f.Setups, setup)
	}

	calls := 300
	if cfg.Quick {
		calls = 100
	}
	for _, withRedis := range []bool{false, true} {
		progress("replicas: one session, one replica directly, redis %v: %d reads, %d creates", withRedis, calls, calls)
		sb, err := startSandbox()
		if err != nil {
			return nil, err
		}
		srv := ours
		srv.env = append(slices.Clone(ours.env), sb.env()...)
		url := ""
		if withRedis {
			url = redis.url()
		}
		c, err := startCluster(srv, haproxy, cfgFile, 1, url, false)
		if err != nil {
			sb.stop()
			return nil, err
		}
		lat, err := sequentialLatency(c.direct, sb, calls, withRedis)
		c.stop()
		sb.stop()
		if err != nil {
			return nil, err
		}
		f.Latency = append(f.Latency, lat)
	}
	return f, nil
}

// loadCluster is measureHTTP for a cluster: n sessions through the proxy, CPU added up over
// the replicas, with the proxy's and Redis's apart.
func loadCluster(cfg settings, c *cluster, n int, mix []toolCall, extra []int) (replicaSetup, error) {
	st := replicaSetup{httpLevel: httpLevel{Sessions: n, Rounds: cfg.HTTPRounds, RoundSeconds: cfg.HTTPDuration.Seconds()}}
	sessions, closeAll, err := openWarmSessions(c.url, n, mix, cfg.HTTPWarmup)
	if err != nil {
		return st, err
	}
	defer closeAll()
	cpuOf := func(pids []int) (time.Duration, error) {
		var sum time.Duration
		for _, p := range pids {
			d, err := cpuTime(p)
			if err != nil {
				return 0, err
			}
			sum += d
		}
		return sum, nil
	}
	replicas := c.pids()
	var rate, p50, p99, srvCPU, proxyCPU, redisCPU, cliCPU []float64
	self := os.Getpid()
	for range cfg.HTTPRounds {
		r0, e1 := cpuOf(replicas)
		x0, e2 := cpuOf(extra[:1])
		d0, e3 := cpuOf(extra[1:])
		m0, e4 := cpuTime(self)
		r := load(sessions, mix, cfg.HTTPDuration)
		r1, e5 := cpuOf(replicas)
		x1, e6 := cpuOf(extra[:1])
		d1, e7 := cpuOf(extra[1:])
		m1, e8 := cpuTime(self)
		if err := errors.Join(e1, e2, e3, e4, e5, e6, e7, e8); err != nil {
			return st, err
		}
		calls := float64(len(r.lat))
		st.Calls += len(r.lat)
		st.Errors += r.errors
		if st.FirstError == "" {
			st.FirstError = r.firstErr
		}
		rate = append(rate, calls/r.elapsed.Seconds())
		p50 = append(p50, ms(percentile(r.lat, 0.50)))
		p99 = append(p99, ms(percentile(r.lat, 0.99)))
		srvCPU = append(srvCPU, us(r1-r0)/calls)
		proxyCPU = append(proxyCPU, us(x1-x0)/calls)
		redisCPU = append(redisCPU, us(d1-d0)/calls)
		cliCPU = append(cliCPU, us(m1-m0)/calls)
	}
	st.CallsPerSec, st.P50ms, st.P99ms = spanOf(rate), spanOf(p50), spanOf(p99)
	st.ServerCPUusPerCall, st.ClientCPUusPerCall, st.ProxyCPUusPerCall = spanOf(srvCPU), spanOf(cliCPU), spanOf(proxyCPU)
	if len(extra) > 1 {
		sp := spanOf(redisCPU)
		st.RedisCPUusPerCall = &sp
	}
	return st, nil
}

// sequentialLatency times one session's reads (get-api-key) and writes (create-api-key of a
// new name: the create lock, the duplicate check, the create) one after the other.
func sequentialLatency(url string, sb *sandboxProc, calls int, withRedis bool) (latencyFigures, error) {
	f := latencyFigures{Redis: withRedis, Reads: calls, Writes: calls}
	s, err := openHTTPSession(url)
	if err != nil {
		return f, err
	}
	defer s.close()
	timed := func(name string, args func(i int) string) ([]time.Duration, error) {
		lat := make([]time.Duration, 0, calls)
		for i := range calls + 20 { // the first 20 warm up
			t := time.Now()
			body, err := s.callTool(name, args(i))
			d := time.Since(t)
			if err == nil {
				err = checkReply(body)
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			if i >= 20 {
				lat = append(lat, d)
			}
		}
		slices.Sort(lat)
		return lat, nil
	}
	reads, err := timed("get-api-key", func(int) string { return `{"id":"` + sb.info.Key + `"}` })
	if err != nil {
		return f, err
	}
	writes, err := timed("create-api-key", func(i int) string {
		return fmt.Sprintf(`{"name":"bench-write-%d","role-id":"%s"}`, i, sandbox.AdminRoleID)
	})
	if err != nil {
		return f, err
	}
	f.ReadP50ms, f.ReadP99ms = round(ms(percentile(reads, 0.50))), round(ms(percentile(reads, 0.99)))
	f.WriteP50ms, f.WriteP99ms = round(ms(percentile(writes, 0.50))), round(ms(percentile(writes, 0.99)))
	return f, nil
}
