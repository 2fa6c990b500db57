// Package sandbox is an in-memory Exoscale API v2 for the operations exoscale-keys-mcp serves
// (IAM API keys, AI API keys, IAM roles and the organization policy, assumed roles, AI
// deployments, operations, zones, events, users and the organization). It is an http.Handler that verifies EXO2-HMAC-SHA256 signatures, enforces role and
// organization policies, validates request bodies with the documented limits and answers with the
// documented response and error shapes, so tests, benchmarks and the quick start can run the whole
// product without an Exoscale account.
//
// It is deliberately independent of package apiclient: the verifier here is a second
// implementation of the signing scheme, so a bug in one of them shows up as a failing round trip
// instead of two identical mistakes agreeing with each other.
//
// Behaviour worth knowing when testing against it:
//
//   - Every request but GET /v2/zone must carry a valid signature from a current IAM key or an
//     unexpired assumed-role session (AI key values never sign); anything else gets 403
//     {"message":"Invalid request signature"}. GET /v2/zone is also served unsigned; signed, it
//     is held to the policies like any other call.
//   - The organization policy, then the calling key's role policy, are evaluated with CEL
//     (cel-go) for the operation's service class (see the svc constants), with Exoscale's
//     documented semantics and bindings: operation, service, zone, now, source_ip (with
//     inIpRange), api_key, parameters and resources. A denial is 403 {"message":"Forbidden by
//     role policy for iam"} (or "organization policy"). A role holding the
//     reset-iam-organization-policy permission may reset the organization policy even when
//     that policy denies it (the way out of a lock-out).
//   - Every change applied (not reads) is recorded as an event, served by list-events.
//   - Writes that return an operation apply at once and answer "pending"; GET /operation/{id}
//     reports "pending" for WithPendingPolls polls, then "success".
//   - Validation failures are RFC 9457 problems titled "Invalid Request Body" with one entry per
//     field in "errors"; they name fields but never echo values.
//   - Request counting and faults (Inject) see every request under /v2, before authentication.
package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
)

// Seed ids, stable across runs so tests and docs can name them.
const (
	// OrgID is the organization every seeded and created object belongs to (AI keys' org-uuid).
	OrgID = "05641aff-45e2-429d-a574-83e0160a9ab4"
	// AdminRoleID is the "admin" role: its policy allows everything. Seeded even WithoutSeed,
	// because the server credential is bound to it.
	AdminRoleID = "58540a31-f166-4b7c-b91e-5d30553d1d4e"
	// RestrictedRoleID is the "compute-read-only" role: default deny, and compute rules allowing
	// only a few read operations (list-zones, list-instances, get-instance, get-operation).
	RestrictedRoleID = "d9c94ed0-e08c-42e3-9561-3145511445bd"
	// PrivateDeploymentID is the seeded private AI deployment (visibility "private").
	PrivateDeploymentID = "60871f92-d342-4c08-b2ce-fc52ccc8be74"
	// PublicDeploymentID is the seeded public AI deployment (visibility "public").
	PublicDeploymentID = "36581442-ed20-471e-b870-879cfb862a29"
	// SeedAIKeyID is the id of the seeded AI API key (public scope).
	SeedAIKeyID = "09437ffe-b1e9-425c-a522-1999a08569db"
)

// Seed names.
const (
	// AdminRoleName is the name of the role with AdminRoleID.
	AdminRoleName = "admin"
	// RestrictedRoleName is the name of the role with RestrictedRoleID.
	RestrictedRoleName = "compute-read-only"
	// ServerKeyName is the name of the IAM key returned by ServerCredentials (admin role).
	ServerKeyName = "exoscale-keys-mcp"
	// RestrictedKeyName is the name of the seeded IAM key bound to the restricted role; its
	// credentials are available through KeyCredentials.
	RestrictedKeyName = "ci-deploy"
	// SeedAIKeyName is the name of the seeded AI API key.
	SeedAIKeyName = "support-chatbot"
	// PrivateDeploymentName and PublicDeploymentName name the seeded AI deployments.
	PrivateDeploymentName = "support-chatbot-llm"
	// PublicDeploymentName is the name of the seeded public AI deployment.
	PublicDeploymentName = "llama-3-3-70b-instruct"
)

// maxBodyBytes bounds a request body: every body this API takes is a few KiB at most.
const maxBodyBytes = 1 << 20

type options struct {
	pendingPolls int
	now          func() time.Time
	seed         bool
	zone         string
	onChange     func()
}

// Option configures a Sandbox.
type Option func(*options)

