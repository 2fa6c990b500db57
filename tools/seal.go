package tools

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ConfirmState is what a confirmation's request state binds: the answer counts only for this
// tool, these arguments, this principal, before Expires, and once (Nonce).
type ConfirmState struct {
	Tool      string    `json:"t"`
	Digest    string    `json:"d"` // argsDigest of the arguments asked about
	Principal string    `json:"p"` // the session, or the credential in multi-tenant mode
	Expires   time.Time `json:"e"`
	Nonce     string    `json:"n"`
}

// Sealer turns a ConfirmState into an opaque token the client echoes back, and checks that a
// token came from it unchanged. Replicas that share a key accept each other's tokens.
type Sealer interface {
	Seal(ConfirmState) (string, error)
	Open(token string) (ConfirmState, error)
}

// NonceStore makes sealed states single-use.
type NonceStore interface {
	// Use records nonce as used until expires, and reports false when it was used already.
	Use(nonce string, expires time.Time) bool
}

// HMACSealer seals states with HMAC-SHA256: base64url(JSON) "." base64url(MAC).
type HMACSealer struct{ key []byte }

// NewHMACSealer returns a sealer with key, or with a random 32-byte key when key is nil (one
// process: a restart forgets every question asked).
func NewHMACSealer(key []byte) (*HMACSealer, error) {
	if key == nil {
		key = make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, fmt.Errorf("tools: confirmation key: %w", err)
		}
	}
	if len(key) < 32 {
		return nil, errors.New("tools: a confirmation key needs at least 32 bytes")
	}
	return &HMACSealer{key: key}, nil
}

func (s *HMACSealer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Seal implements Sealer.
func (s *HMACSealer) Seal(st ConfirmState) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(b)
	return payload + "." + base64.RawURLEncoding.EncodeToString(s.mac(payload)), nil
}

// errBadState is any token that did not come from this sealer unchanged.
var errBadState = errors.New("request state not sealed by this server")

// Open implements Sealer.
func (s *HMACSealer) Open(token string) (ConfirmState, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok {
		return ConfirmState{}, errBadState
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, s.mac(payload)) {
		return ConfirmState{}, errBadState
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return ConfirmState{}, errBadState
	}
	var st ConfirmState
	if err := json.Unmarshal(b, &st); err != nil {
		return ConfirmState{}, errBadState
	}
	return st, nil
}

// LocalNonceStore is a NonceStore for one process; expired nonces are dropped as it goes.
type LocalNonceStore struct {
	now  func() time.Time
	mu   sync.Mutex
	used map[string]time.Time
}

// NewLocalNonceStore returns an in-process NonceStore on the clock now (nil = time.Now).
func NewLocalNonceStore(now func() time.Time) *LocalNonceStore {
	if now == nil {
		now = time.Now
	}
	return &LocalNonceStore{now: now, used: map[string]time.Time{}}
}

// Use implements NonceStore.
func (s *LocalNonceStore) Use(nonce string, expires time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.used) > 1024 {
		for n, exp := range s.used {
			if now.After(exp) {
				delete(s.used, n)
			}
		}
	}
	if _, dup := s.used[nonce]; dup {
		return false
	}
	s.used[nonce] = expires
	return true
}
