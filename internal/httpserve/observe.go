package httpserve

import "context"

// Observer hears what the HTTP layer refuses and keeps, for metrics: the scope of a rate-limit
// refusal (ScopeAddress, ScopeCredential, ScopeSession, ScopeOverall) and sessions opening and
// closing on this replica. It never sees a session id, an address or a credential.
type Observer interface {
	RateLimited(scope string)
	SessionOpened()
	SessionClosed()
}

type noObserver struct{}

func (noObserver) RateLimited(string) {}
func (noObserver) SessionOpened()     {}
func (noObserver) SessionClosed()     {}

// SessionCounter counts sessions across replicas (a shared store such as Redis), on top of
// this replica's own count: Acquire holds a place under the shared cap until release, or
// reports ok false when the cap is reached. err is the caller's own cancellation.
type SessionCounter interface {
	Acquire(ctx context.Context) (release func(), ok bool, err error)
}