// WithPendingPolls sets how many GET /operation/{id} polls a write operation stays "pending"
// before it reports "success" (default 1, so a client that never waits is caught; 0 means the
// first poll already succeeds). The write's own response is always "pending".
func WithPendingPolls(n int) Option {
	return func(o *options) {
		if n < 0 {
			n = 0
		}
		o.pendingPolls = n
	}
}

// WithClock replaces time.Now for signature expiry checks and timestamps, so tests can use
// fixed expiries (such as the reference signing vectors').
func WithClock(now func() time.Time) Option {
	return func(o *options) {
		if now != nil {
			o.now = now
		}
	}
}

// WithZone sets the zone of requests (the zone binding of policies, the zone of events) whose
// Host does not name one (api-ZONE.exoscale.com). Default ch-gva-2.
func WithZone(zone string) Option {
	return func(o *options) {
		if zone != "" {
			o.zone = zone
		}
	}
}

// WithChangeHook calls f after every change the API applies (each request that records an
// event), outside the sandbox's locks, so a caller can persist MarshalState. f must not block
// for long: it runs on the request's goroutine.
func WithChangeHook(f func()) Option {
	return func(o *options) { o.onChange = f }
}

// WithoutSeed starts with an empty organization except the server credential and the admin role
// it is bound to: no restricted role, no other keys, no AI deployments, no users.
func WithoutSeed() Option {
	return func(o *options) { o.seed = false }
}

// Sandbox is an in-memory Exoscale API v2. It implements http.Handler and serves /v2/...; it is
// safe for concurrent use. Create it with New.
type Sandbox struct {
	opts options

	mu         sync.RWMutex
	keys       map[string]*iamKey // by key string
	keyOrder   []string
	aiKeys     map[string]*aiKey
	aiOrder    []string
	roles      map[string]*role
	roleOrder  []string
	deps       map[string]*deployment
	depOrder   []string
	ops        map[string]*operation
	sessions   map[string]*session // assumed-role credentials, by key
	users      []*user
	events     []*event // oldest first, at most maxEvents
	orgPolicy  *policy
	minted     []string // every secret ever handed out, for Secrets()
	serverKey  string
	serverSecr string

	faultMu  sync.Mutex
	faults   []*Fault
	nfaults  atomic.Int32 // len(faults) without the lock: the common no-fault path stays lock-free
	countMu  sync.Mutex
	requests map[requestKey]int
}

type requestKey struct{ method, path string }

type iamKey struct {
	key, name, roleID, secret string
}

// session is the short-lived credential of an assumed role: it signs like an IAM key on the
// role until it expires.
type session struct {
	key, name, roleID, secret string
	expires                   time.Time
}

type aiKey struct {
	id, name, scope, value string
	created, updated       time.Time
}

type role struct {
	ID               string            `json:"id"`
	Name             string            `json:"name"`
	Description      string            `json:"description,omitempty"`
	Editable         bool              `json:"editable"`
	Labels           map[string]string `json:"labels,omitempty"`
	MaxSessionTTL    int64             `json:"max-session-ttl,omitempty"`
	Permissions      []string          `json:"permissions"`
	Policy           *policy           `json:"policy"`
	AssumeRolePolicy *assumeRolePolicy `json:"assume-role-policy,omitempty"`
}

type modelRef struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

type deployment struct {
	ID                     string   `json:"id"`
	Name                   string   `json:"name"`
	State                  string   `json:"state"`
	DeploymentURL          string   `json:"deployment-url"`
	Model                  modelRef `json:"model"`
	Visibility             string   `json:"visibility"`
	GPUType                string   `json:"gpu-type"`
	GPUCount               int      `json:"gpu-count"`
	Replicas               int      `json:"replicas"`
	ServiceLevel           string   `json:"service-level"`
	InferenceEngineVersion string   `json:"inference-engine-version"`
	CreatedAt              string   `json:"created-at"`
	UpdatedAt              string   `json:"updated-at"`
	apiKey                 string
}

type reference struct {
	ID      string `json:"id"`
	Link    string `json:"link"`
	Command string `json:"command"`
}

type operation struct {
	ID        string     `json:"id"`
	State     string     `json:"state"`
	Reference *reference `json:"reference,omitempty"`
	pollsLeft int
}

// New returns a Sandbox seeded with a small organization (see the package constants) unless
// WithoutSeed is given. Secrets and IAM key ids are random per New.
func New(opts ...Option) *Sandbox {
	o := options{pendingPolls: 1, now: time.Now, seed: true, zone: "ch-gva-2"}
	for _, opt := range opts {
		opt(&o)
	}
	s := &Sandbox{
		opts:     o,
		keys:     map[string]*iamKey{},
		aiKeys:   map[string]*aiKey{},
		roles:    map[string]*role{},
		deps:     map[string]*deployment{},
		ops:      map[string]*operation{},
		sessions: map[string]*session{},
		requests: map[requestKey]int{},
	}
	s.orgPolicy = allowAllPolicy()
	s.seed()
	return s
}

