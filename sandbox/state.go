package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"
)

// stateVersion is the format of MarshalState; RestoreState refuses any other.
const stateVersion = 1

// stateFile is the whole organization, secrets included: what a restarted sandbox needs to go
// on where it stopped. It holds every secret the sandbox minted, so whoever stores it must keep
// it private (the sandbox command writes it 0600).
type stateFile struct {
	Version      int               `json:"version"`
	ServerKey    string            `json:"server-key"`
	ServerSecret string            `json:"server-secret"`
	APIKeys      []stateKey        `json:"api-keys"`
	Sessions     []stateSession    `json:"sessions"`
	Roles        []*role           `json:"roles"`
	OrgPolicy    *policy           `json:"organization-policy"`
	AIKeys       []stateAIKey      `json:"ai-api-keys"`
	Deployments  []stateDeployment `json:"deployments"`
	Operations   []stateOperation  `json:"operations"`
	Events       []*event          `json:"events"`
	Users        []*user           `json:"users"`
	Minted       []string          `json:"minted"`
}

type stateKey struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	RoleID string `json:"role-id"`
	Secret string `json:"secret"`
}

type stateSession struct {
	stateKey
	Expires time.Time `json:"expires"`
}

type stateAIKey struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Scope   string    `json:"scope"`
	Value   string    `json:"value"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

type stateDeployment struct {
	deployment
	APIKey string `json:"api-key"`
}

type stateOperation struct {
	operation
	PollsLeft int `json:"polls-left"`
}

// MarshalState returns the sandbox's whole state as JSON: IAM keys with their secrets, assumed
// role sessions, roles and policies, the organization policy, AI keys with their values,
// deployments, operations, events, users and every secret ever minted. RestoreState on a new
// Sandbox takes it back, so a restarted sandbox resumes where it stopped. The output holds
// secrets: store it privately. Faults and request counts are not part of the state.
func (s *Sandbox) MarshalState() ([]byte, error) {
	s.mu.RLock()
	st := stateFile{
		Version:      stateVersion,
		ServerKey:    s.serverKey,
		ServerSecret: s.serverSecr,
		APIKeys:      []stateKey{},
		Sessions:     []stateSession{},
		Roles:        []*role{},
		OrgPolicy:    s.orgPolicy,
		AIKeys:       []stateAIKey{},
		Deployments:  []stateDeployment{},
		Operations:   []stateOperation{},
		Events:       append([]*event{}, s.events...),
		Users:        append([]*user{}, s.users...),
		Minted:       append([]string{}, s.minted...),
	}
	for _, id := range s.keyOrder {
		k := s.keys[id]
		st.APIKeys = append(st.APIKeys, stateKey{Key: k.key, Name: k.name, RoleID: k.roleID, Secret: k.secret})
	}
	for _, ss := range s.sessions {
		st.Sessions = append(st.Sessions, stateSession{stateKey{Key: ss.key, Name: ss.name, RoleID: ss.roleID, Secret: ss.secret}, ss.expires})
	}
	for _, id := range s.roleOrder {
		st.Roles = append(st.Roles, s.roles[id])
	}
	for _, id := range s.aiOrder {
		k := s.aiKeys[id]
		st.AIKeys = append(st.AIKeys, stateAIKey{ID: k.id, Name: k.name, Scope: k.scope, Value: k.value, Created: k.created, Updated: k.updated})
	}
	for _, id := range s.depOrder {
		d := s.deps[id]
		st.Deployments = append(st.Deployments, stateDeployment{*d, d.apiKey})
	}
	for _, op := range s.ops {
		st.Operations = append(st.Operations, stateOperation{*op, op.pollsLeft})
	}
	// Marshal under the lock: roles are updated in place by update-iam-role.
	b, err := json.Marshal(st)
	s.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("sandbox state: %w", err)
	}
	return b, nil
}

// RestoreState replaces the sandbox's state with one MarshalState produced (by this sandbox or
// another). It checks the document first and changes nothing when it is not valid. Options
// (clock, zone, pending polls, change hook) and injected faults stay as they are.
func (s *Sandbox) RestoreState(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var st stateFile
	if err := dec.Decode(&st); err != nil {
		return fmt.Errorf("sandbox state: not a state document: %w", err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("sandbox state: version %d, expected %d", st.Version, stateVersion)
	}
	if st.ServerKey == "" || st.ServerSecret == "" {
		return errors.New("sandbox state: server-key and server-secret are required")
	}
	keys := make(map[string]*iamKey, len(st.APIKeys))
	var keyOrder []string
	for i, k := range st.APIKeys {
		if k.Key == "" || k.Secret == "" || k.RoleID == "" || keys[k.Key] != nil {
			return fmt.Errorf("sandbox state: api-keys[%d]: key, secret and role-id are required, and keys unique", i)
		}
		keys[k.Key] = &iamKey{key: k.Key, name: k.Name, roleID: k.RoleID, secret: k.Secret}
		keyOrder = append(keyOrder, k.Key)
	}
	sessions := make(map[string]*session, len(st.Sessions))
	for i, ss := range st.Sessions {
		if ss.Key == "" || ss.Secret == "" || ss.RoleID == "" {
			return fmt.Errorf("sandbox state: sessions[%d]: key, secret and role-id are required", i)
		}
		sessions[ss.Key] = &session{key: ss.Key, name: ss.Name, roleID: ss.RoleID, secret: ss.Secret, expires: ss.Expires}
	}
	roles := make(map[string]*role, len(st.Roles))
	var roleOrder []string
	for i, r := range st.Roles {
		if r == nil || r.ID == "" || roles[r.ID] != nil {
			return fmt.Errorf("sandbox state: roles[%d]: an id is required, and ids unique", i)
		}
		if r.Permissions == nil {
			r.Permissions = []string{}
		}
		if r.Policy == nil {
			r.Policy = allowAllPolicy()
		}
		r.Policy.compile()
		roles[r.ID] = r
		roleOrder = append(roleOrder, r.ID)
	}
	org := st.OrgPolicy
	if org == nil {
		org = allowAllPolicy()
	}
	org.compile()
	aiKeys := make(map[string]*aiKey, len(st.AIKeys))
	var aiOrder []string
	for i, k := range st.AIKeys {
		if k.ID == "" || aiKeys[k.ID] != nil {
			return fmt.Errorf("sandbox state: ai-api-keys[%d]: an id is required, and ids unique", i)
		}
		aiKeys[k.ID] = &aiKey{id: k.ID, name: k.Name, scope: k.Scope, value: k.Value, created: k.Created, updated: k.Updated}
		aiOrder = append(aiOrder, k.ID)
	}
	deps := make(map[string]*deployment, len(st.Deployments))
	var depOrder []string
	for i, d := range st.Deployments {
		if d.ID == "" || deps[d.ID] != nil {
			return fmt.Errorf("sandbox state: deployments[%d]: an id is required, and ids unique", i)
		}
		dep := d.deployment
		dep.apiKey = d.APIKey
		deps[d.ID] = &dep
		depOrder = append(depOrder, d.ID)
	}
	ops := make(map[string]*operation, len(st.Operations))
	for _, o := range st.Operations {
		op := o.operation
		op.pollsLeft = o.PollsLeft
		ops[op.ID] = &op
	}
	events := make([]*event, 0, len(st.Events))
	for i, e := range st.Events {
		if e == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, e.Timestamp)
		if err != nil {
			return fmt.Errorf("sandbox state: events[%d]: timestamp is not RFC 3339", i)
		}
		e.at = at
		events = append(events, e)
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i].at.Before(events[j].at) })
	if n := len(events) - maxEvents; n > 0 {
		events = events[n:]
	}
	users := make([]*user, 0, len(st.Users))
	for _, u := range st.Users {
		if u != nil {
			users = append(users, u)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.serverKey, s.serverSecr = st.ServerKey, st.ServerSecret
	s.keys, s.keyOrder = keys, keyOrder
	s.sessions = sessions
	s.roles, s.roleOrder = roles, roleOrder
	s.orgPolicy = org
	s.aiKeys, s.aiOrder = aiKeys, aiOrder
	s.deps, s.depOrder = deps, depOrder
	s.ops = ops
	s.events = events
	s.users = users
	s.minted = append([]string(nil), st.Minted...)
	return nil
}
