package tools

import "context"

// Peer is what the engine needs from the transport for one call: who is calling, a way to
// report progress, and the human's answers. The MCP adapter implements it per request; a test
// or a composite tool may bring its own.
//
// Asking follows MCP multi round-trip requests
// (https://modelcontextprotocol.io/specification/draft/client/elicitation): the engine does
// not block on the human. A call that needs an answer ends with Outcome NeedsInput, a Question
// and a sealed State; the client asks its human and calls again with the Answer and the State
// echoed back, which the engine reads through Answer.
type Peer interface {
	// SessionID names the MCP session ("" when there is none).
	SessionID() string
	// Progress reports that the call is still under way (e.g. one poll of an asynchronous
	// operation). It must not block for long and must not fail the call.
	Progress(ctx context.Context, progress int, message string)
	// CanAsk reports whether the client can put a question to its human.
	CanAsk() bool
	// Answer returns the client's answer to the question with this id, sent with this call,
	// and false when there is none.
	Answer(id string) (Answer, bool)
}

// Question is something to ask the human: a yes or no about one call.
type Question struct {
	ID      string // keys the answer
	Message string // what the human reads
}

// Answer is the human's answer to a Question, with the request state the client echoed.
type Answer struct {
	Accepted bool // the human accepted the form
	Yes      bool // and said yes
	State    string
}

type peerKey struct{}

// WithPeer returns ctx carrying p for Engine.Call.
func WithPeer(ctx context.Context, p Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// PeerFrom returns the peer in ctx, or a peer that has no session, reports nothing and cannot
// ask.
func PeerFrom(ctx context.Context) Peer {
	if p, ok := ctx.Value(peerKey{}).(Peer); ok && p != nil {
		return p
	}
	return noPeer{}
}

type noPeer struct{}

func (noPeer) SessionID() string                     { return "" }
func (noPeer) Progress(context.Context, int, string) {}
func (noPeer) CanAsk() bool                          { return false }
func (noPeer) Answer(string) (Answer, bool)          { return Answer{}, false }