func (s *Sandbox) seed() {
	s.addRole(&role{
		ID:          AdminRoleID,
		Name:        AdminRoleName,
		Description: "Full access to every service",
		Editable:    true,
		Labels:      map[string]string{"managed-by": "exoscale-keys-mcp-sandbox"},
		// The permission lets the admin reset an organization policy that locked everyone out.
		Permissions: []string{"reset-iam-organization-policy"},
		Policy:      allowAllPolicy(),
	})
	server := s.addKey(ServerKeyName, AdminRoleID)
	s.serverKey, s.serverSecr = server.key, server.secret
	if !s.opts.seed {
		return
	}
	restricted := &policy{
		DefaultServiceStrategy: "deny",
		Services: map[string]servicePolicy{
			"compute": {Type: "rules", Rules: []policyRule{{
				Action:     "allow",
				Expression: "operation in ['list-zones', 'list-instances', 'get-instance', 'get-operation']",
			}}},
		},
	}
	restricted.compile()
	s.addRole(&role{
		ID:            RestrictedRoleID,
		Name:          RestrictedRoleName,
		Description:   "Read-only access to compute instances, for CI pipelines",
		Editable:      true,
		Labels:        map[string]string{"team": "platform"},
		MaxSessionTTL: 3600,
		Permissions:   []string{},
		Policy:        restricted,
	})
	s.addKey(RestrictedKeyName, RestrictedRoleID)

	s.addDeployment(&deployment{
		ID:                     PrivateDeploymentID,
		Name:                   PrivateDeploymentName,
		State:                  "ready",
		DeploymentURL:          "https://" + PrivateDeploymentID[:8] + ".inference.ch-gva-2.exoscale.com/v1",
		Model:                  modelRef{ID: "1676fd93-9923-4241-8632-3585094fad95", Name: "mistralai/Mistral-Small-3.2-24B-Instruct-2506"},
		Visibility:             "private",
		GPUType:                "gpua5000",
		GPUCount:               1,
		Replicas:               1,
		ServiceLevel:           "pro",
		InferenceEngineVersion: "0.26.0",
		CreatedAt:              "2026-03-12T09:41:07Z",
		UpdatedAt:              "2026-04-02T15:03:55Z",
	})
	s.addDeployment(&deployment{
		ID:                     PublicDeploymentID,
		Name:                   PublicDeploymentName,
		State:                  "ready",
		DeploymentURL:          "https://" + PublicDeploymentID[:8] + ".inference.ch-gva-2.exoscale.com/v1",
		Model:                  modelRef{ID: "6e2fed64-70a7-4bcb-8b21-c68c7440ee00", Name: "meta-llama/Llama-3.3-70B-Instruct"},
		Visibility:             "public",
		GPUType:                "gpuh100",
		GPUCount:               2,
		Replicas:               3,
		ServiceLevel:           "managed",
		InferenceEngineVersion: "0.26.0",
		CreatedAt:              "2026-01-20T08:00:00Z",
		UpdatedAt:              "2026-04-28T11:17:42Z",
	})
	now := s.opts.now().UTC()
	s.addAIKey(&aiKey{id: SeedAIKeyID, name: SeedAIKeyName, scope: "public", value: newAIKeyValue(), created: now, updated: now})
	s.users = seedUsers()
}

// addRole, addKey, addAIKey and addDeployment insert objects; callers hold s.mu (or own s).
func (s *Sandbox) addRole(r *role) {
	if r.Permissions == nil {
		r.Permissions = []string{}
	}
	if r.Policy == nil {
		r.Policy = allowAllPolicy()
	}
	r.Policy.compile()
	s.roles[r.ID] = r
	s.roleOrder = append(s.roleOrder, r.ID)
}

func (s *Sandbox) addKey(name, roleID string) *iamKey {
	k := &iamKey{key: newIAMKeyID(), name: name, roleID: roleID, secret: newIAMSecret()}
	s.keys[k.key] = k
	s.keyOrder = append(s.keyOrder, k.key)
	s.minted = append(s.minted, k.secret)
	return k
}

func (s *Sandbox) addAIKey(k *aiKey) {
	s.aiKeys[k.id] = k
	s.aiOrder = append(s.aiOrder, k.id)
	s.minted = append(s.minted, k.value)
}

