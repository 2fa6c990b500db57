package sandbox

import (
	"net/http"
)

// Seeded users (not WithoutSeed): stable ids so tests and docs can name them.
const (
	// OwnerUserID is the organization's owner: admin role, two-factor authentication on.
	OwnerUserID = "8f3b0c52-7d0e-4a4e-9d1b-2f6f1f0e6a11"
	// NoTwoFactorUserID is a developer on the admin role without two-factor authentication
	// (what a key audit should flag).
	NoTwoFactorUserID = "2b9a6c1e-43f5-4d1c-8e7a-5c0d9b3e7f22"
	// PendingUserID is an invited single-sign-on user who has not signed in yet.
	PendingUserID = "c4e1d7a8-19b2-4f63-a0c5-8e2f6d4b9a33"
)

// user is a member of the organization.
type user struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	RoleID    string `json:"role-id"`
	SSO       bool   `json:"sso"`
	TwoFactor bool   `json:"two-factor-authentication"`
	Pending   bool   `json:"pending"`
}

// userJSON is a user as the API shows it: its role as {id, name}.
type userJSON struct {
	ID        string   `json:"id"`
	Email     string   `json:"email"`
	Role      *roleRef `json:"role"`
	SSO       bool     `json:"sso"`
	TwoFactor bool     `json:"two-factor-authentication"`
	Pending   bool     `json:"pending"`
}

func seedUsers() []*user {
	return []*user{
		{ID: OwnerUserID, Email: "owner@example.com", RoleID: AdminRoleID, TwoFactor: true},
		{ID: NoTwoFactorUserID, Email: "dev@example.com", RoleID: AdminRoleID},
		{ID: PendingUserID, Email: "analyst@example.com", RoleID: AdminRoleID, SSO: true, TwoFactor: true, Pending: true},
	}
}

func (s *Sandbox) listUsers(*call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]userJSON, 0, len(s.users))
	for _, u := range s.users {
		ref := &roleRef{ID: u.RoleID}
		if r, ok := s.roles[u.RoleID]; ok {
			ref.Name = r.Name
		}
		out = append(out, userJSON{ID: u.ID, Email: u.Email, Role: ref, SSO: u.SSO, TwoFactor: u.TwoFactor, Pending: u.Pending})
	}
	return jsonResponse(http.StatusOK, map[string]any{"users": out})
}

// organizationJSON is get-organization's answer (balance, deprecated upstream, left out).
type organizationJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Address  string `json:"address"`
	Postcode string `json:"postcode"`
	City     string `json:"city"`
	Country  string `json:"country"`
	Currency string `json:"currency"`
}

// OrgName is the seeded organization's name.
const OrgName = "Sandbox Organization"

var organizationResponse = jsonResponse(http.StatusOK, organizationJSON{
	ID: OrgID, Name: OrgName, Address: "1 Example Street", Postcode: "8000", City: "Zurich", Country: "CH", Currency: "CHF",
})

func (s *Sandbox) getOrganization(*call) response { return organizationResponse }