func (s *Sandbox) addDeployment(d *deployment) {
	d.apiKey = newDeploymentAPIKey()
	s.deps[d.ID] = d
	s.depOrder = append(s.depOrder, d.ID)
	s.minted = append(s.minted, d.apiKey)
}

func removeID(order []string, id string) []string {
	for i, v := range order {
		if v == id {
			return append(order[:i], order[i+1:]...)
		}
	}
	return order
}

// ServerCredentials returns the credential seeded for the MCP server itself: an IAM key named
// ServerKeyName on the admin role.
func (s *Sandbox) ServerCredentials() (key, secret string) {
	return s.serverKey, s.serverSecr
}

// KeyCredentials returns the key and secret of the first current IAM key with this name (for
// example RestrictedKeyName), so tests can act as a key other than the server's.
func (s *Sandbox) KeyCredentials(name string) (key, secret string, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, id := range s.keyOrder {
		if k := s.keys[id]; k.name == name {
			return k.key, k.secret, true
		}
	}
	return "", "", false
}

// Secrets returns every secret value the sandbox ever minted or holds: IAM secrets (including
// deleted keys'), AI key values including rotated ones, deployment api keys and the server
// secret. Tests scan logs and outputs for them.
func (s *Sandbox) Secrets() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]string(nil), s.minted...)
}

// State is a snapshot of the organization for assertions.
type State struct {
	APIKeys []APIKey
	AIKeys  []AIKey
	Roles   []Role
}

// APIKey is an IAM API key in a State (no secret).
type APIKey struct{ Key, Name, RoleID string }

// AIKey is an AI API key in a State (no value).
type AIKey struct{ ID, Name, Scope string }

// Role is an IAM role in a State.
type Role struct{ ID, Name string }

// State returns a snapshot of the current IAM keys, AI keys and roles, in creation order.
func (s *Sandbox) State() State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var st State
	for _, id := range s.keyOrder {
		k := s.keys[id]
		st.APIKeys = append(st.APIKeys, APIKey{Key: k.key, Name: k.name, RoleID: k.roleID})
	}
	for _, id := range s.aiOrder {
		k := s.aiKeys[id]
		st.AIKeys = append(st.AIKeys, AIKey{ID: k.id, Name: k.name, Scope: k.scope})
	}
	for _, id := range s.roleOrder {
		r := s.roles[id]
		st.Roles = append(st.Roles, Role{ID: r.ID, Name: r.Name})
	}
	return st
}

// Start serves the sandbox on 127.0.0.1 on a free port and returns its base URL
// ("http://127.0.0.1:PORT/v2") and a stop func (idempotent) that closes the server and waits
// for its handlers to return.
func (s *Sandbox) Start() (baseURL string, stop func(), err error) {
	return s.Listen("127.0.0.1:0")
}

// Listen is Start on a given address ("127.0.0.1:8081"; port 0 picks a free one). The base URL
// names the bound address.
func (s *Sandbox) Listen(addr string) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	var active atomic.Int64
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			active.Add(1)
			defer active.Add(-1)
			s.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		// Serve returns http.ErrServerClosed once stop closes it. Any other return means the
		// listener broke; the clients see refused connections, and stop still works.
		_ = srv.Serve(ln)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			_ = srv.Close()
			<-done
			// Close cancels the contexts of in-flight requests; give their handlers (e.g. an
			// injected Delay) a moment to return so leak checkers see a clean exit.
			deadline := time.Now().Add(5 * time.Second)
			for active.Load() > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		})
	}
	return "http://" + ln.Addr().String() + "/v2", stop, nil
}

// randomBytes reads n bytes from crypto/rand; it never fails on supported platforms
// (crypto/rand.Read panics rather than returning short reads since Go 1.24).
func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// newIAMKeyID mints "EXO" + 24 hex characters, the shape of real IAM API keys.
func newIAMKeyID() string { return "EXO" + hex.EncodeToString(randomBytes(12)) }

// newIAMSecret mints 43 base64url characters (256 random bits), the length of real secrets.
func newIAMSecret() string { return base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// newAIKeyValue mints an AI API key value ("sk-" + 43 base64url characters).
func newAIKeyValue() string { return "sk-" + base64.RawURLEncoding.EncodeToString(randomBytes(32)) }

// newDeploymentAPIKey mints a deployment inference key (64 hex characters).
func newDeploymentAPIKey() string { return hex.EncodeToString(randomBytes(32)) }

func newUUID() string { return uuid.NewString() }

// sortedKeys returns m's keys sorted (deterministic output and error order).
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
